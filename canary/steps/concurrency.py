"""concurrency: one wake must start exactly one task - counted whatever the wake's outcome.

Counts the session's tasks (proven ours from contract facts, canary/tasks.py) that ECS shows
as created since wake_hermes began, leaving out those preflight already knew. A wake that
failed may still have started tasks (production started 1 to 3): they are counted too. An
ARN a 201 named that no fact ties to the session is never counted (wake_hermes reports it).
Extras are stopped in cleanup with every other task of the session it does not mean to keep.
"""

from __future__ import annotations

from canary.models import Status, StepResult
from canary.steps.base import RunContext, Step, result
from canary.tasks import is_live, short

NAME = "concurrency"


def run(ctx: RunContext) -> StepResult:
    c = ctx.config
    if ctx.run_state.wake_started_wall is None:
        return result(NAME, Status.SKIPPED, "skipped: no wake through Hermes ran")
    known = ctx.run_state.known_task_arns
    scan = ctx.tasks.scan(include_stopped=True, created_since=ctx.run_state.wake_started_wall)
    new = [t for t in scan.tasks if t["taskArn"] not in known]
    # A task that died before it ever ran is a failed start (the wake's own verdict), not a
    # second container: duplicates are the tasks beyond one that ran or still run.
    ran = sorted(t["taskArn"] for t in new if is_live(t) or t.get("startedAt"))
    m: dict = {"tasks_started": len(new), "tasks_ran": len(ran),
               "answered_task_arns": len(ctx.tasks.answered)}
    notes = [] if scan.complete else [f"task look-up incomplete: {scan.note}"]
    if len(new) > len(ran):
        notes.append(f"{len(new) - len(ran)} task(s) stopped before they ran")
    if not new or (not scan.complete and len(ran) <= 1):
        if not new:
            notes.insert(0, "no task of the session was found in ECS for this wake, so one "
                            "task per wake cannot be verified")
        return result(NAME, Status.DEGRADED, "not measured: " + "; ".join(notes), m)
    m["duplicate_tasks"] = max(0, len(ran) - 1)
    if len(ran) > 1:
        return result(NAME, Status.FAILED,
                      f"{len(ran)} tasks started for one wake of {c.container_id} (expected 1): "
                      f"{', '.join(short(a) for a in ran)}; the extra task(s) are stopped in "
                      "cleanup" + "".join(f"; {n}" for n in notes), m)
    if not ran:
        return result(NAME, Status.PASSED, "no duplicate: none of the wake's task(s) ran"
                      + "".join(f"; {n}" for n in notes), m)
    return result(NAME, Status.PASSED, "exactly one task started"
                  + "".join(f"; {n}" for n in notes), m)


STEP = Step(NAME, run, ("preflight",), {"DuplicateTasks": "duplicate_tasks"})
