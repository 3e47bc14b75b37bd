"""wake_hermes: a cold wake through Hermes, N concurrent resume-preview calls.

All calls must answer 201 (running/starting) naming the same container. The wake time
runs from the first request sent until the container is running in the containers table
AND its preview answers 200 (with the marker) through the router. The state is polled
with a 100 ms cap (resolution without hammering); the preview only once the table says
running, so the canary's own polling never asks the router to wake the container.
The wake is split into phases (canary/phases.py) against the task the row (or else the
201s) names - a wake that never finished too, its later phases not measured. `wake_offset_ms`:
where the wake starts within the step (the HTML anchors its bar, line and phases there).
"""

from __future__ import annotations

import threading
from typing import Any

from canary import phases
from canary.clients.base import TargetError
from canary.clients.hermes import ResumeAnswer
from canary.harness import PollResult, poll
from canary.models import Status, StepResult
from canary.steps.base import (
    RunContext,
    Step,
    grade,
    has_marker,
    ms,
    result,
    running_answer_problem,
    session_up,
    violates_contract,
)

NAME = "wake_hermes"
POLL_CAP_S = 0.1  # the containers row: one GetItem a poll
PREVIEW_POLL_CAP_S = 0.25  # the router: a page a poll (and not before the row says running)
OK_STATUSES = ("running", "starting")


class _Calls:
    """N concurrent resume-preview calls; each `running` answer is verified as it arrives."""

    def __init__(self, ctx: RunContext, n: int, deadline: float) -> None:
        self.ctx, self.n, self.deadline = ctx, n, deadline
        self.t0 = ctx.clock.monotonic()
        self.answers: list[ResumeAnswer | None] = [None] * n
        self.answered_at: list[float | None] = [None] * n
        self.contradictions: list[str | None] = [None] * n
        self.unverified: list[str] = []
        self.raised: list[BaseException] = []  # e.g. the key became unreadable mid-run
        self.threads = [threading.Thread(target=self._call, args=(i,), daemon=True,
                                         name=f"canary-wake-{i}") for i in range(n)]
        for t in self.threads:
            t.start()

    def _call(self, i: int) -> None:
        clock = self.ctx.clock
        try:
            ans = self.ctx.resume(timeout_s=max(0.05, self.deadline - clock.monotonic()))
        except Exception as exc:  # handed to the step's thread (join), never a stray traceback
            self.raised.append(exc)
            return
        self.answered_at[i] = clock.monotonic() - self.t0
        try:  # checked at once: "running" must be true when it is said
            self.contradictions[i] = running_answer_problem(self.ctx, ans)
        except TargetError as exc:
            self.unverified.append(f"call {i + 1}: could not verify its 'running': {exc}")
        finally:
            self.answers[i] = ans

    def hopeless(self) -> bool:
        """Every call answered (or broke) and none succeeded: stop waiting for the wake."""
        done = [a for a in self.answers if a is not None]
        return (len(done) + len(self.raised) == self.n
                and not any(a.status == 201 for a in done))

    def join(self) -> None:
        for t in self.threads:
            t.join(max(0.0, self.deadline - self.ctx.clock.monotonic()) + 1.0)
        if self.raised:
            raise self.raised[0]

    def measurements(self) -> dict[str, Any]:
        m: dict[str, Any] = {
            "requests": self.n,
            "successes": sum(1 for a in self.answers if a is not None and a.status == 201),
        }
        done = [t for t, a in zip(self.answered_at, self.answers, strict=True)
                if t is not None and a is not None and a.status == 201]
        if done:
            m["api_answered_ms"] = ms(min(done))
            m["api_answered_last_ms"] = ms(max(done))
        if self.unverified:
            m["running_unverified"] = "; ".join(self.unverified)[:300]
        return m


