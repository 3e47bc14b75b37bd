"""Hostile HTTP targets over real loopback sockets: what the canary says, how long it takes,
how much memory it holds, and that the key never reaches an output.

Three layers: one exchange against a target that drips, resets, never answers, floods or
lies (verdict, reason, wall time, memory); the loading-page loop against Retry-After 0,
huge or garbage (never a flood, honoured up to the cap); full runs against a Hermes and a
router that echo the key in every encoding (no key in the JSON, the report or the EMF).
"""

from __future__ import annotations

import base64
import functools
import gzip
import io
import itertools
import json
import math
import re
import socket
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
from hostile_http import KEY, REGION, answer, head, leaks, reset

from canary.clients.base import HttpAnswer, canary_headers, exchange
from canary.clients.transport import http_client
from canary.clock import SystemClock
from canary.config import CanaryConfig
from canary.models import RunResult, Status

TIMEOUT_S = 0.5
CAP = 256 * 1024
SLACK_S = 1.0  # wall time allowed over a limit (thread scheduling on a busy 2-core machine)
MEMORY_BOUND = 6 * 1024 * 1024  # bytes: the body cap plus a socket read, many times over
CONTAINER = "canary-t1-u1"
MARKER = f"marker:{CONTAINER}"


# -- behaviours (each ends when the client leaves or the server stops) --------------------
def drip_status_line(conn, req, srv):
    for byte in head("200 OK", {"X-Drip": "a" * 400}):
        conn.sendall(bytes([byte]))
        if srv.wait(0.02):
            break
    return False


def drip_body(conn, req, srv):
    conn.sendall(head("200 OK", {"Content-Length": "10000"}))
    for _ in range(10000):
        conn.sendall(b"x")
        if srv.wait(0.02):
            break
    return False


def reset_mid_body(conn, req, srv):
    conn.sendall(head("201 Created", {"Content-Type": "application/json",
                                      "Content-Length": "230"}) + b'{"sessionId":"canary-se')
    srv.wait(0.1)  # let the client read the head first
    return reset(conn)


def close_mid_body(conn, req, srv):
    conn.sendall(head("201 Created", {"Content-Length": "230"}) + b'{"sessionId":"canary-se')
    srv.wait(0.1)
    return False  # a FIN, 207 bytes short


def reset_before_answer(conn, req, srv):
    return reset(conn)


def never_answers(conn, req, srv):
    srv.wait(30)
    return False


def body_never_comes(conn, req, srv):
    conn.sendall(head("200 OK", {"Content-Length": "100"}))
    srv.wait(30)
    return False


def huge_body(conn, req, srv):
    chunk = b"x" * 65536
    conn.sendall(head("200 OK", {"Content-Length": str(1024 * len(chunk))}))
    for _ in range(1024):
        conn.sendall(chunk)
    return False


def endless_body(conn, req, srv):
    chunk = b"10000\r\n" + b"y" * 65536 + b"\r\n"
    conn.sendall(head("200 OK", {"Transfer-Encoding": "chunked"}))
    while not srv.stopping.is_set():
        conn.sendall(chunk)
    return False


@functools.cache
def _bomb() -> bytes:
    return gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)  # 64 MiB in ~64 KiB


def gzip_bomb(conn, req, srv):
    return answer(conn, "200 OK", _bomb(), {"Content-Encoding": "gzip"})


def header_flood(conn, req, srv):
    conn.sendall(head("200 OK", {f"X-Flood-{i}": "v" * 50 for i in range(4000)}))
    return False


def redirect_loop(conn, req, srv):
    return answer(conn, "302 Found", headers={"Location": req.path})


def garbage_status_line(conn, req, srv):
    conn.sendall(b"HELLO THERE\r\n\r\n")
    return False


@dataclass(frozen=True)
class Case:
    behave: Callable[..., bool]
    status: int  # HttpAnswer.status: 0 = no complete answer
    status_line: int
    says: str  # in HttpAnswer.error ("" = no error)
    truncated: bool = False


