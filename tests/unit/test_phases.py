"""Where the wake time goes: the phase arithmetic (missing, out of order, skewed clocks), the
wake's task found once through SessionTasks, and the report's line."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from canary import catalogue as cat
from canary import phases
from canary.models import RunResult, Status, StepResult
from canary.phases import Marks
from canary.report import full_report
from canary.steps import wake_hermes

T0 = 1_700_000_000.0
# A 20 s wake: request sent, created +1, pull +3..+11, started +13, row +18, preview +20.
MARKS = Marks(requested=T0, row_running=T0 + 18, preview_ok=T0 + 20)
TASK = {"taskArn": "arn:aws:ecs:us-east-1:1:task/c/abcdef123456789", "createdAt": T0 + 1,
        "pullStartedAt": T0 + 3, "pullStoppedAt": T0 + 11, "startedAt": T0 + 13}


def by_name(found: list[phases.Phase]) -> dict[str, phases.Phase]:
    return {p.name: p for p in found}


def test_every_phase_is_measured_and_they_add_up_to_the_wake():
    found = by_name(phases.split(MARKS, TASK))
    assert {n: p.ms for n, p in found.items()} == {
        "scheduling": 1000.0, "provisioning": 2000.0, "image_pull": 8000.0,
        "container_start": 2000.0, "app_ready": 5000.0, "preview": 2000.0}
    assert sum(p.ms for p in found.values()) == 20_000.0


def test_only_the_phases_across_both_clocks_say_so():
    found = phases.split(MARKS, TASK)
    assert [p.name for p in found if p.cross_clock] == ["scheduling", "app_ready"]


def test_boto3_datetimes_are_read_as_epoch_seconds():
    task = {**TASK, "pullStartedAt": datetime.fromtimestamp(T0 + 3, tz=UTC)}
    assert by_name(phases.split(MARKS, task))["provisioning"].ms == 2000.0


def test_missing_pull_timestamps_leave_their_phases_not_measured_and_unemitted():
    task = {k: v for k, v in TASK.items() if not k.startswith("pull")}
    m = phases.measurements(phases.split(MARKS, task))
    assert "phase_provisioning_ms" not in m and "phase_image_pull_ms" not in m
    assert "phase_container_start_ms" not in m
    assert m["phase_image_pull_not_measured"] == "no pullStartedAt or pullStoppedAt from ECS"
    assert m["phase_scheduling_ms"] == 1000.0 and m["phase_app_ready_ms"] == 5000.0


def test_same_clock_timestamps_out_of_order_are_not_measured():
    task = {**TASK, "pullStoppedAt": T0 + 2}  # the pull "stopped" before it started
    found = by_name(phases.split(MARKS, task))
    assert found["image_pull"].ms is None
    assert "out of order" in found["image_pull"].why_not
    assert found["provisioning"].ms == 2000.0  # its neighbours stand on their own


def test_a_small_clock_skew_gives_zero_never_negative():
    task = {**TASK, "createdAt": T0 - 2}  # ECS's clock 2 s behind the canary's
    scheduling = by_name(phases.split(MARKS, task))["scheduling"]
    assert scheduling.ms == 0.0 and scheduling.cross_clock


def test_a_task_created_long_before_the_wake_is_not_this_wakes():
    task = {**TASK, "createdAt": T0 - 600}
    found = by_name(phases.split(MARKS, task))
    for name in ("scheduling", "provisioning", "image_pull", "container_start", "app_ready"):
        assert found[name].ms is None and "not this wake's task" in found[name].why_not, name
    assert found["preview"].ms == 2000.0  # the canary's own clock alone


def test_a_cross_clock_gap_negative_beyond_the_allowance_is_not_measured():
    task = {**TASK, "startedAt": T0 + 19.5}  # 7.5 s after the row said running
    marks = Marks(requested=T0, row_running=T0 + 12, preview_ok=T0 + 20)
    app = by_name(phases.split(marks, task, skew_s=5))["app_ready"]
    assert app.ms is None and "clock allowance" in app.why_not


def test_without_a_task_only_the_canarys_own_phase_is_measured():
    m = phases.measurements(phases.split(MARKS, None, no_task="no taskArn anywhere"))
    assert [p.key for p in phases.PHASES if p.key in m] == ["phase_preview_ms"]
    assert m["phase_scheduling_not_measured"] == "no taskArn anywhere"


def test_a_wake_without_a_row_mark_is_ready_at_the_preview_and_has_no_preview_phase():
    found = by_name(phases.split(Marks(requested=T0, preview_ok=T0 + 20, row_watched=False),
                                 TASK))
    assert "preview" not in found
    assert found["app_ready"].ms == 7000.0


def test_the_report_lists_each_wakes_phases_marking_cross_clock_and_not_measured():
    task = {k: v for k, v in TASK.items() if k != "pullStoppedAt"}
    step = StepResult("wake_hermes", Status.PASSED, measurements={
        "wake_ms": 20_000.0, **phases.measurements(phases.split(MARKS, task))})
    run = RunResult("r1", "sandbox", "test", T0, steps=[step])
    text = full_report(run)
    assert ("- wake_hermes: scheduling 1000~ | provisioning 2000 | app ready 5000~ | "
            "preview 2000 ms") in text
    assert "not measured: image_pull: no pullStoppedAt from ECS" in text


def test_the_report_has_no_phase_block_when_no_wake_was_split():
    run = RunResult("r1", "sandbox", "test", T0, steps=[StepResult("route", Status.PASSED)])
    assert "wake phases" not in full_report(run)


# -- the wake's task, through SessionTasks and moto ---------------------------------------
def stamp(arn: str, **fields: float) -> None:
    """Set ECS timestamps on a moto task, as ECS would have stamped them."""
    from moto.ecs.models import ecs_backends

    backend = ecs_backends["123456789012"]["us-east-1"]
    task = next(t for t in backend.tasks["webordinary-edit-cluster"].values()
                if t.task_arn == arn)
    for name, value in fields.items():
        setattr(task, name, value)


def describe_calls(aws: dict[str, Any]) -> list[str]:
    calls: list[str] = []
    aws["ecs"].meta.events.register("before-call.ecs.DescribeTasks",
                                    lambda **kw: calls.append("DescribeTasks"))
    return calls


def test_a_task_already_seen_started_is_not_described_again(make_ctx, aws, h, clock):
    ctx = make_ctx()
    arn = h.run_task(aws)
    stamp(arn, created_at=clock.now(), started_at=clock.now() + 5)
    ctx.tasks.describe_owned([arn])
    calls = describe_calls(aws)
    assert ctx.tasks.started(arn)["taskArn"] == arn
    assert calls == []


def test_the_cold_wake_reports_the_phases_of_the_task_the_row_names(
        make_ctx, aws, h, platform, clock):
    arn = h.run_task(aws)
    now = clock.now()
    stamp(arn, created_at=now + 0.1, pull_started_at=now + 0.2, pull_stopped_at=now + 0.5,
          started_at=now + 0.6)
    platform.hermes = lambda req: httpx.Response(
        201, json={"containerId": "canary-t1-u1", "status": "starting"})
    platform.router = lambda req: httpx.Response(200, text="<p>marker:canary-t1-u1</p>")
    clock.at(0.8, lambda: h.put_container(aws, status="running", taskArn=arn))
    m = wake_hermes.run(make_ctx()).measurements
    assert m["phase_image_pull_ms"] == pytest.approx(300, abs=1)
    assert m["phases_task"] == arn.rsplit("/", 1)[-1][:12]
    total = sum(m[p.key] for p in phases.PHASES)
    assert total == pytest.approx(m["wake_ms"], abs=1)


# -- where each phase starts, a wake that never finished, the order --------------------------
def test_each_measured_phase_says_where_it_starts_after_the_request():
    found = by_name(phases.split(MARKS, TASK))
    assert {n: p.at_ms for n, p in found.items()} == {
        "scheduling": 0.0, "provisioning": 1000.0, "image_pull": 3000.0,
        "container_start": 11000.0, "app_ready": 13000.0, "preview": 18000.0}


def test_an_unfinished_wake_keeps_its_phases_out_of_the_metric_keys():
    marks = Marks(requested=T0, ended=T0 + 120)  # timed out: no row running, no preview 200
    m = phases.measurements(phases.split(marks, TASK), finished=marks.finished)
    assert [p.key for p in phases.PHASES if p.key in m] == []
    assert m["unfinished_phase_image_pull_ms"] == 8000.0
    assert m["phase_image_pull_at_ms"] == 3000.0
    assert m["phase_app_ready_not_measured"] == "the containers row never said running"


def test_a_task_created_after_an_unfinished_wake_ended_is_not_its_task():
    marks = Marks(requested=T0, ended=T0 + 30)
    task = {**TASK, "createdAt": T0 + 100}
    why = by_name(phases.split(marks, task, skew_s=5))["provisioning"].why_not
    assert "after the wake ended: not this wake's task" in why


def test_the_phases_follow_the_catalogues_order_and_chain_point_to_point():
    assert [p.metric for p in phases.PHASES] == list(cat.WAKE_PHASES)
    for before, after in zip(phases.PHASES, phases.PHASES[1:], strict=False):
        assert before.end == after.start, after.name


def test_the_report_line_says_when_hermes_answered_and_that_an_unfinished_wake_is_no_metric():
    marks = Marks(requested=T0, ended=T0 + 120)
    measured = {**phases.measurements(phases.split(marks, TASK), finished=False),
                "api_answered_ms": 450.0}
    line = phases.describe(measured)
    assert "; API answered at 450 ms" in line
    assert "the wake did not finish: these phases are not emitted as metrics" in line
    assert "app_ready: the containers row never said running" in line


def test_phases_read_back_gives_each_phase_once_with_its_reason_in_wake_order():
    task = {k: v for k, v in TASK.items() if k != "pullStoppedAt"}
    shown = phases.read(phases.measurements(phases.split(MARKS, task)))
    assert [(s.spec.name, s.ms, s.at_ms) for s in shown] == [
        ("scheduling", 1000.0, 0.0), ("provisioning", 2000.0, 1000.0),
        ("image_pull", None, None), ("container_start", None, None),
        ("app_ready", 5000.0, 13000.0), ("preview", 2000.0, 18000.0)]
    assert shown[2].why_not == "no pullStoppedAt from ECS"


# -- of_wake: which task, and when ECS cannot say ------------------------------------------
def test_tasks_named_for_a_wake_that_are_not_the_sessions_measure_no_ecs_phase(make_ctx):
    m = phases.of_wake(make_ctx().tasks, MARKS, ["arn:a/task/c/1", "arn:a/task/c/2", None])
    assert m["phase_scheduling_not_measured"] == (
        "none of the 2 tasks named for this wake is the session's")
    assert "phases_task" not in m and m["phase_preview_ms"] == 2000.0


def test_of_several_tasks_started_for_one_wake_the_first_created_is_measured(make_ctx, aws, h):
    """Concurrent calls each started a task (as the production build was seen to): the
    first created is the one the others raced, and the measurements say it was chosen."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ecs.models import ecs_backends

    later, first = h.run_task(aws), h.run_task(aws)
    models = ecs_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tasks["webordinary-edit-cluster"]
    models[later].created_at, models[first].created_at = 1_000_002.0, 1_000_001.0
    m = phases.of_wake(make_ctx().tasks, MARKS, [later, first])
    assert m["phases_task"] == first.rsplit("/", 1)[-1][:12]
    assert m["phases_task_note"] == "the first created of 2 tasks started for this wake"


