"""route, warm_api and the negative checks (hermes_not_found, router_not_found, websocket, auth)."""

from __future__ import annotations

import httpx
import pytest

from canary.models import Status
from canary.steps import auth, hermes_not_found, route, router_not_found, warm_api, websocket

CID = "canary-t1-u1"
MARKER = f"marker:{CID}"


def slow(clock, seconds, response):
    def handler(req):
        clock.advance(seconds)
        return response
    return handler


@pytest.fixture
def running(aws, h):
    h.put_container(aws, status="running")


# -- route -----
def test_route_passes_with_marker_and_records_latency(make_ctx, platform, clock, running):
    platform.router = slow(clock, 0.05, httpx.Response(200, text=f"page {MARKER}"))
    r = route.run(make_ctx())
    assert r.status is Status.PASSED
    assert r.measurements["latency_ms"] == pytest.approx(50, abs=1)


def test_route_without_marker_fails(make_ctx, platform, running):
    platform.router = lambda req: httpx.Response(200, text="another site")
    r = route.run(make_ctx())
    assert r.status is Status.FAILED and "marker" in r.reason
    assert "latency_ms" not in r.measurements


def test_route_502_fails_with_body(make_ctx, platform, running):
    platform.router = lambda req: httpx.Response(502, text="Container unreachable: x")
    r = route.run(make_ctx())
    assert r.status is Status.FAILED and "Container unreachable" in r.reason


def test_route_wakes_a_stopped_container_first_unmeasured(make_ctx, aws, h, platform, clock):
    def resume(req):
        h.put_container(aws, status="running")
        clock.advance(0.6)  # a slow wake, over api_failed_ms: it must not count as the route's
        return httpx.Response(201, json={"status": "running", "containerId": CID})

    platform.hermes = resume
    platform.router = lambda req: httpx.Response(200, text=MARKER)
    r = route.run(make_ctx(api_failed_ms=500))
    assert r.status is Status.PASSED
    assert r.measurements["latency_ms"] < 100
    assert [q.url.host for q in platform.requests] == ["hermes.test", "router.test"]


def test_route_skipped_when_the_wake_never_got_the_container_up(make_ctx, platform):
    ctx = make_ctx()
    ctx.run_state.container_down = True
    r = route.run(ctx)
    assert r.status is Status.SKIPPED
    assert platform.requests == []


# -- warm_api -----
@pytest.mark.parametrize(("seconds", "status"), [
    (0.05, Status.PASSED), (0.2, Status.DEGRADED), (0.8, Status.FAILED)])
def test_warm_api_graded_on_the_slowest_sample(make_ctx, platform, clock, running, seconds,
                                               status):
    platform.hermes = slow(clock, seconds, httpx.Response(201, json={"status": "running"}))
    r = warm_api.run(make_ctx())
    assert r.status is status
    assert r.measurements["response_ms"] == pytest.approx(seconds * 1000, abs=1)
    # samples stop once one is over the failed threshold
    assert len(platform.requests) == (1 if status is Status.FAILED else 3)


def test_a_resume_that_starts_a_task_for_a_running_container_is_its_own_finding(
        make_ctx, aws, h, platform, clock, running):
    def resume(req):
        h.run_task(aws)  # the row-key defect: Hermes does not see the running container
        return httpx.Response(201, json={"status": "running", "containerId": CID})

    platform.hermes = resume
    r = warm_api.run(make_ctx())
    assert r.status is Status.FAILED
    assert "started 3 new task(s)" in r.reason
    assert r.measurements["resume_started_tasks"] == 3
    assert "response_ms" not in r.measurements  # not a healthy fast path, however quick


def test_warm_api_that_starts_nothing_measures_zero(make_ctx, platform, running):
    platform.hermes = lambda req: httpx.Response(201, json={"status": "running"})
    r = warm_api.run(make_ctx())
    assert r.status is Status.PASSED and r.measurements["resume_started_tasks"] == 0


