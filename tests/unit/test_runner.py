"""run_scenario: order, dependencies, the budget, cleanup always, metrics, redaction."""

from __future__ import annotations

from types import SimpleNamespace

import httpx
import pytest

from canary import runner
from canary.clients.base import TargetError
from canary.models import RunResult, Status, StepResult
from canary.redaction import REDACTED
from canary.runner import collect_metrics, run_scenario
from canary.scenario import SCENARIO, STEP_NAMES, Scenario
from canary.steps.base import Step

DECLARED = {s.name: s for s in SCENARIO.all_steps}


def StepSpec(name, impl, depends=()):
    """A stand-in step: the real step's declaration (what it measures), another body."""
    real = DECLARED.get(name)
    return Step(name, impl.run, depends, dict(real.measures) if real else {},
                real.wake_path if real else None)


def fake(name, fn=None, status=Status.PASSED, **measurements):
    def run(ctx):
        if fn is not None:
            return fn(ctx)
        return StepResult(name, status, reason=f"{name} {status.value}",
                          measurements=dict(measurements))
    return SimpleNamespace(run=run)


@pytest.fixture
def deps(aws, clock, h):
    from canary.composition import Dependencies
    from canary.secrets import ApiKeyProvider

    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500))) as http:
        yield Dependencies(http=http, dynamodb=aws["ddb"], ecs=aws["ecs"],
                           api_key=ApiKeyProvider(key=h.KEY, clock=clock))


class Scripted(list):
    """The cleanup calls a scripted scenario saw, and the scenario itself."""

    scenario: Scenario


def use_steps(specs, cleanup_fn=None) -> Scripted:
    calls = Scripted()

    def cleanup_run(ctx):
        calls.append(("cleanup", ctx.deadline - ctx.clock.monotonic()))
        return cleanup_fn(ctx) if cleanup_fn else StepResult("cleanup", Status.PASSED)

    calls.scenario = Scenario(tuple(specs), Step("cleanup", cleanup_run))
    return calls


def statuses(run: RunResult) -> dict[str, tuple[str, str]]:
    return {s.name: (s.status.value, s.reason) for s in run.steps}


def test_failed_dependency_skips_dependants_transitively_and_cleanup_runs(deps,
                                                                          clock, h):
    calls = use_steps([
        StepSpec("a", fake("a", status=Status.FAILED)),
        StepSpec("b", fake("b"), ("a",)),
        StepSpec("c", fake("c"), ("b",)),
        StepSpec("d", fake("d")),
    ])
    run = run_scenario(h.make_config(), deps, clock, scenario=calls.scenario)
    s = statuses(run)
    assert s["b"] == ("skipped", "skipped: a failed")
    assert s["c"] == ("skipped", "skipped: b skipped")
    assert s["d"][0] == "passed"
    assert [x.name for x in run.steps] == ["a", "b", "c", "d", "cleanup"]
    assert calls and not run.ok


def test_budget_exhaustion_skips_the_rest_but_cleanup_gets_its_slice(deps, clock,
                                                                     h):
    def slow(ctx):
        ctx.clock.advance(100)
        return StepResult("slow", Status.PASSED)

    calls = use_steps([StepSpec("slow", SimpleNamespace(run=slow)),
                                    StepSpec("next", fake("next"))])
    run = run_scenario(h.make_config(budget_s=60, cleanup_reserve_s=5), deps, clock,
                       scenario=calls.scenario)
    assert statuses(run)["next"] == ("skipped", "skipped: time budget of 60 s exhausted")
    assert run.cut_short == ["next"] and not run.ok
    assert run.steps[-1].name == "cleanup"
    assert calls[0][1] >= runner.MIN_CLEANUP_S / 2  # cleanup still had time (floor - grace)


def test_each_step_gets_what_is_left_minus_the_cleanup_reserve(deps, clock, h):
    seen = []

    def look(ctx):
        seen.append(ctx.deadline - ctx.clock.monotonic())
        ctx.clock.advance(10)
        return StepResult("x", Status.PASSED)

    sc = use_steps([StepSpec("x", SimpleNamespace(run=look)),
                            StepSpec("y", SimpleNamespace(run=look))])
    run_scenario(h.make_config(budget_s=60, cleanup_reserve_s=5), deps, clock, deadline_s=40,
                 scenario=sc.scenario)
    assert seen == [pytest.approx(35), pytest.approx(25)]


def test_target_error_is_a_failed_step_not_a_canary_error(deps, clock, h):
    def boom(ctx):
        raise TargetError("GetItem t: AccessDeniedException no")

    sc = use_steps([StepSpec("x", SimpleNamespace(run=boom)), StepSpec("y", fake("y"))])
    run = run_scenario(h.make_config(), deps, clock, scenario=sc.scenario)
    assert statuses(run)["x"] == ("failed", "GetItem t: AccessDeniedException no")
    assert run.error == ""
    assert statuses(run)["y"][0] == "passed"


