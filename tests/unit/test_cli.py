"""CLI usage and configuration errors: exit 2 with one clear line (no sandbox started)."""

from __future__ import annotations

import io

import pytest

from canary.cli import main
from canary.models import RunResult, Status, StepResult
from canary.report import full_report, metrics_block, step_line, step_table


def run_cli(*argv, environ=None):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), environ=environ or {}, stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_unknown_fault_exits_2_listing_valid_faults():
    code, out, err = run_cli("run", "--fault", "gremlins")
    assert code == 2
    assert "unknown fault(s): gremlins" in err
    assert "slow_wake" in err and "never_sleeps" in err
    assert len(err.strip().splitlines()) == 1
    assert out == ""


def test_env_target_without_configuration_names_the_variable():
    code, _, err = run_cli("run", "--target", "env")
    assert code == 2
    assert "HERMES_API_URL" in err
    assert len(err.strip().splitlines()) == 1


def test_env_target_without_synthetic_ids_is_refused():
    environ = {"HERMES_API_URL": "https://h/hermes", "AWS_REGION": "us-east-1",
               "PREVIEW_URL_TEMPLATE": "https://edit.{clientId}.x/session/{threadId}/",
               "INTERNAL_API_KEY": "k"}
    code, _, err = run_cli("run", "--target", "env", environ=environ)
    assert code == 2
    assert "CANARY_CLIENT_ID" in err and "synthetic" in err


ENV_OK = {"HERMES_API_URL": "http://127.0.0.1:9/hermes", "AWS_REGION": "us-east-1",
          "PREVIEW_URL_TEMPLATE": "http://127.0.0.1:9/session/{threadId}/",
          "INTERNAL_API_KEY": "cli-test-key-77", "CANARY_CLIENT_ID": "canarysite",
          "CANARY_USER_ID": "canary", "CANARY_THREAD_ID": "canary-thread-1"}


@pytest.mark.parametrize(("var", "value"), [
    ("CANARY_BUDGET_S", "1e10"), ("AWS_ENDPOINT_URL", "not a url"),
    ("PREVIEW_URL_TEMPLATE", "http://127.0.0.1:9/{other}/session/{threadId}/"),
    ("CONNECT_TIMEOUT_S", "nan"), ("CANARY_THREAD_ID", ".."),
])
def test_bad_setting_exits_2_naming_it_before_anything_runs(var, value):
    code, out, err = run_cli("run", "--target", "env", "--json", environ={**ENV_OK, var: value})
    assert code == 2 and out == ""
    assert err.startswith(f"canary: configuration error: {var}")
    assert len(err.strip().splitlines()) == 1


def test_unknown_aws_profile_exits_2_not_a_traceback(monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "no-such-profile-for-the-canary")
    code, out, err = run_cli("run", "--target", "env", "--json", environ=ENV_OK)
    assert code == 2 and out == ""
    assert "AWS client setup" in err and "no-such-profile-for-the-canary" in err
    assert "cli-test-key-77" not in err


def test_fault_with_env_target_is_a_usage_error():
    code, _, err = run_cli("run", "--target", "env", "--fault", "slow_wake")
    assert code == 2 and "--fault" in err


def test_bad_arguments_exit_2():
    code, _, _ = run_cli("fly")
    assert code == 2


def sample_run() -> RunResult:
    run = RunResult("r1", "sandbox", "sandbox", 0.0, duration_ms=4200)
    run.steps = [
        StepResult("wake_hermes", Status.PASSED, 700, "cold wake 700 ms",
                   {"wake_ms": 700.0}),
        StepResult("warm_api", Status.PASSED, 80, "ok", {"response_avg_ms": 24.6}),
        StepResult("auth", Status.DEGRADED, 2, "SECURITY: no key needed",
                   findings=["SECURITY: no key needed"]),
        StepResult("wake_preview", Status.FAILED, 5000, "never woke"),
    ]
    from canary.runner import collect_metrics

    run.metrics = collect_metrics(run)  # as run_scenario fills them
    return run


def test_metrics_block_is_the_seeds_format():
    block = metrics_block(sample_run(), emoji=False)
    assert block.splitlines() == [
        "Session Resumption Test Metrics:",
        "   Container Wake Time: avg 700ms",
        "   API Response Time: avg 25ms",
        "   Successful Wakes: 1",
        "   Total Errors: 1",
    ]


def test_step_table_and_live_lines_show_every_step():
    run = sample_run()
    table = step_table(run)
    for s in run.steps:
        assert s.name in table and s.status.value in table
    assert step_line(run.steps[3]).startswith("[FAIL] wake_preview")
    assert "verdict: FAILED" in full_report(run, io.StringIO())


@pytest.mark.parametrize("n", ["0", "51", "three"])
def test_sessions_out_of_range_exit_2(n, capsys):
    code, out, _ = run_cli("run", "--sessions", n)
    assert code == 2 and out == ""
    assert "--sessions" in capsys.readouterr().err  # argparse's own usage line


def test_sessions_with_a_real_target_is_a_usage_error_pointing_at_canary_sessions():
    code, _, err = run_cli("run", "--target", "env", "--sessions", "2")
    assert code == 2 and "CANARY_SESSIONS" in err


def test_the_report_shows_each_session_and_which_passed_only_on_a_retry():
    from canary.models import FleetResult

    def session(name, status, attempts=1):
        return RunResult(run_id="r", target="sandbox", environment="t", started_at=0.0,
                         lane="quick", session=name, client_id="canary", thread_id=f"t-{name}",
                         steps=[StepResult("route", status, reason="x", attempts=attempts)])

    fleet = FleetResult(run_id="r", lane="quick", target="sandbox", environment="t",
                        started_at=0.0, sessions=[session("eu", Status.PASSED, 2),
                                                  session("us", Status.FAILED)])
    text = full_report(fleet)
    assert "== session eu (client canary, thread t-eu, quick lane): OK ==" in text
    assert "== session us (client canary, thread t-us, quick lane): FAILED ==" in text
    assert "(attempt 2) x" in text
    assert "1/2 session(s) ok" in text and "failed: us (route)" in text
    assert "only after a retry: eu/route" in text