def test_warm_api_runs_when_only_ecs_shows_the_container_up(make_ctx, aws, h, platform):
    h.run_task(aws)  # RUNNING in ECS, while the row the canary reads says nothing
    platform.router = lambda req: httpx.Response(200, text="<p>marker:canary-t1-u1</p>")
    platform.hermes = lambda req: httpx.Response(201, json={"status": "running"})
    r = warm_api.run(make_ctx())
    assert r.status is Status.FAILED
    assert "201 said running but the containers row" in r.reason


def test_warm_api_waits_for_the_app_then_judges_a_task_that_never_proves_it_serves(
        make_ctx, aws, h, platform, clock):
    """On ECS a task runs before its app is up: the check waits (bounded) for the row or ECS's
    health, never requesting the preview (a wake, to the router), then judges what answers."""
    from canary.steps.base import APP_WAIT_S
    from canary.tasks import ECS_POLL_S

    h.run_task(aws)  # RUNNING, no health reported, no start time, no row
    previews = []
    platform.router = lambda req: previews.append(req) or httpx.Response(502)
    platform.hermes = lambda req: httpx.Response(201, json={"status": "running"})
    ctx = make_ctx()
    waited_s = min(APP_WAIT_S, ctx.deadline - clock.monotonic())
    r = warm_api.run(ctx)
    assert clock.monotonic() >= 1000.0 + waited_s - ECS_POLL_S and previews == []
    assert r.status is Status.FAILED and "201 said running but the containers row" in r.reason


def test_warm_api_starting_for_running_container_fails(make_ctx, platform, running):
    platform.hermes = lambda req: httpx.Response(201, json={"status": "starting"})
    r = warm_api.run(make_ctx())
    assert r.status is Status.FAILED and "'starting'" in r.reason
    assert "response_ms" not in r.measurements


def test_warm_api_error_status_fails_with_message(make_ctx, platform, running):
    platform.hermes = lambda req: httpx.Response(503, json={"message": "down for repairs"})
    r = warm_api.run(make_ctx())
    assert r.status is Status.FAILED and "down for repairs" in r.reason


# -- hermes_not_found -----
def test_unknown_thread_404_not_found_passes(make_ctx, platform):
    seen = []

    def handler(req):
        seen.append(req)
        return httpx.Response(404, json={"message": "Session for thread x not found"})

    platform.hermes = handler
    r = hermes_not_found.run(make_ctx())
    assert r.status is Status.PASSED
    assert b"canary-unknown-run123" in seen[0].content


@pytest.mark.parametrize("response", [
    httpx.Response(500, json={"message": "Internal server error"}),
    httpx.Response(201, json={"status": "running"}),
    httpx.Response(404, text="<html>Not Found</html>"),
    httpx.Response(404, json={"message": "gone"}),
])
def test_unknown_thread_wrong_answer_is_a_contract_violation(make_ctx, platform, response):
    platform.hermes = lambda req: response
    r = hermes_not_found.run(make_ctx())
    assert r.status is Status.FAILED
    assert r.measurements["contract_violations"] == 1


# -- router_not_found -----
def test_router_not_found_page_passes(make_ctx, platform):
    platform.router = lambda req: httpx.Response(
        404, text="<h1>Edit Session Not Found</h1> canary-unknown-run123 canary")
    assert router_not_found.run(make_ctx()).status is Status.PASSED


def test_router_not_found_page_must_name_thread_and_client(make_ctx, platform):
    platform.router = lambda req: httpx.Response(404, text="<h1>Edit Session Not Found</h1>")
    r = router_not_found.run(make_ctx())
    assert r.status is Status.FAILED and "missing" in r.reason


def test_router_200_for_unknown_thread_fails(make_ctx, platform):
    platform.router = lambda req: httpx.Response(
        200, text="Edit Session Not Found canary-unknown-run123 canary")
    r = router_not_found.run(make_ctx())
    assert r.status is Status.FAILED and r.measurements["contract_violations"] == 1