def test_canary_bug_fails_the_step_sets_error_and_still_cleans_up(deps, clock, h):
    def bug(ctx):
        return {}["missing"]

    calls = use_steps([StepSpec("x", SimpleNamespace(run=bug))])
    run = run_scenario(h.make_config(), deps, clock, scenario=calls.scenario)
    assert run.step("x").status is Status.FAILED
    assert "canary error in x: KeyError" in run.error
    assert calls


def test_on_step_sees_each_result_live_and_cannot_break_the_run(deps, clock, h):
    sc = use_steps([StepSpec("a", fake("a")), StepSpec("b", fake("b"))])
    seen = []

    def on_step(step):
        seen.append(step.name)
        raise RuntimeError("printer on fire")

    run = run_scenario(h.make_config(), deps, clock, on_step=on_step, run_id="r1",
                       scenario=sc.scenario)
    assert seen == ["a", "b", "cleanup"]
    assert run.ok and run.run_id == "r1"
    assert run.target == "sandbox" and run.environment == "unit"
    assert run.started_at == clock.now() - run.duration_ms / 1000


def test_durations_come_from_the_injected_clock(deps, clock, h):
    def took(ctx):
        ctx.clock.advance(1.25)
        return StepResult("t", Status.PASSED)

    sc = use_steps([StepSpec("t", SimpleNamespace(run=took))])
    run = run_scenario(h.make_config(), deps, clock, scenario=sc.scenario)
    assert run.step("t").duration_ms == 1250.0
    assert run.duration_ms == 1250.0


def test_metrics_only_from_steps_that_measured(deps, clock, h):
    sc = use_steps([
        StepSpec("wake_hermes", fake("wake_hermes", wake_ms=812.5, contract_violations=1)),
        StepSpec("warm_api", fake("warm_api", status=Status.FAILED, contract_violations=1)),
        StepSpec("auth", fake("auth", status=Status.DEGRADED, auth_not_enforced=1)),
        StepSpec("sleep", fake("sleep", status=Status.FAILED, auto_sleep_missed=1)),
        StepSpec("wake_preview", fake("wake_preview", status=Status.SKIPPED, wake_ms=5)),
    ])
    run = run_scenario(h.make_config(), deps, clock, scenario=sc.scenario)
    assert run.metrics == {"ContainerWakeTime": 812.5, "AuthNotEnforced": 1.0,
                           "AutoSleepMissed": 1.0, "ContractViolations": 2.0}


def test_every_catalogue_run_metric_is_measured_by_a_declared_step():
    from canary.catalogue import METRICS_BY_NAME
    from canary.metrics import DERIVED

    run_metrics = {n for n in METRICS_BY_NAME if n not in DERIVED}
    declared = {m for s in SCENARIO.all_steps for m in s.measures}
    assert run_metrics == {*declared, "ContractViolations"}
    run = RunResult("r", "t", "e", 0.0)
    assert collect_metrics(run) == {"ContractViolations": 0.0}


def test_a_key_echoed_by_the_target_is_redacted(aws, clock, h, platform):
    from canary.composition import Dependencies
    from canary.secrets import ApiKeyProvider
    from canary.steps import wake_hermes

    def echo(req):
        header = req.headers["authorization"]
        return httpx.Response(500, json={"message": f"Failed to resume session: {header}"})

    platform.hermes = echo
    sc = use_steps([StepSpec("wake_hermes", wake_hermes)])
    with httpx.Client(transport=httpx.MockTransport(platform)) as http:
        deps = Dependencies(http=http, dynamodb=aws["ddb"], ecs=aws["ecs"],
                            api_key=ApiKeyProvider(key=h.KEY, clock=clock))
        run = run_scenario(h.make_config(), deps, clock, scenario=sc.scenario)
    step = run.step("wake_hermes")
    assert step.status is Status.FAILED
    assert REDACTED in step.reason
    assert h.KEY not in repr(run.to_dict())


def test_cleanup_is_the_real_cleanup_by_default():
    from canary.steps import cleanup

    assert SCENARIO.cleanup is cleanup.STEP
    assert STEP_NAMES[-1] == "cleanup"


def test_a_step_for_a_wake_path_not_configured_is_skipped_saying_so(deps, clock, h):
    ran = []
    sc = use_steps([Step("wake_preview", lambda ctx: ran.append(1), wake_path="preview")])
    run = run_scenario(h.make_config(wake_paths=("hermes",)), deps, clock, scenario=sc.scenario)
    assert ran == [] and run.step("wake_preview").reason == "skipped: 'preview' not in WAKE_PATHS"


def test_previous_sleep_verdict_survives_a_skipped_sleep_step(deps, clock, h):
    sc = use_steps([
        StepSpec("preflight", fake("preflight", previous_sleep_missed=1)),
        StepSpec("sleep", fake("sleep", status=Status.SKIPPED)),
    ])
    run = run_scenario(h.make_config(), deps, clock, scenario=sc.scenario)
    assert run.metrics["AutoSleepMissed"] == 1.0


