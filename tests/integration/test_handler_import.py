"""Importing the Lambda handler stays cheap (cold start): no test or deploy tooling, no
boto3/httpx until the first invocation, no X-Ray SDK unless tracing is on.

Timing itself is a benchmark (bench/bench_cold_start.py); this checks what gets loaded,
in a fresh interpreter as Lambda's init phase would.
"""

from __future__ import annotations

import json
import subprocess
import sys

NEVER = ("sandbox", "moto", "aws_cdk", "constructs", "cdk_nag", "pytest")
NOT_AT_IMPORT = ("boto3", "httpx", "aws_xray_sdk", "canary.runner", "canary.steps")


def _loaded_after(code: str, names: tuple[str, ...]) -> list[str]:
    probe = (
        f"{code}\nimport json, sys\nprint(json.dumps([n for n in {names!r} if n in sys.modules]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def test_importing_the_handler_loads_no_test_or_deploy_tooling():
    assert _loaded_after("import canary.handler", NEVER) == []


def test_importing_the_handler_defers_clients_and_the_scenario():
    assert _loaded_after("import canary.handler", NOT_AT_IMPORT) == []


def test_tracer_is_imported_only_when_tracing_is_on():
    off = "import canary.handler as h\nassert h._tracer({}) is None"
    assert _loaded_after(off, ("aws_xray_sdk",)) == []
    on = "import canary.handler as h\nassert h._tracer({'CANARY_TRACING': 'true'}) is not None"
    assert _loaded_after(on, ("aws_xray_sdk",)) == ["aws_xray_sdk"]
