"""hermes_not_found: resume-preview for an unknown thread is 404 with `not found`."""

from __future__ import annotations

from canary.models import Status, StepResult
from canary.steps.base import ALL_LANES, RunContext, Step, result

NAME = "hermes_not_found"


def probe_thread(run_id: str) -> str:
    """The unknown thread the probe asks for (the dry run shows it too)."""
    return f"canary-unknown-{run_id}"


def run(ctx: RunContext) -> StepResult:
    c = ctx.config
    thread = probe_thread(ctx.run_id)
    ans = ctx.hermes.resume_preview(thread, c.client_id, timeout_s=ctx.timeout(10.0))
    m: dict = {"http_status": ans.status}
    if ans.http.error and not ans.status:
        return result(NAME, Status.FAILED, f"unknown thread: {ans.http.error}", m)
    message = (ans.body or {}).get("message")
    if ans.status != 404:
        m["contract_violations"] = 1
        return result(NAME, Status.FAILED,
                      f"unknown thread answered {ans.describe()}; expected 404 'not found'", m)
    if not isinstance(message, str) or "not found" not in message.lower():
        m["contract_violations"] = 1
        return result(NAME, Status.FAILED,
                      "unknown thread answered 404 without a JSON message containing "
                      f"'not found': {ans.http.snippet()!r}", m)
    return result(NAME, Status.PASSED, f"404 {message[:100]!r}", m)


STEP = Step(NAME, run, ("preflight",), lanes=ALL_LANES, retry_on_transport=True)