def test_sleep_step_verdict_wins_over_preflight(deps, clock, h):
    sc = use_steps([
        StepSpec("preflight", fake("preflight", previous_auto_sleep_delay_ms=10.0)),
        StepSpec("sleep", fake("sleep", auto_sleep_delay_ms=20.0, auto_sleep_missed=0)),
    ])
    run = run_scenario(h.make_config(), deps, clock, scenario=sc.scenario)
    assert run.metrics["AutoSleepDelay"] == 20.0


def test_a_hanging_step_is_abandoned_and_the_run_still_reports(monkeypatch, deps, clock, h):
    import threading

    release = threading.Event()

    def hang(ctx):
        release.wait(30)
        return StepResult("hang", Status.PASSED)

    monkeypatch.setattr(runner, "OVERRUN_GRACE_S", 0.2)
    calls = use_steps([StepSpec("hang", SimpleNamespace(run=hang)),
                                    StepSpec("after", fake("after"))])
    # The fake clock does not move while the step hangs: its deadline is budget - reserve.
    run = run_scenario(h.make_config(budget_s=1, cleanup_reserve_s=0.2, sleep_mode="observe"),
                       deps, clock, scenario=calls.scenario)
    release.set()
    assert statuses(run)["hang"][0] == "failed"
    assert "hangs; abandoned" in statuses(run)["hang"][1]
    assert statuses(run)["after"][0] == "passed"
    assert calls


def test_hanging_steps_and_a_hanging_cleanup_still_end_within_the_budget(monkeypatch, deps, h):
    import threading
    import time

    from canary.clock import SystemClock

    release = threading.Event()

    def hang(ctx):
        release.wait(30)
        return StepResult("hang", Status.PASSED)

    monkeypatch.setattr(runner, "OVERRUN_GRACE_S", 5.0)  # capped by half the reserve
    sc = use_steps([StepSpec("a", SimpleNamespace(run=hang)),
                            StepSpec("b", SimpleNamespace(run=hang))], cleanup_fn=hang)
    began = time.monotonic()
    try:
        run = run_scenario(h.make_config(budget_s=60, cleanup_reserve_s=1, sleep_mode="observe"),
                           deps, SystemClock(), deadline_s=2.0, scenario=sc.scenario)
    finally:
        release.set()
    assert time.monotonic() - began < 2.0 + 0.3
    assert statuses(run)["a"][0] == "failed" and "abandoned" in statuses(run)["a"][1]
    assert statuses(run)["b"] == ("skipped", "skipped: time budget of 2 s exhausted")
    assert statuses(run)["cleanup"][0] == "failed"


def test_the_key_is_masked_before_a_long_reason_is_cut(deps, clock, h):
    def echo(ctx):  # the key straddles the cut: masking after cutting would leave its head
        return StepResult("x", Status.FAILED, reason="x" * (runner.MAX_REASON_CHARS - 12)
                          + f" {h.KEY} and more")

    sc = use_steps([StepSpec("x", SimpleNamespace(run=echo))])
    run = run_scenario(h.make_config(), deps, clock, scenario=sc.scenario)
    reason = run.step("x").reason
    assert len(reason) <= runner.MAX_REASON_CHARS and reason.endswith("...")
    assert h.KEY[:8] not in reason and "*" in reason


def test_a_canary_error_carrying_the_key_is_masked_in_the_run_error(deps, clock, h):
    def leak(ctx):
        raise RuntimeError(f"debug: {h.KEY}")

    sc = use_steps([StepSpec("x", SimpleNamespace(run=leak))])
    run = run_scenario(h.make_config(), deps, clock, scenario=sc.scenario)
    assert run.error == "canary error in x: RuntimeError: debug: ***"
    assert h.KEY not in repr(run.to_dict())


def test_a_fault_of_the_canarys_own_setup_is_a_canary_error_not_a_platform_failure(
        deps, clock, h):
    from canary.clients.base import CanaryFault

    def denied(ctx):
        raise CanaryFault("GetItem webordinary-containers: AccessDeniedException not allowed")

    sc = use_steps([StepSpec("x", SimpleNamespace(run=denied))])
    run = run_scenario(h.make_config(), deps, clock, scenario=sc.scenario)
    assert run.step("x").status is Status.FAILED
    assert run.step("x").reason.startswith("canary fault: GetItem")
    assert run.error  # CanaryError=1: its owners are told; the health composite holds back


def test_access_denied_from_aws_is_a_canary_fault(aws, h):
    from canary.clients.base import CanaryFault
    from canary.clients.state import StateClient

    state = StateClient(aws["ddb"], h.make_config(containers_table="not-the-platforms"))
    with pytest.raises(CanaryFault, match="ResourceNotFoundException"):
        state.get_container("c1")
