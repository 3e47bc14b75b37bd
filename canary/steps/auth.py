"""auth: is the bearer key enforced? Probed with no side effects, whatever the wake did.

The probe is resume-preview without the key for a thread that does not exist: a service that
checks the key refuses it (401/403) before it looks anything up; one that does not answers
like any unknown thread (404), and no task can start either way. Any answer other than
401/403 means the key is not enforced: a security finding (degraded, AuthNotEnforced=1),
not an outage - production is known not to enforce it. No answer, or a gateway error (Hermes
never saw the call): not measured (skipped, no metric).
"""

from __future__ import annotations

from canary.models import Status, StepResult
from canary.steps.base import ALL_LANES, RunContext, Step, result

NAME = "auth"
GATEWAY = (502, 503, 504)  # the load balancer's answers when Hermes is not there


def probe_thread(run_id: str) -> str:
    """The unknown thread the probe asks for (the dry run shows it too)."""
    return f"canary-auth-probe-{run_id}"


def run(ctx: RunContext) -> StepResult:
    ans = ctx.resume(timeout_s=ctx.timeout(10.0), auth=False, thread_id=probe_thread(ctx.run_id))
    m: dict = {"http_status": ans.status}
    if ans.status in (401, 403):
        m["auth_not_enforced"] = 0
        return result(NAME, Status.PASSED, f"call without the key refused ({ans.status})", m)
    if not ans.status or ans.status in GATEWAY:  # Hermes itself never answered
        why = ans.http.error or f"the gateway answered {ans.status}"
        return result(NAME, Status.SKIPPED,
                      f"not measured: the call without the key reached no Hermes: {why}", m)
    m["auth_not_enforced"] = 1
    finding = ("SECURITY: resume-preview processed a call without the internal API key "
               f"(HTTP {ans.status} for an unknown thread, expected 401/403); anyone reaching "
               "Hermes can wake sessions")
    if ans.status == 201:  # a session for a thread that cannot exist: also a contract breach
        m["contract_violations"] = 1
        return result(NAME, Status.FAILED, finding + "; and it answered 201 for an unknown "
                      "thread (expected 404)", m, [finding])
    return result(NAME, Status.DEGRADED, finding, m, [finding])


STEP = Step(NAME, run, ("preflight",), {"AuthNotEnforced": "auth_not_enforced"},
            lanes=ALL_LANES, retry_on_transport=True)
