"""Real-deployment mode: the canary scenario against the deployment the environment describes.

Skipped unless RUN_INTEGRATION_TESTS=true. Then `CanaryConfig.from_env(os.environ,
target="env")` reads the deployment (AWS_REGION, AWS_PROFILE, HERMES_API_URL, ALB_DNS_NAME
and PREVIEW_DOMAIN or PREVIEW_URL_TEMPLATE, INTERNAL_API_KEY or INTERNAL_API_KEY_SECRET_ARN,
CANARY_CLIENT_ID/USER_ID/THREAD_ID, the table and cluster names, ...; docs/TESTING.md), the
scenario runs once through the CLI's own path (`python -m canary run --target env --json`),
and each step's verdict is its own test. It touches only the synthetic session (see
`python -m canary run --target env --dry-run`). tests/live/test_live_mode_standalone.py
runs this module against `python -m sandbox` in a subprocess.
"""

from __future__ import annotations

import io
import json
import os
from typing import Any

import pytest

from canary.cli import main
from canary.config import CanaryConfig, ConfigError
from canary.models import Status
from canary.scenario import STEP_NAMES
from canary.settings import MAX_BUDGET_S

FLAG = "RUN_INTEGRATION_TESTS"
ENABLED = os.environ.get(FLAG, "").strip().lower() == "true"
WHY_SKIPPED = (
    f"{FLAG} is not 'true': set {FLAG}=true with the deployment's variables (AWS_REGION, "
    "AWS_PROFILE, HERMES_API_URL, ALB_DNS_NAME, INTERNAL_API_KEY, ...; docs/TESTING.md) to "
    "run the canary against it"
)
pytestmark = [
    pytest.mark.skipif(not ENABLED, reason=WHY_SKIPPED),
    pytest.mark.live,
    pytest.mark.timeout(MAX_BUDGET_S + 120),  # the run's own budget bounds it first
]


@pytest.fixture(scope="module")
def config() -> CanaryConfig:
    """The deployment, read the one way the Lambda and the CLI read it."""
    try:
        return CanaryConfig.from_env(os.environ, target="env")
    except ConfigError as exc:
        pytest.fail(f"{FLAG}=true but the deployment's configuration is incomplete: {exc}")


@pytest.fixture(scope="module")
def run(config: CanaryConfig) -> dict[str, Any]:
    """One run of the scenario (the CLI's path: the same clients, budget and masking)."""
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", "--target", "env", "--json", "--quiet"], environ=os.environ,
                stdout=out, stderr=err)
    try:
        doc = json.loads(out.getvalue())
    except ValueError:
        pytest.fail(f"the run printed no result (exit {code}): {err.getvalue().strip()}")
    doc["exit_code"] = code
    return doc


def sessions(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's sessions: the `sessions` list, or the single-session document itself."""
    return doc.get("sessions") or [doc]


def test_the_run_against_the_deployment_is_ok(run):
    problems = [f"{s.get('name', 'run')}: {step['name']} failed: {step['reason']}"
                for s in sessions(run) for step in s.get("steps", []) if step["status"] ==
                Status.FAILED]
    problems += [f"canary error: {e}" for e in {run.get("error")} | {
        s.get("error") for s in sessions(run)} if e]
    problems += [f"cut short by the budget: {s.get('cut_short')}" for s in sessions(run)
                 if s.get("cut_short")]
    assert run["ok"] and run["exit_code"] == 0, "; ".join(problems) or run


@pytest.mark.parametrize("step", STEP_NAMES)
def test_each_step_reports_its_verdict(run, step, record_property):
    for session in sessions(run):
        found = [s for s in session.get("steps", []) if s["name"] == step]
        if not found and run.get("lane", "full") != "full":
            pytest.skip(f"{step} is not in the {run['lane']} lane")
        assert found, f"{step}: no verdict (cut short: {session.get('cut_short')})"
        verdict = found[0]
        record_property(f"{session.get('name', 'run')}.{step}",
                        f"{verdict['status']}: {verdict['reason']}")
        assert verdict["status"] in set(Status), verdict
        assert verdict["status"] != Status.FAILED, f"{step}: {verdict['reason']}"
