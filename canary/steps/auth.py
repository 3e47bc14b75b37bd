"""auth: resume-preview without the key. Refused (401/403) passes; accepted is a security
finding (degraded, AuthNotEnforced=1), not an outage: production is known not to enforce."""

from __future__ import annotations

from canary.models import Status, StepResult
from canary.steps.base import RunContext, result, skip_if_container_down

NAME = "auth"


def run(ctx: RunContext) -> StepResult:
    skipped = skip_if_container_down(ctx, NAME)
    if skipped is not None:
        return skipped
    c = ctx.config
    ans = ctx.hermes.resume_preview(c.thread_id, c.client_id, timeout_s=ctx.timeout(10.0),
                                    auth=False)
    m: dict = {"http_status": ans.status}
    if ans.status in (401, 403):
        m["auth_not_enforced"] = 0
        return result(NAME, Status.PASSED, f"call without the key refused ({ans.status})", m)
    if 200 <= ans.status < 300:
        m["auth_not_enforced"] = 1
        finding = ("SECURITY: resume-preview accepted a call without the internal API key "
                   f"(HTTP {ans.status}); anyone reaching Hermes can wake sessions")
        return result(NAME, Status.DEGRADED, finding, m, [finding])
    if not ans.status:
        return result(NAME, Status.FAILED, f"call without the key: {ans.http.error}", m)
    m["contract_violations"] = 1
    return result(NAME, Status.FAILED,
                  f"call without the key answered {ans.describe()}; expected 401/403", m)
