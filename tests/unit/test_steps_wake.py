"""preflight, wake_hermes, concurrency, wake_preview over MockTransport + moto + a fake clock."""

from __future__ import annotations

import json

import httpx
import pytest

from canary.models import Status
from canary.secrets import ApiKeyProvider, SecretError
from canary.steps import concurrency, preflight, wake_hermes, wake_preview

CID = "canary-t1-u1"
MARKER = f"marker:{CID}"


def resume_ok(status="running", **extra):
    def handler(req):
        body = {"sessionId": "s", "containerId": CID, "status": status, **extra}
        return httpx.Response(201, json=body)
    return handler


def truthful(aws, h, **extra):
    """Hermes that tells the truth: `running` once the containers row says so, else starting."""
    def handler(req):
        row = h.container_row(aws) or {}
        status = "running" if row.get("status") == "running" else "starting"
        return httpx.Response(201, json={"sessionId": "s", "containerId": CID, "status": status,
                                         **extra})
    return handler


def router_from_table(aws, h):
    """The router: 200 + marker when the containers table says running, else loading page."""
    def handler(req):
        row = h.container_row(aws) or {}
        if row.get("status") == "running":
            return httpx.Response(200, text=f"<p>{MARKER}</p>")
        return httpx.Response(202, headers={"Retry-After": "1"},
                              text="<h1>Waking Up Edit Session</h1> t1")
    return handler


# -- preflight -----
def test_preflight_creates_fixtures_and_reports_cold_start(make_ctx, aws):
    ctx = make_ctx()
    r = preflight.run(ctx)
    assert r.status is Status.PASSED
    mapping = ctx.state.get_mapping("t1")
    assert mapping["status"] == "active" and mapping["containerId"] == CID
    session = ctx.state.get_session(ctx.config.session_id)
    assert session["threadId"] == "t1" and session["containerId"] == CID
    assert r.measurements["initial_status"] == "none"


def test_preflight_makes_a_running_container_cold_and_says_so(make_ctx, aws, h):
    arn = h.run_task(aws)
    h.put_container(aws, status="running", taskArn=arn)
    ctx = make_ctx()
    r = preflight.run(ctx)
    assert r.status is Status.PASSED
    assert "made it cold" in r.reason and "stopped task" in r.reason
    assert h.container_row(aws)["status"] == "stopped"
    (task,) = ctx.tasks.scan(include_stopped=True).tasks
    assert task["lastStatus"] == "STOPPED"
    assert arn in ctx.run_state.known_task_arns


def test_preflight_secret_failure_propagates(make_ctx, clock, h):
    import boto3

    ctx = make_ctx()
    ctx.api_key = ApiKeyProvider(  # a secret that does not exist (moto)
        secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:nope", clock=clock,
        client=boto3.client("secretsmanager", region_name=h.REGION),
    )
    with pytest.raises(SecretError):
        preflight.run(ctx)


def test_preflight_observe_mode_reports_a_missed_sleep_before_making_it_cold(
        make_ctx, aws, h, clock, memory_table):
    from canary.memory import LeftRunning

    arn = h.run_task(aws)
    ctx = make_ctx(sleep_mode="observe", idle_timeout_s=1200, lock_table=memory_table)
    last = int((clock.now() - 3 * 3600) * 1000)
    ctx.memory.remember(LeftRunning(arn, last, last, "earlier"))
    r = preflight.run(ctx)
    assert r.status is Status.PASSED
    assert r.measurements["previous_sleep_missed"] == 1
    assert ctx.run_state.previous_sleep["missed"] is True
    assert "made it cold" in r.reason  # judged first, then stopped


def test_preflight_does_not_judge_sleep_when_a_previous_run_left_its_mapping(
        make_ctx, aws, h, clock, memory_table):
    from canary.memory import LeftRunning

    arn = h.run_task(aws)
    ctx = make_ctx(sleep_mode="observe", idle_timeout_s=1200, lock_table=memory_table)
    ctx.memory.remember(LeftRunning(arn, 0, 0, "earlier"))
    ctx.harness.create_thread_mapping("s", "t1", CID)
    r = preflight.run(ctx)
    assert "previous_sleep_missed" not in r.measurements
    assert any("not judged" in f and "mapping" in f for f in r.findings)


