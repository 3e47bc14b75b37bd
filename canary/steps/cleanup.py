"""cleanup: always runs (after failures and budget exhaustion, from a reserved slice).

Removes extra mappings and the canary's own mapping (so the container may sleep; the next
preflight recreates it), waits - within its reserve - for a wake Hermes accepted
(`starting`) to start its task, then stops every task of the session it does not mean to
keep: observe mode keeps one (the row's task, else the newest) to watch it sleep and
remembers it in the canary's table; the other modes keep none. Only tasks proven the
session's (canary/tasks.py) are ever stopped.

The quick lane keeps its session warm: it leaves the mapping and the session's one task
(the row's, else the newest) for the next quick run, and stops only extra tasks.
"""

from __future__ import annotations

from collections.abc import Callable

from canary.clients.base import TargetError
from canary.clients.orchestrator import created_at
from canary.harness import poll
from canary.lanes import Lane
from canary.memory import LeftRunning
from canary.models import Status, StepResult
from canary.steps.base import RunContext, Step, result
from canary.tasks import ECS_POLL_S

NAME = "cleanup"
SETTLE_S = 1.0  # a wake the router started for the last page load may start a task late
LATE_START_MAX_S = 30.0  # how long a task Hermes promised (201 starting) is waited for
STOP_MARGIN_S = 0.5  # kept back from the wait to stop what it found


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

    for thread in list(ctx.run_state.extra_mappings):
        attempt(f"removed mapping {thread}", lambda t=thread: ctx.state.delete_mapping(t))
    if not ctx.run_state.preflight_done:
        return _result(done, problems)
    if not keeps_warm(ctx):
        attempt("removed the canary's mapping", lambda: ctx.state.delete_mapping(c.thread_id))
    try:
        _wait_for_late_wake(ctx)
        keeper, stopped = _stop_all_but_keeper(ctx, done, problems)
    except TargetError as exc:
        problems.append(f"stopping the session's tasks: {exc}")
        return _result(done, problems)
    if stopped and keeper is None:
        attempt("set container status stopped",
                lambda: ctx.harness.set_container_status(c.container_id, "stopped"))
    if keeps_warm(ctx):
        done.append(f"kept task {keeper[-12:]} warm for the next quick run" if keeper
                    else "no task of the session left to keep warm")
    elif c.sleep_mode == "observe" and ctx.memory is not None:
        attempt(f"remembered task {keeper[-12:]} for the next run's sleep verdict" if keeper
                else "remembered that no task was left running",
                lambda: ctx.memory.remember(_left(ctx, keeper)))  # type: ignore[union-attr]
    return _result(done, problems)


def keeps_warm(ctx: RunContext) -> bool:
    """The quick lane's session stays up between runs."""
    return ctx.config.lane == Lane.QUICK


def _result(done: list[str], problems: list[str]) -> StepResult:
    m = {"actions": len(done)}
    if problems:
        return result(NAME, Status.FAILED, "; ".join(problems), m, done)
    return result(NAME, Status.PASSED, "; ".join(done) or "nothing to clean up", m)


def _wait_for_late_wake(ctx: RunContext) -> None:
    """A wake Hermes accepted (201 `starting`) promises a task: when none of the session's
    tasks was created since, wait for it within the reserve (at most LATE_START_MAX_S), so
    the task it starts after the run gave up is stopped too. A loading page (the router
    asked for a wake) gets a short settle wait."""
    accepted = ctx.run_state.accepted_starting_at

    def promised() -> list:
        return ctx.tasks.scan(include_stopped=True, created_since=accepted).tasks

    def live() -> list:
        return ctx.tasks.scan().live

    if accepted is not None:
        cap, probe = LATE_START_MAX_S, promised
    elif ctx.run_state.wake_in_flight:
        cap, probe = SETTLE_S, live
    else:
        return
    if probe():
        return  # already there: the stop below finds it if still live
    deadline = ctx.clock.monotonic() + max(0.0, min(cap, ctx.remaining() - STOP_MARGIN_S))
    poll(ctx.clock, probe, bool, deadline=deadline, cap_s=ECS_POLL_S)


def _stop_all_but_keeper(ctx: RunContext, done: list[str], problems: list[str]
                         ) -> tuple[str | None, int]:
    """Stop the session's live tasks but the one the sleep mode keeps; (keeper, stopped).
    A look-up cut short by its bounds cannot promise that nothing else is left: a problem."""
    scan = ctx.tasks.scan()
    if not scan.complete:
        problems.append(f"could not confirm no other task of the session runs: {scan.note}")
    live = scan.live
    keeper = None
    if (ctx.run_state.leave_running or keeps_warm(ctx)) and live:
        row_arn = (ctx.container_row() or {}).get("taskArn")
        running = {t["taskArn"] for t in live}
        keeper = row_arn if row_arn in running else max(
            live, key=lambda t: created_at(t) or 0.0)["taskArn"]
    stopped = 0
    for t in live:
        if t["taskArn"] == keeper:
            continue
        what = ctx.tasks.stop(t["taskArn"])
        if what:
            done.append(what)
            stopped += 1
    return keeper, stopped


def _left(ctx: RunContext, keeper: str | None) -> LeftRunning | None:
    if keeper is None:
        return None
    last = ctx.run_state.last_activity_wall or ctx.clock.now()
    return LeftRunning(keeper, int(last * 1000), int(ctx.clock.now() * 1000), ctx.run_id)


STEP = Step(NAME, run, lanes=frozenset(Lane))
