"""Review fixes of the fleet and lanes: one fact in one place (the full lane's schedule, the
lanes' names), the quick lock's TTL, a retry that keeps what the first attempt found, warm_up
waiting for the app, ids checked across lanes, and a fleet whose sessions share one end."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest

from canary.config import CanaryConfig, ConfigError
from canary.lanes import LANES, Lane
from canary.models import Status, StepResult

BASE = {
    "AWS_REGION": "us-east-1", "HERMES_API_URL": "https://alb.example.com/hermes",
    "PREVIEW_URL_TEMPLATE": "https://edit.{clientId}.example.com/session/{threadId}/",
    "INTERNAL_API_KEY": "k-123456789", "CANARY_CLIENT_ID": "canaryclient",
    "CANARY_USER_ID": "canaryuser", "CANARY_THREAD_ID": "canary-thread",
}


# -- one place for the lanes' facts --------------------------------------------------------


def test_the_default_schedule_of_settings_and_alarms_follows_the_full_lanes_spec():
    """Change the full lane's schedule in canary/lanes.py alone: the catalogue's default (the
    alarms' period) and the deploy setting's default follow (a fresh interpreter, since the
    defaults are read at import)."""
    code = (
        "import dataclasses\n"
        "from canary import lanes\n"
        "lanes.LANES[lanes.Lane.FULL] = dataclasses.replace(lanes.LANES[lanes.Lane.FULL], "
        "schedule_minutes=17)\n"
        "from canary import catalogue, settings\n"
        "setting = next(s for s in settings.SETTINGS if s.param == 'schedule_minutes')\n"
        "print(catalogue.DEFAULT_SCHEDULE_MINUTES, setting.default, "
        "catalogue.ALARMS[0].period_seconds)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.split()
    assert out == ["17", "17", str(17 * 60)]


def test_the_cli_offers_exactly_the_lanes_there_are():
    from canary.cli import build_parser

    (lane_action,) = [a for p in build_parser()._subparsers._group_actions
                      for a in p.choices["run"]._actions if a.dest == "lane"]
    assert tuple(lane_action.choices) == tuple(lane.value for lane in Lane)


# -- the lock's TTL ----------------------------------------------------------------------


class _Context:
    aws_request_id = "req-ttl"

    def __init__(self, remaining_s: float) -> None:
        self.remaining_s = remaining_s

    def get_remaining_time_in_millis(self) -> int:
        return int(self.remaining_s * 1000)


def test_a_quick_runs_lock_expires_after_its_own_budget_not_the_lambdas_time(
        aws, memory_table, monkeypatch):
    """A crashed quick run holds the quick lock until its deadline + grace: with 14 minutes of
    Lambda time left, not 15 minutes (the next quick runs would skip meanwhile)."""
    import io

    from aws_lambda_powertools import Logger

    import canary.runner as runner
    from canary.clock import SystemClock
    from canary.composition import Dependencies
    from canary.invocation import LOCK_GRACE_S, Invocation
    from canary.lock import lane_lock_id
    from canary.models import FleetResult
    from canary.redaction import RedactingStdout, RedactSecrets
    from canary.secrets import ApiKeyProvider

    seen: dict[str, float] = {}

    def fleet(config: Any, deps: Any, clock: Any, **kwargs: Any) -> FleetResult:
        item = aws["ddb"].get_item(TableName=memory_table,
                                   Key={"lockId": {"S": lane_lock_id("quick")}})["Item"]
        seen["ttl_s"] = float(item["expiresAt"]["N"]) - time.time()
        return FleetResult(run_id="r", lane=config.lane, target="env",
                           environment=config.environment, started_at=time.time())

    monkeypatch.setattr(runner, "run_fleet", fleet)
    stream = RedactingStdout(target=io.StringIO())
    redact = RedactSecrets(stream)
    invocation = Invocation(
        logger=Logger(service="ttl-test", stream=stream), stream=stream, redact_filter=redact,
        dependencies=lambda config: Dependencies(
            http=None, dynamodb=aws["ddb"], ecs=aws["ecs"],
            api_key=ApiKeyProvider(key=config.api_key, clock=SystemClock())),
        tracer=lambda environ: None, out=io.StringIO())
    invocation(_Context(840.0), {**BASE, "LOCK_TABLE": memory_table, "CANARY_BUDGET_S": "600"},
               {"lane": "quick"})
    cap = LANES[Lane.QUICK].max_budget_s
    assert 0 < seen["ttl_s"] <= cap + LOCK_GRACE_S + 2


# -- a retry keeps what the first attempt found -------------------------------------------


def test_a_retry_keeps_the_first_attempts_counted_findings_and_its_findings(
        aws, clock, h, platform):
    """warm_api's attempt 1 starts a task (ResumeStartedTask) and breaks a contract, then a
    sample times out; the retry's own scan counts that task as already there and passes. The
    final result still carries attempt 1's counts (the larger of the two) and findings."""
    from canary.composition import Dependencies
    from canary.runner import collect_metrics, run_scenario
    from canary.scenario import Scenario
    from canary.secrets import ApiKeyProvider
    from canary.steps.base import ALL_LANES, Step

    attempts: list[int] = []

    def hermes(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    def warm_api_like(ctx: Any) -> StepResult:
        attempts.append(1)
        if len(attempts) == 1:
            ctx.resume(timeout_s=1.0)  # the HTTP layer counts the timeout (transport failure)
            return StepResult("warm_api", Status.FAILED, reason="sample 2: timed out",
                              measurements={"resume_started_tasks": 1,
                                            "contract_violations": 1},
                              findings=["resume-preview started task abc123"])
        return StepResult("warm_api", Status.PASSED, reason="fast",
                          measurements={"resume_started_tasks": 0, "response_ms": 80.0})

    platform.hermes = hermes
    spec = Step("warm_api", warm_api_like, (), {"APIResponseTime": "response_ms",
                                                "ResumeStartedTask": "resume_started_tasks"},
                lanes=ALL_LANES, retry_on_transport=True)
    scenario = Scenario((spec,), Step("cleanup", lambda ctx: StepResult(
        "cleanup", Status.PASSED)), lane=Lane.QUICK)
    with httpx.Client(transport=httpx.MockTransport(platform)) as http:
        run = run_scenario(h.make_config(lane="quick"), Dependencies(
            http=http, dynamodb=aws["ddb"], ecs=aws["ecs"],
            api_key=ApiKeyProvider(key=h.KEY, clock=clock)), clock, scenario=scenario)
    step = run.step("warm_api")
    assert step.attempts == 2
    assert step.measurements["resume_started_tasks"] == 1
    assert step.measurements["contract_violations"] == 1
    assert any("started task abc123" in f for f in step.findings)
    metrics = collect_metrics(run, scenario)
    assert (metrics["ResumeStartedTask"], metrics["ContractViolations"]) == (1.0, 1.0)


# -- the fleet: one shared end ------------------------------------------------------------


def test_a_session_whose_thread_never_returns_is_abandoned_within_the_budget(
        h, monkeypatch):
    """The others still report; that session fails with a clear reason; the fleet returns
    within its budget (the Lambda waits only a fraction of a second past it)."""
    import canary.runner as runner
    from canary.clock import SystemClock
    from canary.models import RunResult
    from canary.sessions import SessionSpec

    release = threading.Event()
    budgets: dict[str, float] = {}

    def run_scenario(cfg: Any, deps: Any, clock: Any, *, deadline_s: float, **kw: Any
                     ) -> RunResult:
        budgets[cfg.session_label] = deadline_s
        if cfg.session_label == "stuck":
            release.wait(30)  # a thread that never returns (within the test)
        return RunResult(run_id="r", target="sandbox", environment="unit", started_at=0.0,
                         session=cfg.session_label, steps=[StepResult("preflight",
                                                                      Status.PASSED)])

    monkeypatch.setattr(runner, "run_scenario", run_scenario)
    config = h.make_config(configured_sessions=tuple(
        SessionSpec(n, thread_id=f"t-{n}") for n in ("a", "stuck", "b")))
    began = time.monotonic()
    try:
        fleet = runner.run_fleet(config, None, SystemClock(), deadline_s=1.5)
    finally:
        release.set()
    assert time.monotonic() - began < 1.5 + 0.3
    assert [r.ok for r in fleet.sessions] == [True, False, True]
    assert "stuck did not end within the fleet's budget" in fleet.sessions[1].error
    assert all(b < 1.5 for b in budgets.values())  # each ends before the fleet's end


# -- ids across lanes ---------------------------------------------------------------------


def from_env(**changes: str) -> CanaryConfig:
    return CanaryConfig.from_env({**BASE, **changes})


def test_a_full_lane_session_with_another_sessions_quick_thread_id_is_refused():
    """`t-eu-quick` in the full lane is session eu's quick-lane container."""
    raw = json.dumps([{"name": "eu", "threadId": "t-eu"}, {"name": "x", "threadId": "t-eu-quick"}])
    with pytest.raises(ConfigError, match=r"CANARY_SESSIONS.*'x' \(full lane\).*'eu' \(quick "
                                          r"lane\)|CANARY_SESSIONS.*'eu' \(quick lane\).*'x'"):
        from_env(CANARY_SESSIONS=raw)


def test_a_session_whose_user_id_is_another_sessions_thread_under_the_same_client_is_refused(
        aws, h):
    """The collision is real: b's task carries USER_ID=t-a in its overrides, and a's task
    ownership (canary/tasks.py) takes the clientId with t-a as naming session a."""
    from canary.clients.orchestrator import OrchestratorClient
    from canary.tasks import SessionIdentity, SessionTasks

    a = SessionIdentity("canaryclient", "t-a", "canary-session-t-a", "canaryclient-t-a-u1")
    b_task = h.run_task(aws, {"CLIENT_ID": "canaryclient", "USER_ID": "t-a",
                              "THREAD_ID": "canary-session-t-b",
                              "SESSION_ID": "canary-session-t-b"})
    (task,) = aws["ecs"].describe_tasks(cluster="webordinary-edit-cluster",
                                        tasks=[b_task])["tasks"]
    orchestrator = OrchestratorClient(aws["ecs"], "webordinary-edit-cluster")
    assert SessionTasks(orchestrator, a).tie(task)  # a would count (and stop) b's task

    raw = json.dumps([{"name": "a", "threadId": "t-a", "userId": "u1"},
                      {"name": "b", "threadId": "t-b", "userId": "t-a"}])
    with pytest.raises(ConfigError, match=r"CANARY_SESSIONS.*userId 't-a'"):
        from_env(CANARY_SESSIONS=raw)
    other_client = json.dumps([{"name": "a", "threadId": "t-a", "userId": "u1"},
                               {"name": "b", "clientId": "otherclient", "threadId": "t-b",
                                "userId": "t-a"}])
    assert len(from_env(CANARY_SESSIONS=other_client).run_configs()) == 2


# -- warm_up waits for the app, not for ECS -----------------------------------------------


def test_warm_up_waits_until_the_row_says_running_when_ecs_says_running_first(
        make_ctx, platform, clock, aws, h):
    from canary.steps import warm_up

    h.run_task(aws)  # ECS: RUNNING; the app has not registered in the containers row yet
    clock.at(3.0, lambda: h.put_container(aws, status="running"))
    platform.router = lambda r: httpx.Response(502, text="container starting")
    step = warm_up.run(make_ctx(lane="quick"))
    assert step.status is Status.PASSED, step.reason
    assert step.measurements["found"] == "starting"
    assert clock.monotonic() >= 1000.0 + 3.0  # it waited for the row
    assert max(clock.sleeps) <= 2.0 and len(clock.sleeps) < 20  # politely


def moto_task(arn: str):
    """moto's own model of a task (its health and start time are ECS's to report)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ecs.models import ecs_backends

    return ecs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tasks["webordinary-edit-cluster"][arn]


def test_warm_up_goes_on_when_ecs_reports_the_task_healthy_and_never_requests_the_preview(
        make_ctx, platform, clock, aws, h):
    """To the router a GET for a container that is not running is a wake: the readiness wait
    reads the row and ECS only."""
    from canary.steps import warm_up

    task = moto_task(h.run_task(aws))
    task.health_status = "UNKNOWN"
    clock.at(4.0, lambda: setattr(task, "health_status", "HEALTHY"))
    previews = []
    platform.router = lambda r: previews.append(r) or httpx.Response(502, text="starting")
    step = warm_up.run(make_ctx(lane="quick"))
    assert step.status is Status.PASSED, step.reason
    assert step.measurements["found"] == "starting"
    assert clock.monotonic() >= 1000.0 + 4.0 and previews == []


def test_a_task_running_without_health_reports_serves_after_the_grace_from_its_start(
        make_ctx, platform, clock, aws, h):
    from canary.steps import base, warm_up

    task = moto_task(h.run_task(aws))
    task.started_at = clock.now() - base.APP_GRACE_S - 1  # up long before; no health check
    step = warm_up.run(make_ctx(lane="quick"))
    assert (step.status, step.measurements["found"]) == (Status.PASSED, "running")


def test_a_transport_failure_another_thread_notes_late_never_retries_the_next_step(
        aws, clock, h, platform):
    """An exchange a step's leftover thread finishes during the next step (an abandoned
    attempt, a wake's straggler) is not the next step's transport failure: no retry."""
    from canary.composition import Dependencies
    from canary.runner import run_scenario
    from canary.scenario import Scenario
    from canary.secrets import ApiKeyProvider
    from canary.steps.base import ALL_LANES, Step

    second_began, late_done = threading.Event(), threading.Event()

    def hermes(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    def leaves_a_thread(ctx: Any) -> StepResult:
        def straggler() -> None:
            second_began.wait(10)
            ctx.resume(timeout_s=1.0)  # fails on transport, while the next step runs
            late_done.set()

        threading.Thread(target=straggler, daemon=True).start()
        return StepResult("first", Status.PASSED)

    def fails_on_its_own(ctx: Any) -> StepResult:
        second_began.set()
        late_done.wait(10)
        return StepResult("second", Status.FAILED, reason="404 where 200 was expected")

    platform.hermes = hermes
    scenario = Scenario((Step("first", leaves_a_thread, (), lanes=ALL_LANES),
                         Step("second", fails_on_its_own, (), lanes=ALL_LANES,
                              retry_on_transport=True)),
                        Step("cleanup", lambda ctx: StepResult("cleanup", Status.PASSED)),
                        lane=Lane.QUICK)
    with httpx.Client(transport=httpx.MockTransport(platform)) as http:
        run = run_scenario(h.make_config(lane="quick"), Dependencies(
            http=http, dynamodb=aws["ddb"], ecs=aws["ecs"],
            api_key=ApiKeyProvider(key=h.KEY, clock=clock)), clock, scenario=scenario)
    assert late_done.is_set()
    assert (run.step("second").status, run.step("second").attempts) == (Status.FAILED, 1)


def test_a_session_id_equal_to_the_quick_lanes_thread_id_is_refused():
    """The full lane's tasks would carry `t-quick`, the quick lane's thread: the quick lane
    would count them as its own, and its cleanup or retire would stop them."""
    with pytest.raises(ConfigError, match=r"(thread/session|session/thread) id 't-quick'"):
        from_env(CANARY_THREAD_ID="t", CANARY_SESSION_ID="t-quick")