# -- wake_hermes -----
def test_cold_wake_measures_until_running_and_preview_answers(make_ctx, aws, h, platform,
                                                                clock):
    # Every call accepted as `starting` (naming a task no contract fact ties yet): whichever
    # thread's call the fake clock serves last, no call can claim `running` for task x.
    platform.hermes = lambda req: httpx.Response(201, json={
        "sessionId": "s", "containerId": CID, "status": "starting",
        "taskArn": "arn:aws:ecs:task/x"})
    platform.router = router_from_table(aws, h)
    ctx = make_ctx()
    clock.at(0.8, lambda: h.put_container(aws, status="running"))
    r = wake_hermes.run(ctx)
    assert r.status is Status.PASSED, r.reason
    m = r.measurements
    assert m["requests"] == 3 and m["successes"] == 3
    assert 800 <= m["state_running_ms"] <= 900  # 100 ms resolution
    assert m["wake_ms"] == m["preview_answering_ms"] >= m["state_running_ms"]
    assert m["poll_interval_ms"] <= 100
    resumes = [q for q in platform.requests if q.url.host == "hermes.test"]
    assert len(resumes) == 3
    assert ctx.tasks.answered == {"arn:aws:ecs:task/x"}  # a fact to check, not yet trusted


def test_cold_wake_polls_adaptively(make_ctx, aws, h, platform, clock):
    platform.hermes = truthful(aws, h)
    platform.router = router_from_table(aws, h)
    clock.at(2.0, lambda: h.put_container(aws, status="running"))
    wake_hermes.run(make_ctx())
    assert clock.sleeps[0] == pytest.approx(0.025)
    assert max(clock.sleeps) <= 0.1 + 1e-9
    assert len(clock.sleeps) < 40  # 2 s at a 100 ms cap, not hammering


@pytest.mark.parametrize(("at", "status"), [(2.0, Status.DEGRADED), (3.5, Status.FAILED)])
def test_slow_wake_is_graded_by_thresholds(make_ctx, aws, h, platform, clock, at, status):
    platform.hermes = truthful(aws, h)
    platform.router = router_from_table(aws, h)
    clock.at(at, lambda: h.put_container(aws, status="running"))
    r = wake_hermes.run(make_ctx())
    assert r.status is status
    assert "threshold" in r.reason
    assert "wake_ms" in r.measurements  # a slow wake is still a measured wake


def test_hermes_500_fails_with_its_message_and_stops_polling(make_ctx, platform, clock):
    platform.hermes = lambda req: httpx.Response(
        500, json={"message": "Failed to resume session: task died"})
    r = wake_hermes.run(make_ctx())
    assert r.status is Status.FAILED
    assert "3/3 calls failed" in r.reason and "Failed to resume session: task died" in r.reason
    assert "wake_ms" not in r.measurements
    assert clock.monotonic() - 1000 < 6  # gave up before the wake timeout


def test_201_without_json_is_a_contract_violation(make_ctx, aws, h, platform, clock):
    platform.hermes = lambda req: httpx.Response(201, text="<html>ok</html>")
    platform.router = router_from_table(aws, h)
    clock.at(0.3, lambda: h.put_container(aws, status="running"))
    r = wake_hermes.run(make_ctx())
    assert r.status is Status.FAILED
    assert "without a JSON object body" in r.reason
    assert r.measurements["contract_violations"] == 3


def test_calls_naming_different_containers_fail(make_ctx, aws, h, platform, clock):
    names = iter(["a-b-c", CID, CID])
    platform.hermes = lambda req: httpx.Response(
        201, json={"containerId": next(names), "status": "starting"})
    platform.router = router_from_table(aws, h)
    clock.at(0.3, lambda: h.put_container(aws, status="running"))
    r = wake_hermes.run(make_ctx())
    assert r.status is Status.FAILED
    assert "different containers" in r.reason


def test_running_but_unreachable_preview_fails_with_router_answer(make_ctx, aws, h, platform,
                                                                     clock):
    platform.hermes = resume_ok()
    platform.router = lambda req: httpx.Response(502, text="Container unreachable: refused")
    clock.at(0.2, lambda: h.put_container(aws, status="running"))
    r = wake_hermes.run(make_ctx())
    assert r.status is Status.FAILED
    assert "Container unreachable" in r.reason
    assert "wake_ms" not in r.measurements


def test_preview_without_marker_is_not_a_wake(make_ctx, aws, h, platform, clock):
    platform.hermes = resume_ok()
    platform.router = lambda req: httpx.Response(200, text="someone else's page")
    clock.at(0.2, lambda: h.put_container(aws, status="running"))
    r = wake_hermes.run(make_ctx())
    assert r.status is Status.FAILED
    assert "without the marker" in r.reason



# -- concurrency -----
def test_one_task_passes(make_ctx, aws, h, clock):
    ctx = make_ctx()
    ctx.run_state.update(wake_started_wall=clock.now() - 1, known_task_arns=set())
    arn = h.run_task(aws)
    ctx.tasks.note_answer(arn)
    h.put_container(aws, status="running", taskArn=arn)
    r = concurrency.run(ctx)
    assert r.status is Status.PASSED
    assert r.measurements["duplicate_tasks"] == 0


