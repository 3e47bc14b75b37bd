"""cleanup: always runs (after failures and budget exhaustion, from a reserved slice).

Removes extra mappings and the canary's own mapping (so the container may sleep; the
next preflight recreates it), stops duplicate tasks, and - unless the sleep mode expects
the container to stay up (observe) - stops whatever synthetic task is still running.
"""

from __future__ import annotations

from collections.abc import Callable

from canary.clients.base import TargetError
from canary.models import Status, StepResult
from canary.steps.base import RunContext, result

NAME = "cleanup"
SETTLE_S = 1.0


def _stop_live(ctx: RunContext, attempt: Callable[[str, Callable[[], object]], None],
               problems: list[str]) -> int:
    """Stop the synthetic container's live tasks (not already-handled duplicates)."""
    try:
        live = [t for t in ctx.orchestrator.container_tasks(ctx.config.container_id,
                                                            include_stopped=False)
                if t.get("lastStatus") != "STOPPED"
                and t["taskArn"] not in ctx.shared.get("duplicate_arns", [])]
    except TargetError as exc:
        problems.append(f"listing the container's tasks: {exc}")
        return 0
    for t in live:
        arn = t["taskArn"]
        attempt(f"stopped leftover task {arn.rsplit('/', 1)[-1][:12]}",
                lambda a=arn: ctx.orchestrator.stop_task(a))
    return len(live)


def run(ctx: RunContext) -> StepResult:
    c = ctx.config
    done: list[str] = []
    problems: list[str] = []

    def attempt(what: str, fn: Callable[[], object]) -> None:
        try:
            fn()
            done.append(what)
        except TargetError as exc:
            problems.append(f"{what}: {exc}")

    for thread in list(ctx.shared.get("extra_mappings", [])):
        attempt(f"removed mapping {thread}", lambda t=thread: ctx.state.delete_mapping(t))
    if ctx.shared.get("preflight_done"):
        attempt("removed the canary's mapping",
                lambda: ctx.state.delete_mapping(c.thread_id))
    for arn in ctx.shared.get("duplicate_arns", []):
        short = arn.rsplit("/", 1)[-1][:12]

        def stop_duplicate(a: str = arn, short: str = short) -> None:
            if not ctx.orchestrator.stop_own_task(a, c.container_id):
                raise TargetError(f"task {short} named by Hermes belongs to another container; "
                                  "not stopped")

        attempt(f"stopped duplicate task {short}", stop_duplicate)
    if not ctx.shared.get("leave_running") and ctx.shared.get("preflight_done"):
        stopped = _stop_live(ctx, attempt, problems)
        if ctx.shared.get("wake_in_flight"):
            # A wake the router started for our last page load may start a task late.
            ctx.clock.sleep(min(SETTLE_S, max(0.0, ctx.remaining() - 1.0)))
            stopped += _stop_live(ctx, attempt, problems)
        if stopped:
            attempt("set container status stopped",
                    lambda: ctx.harness.set_container_status(c.container_id, "stopped"))
    m = {"actions": len(done)}
    if problems:
        return result(NAME, Status.FAILED, "; ".join(problems)[:900], m, done)
    return result(NAME, Status.PASSED, "; ".join(done) or "nothing to clean up", m)
