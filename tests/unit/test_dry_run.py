"""`python -m canary run --target env --dry-run`: what a run would touch, without contacting
anything."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Iterator

import pytest

from canary.cli import main

KEY = "dry-run-key-0123456789abcdef"


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    """A real loopback port every endpoint points at: any connection would queue here."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


def environ(port: int, **extra: str) -> dict[str, str]:
    base = f"http://127.0.0.1:{port}"
    return {
        "AWS_REGION": "eu-west-1", "AWS_PROFILE": "canary-staging",
        "AWS_ENDPOINT_URL": base,
        "HERMES_API_URL": f"{base}/hermes",
        "ALB_DNS_NAME": base, "PREVIEW_DOMAIN": "preview.example.com",
        "INTERNAL_API_KEY": KEY,
        "CANARY_CLIENT_ID": "canary", "CANARY_USER_ID": "bot@example.com",
        "CANARY_THREAD_ID": "canary-thread-7",
        "ECS_CLUSTER": "edit-cluster", "LOCK_TABLE": "canary-own",
        "GIT_REMOTE_URL": "https://user:s3cret@git.example.com/{containerId}.git",
        **extra,
    }


def dry_run(env: dict[str, str], *flags: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", "--target", "env", "--dry-run", *flags], environ=env, stdout=out,
                stderr=err)
    return code, out.getvalue(), err.getvalue()


def test_dry_run_contacts_no_endpoint(listener):
    code, out, err = dry_run(environ(listener.getsockname()[1]))
    assert code == 0, err
    with pytest.raises(BlockingIOError):  # nothing connected to Hermes, the ALB or AWS
        listener.accept()
    assert "nothing was contacted" in out


def test_dry_run_json_names_the_endpoints_and_the_aws_region(listener):
    port = listener.getsockname()[1]
    code, out, _ = dry_run(environ(port), "--json")
    assert code == 0
    endpoints = json.loads(out)["endpoints"]
    assert endpoints["hermes"]["resume_preview"] == (
        f"POST http://127.0.0.1:{port}/hermes/api/sessions/resume-preview")
    assert endpoints["preview"]["host"] == "edit.canary.preview.example.com"
    assert endpoints["aws"]["region"] == "eu-west-1"
    assert endpoints["aws"]["profile"] == "canary-staging"
    assert endpoints["aws"]["endpoint"] == f"http://127.0.0.1:{port}"


def test_dry_run_lists_each_table_with_the_canary_s_own_keys(listener):
    code, out, _ = dry_run(environ(listener.getsockname()[1]), "--json")
    assert code == 0
    (session,) = json.loads(out)["sessions"]
    keys = {t["table"]: t["keys"] for t in session["tables"]}
    container = "canary-canary-thread-7-bot@example.com"
    assert keys == {
        "webordinary-containers": [container],
        "webordinary-thread-mappings": ["canary-thread-7"],
        "webordinary-thread-mappings/index/container-index": [container],
        "webordinary-edit-sessions": ["canary-session-canary-thread-7"],
    }
    deletes = [t["table"] for t in session["tables"] if "delete" in t["does"]]
    assert deletes == ["webordinary-thread-mappings"]
    assert session["canary_table"]["memory_item"] == f"memory#{container}"


def test_dry_run_says_which_tasks_it_may_stop(listener):
    code, out, _ = dry_run(environ(listener.getsockname()[1]), "--json")
    assert code == 0
    ecs = json.loads(out)["sessions"][0]["ecs"]
    assert ecs["cluster"] == "edit-cluster"
    assert "'canary'" in ecs["may_stop"] and "'canary-thread-7'" in ecs["may_stop"]
    assert ecs["stop_reason"] == "session-resumption-canary"


def test_dry_run_shows_neither_the_key_nor_the_remote_s_credentials(listener):
    env = environ(listener.getsockname()[1])
    for flags in ((), ("--json",)):
        code, out, err = dry_run(env, *flags)
        assert code == 0
        assert KEY not in out + err and "s3cret" not in out + err


def test_dry_run_against_the_sandbox_is_a_usage_error():
    out, err = io.StringIO(), io.StringIO()
    code = main(["run", "--dry-run"], environ={}, stdout=out, stderr=err)
    assert code == 2
    assert "--dry-run needs --target env" in err.getvalue()


def test_dry_run_with_a_missing_setting_exits_2_naming_it(listener):
    env = environ(listener.getsockname()[1])
    del env["CANARY_THREAD_ID"]
    code, _, err = dry_run(env)
    assert code == 2 and "CANARY_THREAD_ID" in err


