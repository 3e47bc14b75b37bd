"""`python -m canary run` end to end: human report, --json, --emf, exit codes, --target env from
environment variables against a running sandbox, and no API key anywhere in the output."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import sandbox
from canary.cli import main
from canary.scenario import STEP_NAMES

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def recorded(monkeypatch):
    """The Sandbox instances the CLI starts in-process (to learn their API key)."""
    started: list[sandbox.Sandbox] = []

    class Recording(sandbox.Sandbox):
        def start(self):
            started.append(self)
            result = super().start()
            self.recorded_key = self.api_key
            return result

    monkeypatch.setattr(sandbox, "Sandbox", Recording)
    return started


def run_in_process(*argv, environ=None):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), environ=environ if environ is not None else {}, stdout=out,
                stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_module_run_against_the_sandbox_prints_live_lines_and_the_report():
    proc = subprocess.run([sys.executable, "-m", "canary", "run"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "threshold profile: wake degraded > 1500 ms, failed > 3000 ms" in out
    for name in STEP_NAMES:
        assert f"[PASS] {name}" in out
    assert "Session Resumption Test Metrics:" in out
    assert "Container Wake Time: avg " in out and "API Response Time: avg " in out
    assert "Successful Wakes: 2" in out and "Total Errors: 0" in out
    assert "verdict: OK" in out


def test_json_and_emf_output_and_no_key_anywhere(recorded):
    code, out, err = run_in_process("run", "--json", "--emf")
    assert code == 0, err
    doc = json.loads(out)  # one JSON document, live lines went to stderr
    assert doc["ok"] is True and doc["target"] == "sandbox" and doc["run_id"]
    (session,) = doc["sessions"]  # one session: still a list
    assert [s["name"] for s in session["steps"]] == list(STEP_NAMES)
    for s in session["steps"]:
        assert set(s) >= {"name", "status", "duration_ms", "reason", "measurements", "attempts"}
    assert session["metrics"]["ContainerWakeTime"] > 0
    emf = [json.loads(line) for line in doc["emf"]]
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"]
    assert "[PASS] preflight" in err
    key = recorded[0].recorded_key
    assert len(key) > 8
    assert key not in out and key not in err


def test_failed_check_exits_1_and_human_output_has_no_key(recorded):
    code, out, err = run_in_process("run", "--fault", "websocket_not_refused")
    assert code == 1
    assert "[FAIL] websocket" in out and "expected 502 'WebSocket not supported'" in out
    assert "verdict: FAILED" in out and "failed: websocket" in out
    key = recorded[0].recorded_key
    assert key not in out and key not in err


@pytest.mark.parametrize("fault", [
    f for f in sandbox.Fault if f.spec.production_defect and not f.spec.expected_ok
], ids=str)
def test_each_observed_production_defect_exits_1_with_a_reason_naming_it(fault):
    code, out, err = run_in_process("run", "--fault", fault, "--quiet")
    assert code == 1, out + err
    _, says = fault.spec.reason  # the words the fault matrix says its step's reason contains
    assert says in out, out


def test_an_unknown_variation_is_a_usage_error():
    code, _, err = run_in_process("run", "--variation", "nope")
    assert code == 2 and "unknown variation(s): nope" in err


def test_env_target_runs_the_same_code_from_environment_variables(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with sandbox.Sandbox() as sb:
        i = sb.info
        environ = {
            "CANARY_ENVIRONMENT": "staging",
            "AWS_REGION": i.region,
            "AWS_ENDPOINT_URL": i.aws_endpoint_url,
            "HERMES_API_URL": i.hermes_url,
            "ALB_DNS_NAME": i.router_url,  # connect here, send Host: edit.{clientId}.<domain>
            "PREVIEW_DOMAIN": i.preview_host_template.split("{clientId}.", 1)[1],
            "INTERNAL_API_KEY_SECRET_ARN": i.secret_arn,
            "SESSIONS_TABLE": i.sessions_table,
            "THREAD_MAPPINGS_TABLE": i.thread_mappings_table,
            "CONTAINERS_TABLE": i.containers_table,
            "CONTAINER_INDEX_NAME": i.container_index,
            "ECS_CLUSTER": i.cluster,
            "ECS_SERVICE": i.service,
            "CANARY_CLIENT_ID": "envcanary",
            "CANARY_USER_ID": "envuser",
            "CANARY_THREAD_ID": "env-thread-1",
            "WAKE_DEGRADED_MS": "1500", "WAKE_FAILED_MS": "3000",
            "API_DEGRADED_MS": "100", "API_FAILED_MS": "500",
            "SLEEP_MODE": "force",
            "IDLE_TIMEOUT_S": str(i.idle_timeout_s),
            "SLEEP_CHECK_INTERVAL_S": str(i.check_interval_s),
            "CANARY_BUDGET_S": "60",
            "PREVIEW_MARKER": i.preview_marker_template,
        }
        code, out, err = run_in_process("run", "--target", "env", "--json", environ=environ)
        key = sb.api_key
    assert code == 0, out + err
    doc = json.loads(out)
    assert doc["target"] == "env" and doc["environment"] == "staging"
    (session,) = doc["sessions"]
    by_name = {s["name"]: s for s in session["steps"]}
    assert by_name["auto_save"]["status"] == "skipped"  # force mode: nothing to auto-save
    assert by_name["sleep"]["status"] == "passed"
    assert all(s["status"] in ("passed", "skipped") for s in session["steps"])
    assert key not in out and key not in err


def test_unreadable_secret_is_a_configuration_error(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with sandbox.Sandbox() as sb:
        i = sb.info
        environ = {
            "AWS_REGION": i.region, "AWS_ENDPOINT_URL": i.aws_endpoint_url,
            "HERMES_API_URL": i.hermes_url,
            "PREVIEW_URL_TEMPLATE": i.router_url + "/session/{threadId}/",
            "INTERNAL_API_KEY_SECRET_ARN": i.secret_arn + "-missing",
            "CANARY_CLIENT_ID": "c", "CANARY_USER_ID": "u", "CANARY_THREAD_ID": "t",
        }
        code, _, err = run_in_process("run", "--target", "env", environ=environ)
    assert code == 2
    assert "INTERNAL_API_KEY_SECRET_ARN" in err and "ResourceNotFoundException" in err
    assert len(err.strip().splitlines()) == 1


def test_sessions_and_lane_flags_run_n_quick_sessions_with_per_session_metrics():
    code, out, err = run_in_process("run", "--sessions", "3", "--lane", "quick", "--json",
                                    "--emf")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["ok"] is True and doc["lane"] == "quick"
    assert [s["name"] for s in doc["sessions"]] == ["s1", "s2", "s3"]
    assert len({s["thread_id"] for s in doc["sessions"]}) == 3
    assert all(s["ok"] and "wake_hermes" not in {x["name"] for x in s["steps"]}
               for s in doc["sessions"])
    emf = [json.loads(line) for line in doc["emf"]]
    assert {d["Session"] for d in emf if "Session" in d} == {"s1", "s2", "s3"}
    aggregate = [d for d in emf if set(d["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0])
                 == {"Environment", "Lane"}]
    assert [d["ScenarioSuccess"] for d in aggregate] == [[1.0]] * 3
    assert all(d["Lane"] == "quick" for d in emf)
    assert "s2 " in err  # live lines name their session
