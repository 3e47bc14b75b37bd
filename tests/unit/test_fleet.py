"""Lanes, sessions and retries: which steps each lane runs and what it can emit, the
sessions from configuration (and their errors), each session its own run, a quick-lane
check retried once after a transport failure, a cold wake never."""

from __future__ import annotations

import json
from dataclasses import replace

import httpx
import pytest

from canary.config import CanaryConfig, ConfigError
from canary.invocation import with_event_lane
from canary.lanes import LANES, Lane
from canary.lock import DEFAULT_LOCK_ID, lane_lock_id
from canary.models import Status, StepResult
from canary.runner import run_fleet, run_scenario
from canary.scenario import ORDER, SCENARIO, STEP_NAMES, Scenario, metrics_of
from canary.sessions import SessionSpec
from canary.steps import route, wake_hermes
from canary.steps.base import Step

BASE = {
    "AWS_REGION": "us-west-2", "HERMES_API_URL": "https://alb.example.com/hermes",
    "PREVIEW_URL_TEMPLATE": "https://edit.{clientId}.example.com/session/{threadId}/",
    "INTERNAL_API_KEY": "k-123456789", "CANARY_CLIENT_ID": "canaryclient",
    "CANARY_USER_ID": "canaryuser", "CANARY_THREAD_ID": "canary-thread",
}


def from_env(**changes: str) -> CanaryConfig:
    return CanaryConfig.from_env({**BASE, **changes})


def sessions(*entries: dict) -> str:
    return json.dumps(list(entries))


# -- lanes ---------------------------------------------------------------------------------


def test_the_full_lane_is_todays_scenario_unchanged():
    assert Scenario.for_lane(Lane.FULL) is SCENARIO
    assert STEP_NAMES == (
        "preflight", "wake_hermes", "concurrency", "route", "warm_api", "hermes_not_found",
        "router_not_found", "websocket", "auth", "wake_preview", "sleep", "auto_save", "cleanup")


def test_the_quick_lane_checks_a_warm_session_without_cold_wake_or_sleep():
    assert Scenario.for_lane("quick").names == (
        "preflight", "warm_up", "route", "warm_api", "hermes_not_found", "router_not_found",
        "websocket", "auth", "cleanup")


def test_a_lane_can_emit_only_what_its_steps_measure_plus_the_run_level_metrics():
    quick = metrics_of(Lane.QUICK)
    assert {"APIResponseTime", "RouteLatency", "ScenarioSuccess", "FirstAttemptSuccess",
            "StepSuccess", "ContractViolations", "CanaryError"} <= quick
    assert not {"ContainerWakeTime", "PreviewWakeTime", "AutoSleepMissed", "AutoSaveFailed",
                "DuplicateTasks"} & quick
    assert {"ContainerWakeTime", "AutoSleepMissed", "FirstAttemptSuccess"} <= metrics_of("full")


def test_no_cold_wake_is_ever_retried():
    wakes = [s for s in ORDER if s.wake_path]
    assert wakes and not any(s.retry_on_transport for s in wakes)
    assert LANES[Lane.QUICK].retries and not LANES[Lane.FULL].retries


def test_each_lane_has_its_own_lock_and_the_full_lane_keeps_the_old_one():
    assert lane_lock_id("full") == DEFAULT_LOCK_ID
    assert lane_lock_id("quick") == DEFAULT_LOCK_ID + "#quick"


def test_the_schedules_event_lane_overrides_canary_lane():
    assert CanaryConfig.from_env(with_event_lane(BASE, {"lane": "quick"})).lane == "quick"
    assert with_event_lane(BASE, None) is BASE
    with pytest.raises(ConfigError, match="CANARY_LANE"):
        CanaryConfig.from_env(with_event_lane(BASE, {"lane": "slow"}))


# -- sessions ------------------------------------------------------------------------------


def test_without_canary_sessions_one_session_named_by_its_client_id():
    (run,) = from_env().run_configs()
    assert (run.session_label, run.thread_id) == ("canaryclient", "canary-thread")


