"""sleep (wait / observe / force), auto_save and cleanup, with the platform's state changes
scheduled on the fake clock."""

from __future__ import annotations

import httpx
import pytest

from canary.clients.git_remote import GitError
from canary.models import Status
from canary.steps import auto_save, cleanup, sleep

CID = "canary-t1-u1"
# make_config: idle 1 s + check 0.1 s + margin 0.5 s = 1.6 s bound


@pytest.fixture
def awake(aws, h, make_ctx):
    h.put_container(aws, status="running")
    ctx = make_ctx()
    ctx.harness.create_resumption_test_session()
    ctx.note_activity()
    return ctx


def sleep_at(clock, aws, h, t, commit="c0ffee", pushed=True, at_ms=None):
    def go():
        h.put_container(aws, status="stopping")
        h.put_container(aws, status="stopped", lastAutoSave={
            "at": at_ms if at_ms is not None else int(clock.now() * 1000),
            "commit": commit, "pushed": pushed})
    clock.at(t, go)


# -- wait mode -----
def test_wait_mode_holds_with_a_session_then_sleeps(awake, aws, h, platform, clock):
    dirty = []
    platform.control = lambda req: (dirty.append(req.url.path), httpx.Response(200, json={}))[1]
    sleep_at(clock, aws, h, 2.0)
    r = sleep.run(awake)
    assert r.status is Status.PASSED, r.reason
    assert dirty == [f"/_sandbox/containers/{CID}/dirty"]
    assert r.measurements["held_awake_ms"] >= 1600
    assert r.measurements["auto_sleep_missed"] == 0
    assert 0 <= r.measurements["auto_sleep_delay_ms"] < 1000
    assert awake.state.get_mapping("t1") is None  # the canary's own mapping released
    assert awake.state.get_mapping("t1-keepalive") is None
    assert awake.run_state.slept and awake.run_state.dirtied_at_ms is not None


def test_wait_mode_checks_the_extra_mapping_was_active(awake, aws, h, clock):
    seen = []

    def look():
        seen.append(awake.harness.get_active_session_count(CID))

    clock.at(0.5, look)
    sleep_at(clock, aws, h, 2.0)
    sleep.run(awake)
    assert seen == [1]


def test_sleeping_despite_an_active_session_fails(awake, aws, h, clock):
    sleep_at(clock, aws, h, 0.9)
    r = sleep.run(awake)
    assert r.status is Status.FAILED
    assert "into an active session" in r.reason
    assert awake.state.get_mapping("t1-keepalive") is None  # removed even so


def test_never_sleeping_fails_with_auto_sleep_missed(awake, clock):
    r = sleep.run(awake)
    assert r.status is Status.FAILED
    assert "auto-sleep missed" in r.reason
    assert r.measurements["auto_sleep_missed"] == 1
    assert clock.monotonic() - 1000 == pytest.approx(3.2, abs=0.01)  # two bounds, no more


def test_wait_mode_skipped_when_container_not_running(make_ctx, aws, h):
    h.put_container(aws, status="stopped")
    r = sleep.run(make_ctx())
    assert r.status is Status.SKIPPED and "stopped" in r.reason


def test_no_control_url_means_no_dirty_workspace(aws, h, make_ctx, clock):
    h.put_container(aws, status="running")
    ctx = make_ctx(sandbox_control_url=None)
    sleep_at(clock, aws, h, 2.0)
    r = sleep.run(ctx)
    assert r.status is Status.PASSED
    assert ctx.run_state.dirtied_at_ms is None
    assert any("SANDBOX_CONTROL_URL" in f for f in r.findings)


# -- observe and force -----
def test_observe_reports_previous_missed_sleep_and_arms_next(make_ctx, aws, h):
    ctx = make_ctx(sleep_mode="observe")
    ctx.harness.create_resumption_test_session()
    ctx.run_state.previous_sleep = {"missed": True, "why": "task x still RUNNING 5000 s after"}
    r = sleep.run(ctx)
    assert r.status is Status.FAILED
    assert r.measurements == {"auto_sleep_missed": 1}
    assert "5000 s" in r.reason
    assert ctx.state.get_mapping("t1") is None
    assert ctx.run_state.leave_running is True