def run(ctx: RunContext) -> StepResult:
    c, clock = ctx.config, ctx.clock
    entered = clock.monotonic()
    ctx.run_state.wake_started_wall = clock.now()
    calls = _Calls(ctx, c.wake_concurrency, min(ctx.deadline, clock.monotonic()
                                                + c.wake_timeout_s))
    state = ctx.harness.wait_for_container_status(
        c.container_id, "running", deadline=calls.deadline, cap_s=POLL_CAP_S,
        stop=calls.hopeless)
    state_ms = ms(clock.monotonic() - calls.t0) if state.ok else None
    page = _preview_answering(ctx, calls.deadline) if state.ok else None
    preview_ms = ms(clock.monotonic() - calls.t0) if page is not None and page.ok else None
    calls.join()

    m: dict = {
        "started_at": ctx.run_state.wake_started_wall,  # epoch s: find this wake in platform logs
        "wake_offset_ms": ms(calls.t0 - entered),
        **calls.measurements(),
        "poll_interval_ms": ms(max(state.max_interval_s, page.max_interval_s if page else 0.0)),
        "state_polls": state.polls,
    }
    if state_ms is not None:
        m["state_running_ms"] = state_ms
    if preview_ms is not None:
        m["preview_answering_ms"] = preview_ms
        m["wake_ms"] = max(preview_ms, state_ms or 0.0)
    if any(a is not None and a.status == 201 for a in calls.answers):  # the wake began
        m.update(_phases(ctx, state.value or state.last, calls.answers, state_ms,
                         m.get("wake_ms")))
    problems, m["contract_violations"] = _judge_answers(
        c, calls.answers, calls.contradictions, waited_s=clock.monotonic() - calls.t0)
    if not state.ok:
        last = (state.last or {}).get("status") if isinstance(state.last, dict) else None
        try:  # what the wake's failure looks like from the row and ECS, when time allows
            ctx.run_state.container_down = not session_up(ctx)
            seen = _row_not_written(ctx, _named(c, calls.answers))
        except TargetError as exc:  # never hides the calls' own failure (a hung Hermes)
            seen = f" (could not look further: {exc})"
        problems.append(f"container not running in {c.containers_table} within "
                        f"{ms(clock.monotonic() - calls.t0):.0f} ms (last status "
                        f"{last or 'none'})" + seen)
    elif page is not None and not page.ok:
        last = page.last
        why = ("answered 200 without the marker " + repr(c.marker_for())
               if last is not None and last.status == 200 else
               f"last answer {last.describe() if last is not None else 'none'}")
        problems.append(f"container running in the table after {state_ms:.0f} ms but its "
                        f"preview did not answer 200 through the router: {why}")
    if problems:
        return result(NAME, Status.FAILED, "; ".join(problems), m)
    status, reason = grade(m["wake_ms"], c.wake_degraded_ms, c.wake_failed_ms,
                           f"cold wake ({c.wake_concurrency} concurrent calls)")
    return result(NAME, status, reason, m)


def _phases(ctx: RunContext, row: Any, answers: list[ResumeAnswer | None],
            state_ms: float | None, wake_ms: float | None) -> dict[str, Any]:
    """Where this wake's time went (canary/phases.py): the canary's marks (those it reached:
    None when it never got there) against the timestamps of the task the row (or else the
    201s) names."""
    began = ctx.run_state.wake_started_wall or 0.0
    marks = phases.Marks(
        requested=began, row_running=None if state_ms is None else began + state_ms / 1000,
        preview_ok=None if wake_ms is None else began + wake_ms / 1000, ended=ctx.clock.now())
    row_arn = row.get("taskArn") if isinstance(row, dict) else None
    arns = [row_arn] if isinstance(row_arn, str) and row_arn else [
        a.field("taskArn") for a in answers if a is not None and a.status == 201]
    return phases.of_wake(ctx.tasks, marks, arns)


