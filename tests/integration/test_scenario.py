"""The whole scenario, in-process, against the sandbox over real loopback HTTP, moto and git:
healthy passes every step; each sandbox fault is caught by the step that should catch it."""

from __future__ import annotations

import time
from typing import Any

import pytest

from canary.clock import SystemClock
from canary.config import CanaryConfig
from canary.models import RunResult, Status
from canary.runner import run_scenario
from canary.scenario import STEP_NAMES
from sandbox import Fault, Sandbox
from sandbox.variations import VARIATIONS

pytestmark = pytest.mark.integration


def run_against(sb: Sandbox, **overrides: Any) -> RunResult:
    from canary.composition import open_dependencies

    config = CanaryConfig.for_sandbox(sb.info, **overrides)
    clock = SystemClock()
    with open_dependencies(config, clock) as deps:
        return run_scenario(config, deps, clock)


def failed(run: RunResult) -> set[str]:
    return {s.name for s in run.steps if s.status is Status.FAILED}


def live_tasks(p: Any) -> list[str]:
    """The cluster's tasks still meant to run (p: the conftest's Platform)."""
    return [t["taskArn"] for t in p.tasks() if t["desiredStatus"] == "RUNNING"]


def test_healthy_sandbox_passes_every_step_and_measures_honestly(make_platform):
    # The sessions table with production's sort key (the CLI tests cover the plain key).
    p = make_platform(sessions_key_schema="hash_range")
    sb = p.sb
    started = time.monotonic()
    run = run_against(sb)
    took = time.monotonic() - started
    assert [s.name for s in run.steps] == list(STEP_NAMES)
    assert all(s.status is Status.PASSED for s in run.steps), [
        (s.name, s.status.value, s.reason) for s in run.steps if s.status is not Status.PASSED]
    assert run.ok and run.error == ""
    for name in ("ContainerWakeTime", "PreviewWakeTime", "APIResponseTime", "RouteLatency",
                 "AutoSleepDelay"):
        assert run.metrics[name] >= 0, name
    assert run.metrics["DuplicateTasks"] == 0
    assert run.metrics["ContractViolations"] == 0
    assert run.metrics["AutoSaveFailed"] == 0
    assert took < 30  # generous: a healthy run takes a few seconds
    assert live_tasks(p) == []  # wait mode: nothing synthetic left running

    # The wake time against the sandbox's ground truth (first wake only).
    wake = run.step("wake_hermes").measurements
    events: dict[str, float] = {}
    for name, at in sb.events(CanaryConfig.for_sandbox(sb.info).container_id):
        events.setdefault(name, at)
    truth_ms = (events["first_preview_served"] - events["wake_requested"]) * 1000
    # The canary starts its clock before Hermes asks for the task, and polls at <= 100 ms.
    assert wake["wake_ms"] >= truth_ms - 5
    assert wake["wake_ms"] <= truth_ms + 1000
    assert wake["poll_interval_ms"] <= 100


# The fault matrix (sandbox/faults.py) says, per fault, the steps that must fail (exactly),
# the words of one step's reason, the metric that must move and the options the proof needs.
CAUGHT = [f for f in Fault if not f.spec.expected_ok]  # the others have tests of their own


@pytest.mark.parametrize("fault", CAUGHT, ids=str)
def test_fault_is_caught_by_its_step(make_platform, fault):
    spec = fault.spec
    p = make_platform(faults=[fault], **spec.sandbox_options)
    sb = p.sb
    # A shorter give-up keeps runs quick unless the fault says otherwise. Faults outside the
    # sleep put the container to sleep by force (the healthy run covers the wait mode), which
    # saves the ~3 s of watching an idle container.
    sleep_mode = "wait" if spec.watches_sleep else "force"
    run = run_against(sb, **{"wake_timeout_s": 3, "sleep_mode": sleep_mode, **spec.run_options})
    assert not run.ok
    assert failed(run) == set(spec.fails), [(s.name, s.status.value, s.reason) for s in run.steps]
    step, words = spec.reason
    assert words in run.step(step).reason, run.step(step).reason
    if spec.metric is not None:
        assert spec.metric.holds(run.metrics), (str(spec.metric), run.metrics)
    assert run.step("cleanup").status is Status.PASSED
    assert run.error == ""
    assert live_tasks(p) == []  # extras and leftovers stopped
    assert [t["lastStatus"] for t in p.foreign_tasks()] == ["RUNNING", "RUNNING"]