def test_a_task_ecs_cannot_describe_leaves_its_phases_not_measured_and_says_why(make_ctx, aws, h):
    arn = h.run_task(aws)
    ctx = make_ctx(ecs_cluster="no-such-cluster")  # DescribeTasks: ClusterNotFoundException
    m = phases.of_wake(ctx.tasks, MARKS, [arn])
    assert m["phase_provisioning_not_measured"].startswith(
        f"ECS could not describe task {arn.rsplit('/', 1)[-1][:12]}")


def test_a_wake_that_times_out_shows_its_tasks_phases_but_emits_no_phase_metric(
        make_ctx, aws, h, platform, clock):
    from canary.runner import collect_metrics

    arn = h.run_task(aws)
    now = clock.now()
    stamp(arn, created_at=now + 0.1, pull_started_at=now + 0.2, pull_stopped_at=now + 0.5)
    h.put_container(aws, status="starting", taskArn=arn)  # the app never registers
    platform.hermes = lambda req: httpx.Response(
        201, json={"containerId": "canary-t1-u1", "status": "starting", "taskArn": arn})
    step = wake_hermes.run(make_ctx(wake_timeout_s=2))
    m = step.measurements
    assert step.status is Status.FAILED and "wake_ms" not in m
    assert m["unfinished_phase_image_pull_ms"] == pytest.approx(300, abs=1)
    assert m["phase_container_start_not_measured"] == "no startedAt from ECS"
    assert m["phase_app_ready_not_measured"].startswith("no startedAt from ECS; the containers")
    run = RunResult("r1", "sandbox", "test", T0, steps=[step])
    assert not [k for k in collect_metrics(run) if k.startswith("WakePhase")]