def _preview_answering(ctx: RunContext, deadline: float) -> PollResult:
    """Poll the preview (once the table says running) until it answers 200 with the marker:
    fine-grained at first for the wake time's resolution, never faster than the floor, and
    at most PREVIEW_POLL_CAP_S apart after that."""
    c, clock = ctx.config, ctx.clock
    page = poll(
        clock,
        lambda: ctx.preview.get(c.thread_id, timeout_s=max(0.05, min(
            5.0, deadline - clock.monotonic()))),
        lambda a: a.status == 200 and has_marker(c, a.text),
        deadline=deadline, cap_s=PREVIEW_POLL_CAP_S,
    )
    ctx.note_activity()
    return page


def _judge_answers(c: Any, answers: list[ResumeAnswer | None],
                   contradictions: list[str | None], *, waited_s: float
                   ) -> tuple[list[str], int]:
    """What the calls' answers got wrong (the same problem of several calls said once, with
    the calls it concerns) and how many contract violations that makes."""
    n = len(answers)
    problems: list[str] = []
    per_call: dict[str, list[int]] = {}
    violations = 0
    unanswered = sum(1 for a in answers if a is None)
    if unanswered:
        problems.append(f"{unanswered}/{n} calls got no answer after {waited_s:.1f} s")
    errors = [a for a in answers if a is not None and a.status != 201]
    if errors:
        problems.append(f"{len(errors)}/{n} calls failed, e.g. {errors[0].describe()}")
        violations += sum(1 for a in errors if violates_contract(a.status))
    container_ids: set[str] = set()
    for i, a in enumerate(answers):
        if a is None or a.status != 201:
            continue
        found = []
        if a.body is None:
            found.append(f"201 without a JSON object body "
                         f"({a.http.content_type or 'no content-type'})")
        else:
            if a.container_status not in OK_STATUSES:
                found.append(f"201 with status {a.container_status!r} (expected running or "
                             "starting)")
            if contradictions[i]:
                found.append(f"contract violation: {contradictions[i]}")
            cid = a.field("containerId")
            if cid:
                container_ids.add(cid)
            else:
                found.append("201 without containerId")
        violations += len(found)
        for what in found:
            per_call.setdefault(what, []).append(i + 1)
    for what, calls in per_call.items():
        label = f"call {calls[0]}" if len(calls) == 1 else f"calls {', '.join(map(str, calls))}"
        problems.append(f"{label}: {what}")
    if len(container_ids) > 1:
        problems.append(f"calls named different containers: {sorted(container_ids)}")
    elif container_ids and c.container_id not in container_ids:
        problems.append(f"Hermes named container {next(iter(container_ids))}, expected "
                        f"{c.container_id} (the session's containerId)")
        violations += 1
    return problems, violations


def _named(c: Any, answers: list[ResumeAnswer | None]) -> str:
    """The containerId Hermes's 201s named (the session's own when none did)."""
    named = {cid for a in answers if a is not None and (cid := a.field("containerId"))}
    return ", ".join(sorted(named)) or c.container_id


def _row_not_written(ctx: RunContext, named: str) -> str:
    """When ECS ran a task of the session but the row Hermes named never said running: the
    row Hermes reads is not the one the container writes (production's row-key defect) -
    unless the container died before it registered, which a task still running rules out."""
    try:
        scan = ctx.tasks.scan(include_stopped=True, created_since=ctx.run_state.wake_started_wall)
    except TargetError:
        return ""
    ran = [t for t in scan.tasks if t.get("startedAt") or t.get("lastStatus") == "RUNNING"]
    if not ran:
        return ""
    running = sum(1 for t in ran if t.get("lastStatus") == "RUNNING")
    return (f"; yet ECS ran {len(ran)} task(s) of the session for this wake ({running} still "
            f"RUNNING): the containers row Hermes named ({named}) is not the one the container "
            "writes" + ("" if running else ", or the container died before registering"))


STEP = Step(NAME, run, ("preflight",), {"ContainerWakeTime": "wake_ms", **phases.MEASURES},
            wake_path="hermes")