def test_session_fields_left_out_fall_back_to_the_single_session_variables():
    config = from_env(CANARY_SESSIONS=sessions(
        {"name": "eu", "threadId": "t-eu"}, {"name": "us", "clientId": "canary-us",
                                             "threadId": "t-us", "sessionId": "s-us"}))
    eu, us = config.run_configs()
    assert (eu.client_id, eu.user_id, eu.thread_id) == ("canaryclient", "canaryuser", "t-eu")
    assert (us.client_id, us.session_id) == ("canary-us", "s-us")


def test_sessions_giving_every_id_need_no_single_session_variables():
    env = {k: v for k, v in BASE.items() if not k.startswith("CANARY_")}
    env["CANARY_SESSIONS"] = sessions(
        {"name": "a", "clientId": "ca", "threadId": "ta", "userId": "ua"})
    (run,) = CanaryConfig.from_env(env).run_configs()
    assert run.container_id == "ca-ta-ua"


def test_the_quick_lane_uses_its_own_ids_so_the_lanes_never_share_a_container():
    config = from_env(CANARY_SESSIONS=sessions({"name": "eu", "threadId": "t-eu",
                                                "sessionId": "s-eu"}))
    (full,) = config.run_configs()
    (quick,) = config.for_lane("quick").run_configs()
    assert (quick.thread_id, quick.session_id) == ("t-eu-quick", "s-eu-quick")
    assert quick.container_id != full.container_id and quick.lane == "quick"


@pytest.mark.parametrize("raw, says", [
    ("[{", "not JSON"),
    ("{}", "not a non-empty JSON list"),
    ("[]", "not a non-empty JSON list"),
    ('[{"threadId": "t"}]', "has no name"),
    ('[{"name": "a b"}]', "is not 1-64 characters"),
    ('[{"name": "a", "colour": "red"}]', "unknown field(s) colour"),
    ('[{"name": "a", "threadId": 5}]', "not a string"),
    ('[{"name": "a", "threadId": "x"}, {"name": "a", "threadId": "y"}]', "used twice"),
    ('[{"name": "a", "threadId": "t/1"}]', "thread_id: invalid id"),
    ('[{"name": "a", "threadId": "t1"}, {"name": "b", "threadId": "t1"}]',
     "have the same container id"),
    ('[{"name": "a"}, {"name": "b"}]', "have the same container id"),
])
def test_bad_canary_sessions_are_refused_naming_the_variable(raw, says):
    with pytest.raises(ConfigError) as e:
        from_env(CANARY_SESSIONS=raw)
    assert "CANARY_SESSIONS" in str(e.value) and says in str(e.value)


def test_two_sessions_sharing_a_configured_session_id_are_refused():
    with pytest.raises(ConfigError, match="same session id"):
        from_env(CANARY_SESSION_ID="shared", CANARY_SESSIONS=sessions(
            {"name": "a", "threadId": "ta"}, {"name": "b", "threadId": "tb"}))


def test_a_real_target_still_needs_ids_from_somewhere():
    env = {k: v for k, v in BASE.items() if k != "CANARY_THREAD_ID"}
    env["CANARY_SESSIONS"] = sessions({"name": "a", "threadId": "ta"}, {"name": "b"})
    with pytest.raises(ConfigError, match="CANARY_THREAD_ID"):
        CanaryConfig.from_env(env)


# -- the fleet runner ----------------------------------------------------------------------


def scripted(fn) -> Scenario:
    return Scenario((Step("preflight", fn),), Step("cleanup", lambda ctx: StepResult(
        "cleanup", Status.PASSED, reason=f"cleaned {ctx.config.thread_id}")))


@pytest.fixture
def deps(aws, clock, h):
    from canary.composition import Dependencies
    from canary.secrets import ApiKeyProvider

    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500))) as http:
        yield Dependencies(http=http, dynamodb=aws["ddb"], ecs=aws["ecs"],
                           api_key=ApiKeyProvider(key=h.KEY, clock=clock))


def test_each_session_runs_with_its_own_context_and_cleanup(deps, clock, h):
    def step(ctx):
        if ctx.config.session_label == "b":
            raise RuntimeError("a canary bug in one session")
        return StepResult("preflight", Status.PASSED, reason=ctx.config.container_id)

    config = h.make_config(configured_sessions=tuple(
        SessionSpec(n, thread_id=f"t-{n}") for n in "abc"))
    fleet = run_fleet(config, deps, clock, scenario=scripted(step))
    assert [r.session for r in fleet.sessions] == ["a", "b", "c"]
    assert [r.step("cleanup").reason for r in fleet.sessions] == [
        "cleaned t-a", "cleaned t-b", "cleaned t-c"]
    assert [r.ok for r in fleet.sessions] == [True, False, True] and not fleet.ok
    assert "a canary bug in one session" in fleet.sessions[1].error
    assert [s["name"] for s in fleet.to_dict()["sessions"]] == ["a", "b", "c"]


