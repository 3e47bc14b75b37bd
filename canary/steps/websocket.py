"""websocket: a WebSocket upgrade through the router is refused: 502 `WebSocket not supported`."""

from __future__ import annotations

from canary.models import Status, StepResult
from canary.steps.base import ALL_LANES, RunContext, Step, result

NAME = "websocket"
PATH = "_astro/hmr"  # the dev server's HMR socket, under the session's preview
UPGRADE = {
    "Upgrade": "websocket",
    "Connection": "Upgrade",
    "Sec-WebSocket-Key": "Y2FuYXJ5LXN5bnRoZXRpYw==",
    "Sec-WebSocket-Version": "13",
}


def run(ctx: RunContext) -> StepResult:
    c = ctx.config
    page = ctx.preview.get(c.thread_id, PATH, timeout_s=ctx.timeout(10.0),
                           headers=UPGRADE)
    m: dict = {"http_status": page.status}
    if page.error and not page.status:
        return result(NAME, Status.FAILED, f"WebSocket upgrade request: {page.error}", m)
    if page.status != 502 or "WebSocket not supported" not in page.text:
        m["contract_violations"] = 1
        return result(NAME, Status.FAILED,
                      f"WebSocket upgrade answered {page.describe()}; expected 502 "
                      "'WebSocket not supported' (a Lambda target cannot upgrade)", m)
    return result(NAME, Status.PASSED, "upgrade refused: 502 WebSocket not supported", m)


STEP = Step(NAME, run, ("preflight",), lanes=ALL_LANES, retry_on_transport=True)