def test_a_task_hermes_starts_after_the_run_gave_up_is_cleaned_up(make_platform):
    # Hermes answers 201 `starting` at once and starts the task ~1 s later; the wake gives up
    # after 0.3 s and every later step is quick, so the task appears while cleanup runs.
    p = make_platform(variations=["answers_starting"])
    run = run_against(p.sb, wake_timeout_s=0.3, sleep_mode="force", wake_paths=("hermes",))
    assert run.step("wake_hermes").status is Status.FAILED
    cleanup = run.step("cleanup")
    assert "stopped task" in cleanup.reason, cleanup.reason
    assert live_tasks(p) == []
    assert [t["lastStatus"] for t in p.foreign_tasks()] == ["RUNNING", "RUNNING"]


@pytest.mark.parametrize("variation", sorted(VARIATIONS))
def test_the_healthy_scenario_passes_whatever_the_contract_leaves_open(make_platform,
                                                                       variation):
    p = make_platform(variations=[variation])
    run = run_against(p.sb, sleep_mode="force")
    assert run.ok, [(s.name, s.status.value, s.reason) for s in run.steps
                    if s.status is not Status.PASSED]
    assert run.metrics["DuplicateTasks"] == 0 and run.metrics["ResumeStartedTask"] == 0
    assert live_tasks(p) == []
    assert [t["lastStatus"] for t in p.foreign_tasks()] == ["RUNNING", "RUNNING"]


def test_auth_not_enforced_is_a_degraded_finding_not_a_failure(make_platform):
    run = run_against(make_platform(faults=["auth_not_enforced"]).sb)
    assert run.ok  # exit 0: production is known not to enforce; it is a finding
    auth = run.step("auth")
    assert auth.status is Status.DEGRADED
    assert auth.findings and "SECURITY" in auth.findings[0]
    assert run.metrics["AuthNotEnforced"] == 1


def test_observe_mode_judges_the_sleep_on_the_next_run(make_platform, wait_for):
    p = make_platform()
    sb = p.sb
    first = run_against(sb, sleep_mode="observe")
    assert first.ok and "armed" in first.step("sleep").reason
    assert "AutoSleepDelay" not in first.metrics
    # The task the first run left running sleeps on its own; ECS records how it ended.
    wait_for(lambda: live_tasks(p) == [], timeout=5)
    second = run_against(sb, sleep_mode="observe")
    assert second.step("sleep").status is Status.PASSED, second.step("sleep").reason
    assert second.metrics["AutoSleepMissed"] == 0
    assert second.metrics["AutoSleepDelay"] >= 0


def test_observe_mode_reports_a_missed_sleep_next_run(make_platform):
    sb = make_platform(faults=["never_sleeps"]).sb
    first = run_against(sb, sleep_mode="observe")
    assert first.ok
    # The point is time passing: past the bound the next preflight judges by, it should
    # have slept (lastActivity is no later than the end of the first run).
    time.sleep(CanaryConfig.for_sandbox(sb.info).sleep_deadline_s + 0.1)
    second = run_against(sb, sleep_mode="observe")
    assert second.step("sleep").status is Status.FAILED
    assert "auto-sleep missed" in second.step("sleep").reason
    assert second.metrics["AutoSleepMissed"] == 1


def test_preview_only_wake_path(make_platform):
    run = run_against(make_platform().sb, wake_paths=("preview",), sleep_mode="force")
    status = {s.name: s.status for s in run.steps}
    assert status["wake_hermes"] is Status.SKIPPED
    assert status["concurrency"] is Status.SKIPPED
    assert status["route"] is Status.PASSED  # it got the container running itself
    assert status["wake_preview"] is Status.PASSED
    assert run.ok and "ContainerWakeTime" not in run.metrics
    assert run.metrics["PreviewWakeTime"] > 0