# -- websocket -----
def test_websocket_refused_passes_and_sends_an_upgrade(make_ctx, platform):
    seen = []

    def handler(req):
        seen.append(req)
        return httpx.Response(502, text="WebSocket not supported")

    platform.router = handler
    assert websocket.run(make_ctx()).status is Status.PASSED
    assert seen[0].headers["upgrade"] == "websocket"
    assert seen[0].url.path == "/session/t1/_astro/hmr"


@pytest.mark.parametrize("response", [httpx.Response(200, text="ok"),
                                      httpx.Response(502, text="Bad Gateway")])
def test_websocket_not_refused_properly_fails(make_ctx, platform, response):
    platform.router = lambda req: response
    r = websocket.run(make_ctx())
    assert r.status is Status.FAILED and r.measurements["contract_violations"] == 1


# -- auth -----
@pytest.mark.parametrize("code", [401, 403])
def test_auth_refused_passes(make_ctx, platform, code):
    seen = []

    def handler(req):
        seen.append(req)
        return httpx.Response(code, json={"message": "Unauthorized"})

    platform.hermes = handler
    r = auth.run(make_ctx())
    assert r.status is Status.PASSED
    assert "authorization" not in seen[0].headers
    assert r.measurements["auth_not_enforced"] == 0


def test_auth_probes_an_unknown_thread_so_nothing_can_start(make_ctx, platform):
    seen = []
    platform.hermes = lambda req: seen.append(req) or httpx.Response(401)
    auth.run(make_ctx())
    assert b'"chatThreadId":"canary-auth-probe-run123"' in seen[0].content.replace(b" ", b"")


@pytest.mark.parametrize("code", [404, 500])
def test_auth_not_enforced_is_a_degraded_security_finding(make_ctx, platform, code):
    platform.hermes = lambda req: httpx.Response(code, json={"message": "Session not found"})
    r = auth.run(make_ctx())
    assert r.status is Status.DEGRADED
    assert r.measurements["auth_not_enforced"] == 1
    assert r.findings and "SECURITY" in r.findings[0]


def test_auth_201_for_an_unknown_thread_also_breaks_the_contract(make_ctx, platform):
    platform.hermes = lambda req: httpx.Response(201, json={"status": "running"})
    r = auth.run(make_ctx())
    assert r.status is Status.FAILED and "expected 404" in r.reason
    assert r.measurements == {"http_status": 201, "auth_not_enforced": 1,
                              "contract_violations": 1}


def test_auth_runs_even_when_the_wake_failed(make_ctx, platform):
    platform.hermes = lambda req: httpx.Response(404, json={"message": "not found"})
    ctx = make_ctx()
    ctx.run_state.container_down = True
    assert auth.run(ctx).measurements["auth_not_enforced"] == 1


def test_auth_without_an_answer_is_not_measured(make_ctx, platform):
    def refuse(req):
        raise httpx.ConnectError("connection refused", request=req)

    platform.hermes = refuse
    r = auth.run(make_ctx())
    assert r.status is Status.SKIPPED and "not measured" in r.reason
    assert "auth_not_enforced" not in r.measurements


@pytest.mark.parametrize("code", [502, 503, 504])
def test_auth_gateway_error_is_not_measured_not_a_security_finding(make_ctx, platform, code):
    platform.hermes = lambda req: httpx.Response(code, text="Bad Gateway")
    r = auth.run(make_ctx())
    assert r.status is Status.SKIPPED and "not measured" in r.reason and not r.findings
    assert "auth_not_enforced" not in r.measurements


def test_binary_garbage_preview_fails_with_a_reason(make_ctx, platform, running):
    platform.router = lambda req: httpx.Response(
        200, content=bytes(range(256)) * 100, headers={"Content-Type": "application/octet-stream"})
    r = route.run(make_ctx())
    assert r.status is Status.FAILED and "without the marker" in r.reason


def test_json_error_with_wrong_content_type_is_still_read(make_ctx, platform):
    platform.hermes = lambda req: httpx.Response(
        404, content=b'{"message": "Session for thread x not found"}',
        headers={"Content-Type": "text/html"})
    assert hermes_not_found.run(make_ctx()).status is Status.PASSED
