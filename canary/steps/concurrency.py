"""concurrency: one wake must start exactly one task.

Counts the distinct taskArns Hermes answered plus the synthetic container's tasks that
ECS shows as created since the wake began (or, where ECS gives no createdAt, unknown
before it). Extras are stopped in cleanup.
"""

from __future__ import annotations

from canary.clients.orchestrator import created_at
from canary.models import Status, StepResult
from canary.steps.base import RunContext, result, skip_if_container_down

NAME = "concurrency"
CLOCK_SKEW_S = 5.0


def run(ctx: RunContext) -> StepResult:
    skipped = skip_if_container_down(ctx, NAME)
    if skipped is not None:
        return skipped
    c = ctx.config
    if "wake_started_wall" not in ctx.shared:
        return result(NAME, Status.SKIPPED, "skipped: no wake through Hermes ran")
    started = ctx.shared["wake_started_wall"]
    known = ctx.shared.get("known_task_arns", set())
    answered = set(ctx.shared.get("wake_task_arns", set()))
    tasks = ctx.orchestrator.container_tasks(c.container_id, known_arns=frozenset(answered))
    new = set(answered)
    for t in tasks:
        arn = t.get("taskArn")
        if not arn or arn in known:
            continue
        made = created_at(t)
        if made is None or made >= started - CLOCK_SKEW_S:
            new.add(arn)
    row = ctx.state.get_container(c.container_id) or {}
    keeper = row.get("taskArn")
    m = {"tasks_started": len(new), "duplicate_tasks": max(0, len(new) - 1),
         "answered_task_arns": len(answered)}
    if len(new) > 1:
        extras = sorted(new - {keeper}) if keeper in new else sorted(new)[1:]
        ctx.shared["duplicate_arns"] = extras
        short = ", ".join(a.rsplit("/", 1)[-1][:12] for a in sorted(new))
        return result(NAME, Status.FAILED,
                      f"{len(new)} tasks started for one wake of {c.container_id} (expected 1): "
                      f"{short}; the {len(extras)} extra task(s) are stopped in cleanup", m)
    if not new:
        return result(NAME, Status.DEGRADED,
                      "no task of the container was found in ECS for this wake, and Hermes "
                      "answered no taskArn: cannot verify that exactly one started", m)
    return result(NAME, Status.PASSED, "exactly one task started", m)
