"""route: the preview URL answers 200 through the router with the container's marker."""

from __future__ import annotations

from canary.models import Status, StepResult
from canary.steps.base import (
    ALL_LANES,
    RunContext,
    Step,
    grade,
    has_marker,
    require_running,
    result,
)

NAME = "route"
TIMEOUT_S = 10.0


def run(ctx: RunContext) -> StepResult:
    blocked = require_running(ctx, NAME)
    if blocked is not None:
        return blocked
    c = ctx.config
    page = ctx.preview.get(c.thread_id, timeout_s=ctx.timeout(TIMEOUT_S))
    ctx.note_activity()
    m: dict = {"http_status": page.status}
    if page.status != 200:
        return result(NAME, Status.FAILED,
                      f"preview through the router: {page.describe()} (expected 200)", m)
    if not has_marker(c, page.text):
        return result(NAME, Status.FAILED,
                      f"preview answered 200 without the marker {c.marker_for()!r}: "
                      f"{page.snippet()!r}", m)
    m["latency_ms"] = round(page.elapsed_ms, 1)
    status, reason = grade(page.elapsed_ms, c.api_degraded_ms, c.api_failed_ms,
                           "preview through the router in")
    return result(NAME, status, reason, m)


STEP = Step(NAME, run, ("preflight",), {"RouteLatency": "latency_ms"}, lanes=ALL_LANES,
            retry_on_transport=True)