def test_observe_reports_previous_delay(make_ctx, memory_table):
    ctx = make_ctx(sleep_mode="observe", lock_table=memory_table)
    ctx.run_state.previous_sleep = {"missed": False, "delay_ms": 30_000.0, "why": "exited"}
    r = sleep.run(ctx)
    assert r.status is Status.PASSED
    assert r.measurements == {"auto_sleep_missed": 0, "auto_sleep_delay_ms": 30_000.0}
    assert "observes" in r.reason


def test_observe_says_not_measured_and_emits_nothing_when_it_cannot_judge(make_ctx):
    ctx = make_ctx(sleep_mode="observe")
    ctx.run_state.previous_sleep = {"unmeasured": "no canary table"}
    r = sleep.run(ctx)
    assert r.status is Status.PASSED and r.measurements == {}
    assert "not measured: no canary table" in r.reason and "not armed" in r.reason


def test_force_mode_stops_the_task(make_ctx, aws, h):
    arn = h.run_task(aws)
    h.put_container(aws, status="running", taskArn=arn)
    ctx = make_ctx(sleep_mode="force")
    r = sleep.run(ctx)
    assert r.status is Status.PASSED
    assert h.container_row(aws)["status"] == "stopped"
    assert ctx.tasks.scan().live == []


# -- the previous run's sleep, judged from ECS -----
def left_behind(ctx, clock, arn, idle_s):
    from canary.memory import LeftRunning

    at = int((clock.now() - idle_s) * 1000)
    ctx.memory.remember(LeftRunning(arn, at, at, "earlier"))


def stop_as_ecs(arn, *, after_s, clock, idle_s, code="EssentialContainerExited",
                reason="Essential container in task exited"):
    """ECS's record of how the task ended (moto keeps what the model is given)."""
    from moto.ecs.models import ecs_backends

    for task in ecs_backends["123456789012"]["us-east-1"].tasks[
            "webordinary-edit-cluster"].values():
        if task.task_arn == arn:
            task.last_status = task.desired_status = "STOPPED"
            task.stopped_reason = reason
            task.stop_code = code
            task.stopped_at = clock.now() - idle_s + after_s


@pytest.fixture
def observing(make_ctx, memory_table):
    return make_ctx(sleep_mode="observe", idle_timeout_s=1200, sleep_check_interval_s=60,
                    sleep_margin_s=60, lock_table=memory_table)


def test_a_task_that_exited_after_its_idle_timeout_slept_and_its_delay_is_measured(
        observing, aws, h, clock):
    arn = h.run_task(aws)
    left_behind(observing, clock, arn, idle_s=3600)
    stop_as_ecs(arn, after_s=1245, clock=clock, idle_s=3600)
    verdict = sleep.judge_previous(observing)
    assert verdict["missed"] is False and verdict["delay_ms"] == pytest.approx(45_000)


def test_a_task_still_running_past_the_bound_missed_its_sleep(observing, aws, h, clock):
    arn = h.run_task(aws)
    left_behind(observing, clock, arn, idle_s=3 * 3600)
    verdict = sleep.judge_previous(observing)
    assert verdict["missed"] is True and "still RUNNING" in verdict["why"]


def test_a_stop_the_canary_made_itself_never_counts_as_a_sleep(observing, aws, h, clock):
    from canary.tasks import STOP_REASON

    arn = h.run_task(aws)
    left_behind(observing, clock, arn, idle_s=3600)
    stop_as_ecs(arn, after_s=1210, clock=clock, idle_s=3600, code="UserInitiated",
                reason=STOP_REASON)
    assert "stopped by the canary itself" in sleep.judge_previous(observing)["unmeasured"]


def test_a_stop_from_outside_is_not_an_auto_sleep(observing, aws, h, clock):
    arn = h.run_task(aws)
    left_behind(observing, clock, arn, idle_s=3600)
    stop_as_ecs(arn, after_s=1210, clock=clock, idle_s=3600, code="UserInitiated",
                reason="deploy")
    assert "stopped from outside" in sleep.judge_previous(observing)["unmeasured"]


