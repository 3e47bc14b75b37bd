#!/usr/bin/env python3
"""CDK app: one `SessionResumptionCanary-<env>` stack per environment in context.

`npx cdk synth|deploy` runs this with cdk.json's context (plus `-c` overrides);
`python app.py` reads cdk.json itself so it synthesizes the same way.
CDK_OUTDIR chooses the output directory (default: cdk.out). cdk-nag's AWS
Solutions checks run on every synth; an unacknowledged finding fails it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from infra.params import ParamsError, environments_from_context
from infra.stack import CanaryStack

ROOT = Path(__file__).resolve().parent


def cdk_json_context(path: Path = ROOT / "cdk.json") -> dict[str, Any]:
    """cdk.json's context (the CLI passes its own, which takes precedence)."""
    return json.loads(path.read_text())["context"]


def build_app(outdir: str | None = None, context: dict[str, Any] | None = None) -> cdk.App:
    """The app with every selected environment's stack and the cdk-nag checks."""
    app = cdk.App(
        outdir=outdir or os.environ.get("CDK_OUTDIR") or str(ROOT / "cdk.out"),
        context=cdk_json_context() if context is None else context,
    )
    for params in environments_from_context(app.node.get_all_context()):
        CanaryStack(app, params=params)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


def main() -> int:
    try:
        app = build_app()
    except ParamsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        app.synth()
    except RuntimeError as exc:  # jsii surfaces CDK's ValidationFailed as RuntimeError
        if "ValidationFailed" not in str(exc):
            raise
        print(f"error: {exc} (cdk-nag findings above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
