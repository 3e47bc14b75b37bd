"""warm_api: resume-preview for the running container answers 201 `running` quickly.

Takes WARM_API_SAMPLES sequential samples; the verdict and APIResponseTime use the
slowest (the alarm's statistic is Maximum), the average is kept for the report.
"""

from __future__ import annotations

from canary.models import Status, StepResult
from canary.steps.base import RunContext, grade, require_running, result, violates_contract

NAME = "warm_api"


def run(ctx: RunContext) -> StepResult:
    blocked = require_running(ctx, NAME)
    if blocked is not None:
        return blocked
    c = ctx.config
    timeout_s = max(5.0, 2 * c.api_failed_ms / 1000)
    times: list[float] = []
    m: dict = {"samples": c.warm_api_samples}
    for i in range(c.warm_api_samples):
        ans = ctx.hermes.resume_preview(c.thread_id, c.client_id,
                                        timeout_s=ctx.timeout(timeout_s))
        ctx.note_activity()
        if ans.status != 201:
            m["contract_violations"] = int(violates_contract(ans.status))
            return result(NAME, Status.FAILED,
                          f"sample {i + 1}: {ans.describe()} (expected 201 running)", m)
        if ans.container_status != "running":
            m["contract_violations"] = 1
            return result(NAME, Status.FAILED,
                          f"sample {i + 1}: 201 with status {ans.container_status!r} for a "
                          "running container (expected running)", m)
        times.append(ans.http.elapsed_ms)
        if ans.http.elapsed_ms > c.api_failed_ms:
            break  # already failed: more samples would only spend the budget
    worst = max(times)
    m["response_ms"] = round(worst, 1)
    m["response_avg_ms"] = round(sum(times) / len(times), 1)
    for t in times:
        ctx.add_success("api_ms", t)
    status, reason = grade(worst, c.api_degraded_ms, c.api_failed_ms,
                           f"resume-preview (running; slowest of {len(times)} sample(s))")
    return result(NAME, status, reason, m)