def test_a_row_the_canary_wrote_itself_is_not_evidence_of_a_sleep(observing, aws, h, clock):
    # The old verdict read a `stopped` row - which the canary's own preflight had written.
    last = int((clock.now() - 3600) * 1000)
    h.put_container(aws, status="stopped", lastActivity=last, stoppedAt=last + 1_245_000)
    assert "left no task running" in sleep.judge_previous(observing)["unmeasured"]


def test_a_task_ecs_forgot_is_not_measured(observing, aws, h, clock):
    left_behind(observing, clock, "arn:aws:ecs:us-east-1:123456789012:task/c/gone", 3600)
    assert "no longer lists" in sleep.judge_previous(observing)["unmeasured"]


def test_without_a_canary_table_the_previous_sleep_is_not_measured(make_ctx):
    assert "LOCK_TABLE" in sleep.judge_previous(make_ctx(sleep_mode="observe"))["unmeasured"]


# -- auto_save -----
def slept(ctx, aws, h, clock, commit="c0ffee", pushed=True, age_s=0.0):
    ctx.run_state.update(slept=True, dirtied_at_ms=int(clock.now() * 1000))
    h.put_container(aws, status="stopped", lastAutoSave={
        "at": int((clock.now() - age_s) * 1000), "commit": commit, "pushed": pushed})


def test_auto_save_on_remote_passes(make_ctx, aws, h, clock):
    asked = []

    def ls(remote, timeout_s):
        asked.append((remote, timeout_s))
        return ["c0ffee", "c0ffee"]

    ctx = make_ctx(git_ls_remote=ls)
    slept(ctx, aws, h, clock)
    r = auto_save.run(ctx)
    assert r.status is Status.PASSED
    assert asked[0][0] == f"/remotes/{CID}.git" and asked[0][1] <= 15
    assert r.measurements["auto_save_failed"] == 0


def test_auto_save_missing_from_remote_is_work_lost(make_ctx, aws, h, clock):
    ctx = make_ctx(git_ls_remote=lambda remote, t: ["0ld"])
    slept(ctx, aws, h, clock)
    r = auto_save.run(ctx)
    assert r.status is Status.FAILED and "not on the remote" in r.reason
    assert r.measurements["auto_save_failed"] == 1


def test_auto_save_not_pushed_fails(make_ctx, aws, h, clock):
    ctx = make_ctx(git_ls_remote=lambda remote, t: ["c0ffee"])
    slept(ctx, aws, h, clock, pushed=False)
    assert auto_save.run(ctx).measurements["auto_save_failed"] == 1


def test_stale_auto_save_fails(make_ctx, aws, h, clock):
    ctx = make_ctx(git_ls_remote=lambda remote, t: ["c0ffee"])
    slept(ctx, aws, h, clock, age_s=600)
    r = auto_save.run(ctx)
    assert r.status is Status.FAILED and "older than this sleep" in r.reason


def test_an_unreadable_remote_is_the_canarys_fault_not_lost_work(make_ctx, aws, h, clock):
    from canary.clients.base import CanaryFault

    def ls(remote, t):
        raise GitError("git ls-remote timed out after 15 s")

    ctx = make_ctx(git_ls_remote=ls)
    slept(ctx, aws, h, clock)
    with pytest.raises(CanaryFault, match="timed out"):  # the runner: a canary error
        auto_save.run(ctx)


def test_no_last_auto_save_is_skipped(make_ctx, aws, h, clock):
    ctx = make_ctx()
    ctx.run_state.update(slept=True, dirtied_at_ms=1)
    h.put_container(aws, status="stopped")
    r = auto_save.run(ctx)
    assert r.status is Status.SKIPPED and "no lastAutoSave" in r.reason


def test_no_remote_configured_is_skipped(make_ctx, aws, h, clock):
    ctx = make_ctx(git_remote_url=None)
    slept(ctx, aws, h, clock)
    r = auto_save.run(ctx)
    assert r.status is Status.SKIPPED and "GIT_REMOTE_URL" in r.reason


def test_real_git_ls_remote_reads_a_repository(tmp_path):
    import subprocess

    from canary.clients.git_remote import git_ls_remote

    repo = tmp_path / "r"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t.invalid"]
    subprocess.run([*git, "init", "-q", str(repo)], check=True)
    (repo / "f").write_text("x")
    subprocess.run([*git, "-C", str(repo), "add", "f"], check=True)
    subprocess.run([*git, "-C", str(repo), "commit", "-qm", "m"], check=True)
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()
    assert head in git_ls_remote(str(repo), 10)
    with pytest.raises(GitError):
        git_ls_remote(str(tmp_path / "missing"), 10)