def test_the_preview_wake_splits_from_the_new_task_after_making_the_container_cold(
        make_ctx, aws, h, platform, clock):
    from canary.steps import wake_preview

    old = h.run_task(aws)
    h.put_container(aws, status="running", taskArn=old)
    aws["ecs"].meta.events.register(  # ECS answering slowly: making it cold takes time
        "before-call.ecs.DescribeTasks", lambda **kw: clock.advance(1.0))
    awake = {"new": None}

    def router(req: httpx.Request) -> httpx.Response:
        if awake["new"] is None:  # the first page load wakes it: a new task, up 0.6 s later
            awake["new"] = arn = h.run_task(aws)
            now = clock.now()
            stamp(arn, created_at=now + 0.1, pull_started_at=now + 0.2,
                  pull_stopped_at=now + 0.4, started_at=now + 0.5)
            h.put_container(aws, status="running", taskArn=arn)
            return httpx.Response(202, headers={"Retry-After": "1"},
                                  text="<h1>Waking Up Edit Session</h1> t1")
        return httpx.Response(200, text="<p>marker:canary-t1-u1</p>")

    platform.router = router
    began = clock.monotonic()
    m = wake_preview.run(make_ctx()).measurements
    assert m["wake_offset_ms"] >= 1000  # making it cold came first, outside the wake
    assert m["wake_offset_ms"] + m["wake_ms"] <= (clock.monotonic() - began) * 1000
    assert m["phases_task"] == awake["new"].rsplit("/", 1)[-1][:12]
    assert m["phase_image_pull_ms"] == pytest.approx(200, abs=1)
    assert "phase_preview_ms" not in m and "phase_preview_not_measured" not in m