def test_dry_run_lists_every_configured_session(listener):
    sessions = ('[{"name": "eu", "clientId": "canary-eu", "threadId": "t-eu"}, '
                '{"name": "us", "clientId": "canary-us", "threadId": "t-us"}]')
    env = environ(listener.getsockname()[1], CANARY_SESSIONS=sessions)
    code, out, err = dry_run(env, "--json")
    assert code == 0, err
    listed = [(s["name"], s["client_id"], s["thread_id"]) for s in json.loads(out)["sessions"]]
    assert listed == [("eu", "canary-eu", "t-eu"), ("us", "canary-us", "t-us")]


def test_dry_run_of_the_quick_lane_shows_the_lane_s_own_ids_and_lock(listener):
    env = environ(listener.getsockname()[1], CANARY_LANE="quick")
    code, out, err = dry_run(env, "--json")
    assert code == 0, err
    doc = json.loads(out)
    (session,) = doc["sessions"]
    assert doc["lane"] == "quick"
    assert session["thread_id"] == "canary-thread-7-quick"
    assert session["canary_table"]["lambda_lock_item"].endswith("#quick")


def test_dry_run_with_a_secret_names_it_and_reads_no_key(listener):
    arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:hermes-key-AbCdEf"
    env = environ(listener.getsockname()[1], INTERNAL_API_KEY_SECRET_ARN=arn)
    del env["INTERNAL_API_KEY"]
    code, out, _ = dry_run(env, "--json")
    assert code == 0
    aws = json.loads(out)["endpoints"]["aws"]
    assert "secretsmanager" in aws["services"]
    assert arn in json.loads(out)["endpoints"]["hermes"]["api_key"]


def test_dry_run_without_the_canary_s_table_touches_no_memory_item(listener):
    env = environ(listener.getsockname()[1],
                  CANARY_SESSION_ATTRIBUTES='{"editBranch": "thread-{threadId}"}')
    del env["LOCK_TABLE"]
    code, out, _ = dry_run(env)
    assert code == 0
    assert "memory#" not in out
    assert "session row extras: {'editBranch': 'thread-canary-thread-7'}" in out


def only_session(env: dict[str, str]) -> dict:
    code, out, err = dry_run(env, "--json")
    assert code == 0, err
    (session,) = json.loads(out)["sessions"]
    return session


def test_only_wait_mode_lists_the_keepalive_mapping(listener):
    port = listener.getsockname()[1]
    for mode, listed in (("wait", True), ("observe", False), ("force", False)):
        session = only_session(environ(port, SLEEP_MODE=mode, CANARY_BUDGET_S="840",
                                       IDLE_TIMEOUT_S="60"))
        keys = {t["table"]: t["keys"] for t in session["tables"]}
        assert ("canary-thread-7-keepalive" in keys["webordinary-thread-mappings"]) is listed, mode


def test_dry_run_probes_are_the_threads_the_probe_steps_ask_for(listener):
    from canary.steps import auth, hermes_not_found, router_not_found

    requests = only_session(environ(listener.getsockname()[1]))["requests"]
    assert requests["probes"] == {
        step.NAME: step.probe_thread("{runId}")
        for step in (hermes_not_found, router_not_found, auth)}
    assert requests["probes"]["auth"] != requests["probes"]["hermes_not_found"]


def test_dry_run_lists_the_websocket_request(listener):
    port = listener.getsockname()[1]
    requests = only_session(environ(port))["requests"]
    assert requests["websocket"].startswith(
        f"GET http://127.0.0.1:{port}/session/canary-thread-7/_astro/hmr")


def test_dry_run_says_what_observe_mode_and_the_quick_lane_leave_running(listener):
    port = listener.getsockname()[1]
    assert "asleep" in only_session(environ(port, SLEEP_MODE="observe"))["leaves_running"]
    assert "warm" in only_session(environ(port, CANARY_LANE="quick"))["leaves_running"]
    assert only_session(environ(port, SLEEP_MODE="force"))["leaves_running"] is None


def test_a_wait_mode_the_budget_cannot_hold_is_a_problem_line(listener):
    env = environ(listener.getsockname()[1], SLEEP_MODE="wait", CANARY_BUDGET_S="120")
    code, out, _ = dry_run(env)
    assert code == 0
    (problem,) = [line for line in out.splitlines() if "PROBLEM" in line]
    assert "SLEEP_MODE=wait" in problem and "CANARY_BUDGET_S is 120 s" in problem
    assert only_session({**env, "CANARY_BUDGET_S": "840", "IDLE_TIMEOUT_S": "60"}
                        )["problems"] == []