# -- auto_save in observe mode: the previous run's sleep, as preflight found it -----
SLEPT = {"missed": False, "delay_ms": 0.0, "why": "task x exited", "last_activity_ms": 1_000_000}


def observed(make_ctx, *, pushed=True, at=1_060_000, on_remote=("c0ffee",), prev=SLEPT):
    asked = []

    def ls(remote, timeout_s):
        asked.append(remote)
        return list(on_remote)

    ctx = make_ctx(sleep_mode="observe", git_ls_remote=ls)
    ctx.run_state.update(previous_sleep=prev, previous_auto_save={
        "at": at, "commit": "c0ffee", "pushed": pushed})
    return ctx, asked


def test_observe_auto_save_pushed_and_on_the_remote_passes(make_ctx):
    ctx, asked = observed(make_ctx)
    r = auto_save.run(ctx)
    assert r.status is Status.PASSED and "previous run's" in r.reason
    assert r.measurements["auto_save_failed"] == 0
    assert asked == [f"/remotes/{CID}.git"]


def test_observe_auto_save_not_pushed_is_work_lost(make_ctx):
    ctx, asked = observed(make_ctx, pushed=False)
    r = auto_save.run(ctx)
    assert r.status is Status.FAILED and "not pushed" in r.reason
    assert r.measurements["auto_save_failed"] == 1
    assert asked == []  # nothing to look up: the container says it did not push


def test_observe_auto_save_missing_from_the_remote_is_work_lost(make_ctx):
    ctx, _ = observed(make_ctx, on_remote=("0ld",))
    r = auto_save.run(ctx)
    assert r.status is Status.FAILED and "not on the remote" in r.reason
    assert r.measurements["auto_save_failed"] == 1


def test_observe_without_last_auto_save_is_not_measured(make_ctx):
    ctx, _ = observed(make_ctx)
    ctx.run_state.previous_auto_save = None
    r = auto_save.run(ctx)
    assert r.status is Status.SKIPPED and "not measured" in r.reason
    assert "no lastAutoSave" in r.reason and "auto_save_failed" not in r.measurements


def test_observe_auto_save_older_than_the_last_activity_is_not_measured(make_ctx):
    ctx, asked = observed(make_ctx, at=999_000, pushed=False)
    r = auto_save.run(ctx)
    assert r.status is Status.SKIPPED and "saved nothing" in r.reason
    assert "auto_save_failed" not in r.measurements and asked == []


def test_observe_auto_save_after_no_sleep_is_not_measured(make_ctx):
    ctx, _ = observed(make_ctx, pushed=False, prev={"missed": True, "why": "still RUNNING"})
    r = auto_save.run(ctx)
    assert r.status is Status.SKIPPED and "still RUNNING" in r.reason
    assert "auto_save_failed" not in r.measurements


def test_preflight_keeps_the_slept_rows_last_auto_save_for_auto_save(observing, aws, h, clock):
    from canary.steps import preflight

    arn = h.run_task(aws)
    left_behind(observing, clock, arn, idle_s=3600)
    stop_as_ecs(arn, after_s=1245, clock=clock, idle_s=3600)
    saved_at = int((clock.now() - 3600 + 1240) * 1000)
    h.put_container(aws, status="stopped", taskArn=arn, lastAutoSave={
        "at": saved_at, "commit": "c0ffee", "pushed": False})
    assert preflight.run(observing).status is Status.PASSED
    assert observing.run_state.previous_auto_save["at"] == saved_at
    r = auto_save.run(observing)
    assert r.status is Status.FAILED and r.measurements["auto_save_failed"] == 1


# -- cleanup -----
def live_arns(ctx):
    return {t["taskArn"] for t in ctx.tasks.scan().live}


