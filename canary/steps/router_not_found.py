"""router_not_found: an unknown thread's preview is the 404 `Edit Session Not Found` page."""

from __future__ import annotations

from canary.models import Status, StepResult
from canary.steps.base import ALL_LANES, RunContext, Step, result

NAME = "router_not_found"


def probe_thread(run_id: str) -> str:
    """The unknown thread the probe asks for (the dry run shows it too)."""
    return f"canary-unknown-{run_id}"


def run(ctx: RunContext) -> StepResult:
    c = ctx.config
    thread = probe_thread(ctx.run_id)
    page = ctx.preview.get(thread, timeout_s=ctx.timeout(10.0))
    m: dict = {"http_status": page.status}
    if page.error and not page.status:
        return result(NAME, Status.FAILED, f"unknown thread: {page.error}", m)
    missing = [w for w in ("Edit Session Not Found", thread, c.client_id) if w not in page.text]
    if page.status != 404 or missing:
        m["contract_violations"] = 1
        what = f"HTTP {page.status}" + (f" missing {missing}" if missing else "")
        return result(NAME, Status.FAILED,
                      f"unknown thread's preview: {what}; expected 404 'Edit Session Not Found' "
                      f"naming thread and client ({page.snippet(80)!r})", m)
    return result(NAME, Status.PASSED, "404 Edit Session Not Found, naming thread and client", m)


STEP = Step(NAME, run, ("preflight",), lanes=ALL_LANES, retry_on_transport=True)
