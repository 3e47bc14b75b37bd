"""warm_api: resume-preview for the running container answers 201 `running` quickly - and
starts nothing.

Takes WARM_API_SAMPLES sequential samples; the verdict and APIResponseTime use the slowest
(the alarm's statistic is Maximum), the average is kept for the report. Verify, never
trust: each `running` is checked against the table and ECS, and afterwards ECS is asked
whether any of the session's tasks was created during the samples. A resume for a running
container that starts a task is its own finding (ResumeStartedTask): it is how a row-key
defect shows (Hermes reads one row, the container writes another), and such a resume is
not a healthy fast path however quick it was. `response_offset_ms`: where the slowest sample
began within the step (the HTML draws that sample against the line, not the whole step).
"""

from __future__ import annotations

from canary.models import Status, StepResult
from canary.steps.base import (
    ALL_LANES,
    RunContext,
    Step,
    grade,
    ms,
    require_running,
    result,
    running_answer_problem,
    violates_contract,
)
from canary.tasks import short

NAME = "warm_api"


def run(ctx: RunContext) -> StepResult:
    entered = ctx.clock.monotonic()
    blocked = require_running(ctx, NAME)
    if blocked is not None:
        return blocked
    c = ctx.config
    timeout_s = max(5.0, 2 * c.api_failed_ms / 1000)
    times: list[tuple[float, float]] = []  # (ms, ms after the step began when it was sent)
    m: dict = {"samples": c.warm_api_samples}
    before = ctx.tasks.scan(include_stopped=True).arns
    began = ctx.clock.now()
    failure = None
    for i in range(c.warm_api_samples):
        sent = ctx.clock.monotonic() - entered
        ans = ctx.resume(timeout_s=ctx.timeout(timeout_s))
        if ans.status != 201:
            m["contract_violations"] = int(violates_contract(ans.status))
            failure = f"sample {i + 1}: {ans.describe()} (expected 201 running)"
            break
        contradiction = running_answer_problem(ctx, ans)
        if ans.container_status != "running" or contradiction:
            m["contract_violations"] = 1
            failure = (f"sample {i + 1}: contract violation: {contradiction}" if contradiction
                       else f"sample {i + 1}: 201 with status {ans.container_status!r} for a "
                            "running container (expected running)")
            break
        times.append((ans.http.elapsed_ms, ms(sent)))
        if ans.http.elapsed_ms > c.api_failed_ms:
            break  # already failed: more samples would only spend the budget
    started = _tasks_started(ctx, before, began, m)
    if started:
        return result(NAME, Status.FAILED, started + (f"; {failure}" if failure else ""), m)
    if failure:
        return result(NAME, Status.FAILED, failure, m)
    worst, m["response_offset_ms"] = max(times)
    m["response_ms"] = round(worst, 1)
    m["response_avg_ms"] = round(sum(t for t, _ in times) / len(times), 1)
    status, reason = grade(worst, c.api_degraded_ms, c.api_failed_ms,
                           f"resume-preview (running; slowest of {len(times)} sample(s))")
    return result(NAME, status, reason, m)


def _tasks_started(ctx: RunContext, before: set[str], began: float, m: dict) -> str | None:
    """Why the samples are not a fast path: they started tasks (None when they did not)."""
    scan = ctx.tasks.scan(include_stopped=True, created_since=began)
    new = sorted(scan.arns - before - ctx.run_state.known_task_arns)
    if not scan.complete and not new:
        return None  # not measured: ResumeStartedTask stays absent
    m["resume_started_tasks"] = len(new)
    if not new:
        return None
    return (f"resume-preview for a running container started {len(new)} new task(s) "
            f"({', '.join(short(a) for a in new)}): Hermes does not see the running container "
            "(e.g. it reads a containers row the container does not write); each resume "
            "costs a cold start and a duplicate container")


STEP = Step(NAME, run, ("preflight",), {"APIResponseTime": "response_ms",
                                           "ResumeStartedTask": "resume_started_tasks"},
            lanes=ALL_LANES, retry_on_transport=True)
