"""warm_up (quick lane only): the session's container is up, and its app ready, before the
quick checks run.

The quick lane watches a session kept warm. Normally the container is running already; when
it is not (the first quick run, or the platform stopped it), it is woken through
resume-preview. Either way the step then waits (bounded) until the app is ready as far as
the platform shows it (canary/steps/base.py `app_ready`: the row, ECS's health, or a grace
after ECS's startedAt; never a preview request, which would be a wake). ECS saying RUNNING
is not enough: the task runs before the app is up, and route/warm_api would hit a starting
container and report false contract violations. That wake is never measured as a
cold wake (no ContainerWakeTime): the quick lane makes no wake promise, and the full lane
measures cold wakes on its own container.
"""

from __future__ import annotations

from canary.lanes import Lane
from canary.models import Status, StepResult
from canary.steps.base import RunContext, Step, app_ready, ensure_running, ms, result, session_up

NAME = "warm_up"


def run(ctx: RunContext) -> StepResult:
    cid = ctx.config.container_id
    if app_ready(ctx):
        return result(NAME, Status.PASSED, f"container {cid} was already up",
                      {"found": "running"})
    began = ctx.clock.monotonic()
    found = "starting" if session_up(ctx) else "down"  # ECS runs it, the app not yet
    why = ensure_running(ctx)  # wakes it when down; waits until its app serves
    m = {"found": found, "warm_up_ms": ms(ctx.clock.monotonic() - began)}
    if why:
        return result(NAME, Status.FAILED, why, m)
    how = "was down; woken" if found == "down" else "was starting; waited until its app served"
    return result(NAME, Status.PASSED,
                  f"container {cid} {how} for the quick checks (not a measured cold wake)", m)


STEP = Step(NAME, run, ("preflight",), lanes=frozenset({Lane.QUICK}), retry_on_transport=True)