CASES = {
    "status line drips (bounded by the total deadline)": Case(
        drip_status_line, 0, 0, "no answer after"),
    "body drips": Case(drip_body, 0, 200, "200 received but the body"),
    "reset mid-body": Case(reset_mid_body, 0, 201, "201 received but the body broke after"),
    "closed mid-body": Case(close_mid_body, 0, 201, "201 received but the body broke after"),
    "reset before any answer": Case(reset_before_answer, 0, 0, "no valid answer after"),
    "never answers": Case(never_answers, 0, 0, "no answer after"),
    "body never comes": Case(body_never_comes, 0, 200, "200 received but the body stalled"),
    "huge body": Case(huge_body, 200, 200, "", truncated=True),
    "body never ends": Case(endless_body, 200, 200, "", truncated=True),
    "gzip bomb": Case(gzip_bomb, 200, 200, "", truncated=True),
    "header flood": Case(header_flood, 0, 0, "no valid answer after"),
    "redirect loop": Case(redirect_loop, 302, 302, ""),
    "garbage status line": Case(garbage_status_line, 0, 0, "no valid answer after"),
}


def measured_exchange(url: str, **kwargs: Any) -> tuple[HttpAnswer, float, int]:
    """One exchange through the run's real client: (answer, wall seconds, peak bytes)."""
    with http_client() as http:
        tracemalloc.start()
        started = time.monotonic()
        try:
            ans = exchange(http, SystemClock(), "GET", url, headers=canary_headers("hostile"),
                           timeout_s=TIMEOUT_S, max_body_bytes=CAP, **kwargs)
            took = time.monotonic() - started
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    return ans, took, peak


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_answer_is_judged_truthfully_in_bounded_time_and_memory(name, serve):
    case = CASES[name]
    if case.behave is gzip_bomb:
        _bomb()  # compressed before the clock and the memory count start
    srv = serve(case.behave)
    ans, took, peak = measured_exchange(srv.url + "/session/t1/")
    assert (ans.status, ans.status_line, ans.truncated) == (
        case.status, case.status_line, case.truncated), ans.error
    if case.says:
        assert ans.transport_failure and ans.error.startswith("transport failure: GET")
        assert case.says in ans.error
        stated = float(re.search(r"after (?:\d+ bytes, )?(\d+\.\d) s", ans.error).group(1))
        assert abs(stated - took) < 0.3, "the reason must state the real elapsed time"
    else:
        assert not ans.error
    assert took < TIMEOUT_S + SLACK_S
    assert peak < MEMORY_BOUND
    assert len(ans.body) <= CAP


def test_redirect_loop_is_one_request_even_with_a_following_client(serve):
    srv = serve(redirect_loop)
    with http_client() as http:
        http.follow_redirects = True
        ans = exchange(http, SystemClock(), "GET", srv.url + "/session/t1/", headers={},
                       timeout_s=TIMEOUT_S)
    assert ans.status == 302
    assert len(srv.requests) == 1


def test_refused_connection_says_so_at_once():
    with socket.socket() as closed:  # bound, never listening: connections are refused
        closed.bind(("127.0.0.1", 0))
        ans, took, _ = measured_exchange(f"http://127.0.0.1:{closed.getsockname()[1]}/")
    assert ans.status == 0 and "could not connect after" in ans.error
    assert took < SLACK_S


def test_a_reused_connection_is_held_to_the_total_deadline_too(serve):
    def fine_then_drip(conn, req, srv):
        if len(srv.requests) == 1:
            return answer(conn, "200 OK", "first")
        return drip_status_line(conn, req, srv)

    srv = serve(fine_then_drip)
    with http_client() as http:
        first = exchange(http, SystemClock(), "GET", srv.url + "/a", headers={}, timeout_s=2)
        started = time.monotonic()
        second = exchange(http, SystemClock(), "GET", srv.url + "/b", headers={},
                          timeout_s=TIMEOUT_S)
        took = time.monotonic() - started
    assert first.text == "first"
    assert second.status == 0 and "no answer after" in second.error
    assert took < TIMEOUT_S + SLACK_S
    assert len({id(r) for r in srv.requests}) == 2


