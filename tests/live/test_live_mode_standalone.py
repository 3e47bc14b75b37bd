"""The real-deployment mode, demonstrated: `python -m sandbox` as a standalone process stands
for a deployment, its JSON line becomes the environment a deployment gives, and
tests/live/test_real_deployment.py runs in a pytest subprocess with RUN_INTEGRATION_TESTS=true.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from canary.scenario import STEP_NAMES
from canary.settings import BY_VAR

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
ROOT = Path(__file__).resolve().parents[2]
LIVE_MODULE = "tests/live/test_real_deployment.py"
START_S = 60.0  # `python -m sandbox` is ready in ~2 s; generous on a loaded machine
RUN_S = 150.0


def read_info_line(proc: subprocess.Popen[str], timeout_s: float) -> dict[str, Any]:
    """The sandbox's one JSON line, waited for at most `timeout_s`."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout_s):
            pytest.fail(f"python -m sandbox printed nothing within {timeout_s:g} s")
    line = proc.stdout.readline()
    assert line, f"python -m sandbox exited ({proc.poll()}) without its JSON line"
    return json.loads(line)


def deployment_environment(info: dict[str, Any]) -> dict[str, str]:
    """What a deployment's environment holds, from the sandbox's line: nothing inherited that
    could point the run at another target (no AWS_* or canary variables from this shell)."""
    clean = {k: v for k, v in os.environ.items()
             if k not in BY_VAR and not k.startswith(("AWS_", "PYTEST_", "RUN_INTEGRATION"))}
    return {
        **clean,
        "RUN_INTEGRATION_TESTS": "true",
        "AWS_REGION": info["region"],
        "AWS_ENDPOINT_URL": info["aws_endpoint_url"],
        # moto takes any credentials: they stand for AWS_PROFILE's
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "CANARY_ENVIRONMENT": "standalone-sandbox",
        "HERMES_API_URL": info["hermes_url"],
        "ALB_DNS_NAME": info["router_url"],
        "PREVIEW_DOMAIN": info["preview_host_template"].split("{clientId}.", 1)[1],
        "INTERNAL_API_KEY_SECRET_ARN": info["secret_arn"],  # the key itself is never printed
        "SESSIONS_TABLE": info["sessions_table"],
        "THREAD_MAPPINGS_TABLE": info["thread_mappings_table"],
        "CONTAINERS_TABLE": info["containers_table"],
        "CONTAINER_INDEX_NAME": info["container_index"],
        "ECS_CLUSTER": info["cluster"],
        "ECS_SERVICE": info["service"],
        "LOCK_TABLE": info["canary_table"],
        "CANARY_CLIENT_ID": "livecanary",
        "CANARY_USER_ID": "live@example.com",
        "CANARY_THREAD_ID": "live-thread-1",
        "IDLE_TIMEOUT_S": str(info["idle_timeout_s"]),
        "SLEEP_CHECK_INTERVAL_S": str(info["check_interval_s"]),
        "SLEEP_MODE": "force",  # wait mode needs twice the idle timeout; observe, a next run
        "CANARY_BUDGET_S": "90",
        "PREVIEW_MARKER": info["preview_marker_template"],
    }


def test_live_mode_passes_against_a_standalone_sandbox(tmp_path):
    with (tmp_path / "sandbox.err").open("w") as sandbox_err:
        sandbox = subprocess.Popen(
            [sys.executable, "-m", "sandbox"], cwd=ROOT, text=True, stdout=subprocess.PIPE,
            stderr=sandbox_err, stdin=subprocess.DEVNULL,
        )  # the child holds its own copy of the descriptor
    try:
        info = read_info_line(sandbox, START_S)
        report = tmp_path / "live.xml"
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", LIVE_MODULE, "-q", "-p", "no:cacheprovider",
             "-o", "addopts=", "--strict-markers", f"--junitxml={report}"],
            cwd=ROOT, env=deployment_environment(info), capture_output=True, text=True,
            timeout=RUN_S, stdin=subprocess.DEVNULL,
        )
    finally:
        sandbox.terminate()
        try:
            sandbox.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sandbox.kill()
            sandbox.wait(timeout=10)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    counts = {k: int(suite.get(k, "0")) for k in ("tests", "failures", "errors", "skipped")}
    assert counts == {"tests": 1 + len(STEP_NAMES), "failures": 0, "errors": 0,
                      "skipped": 0}, proc.stdout[-3000:]
    verdicts = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert {name.rsplit(".", 1)[-1] for name in verdicts} == set(STEP_NAMES)
