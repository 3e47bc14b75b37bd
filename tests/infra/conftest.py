"""Infra test fixtures: the app is synthesized ONCE per session and shared."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")


@dataclass(frozen=True)
class Synthesized:
    outdir: Path
    stack_name: str
    template_file: Path
    template_json: dict[str, Any]
    template: Any  # aws_cdk.assertions.Template
    params: Any  # infra.params.CanaryParams

    def resources(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.template_json["Resources"].items()
            if resource["Type"] == cfn_type
        }

    def only(self, cfn_type: str) -> tuple[str, dict[str, Any]]:
        found = self.resources(cfn_type)
        assert len(found) == 1, f"expected one {cfn_type}, found {sorted(found)}"
        return next(iter(found.items()))


@pytest.fixture(scope="session")
def example_context() -> dict[str, Any]:
    from app import cdk_json_context

    return cdk_json_context()


def synthesize(tmp_path_factory, context: dict[str, Any], label: str) -> Synthesized:
    """Synthesize the app for `context` (one environment) in-process, with cdk-nag on."""
    from aws_cdk.assertions import Template

    from app import build_app
    from infra.params import environments_from_context

    outdir = tmp_path_factory.mktemp(label)
    build_app(outdir=str(outdir), context=context).synth()
    (params,) = environments_from_context(context)
    template_file = outdir / f"{params.stack_name}.template.json"
    template_json = json.loads(template_file.read_text())
    return Synthesized(
        outdir=outdir,
        stack_name=params.stack_name,
        template_file=template_file,
        template_json=template_json,
        template=Template.from_json(template_json),
        params=params,
    )


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory, example_context) -> Synthesized:
    """cdk.json's example environment (both lanes, two sessions), synthesized once."""
    return synthesize(tmp_path_factory, example_context, "cdk.out")


# The example with maintenance on, force mode, a git remote, https endpoints and the quick
# lane off: the other side of each switch, in one more synth.
VARIANT = {
    "maintenance": True,
    "sleepMode": "force",  # stops the task itself: no auto-sleep, no auto-save to check
    "gitRemoteUrl": "https://git.example.invalid/{containerId}.git",
    "pagingEndpoints": ["https://events.pager.example.invalid/integration/abc",
                        "pager@example.invalid"],
    "ticketEndpoints": ["tickets@example.invalid"],
    "quickScheduleMinutes": 0,  # the quick lane disabled
}


@pytest.fixture(scope="session")
def variant(tmp_path_factory, example_context) -> Synthesized:
    """The example with VARIANT applied, synthesized once (shared by the infra modules)."""
    context = json.loads(json.dumps(example_context))
    context["environments"]["example"].update(VARIANT)
    return synthesize(tmp_path_factory, context, "cdk.out.variant")