# -- the loading-page loop against Retry-After --------------------------------------------
READY_AFTER_S = 1.2


def loading_router(retry_after: str) -> Callable[..., bool]:
    """Loading pages with `Retry-After: retry_after` for READY_AFTER_S, then the preview."""
    def behave(conn, req, srv):
        if time.monotonic() - srv.requests[0].at < READY_AFTER_S:
            return answer(conn, "202 Accepted", "<html>Waking Up Edit Session t1</html>",
                          {"Retry-After": retry_after, "Content-Type": "text/html"})
        return answer(conn, "200 OK", f"<html>{MARKER}</html>")
    return behave


def hostile_config(hermes_url: str, router_url: str, **overrides: Any) -> CanaryConfig:
    kwargs: dict[str, Any] = dict(
        target="sandbox", environment="hostile", hermes_api_url=hermes_url + "/hermes",
        preview_base_url=router_url, preview_host_template="edit.{clientId}.hostile.test",
        client_id="canary", user_id="u1", thread_id="t1", api_key=KEY, region=REGION,
        wake_degraded_ms=5_000, wake_failed_ms=10_000, api_degraded_ms=100, api_failed_ms=500,
        sleep_mode="observe", idle_timeout_s=1.0, sleep_check_interval_s=0.1,
        sleep_margin_s=0.5, budget_s=6, cleanup_reserve_s=1, wake_timeout_s=1.0,
        retry_after_cap_s=1.0, connect_timeout_s=0.5, preview_marker="marker:{containerId}",
    )
    kwargs.update(overrides)
    return CanaryConfig(**kwargs)


def dependencies(aws: dict[str, Any]) -> Any:
    from canary.composition import Dependencies
    from canary.secrets import ApiKeyProvider

    return Dependencies(http=http_client(), dynamodb=aws["ddb"], ecs=aws["ecs"],
                        api_key=ApiKeyProvider(key=KEY, clock=SystemClock()))


def run_wake_preview(aws: dict[str, Any], router_url: str) -> tuple[Any, float]:
    from canary.composition import build_context
    from canary.steps import wake_preview

    clock = SystemClock()
    deps = dependencies(aws)
    try:
        ctx = build_context(hostile_config(router_url, router_url, wake_timeout_s=4.0),
                            deps, clock, "hostile")
        ctx.deadline = clock.monotonic() + 5.0
        started = time.monotonic()
        step = wake_preview.run(ctx)
        return step, time.monotonic() - started
    finally:
        deps.http.close()


def gaps(srv: Any) -> list[float]:
    times = [r.at for r in srv.requests]
    return [b - a for a, b in itertools.pairwise(times)]


def test_retry_after_zero_never_floods_the_router(aws, serve):
    srv = serve(loading_router("0"))
    step, took = run_wake_preview(aws, srv.url)
    assert step.status is Status.PASSED, step.reason
    assert step.measurements["contract_violations"] == 0
    assert len(srv.requests) <= math.ceil(took / 0.5) + 1  # 855 requests in 6 s, once
    assert min(gaps(srv)) >= 0.45
    assert took < 4.0 + SLACK_S


def test_huge_retry_after_is_honoured_up_to_the_cap_and_called_too_long(aws, serve):
    srv = serve(loading_router("99999"))
    step, took = run_wake_preview(aws, srv.url)
    assert step.status is Status.PASSED, step.reason
    assert step.measurements["contract_violations"] == 0
    assert any("too long" in f and "99999" in f for f in step.findings), step.findings
    assert "invalid" not in step.reason and "no valid" not in step.reason
    assert all(0.9 <= g <= 1.0 + SLACK_S for g in gaps(srv))  # the 1 s cap, not 99999 s
    assert took < 4.0 + SLACK_S