# -- retries -------------------------------------------------------------------------------


def router_resetting_once(h):
    calls = []

    def router(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ReadError("connection reset by peer", request=request)
        return httpx.Response(200, text="<p>marker:canary-t1-u1</p>")
    return router, calls


def quick_route_run(deps, clock, h, aws, platform, *, lane, spec=route.STEP):
    from canary.composition import Dependencies

    router, calls = router_resetting_once(h)
    platform.router = router
    h.put_container(aws, status="running")
    scenario = Scenario((spec,), Step("cleanup", lambda ctx: StepResult(
        "cleanup", Status.PASSED)), lane=lane)
    with httpx.Client(transport=httpx.MockTransport(platform)) as http:
        run = run_scenario(h.make_config(lane=lane.value),
                           Dependencies(http=http, dynamodb=aws["ddb"], ecs=aws["ecs"],
                                        api_key=deps.api_key), clock, scenario=scenario)
    return run, calls


def test_a_quick_check_failing_on_a_reset_is_retried_once_after_a_pause(deps, clock, h, aws,
                                                                        platform):
    run, calls = quick_route_run(deps, clock, h, aws, platform, lane=Lane.QUICK)
    step = run.step("route")
    assert (step.status, step.attempts, len(calls)) == (Status.PASSED, 2, 2)
    assert "transport failure" in step.findings[0]
    assert 2.0 in clock.sleeps
    assert run.ok and not run.first_attempt_ok


def test_the_full_lane_never_retries(deps, clock, h, aws, platform):
    run, calls = quick_route_run(deps, clock, h, aws, platform, lane=Lane.FULL)
    assert (run.step("route").status, run.step("route").attempts, len(calls)) == (
        Status.FAILED, 1, 1)


def test_a_cold_wake_failing_on_a_reset_is_not_retried_even_in_the_quick_lane(
        deps, clock, h, aws, platform):
    wake_like = replace(wake_hermes.STEP, name="route", run=route.STEP.run, depends=(),
                        wake_path=None)
    run, calls = quick_route_run(deps, clock, h, aws, platform, lane=Lane.QUICK,
                                 spec=wake_like)
    assert (run.step("route").attempts, len(calls)) == (1, 1)


def test_a_failure_whose_body_only_claims_a_transport_failure_is_not_retried(
        deps, clock, h, aws, platform):
    """The retry follows the HTTP layer's count, not the reason's text: a hostile answer that
    says "transport failure:" in its body is a verdict, checked once."""
    calls = []

    def router(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(502, text="transport failure: GET / : connection reset")

    from canary.composition import Dependencies

    platform.router = router
    h.put_container(aws, status="running")
    scenario = Scenario((route.STEP,), Step("cleanup", lambda ctx: StepResult(
        "cleanup", Status.PASSED)), lane=Lane.QUICK)
    with httpx.Client(transport=httpx.MockTransport(platform)) as http:
        run = run_scenario(h.make_config(lane="quick"),
                           Dependencies(http=http, dynamodb=aws["ddb"], ecs=aws["ecs"],
                                        api_key=deps.api_key), clock, scenario=scenario)
    step = run.step("route")
    assert "transport failure:" in step.reason
    assert (step.status, step.attempts, len(calls)) == (Status.FAILED, 1, 1)


def test_the_quick_lane_runs_within_its_own_budget_whatever_canary_budget_s_says():
    """A quick run must end inside its short period (a hung one would hold the lane's lock
    while the next runs skip, and skips report success)."""
    from canary.lanes import LANES

    quick_cap = LANES[Lane.QUICK].max_budget_s
    assert from_env(CANARY_BUDGET_S="600", CANARY_LANE="quick").budget_s == quick_cap
    assert from_env(CANARY_BUDGET_S="600").for_lane("quick").budget_s == quick_cap
    assert from_env(CANARY_BUDGET_S="600").budget_s == 600