def test_extra_tasks_fail_and_are_left_for_cleanup(make_ctx, aws, h, clock):
    ctx = make_ctx()
    old = h.run_task(aws)  # known before the wake: not counted
    ctx.run_state.update(wake_started_wall=clock.now(), known_task_arns={old})
    a, b, _c = h.run_task(aws), h.run_task(aws), h.run_task(aws)
    ctx.tasks.note_answer(a)
    h.put_container(aws, status="running", taskArn=b)
    r = concurrency.run(ctx)
    assert r.status is Status.FAILED
    assert r.measurements["duplicate_tasks"] == 2
    assert r.measurements["tasks_started"] == 3
    assert "3 tasks started" in r.reason and "stopped in cleanup" in r.reason
    assert old[-12:] not in r.reason


def test_tasks_of_a_failed_wake_are_still_counted(make_ctx, aws, h, platform, clock):
    platform.hermes = lambda req: (h.run_task(aws), httpx.Response(
        500, json={"message": "Failed to resume session: gave up"}))[1]
    ctx = make_ctx()
    assert wake_hermes.run(ctx).status is Status.FAILED
    r = concurrency.run(ctx)
    assert r.status is Status.FAILED
    assert r.measurements["tasks_started"] == 3 and r.measurements["duplicate_tasks"] == 2


def test_a_foreign_task_a_201_names_is_never_counted(make_ctx, aws, h, clock):
    ctx = make_ctx()
    ctx.run_state.update(wake_started_wall=clock.now() - 1, known_task_arns=set())
    foreign, bare = h.run_task(aws, h.FOREIGN_ENV), h.run_task(aws, {})
    mine = h.run_task(aws)
    for arn in (foreign, bare, mine):
        ctx.tasks.note_answer(arn)
    r = concurrency.run(ctx)
    assert r.status is Status.PASSED, r.reason
    assert r.measurements["tasks_started"] == 1


def test_a_wake_whose_tasks_ecs_does_not_show_is_not_measured(make_ctx, clock):
    ctx = make_ctx()
    ctx.run_state.update(wake_started_wall=clock.now() - 1, known_task_arns=set())
    r = concurrency.run(ctx)
    assert r.status is Status.DEGRADED and r.reason.startswith("not measured")
    assert "duplicate_tasks" not in r.measurements  # never a reassuring 0


def test_concurrency_skipped_without_a_wake(make_ctx):
    r = concurrency.run(make_ctx())
    assert r.status is Status.SKIPPED


# -- wake_preview -----
def test_preview_wake_honours_retry_after_and_measures(make_ctx, aws, h, platform, clock):
    platform.router = router_from_table(aws, h)
    h.put_container(aws, status="stopped")
    ctx = make_ctx(wake_degraded_ms=5000, wake_failed_ms=8000)
    ctx.harness.create_resumption_test_session()
    clock.at(2.5, lambda: h.put_container(aws, status="running"))
    r = wake_preview.run(ctx)
    assert r.status is Status.PASSED, r.reason
    assert r.measurements["loading_pages"] == 3
    assert r.measurements["wake_ms"] == pytest.approx(3000, abs=1)
    assert clock.sleeps == [1.0, 1.0, 1.0]


def test_retry_after_is_capped(make_ctx, aws, h, platform, clock):
    pages = iter([httpx.Response(503, headers={"Retry-After": "120"},
                                 text="Waking Up Edit Session t1"),
                  httpx.Response(200, text=MARKER)])
    platform.router = lambda req: next(pages)
    ctx = make_ctx(wake_failed_ms=10_000, wake_degraded_ms=10_000, wake_timeout_s=20)
    r = wake_preview.run(ctx)
    assert clock.sleeps == [5.0]
    assert r.status is Status.PASSED


def test_missing_retry_after_fails_as_contract_violation(make_ctx, aws, h, platform, clock):
    pages = iter([httpx.Response(202, text="Waking Up Edit Session t1"),
                  httpx.Response(200, text=MARKER)])
    platform.router = lambda req: next(pages)
    r = wake_preview.run(make_ctx())
    assert r.status is Status.FAILED
    assert "Retry-After" in r.reason
    assert r.measurements["contract_violations"] == 1
    assert "wake_ms" in r.measurements


def test_loading_page_without_thread_id_is_a_violation(make_ctx, platform):
    pages = iter([httpx.Response(202, headers={"Retry-After": "1"}, text="please wait"),
                  httpx.Response(200, text=MARKER)])
    platform.router = lambda req: next(pages)
    r = wake_preview.run(make_ctx())
    assert r.status is Status.FAILED
    assert "Waking Up Edit Session" in r.reason