def test_garbage_retry_after_is_a_contract_violation_and_still_polite(aws, serve):
    srv = serve(loading_router("soon-ish"))
    step, took = run_wake_preview(aws, srv.url)
    assert step.status is Status.FAILED
    assert "no valid Retry-After header ('soon-ish')" in step.reason
    assert step.measurements["contract_violations"] == 1
    assert "wake_ms" in step.measurements  # the wake is still measured
    assert min(gaps(srv)) >= 0.9
    assert took < 4.0 + SLACK_S


# -- full runs: the key echoed in every encoding never reaches an output ------------------
PREFIX = "Failed to resume session: "


def _echo(form: str) -> tuple[str, str, str]:
    """(Hermes's JSON body, the router's page, the router's Retry-After) echoing the key."""
    if form == "straddle":  # the key crosses the cut of a message (240) and a snippet (80)
        message = PREFIX + "." * (228 - len(PREFIX)) + KEY
        page = "Waking Up Edit Session t1 " + "." * (68 - 26) + KEY
        return json.dumps({"statusCode": 500, "message": message}), page, "1"
    shown = {"raw": KEY, "percent": quote(KEY, safe=""),
             "json_escaped": json.dumps(KEY)[1:-1].replace("/", "\\/"),
             "base64": base64.b64encode(f"Bearer {KEY}".encode()).decode()}[form]
    body = '{"statusCode":500,"message":"' + PREFIX + "token " + shown + '"}'
    return body, f"Waking Up Edit Session t1 <pre>auth: {shown}</pre>", shown


def echoing_platform(form: str) -> Callable[..., bool]:
    hermes_body, page, retry = _echo(form)

    def behave(conn, req, srv):
        if req.path.startswith("/hermes/"):
            return answer(conn, "500 Internal Server Error", hermes_body,
                          {"Content-Type": "application/json"})
        return answer(conn, "202 Accepted", page, {"Retry-After": retry})
    return behave


def full_run(aws: dict[str, Any], url: str) -> tuple[RunResult, float, dict[str, str]]:
    from canary.metrics import emf_lines
    from canary.report import full_report
    from canary.runner import run_scenario

    config = hostile_config(url, url)
    deps = dependencies(aws)
    started = time.monotonic()
    try:
        run = run_scenario(config, deps, SystemClock())
    finally:
        deps.http.close()
    took = time.monotonic() - started
    outputs = {
        "json": json.dumps(run.to_dict(), default=str),
        "report": full_report(run, io.StringIO()),
        "emf": "\n".join(emf_lines(run, namespace=config.metrics_namespace,
                                   environment=config.environment)),
    }
    return run, took, outputs


@pytest.mark.parametrize("form", ["raw", "percent", "json_escaped", "base64", "straddle"])
def test_key_echoed_by_the_target_reaches_no_output(form, aws, serve):
    srv = serve(echoing_platform(form))
    run, took, outputs = full_run(aws, srv.url)
    assert any(r.headers.get("authorization") == f"Bearer {KEY}" for r in srv.requests)
    wake = run.step("wake_hermes")
    assert not run.ok and wake.status is Status.FAILED
    assert "500" in wake.reason
    assert took < 6 + SLACK_S + 5.0  # budget + the runner's overrun grace
    assert {name: leaks(text) for name, text in outputs.items()} == {
        "json": [], "report": [], "emf": []}


def test_resets_mid_body_are_transport_failures_not_contract_violations(aws, serve):
    def platform(conn, req, srv):
        if req.path.startswith("/hermes/"):
            return reset_mid_body(conn, req, srv)
        return answer(conn, "404 Not Found", "Edit Session Not Found t1 canary")

    srv = serve(platform)
    run, took, outputs = full_run(aws, srv.url)
    wake = run.step("wake_hermes")
    assert wake.status is Status.FAILED
    assert "transport failure" in wake.reason and "body broke" in wake.reason
    assert "JSON object" not in wake.reason
    assert not wake.measurements.get("contract_violations")
    assert took < 6 + SLACK_S + 5.0
    assert leaks(outputs["json"]) == []