def test_cleanup_removes_mappings_and_stops_everything_in_wait_mode(make_ctx, aws, h):
    ctx = make_ctx()
    ctx.harness.create_resumption_test_session()
    ctx.harness.create_thread_mapping("s", "t1-keepalive", CID)
    keep, _extra = h.run_task(aws), h.run_task(aws)
    h.put_container(aws, status="running", taskArn=keep)
    ctx.run_state.update(preflight_done=True, extra_mappings=["t1-keepalive"])
    r = cleanup.run(ctx)
    assert r.status is Status.PASSED
    assert ctx.state.get_mapping("t1") is None and ctx.state.get_mapping("t1-keepalive") is None
    assert live_arns(ctx) == set()
    assert h.container_row(aws)["status"] == "stopped"


def test_cleanup_in_observe_mode_keeps_the_rows_task_only_and_remembers_it(
        make_ctx, aws, h, clock, memory_table):
    ctx = make_ctx(sleep_mode="observe", lock_table=memory_table)
    extra, keep = h.run_task(aws), h.run_task(aws)
    h.put_container(aws, status="running", taskArn=keep)
    ctx.run_state.update(preflight_done=True, leave_running=True,
                      last_activity_wall=clock.now() - 2)
    r = cleanup.run(ctx)
    assert r.status is Status.PASSED, r.reason
    assert live_arns(ctx) == {keep}
    left = ctx.memory.recall()
    assert left.task_arn == keep and left.last_activity_ms == int((clock.now() - 2) * 1000)
    assert extra not in live_arns(ctx)


def test_cleanup_waits_for_a_late_router_wake_and_stops_it(make_ctx, aws, h, clock):
    ctx = make_ctx()
    ctx.run_state.update(preflight_done=True, wake_in_flight=True)
    late = []
    clock.at(0.5, lambda: late.append(h.run_task(aws)))
    r = cleanup.run(ctx)
    assert late and "stopped task" in r.reason
    assert live_arns(ctx) == set()


def test_cleanup_waits_for_the_task_a_201_starting_promised(make_ctx, aws, h, clock):
    ctx = make_ctx(wake_timeout_s=6)
    ctx.run_state.update(preflight_done=True, accepted_starting_at=clock.now())
    late = []
    clock.at(3.0, lambda: late.append(h.run_task(aws)))  # past the router's 1 s settle
    r = cleanup.run(ctx)
    assert late and "stopped task" in r.reason
    assert live_arns(ctx) == set()


def test_cleanup_reports_what_it_could_not_do(make_ctx, aws):
    ctx = make_ctx(thread_mappings_table="gone")
    ctx.run_state.update(preflight_done=True, extra_mappings=["x"])
    r = cleanup.run(ctx)
    assert r.status is Status.FAILED and "DeleteItem gone" in r.reason


def test_cleanup_never_stops_a_task_no_fact_ties_to_the_session(make_ctx, aws, h):
    ctx = make_ctx()
    foreign, bare = h.run_task(aws, h.FOREIGN_ENV), h.run_task(aws, {})
    for arn in (foreign, bare):
        ctx.tasks.note_answer(arn)  # a hostile 201 named them
    ctx.run_state.update(preflight_done=True)
    r = cleanup.run(ctx)
    assert r.status is Status.PASSED
    tasks = aws["ecs"].describe_tasks(cluster="webordinary-edit-cluster",
                                      tasks=[foreign, bare])["tasks"]
    assert [t["lastStatus"] for t in tasks] == ["RUNNING", "RUNNING"]


def test_missing_git_executable_skips_the_remote_check(make_ctx, aws, h, clock):
    from canary.clients.git_remote import GitUnavailableError

    def ls(remote, t):
        raise GitUnavailableError("no git executable on this host")

    ctx = make_ctx(git_ls_remote=ls)
    slept(ctx, aws, h, clock)
    r = auto_save.run(ctx)
    assert r.status is Status.SKIPPED and "no git executable" in r.reason


def test_wait_mode_that_cannot_fit_the_budget_is_skipped_not_failed(make_ctx, aws, h, clock):
    h.put_container(aws, status="running")
    ctx = make_ctx(idle_timeout_s=1200, sleep_check_interval_s=60, sleep_margin_s=60)
    r = sleep.run(ctx)
    assert r.status is Status.SKIPPED and "SLEEP_MODE=observe" in r.reason
    assert clock.sleeps == []