def test_never_waking_fails_at_the_wake_timeout(make_ctx, platform, clock):
    platform.router = lambda req: httpx.Response(
        202, headers={"Retry-After": "1"}, text="Waking Up Edit Session t1")
    r = wake_preview.run(make_ctx(wake_timeout_s=4))
    assert r.status is Status.FAILED
    assert "did not answer 200" in r.reason
    assert clock.monotonic() - 1000 <= 4.0 + 1e-6


def test_preview_wake_stops_a_running_container_first(make_ctx, aws, h, platform, clock):
    arn = h.run_task(aws)
    h.put_container(aws, status="running", taskArn=arn)
    platform.router = router_from_table(aws, h)
    clock.at(0.5, lambda: h.put_container(aws, status="running"))
    ctx = make_ctx()
    r = wake_preview.run(ctx)
    assert r.status is Status.PASSED, r.reason
    assert [t["lastStatus"] for t in ctx.tasks.scan(include_stopped=True).tasks
            if t["taskArn"] == arn] == ["STOPPED"]
    assert r.measurements["loading_pages"] == 1
    assert any("stopped task" in f for f in r.findings)


def test_loading_page_text_is_matched_whatever_the_content_type(make_ctx, platform):
    # sanity: the loading page check looks at the page text, whatever its content-type
    pages = iter([httpx.Response(202, headers={"Retry-After": "0"},
                                 content=json.dumps({"x": "Waking Up Edit Session t1"})),
                  httpx.Response(200, text=MARKER)])
    platform.router = lambda req: next(pages)
    assert wake_preview.run(make_ctx()).status is Status.PASSED


# -- verify, never trust -----
def test_a_201_running_while_the_row_says_starting_is_a_named_violation(make_ctx, aws, h,
                                                                         platform):
    h.put_container(aws, status="starting")
    platform.hermes = resume_ok()  # says running at once, whatever the table says
    platform.router = router_from_table(aws, h)
    r = wake_hermes.run(make_ctx(wake_timeout_s=1))
    assert r.status is Status.FAILED
    assert "contract violation: 201 said running but the containers row" in r.reason
    assert "says starting" in r.reason
    assert r.measurements["contract_violations"] == 3


def test_a_201_running_that_names_a_foreign_task_is_a_violation(make_ctx, aws, h, platform,
                                                                 clock):
    foreign = h.run_task(aws, h.FOREIGN_ENV)
    h.put_container(aws, status="running")
    platform.hermes = resume_ok(taskArn=foreign)
    platform.router = router_from_table(aws, h)
    r = wake_hermes.run(make_ctx())
    assert r.status is Status.FAILED
    assert "which no contract fact ties to the session" in r.reason
    (t,) = aws["ecs"].describe_tasks(cluster="webordinary-edit-cluster", tasks=[foreign])["tasks"]
    assert t["lastStatus"] != "STOPPED"


def test_a_201_running_while_ecs_says_pending_is_a_violation(make_ctx, aws, h, platform):
    from moto.ecs.models import ecs_backends

    arn = h.run_task(aws)
    for task in ecs_backends["123456789012"][h.REGION].tasks["webordinary-edit-cluster"].values():
        task.last_status = "PENDING"
    h.put_container(aws, status="running", taskArn=arn)
    platform.hermes = resume_ok(taskArn=arn)
    platform.router = router_from_table(aws, h)
    r = wake_hermes.run(make_ctx())
    assert r.status is Status.FAILED and "ECS says task" in r.reason and "PENDING" in r.reason


def test_a_429_with_retry_after_is_honoured_too(make_ctx, platform, clock):
    pages = iter([httpx.Response(429, headers={"Retry-After": "3"}, text="slow down"),
                  httpx.Response(200, text=MARKER)])
    platform.router = lambda req: next(pages)
    wake_preview.run(make_ctx(wake_timeout_s=20))
    assert clock.sleeps == [3.0]


def test_a_201_naming_another_container_is_a_violation_without_reading_its_row(
        make_ctx, aws, h, platform):
    h.put_container(aws, "other-t9-u9", status="stopped")  # its row: never the canary's to read
    h.put_container(aws, status="running")
    platform.hermes = lambda req: httpx.Response(
        201, json={"containerId": "other-t9-u9", "status": "running"})
    platform.router = router_from_table(aws, h)
    r = wake_hermes.run(make_ctx())
    assert r.status is Status.FAILED
    assert "201 named container other-t9-u9, not the session's canary-t1-u1" in r.reason
