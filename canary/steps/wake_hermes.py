"""wake_hermes: a cold wake through Hermes, N concurrent resume-preview calls.

All calls must answer 201 (running/starting) naming the same container. The wake time
runs from the first request sent until the container is running in the containers table
AND its preview answers 200 (with the marker) through the router. The state is polled
with a 100 ms cap (resolution without hammering); the preview only once the table says
running, so the canary's own polling never asks the router to wake the container.
"""

from __future__ import annotations

import threading
from typing import Any

from canary.clients.base import TargetError
from canary.clients.hermes import ResumeAnswer
from canary.harness import poll
from canary.models import Status, StepResult
from canary.steps.base import (
    RunContext,
    grade,
    has_marker,
    ms,
    result,
    running_answer_problem,
    session_up,
    violates_contract,
)

NAME = "wake_hermes"
POLL_CAP_S = 0.1
OK_STATUSES = ("running", "starting")


def run(ctx: RunContext) -> StepResult:
    c = ctx.config
    if "hermes" not in c.wake_paths:
        return result(NAME, Status.SKIPPED, "skipped: 'hermes' not in WAKE_PATHS")
    clock = ctx.clock
    n = c.wake_concurrency
    answers: list[ResumeAnswer | None] = [None] * n
    answered_at: list[float | None] = [None] * n
    t0 = clock.monotonic()
    ctx.shared["wake_started_wall"] = clock.now()
    deadline = min(ctx.deadline, t0 + c.wake_timeout_s)

    contradictions: list[str | None] = [None] * n
    unverified: list[str] = []

    def call(i: int) -> None:
        ans = ctx.resume(timeout_s=max(0.05, deadline - clock.monotonic()))
        answered_at[i] = clock.monotonic() - t0
        try:  # checked at once: "running" must be true when it is said
            contradictions[i] = running_answer_problem(ctx, ans)
        except TargetError as exc:
            unverified.append(f"call {i + 1}: could not verify its 'running': {exc}")
        finally:
            answers[i] = ans

    threads = [threading.Thread(target=call, args=(i,), name=f"canary-wake-{i}", daemon=True)
               for i in range(n)]
    for t in threads:
        t.start()

    def hopeless() -> bool:  # every call answered and none succeeded: stop polling
        done = [a for a in answers if a is not None]
        return len(done) == n and not any(a.status == 201 for a in done)

    state = ctx.harness.wait_for_container_status(
        c.container_id, "running", deadline=deadline, cap_s=POLL_CAP_S, stop=hopeless)
    state_ms = ms(clock.monotonic() - t0) if state.ok else None
    page = None
    if state.ok:
        page = poll(
            clock,
            lambda: ctx.preview.get(c.thread_id, timeout_s=max(0.05, min(
                5.0, deadline - clock.monotonic()))),
            lambda a: a.status == 200 and has_marker(c, a.text),
            deadline=deadline, cap_s=POLL_CAP_S,
        )
        ctx.note_activity()
    preview_ms = ms(clock.monotonic() - t0) if page is not None and page.ok else None
    for t in threads:
        t.join(max(0.0, deadline - clock.monotonic()) + 1.0)

    m: dict = {
        "started_at": ctx.shared["wake_started_wall"],  # epoch s: find this wake in platform logs
        "requests": n,
        "successes": sum(1 for a in answers if a is not None and a.status == 201),
        "poll_interval_ms": ms(max(state.max_interval_s,
                                   page.max_interval_s if page else 0.0)),
        "state_polls": state.polls,
    }
    done_times = [t for t, a in zip(answered_at, answers, strict=True)
                  if t is not None and a is not None and a.status == 201]
    if done_times:
        m["api_answered_ms"] = ms(min(done_times))
        m["api_answered_last_ms"] = ms(max(done_times))
    if unverified:
        m["running_unverified"] = "; ".join(unverified)[:300]
    if state_ms is not None:
        m["state_running_ms"] = state_ms
    if preview_ms is not None:
        m["preview_answering_ms"] = preview_ms

    problems, violations = _judge_answers(c, answers, contradictions,
                                          waited_s=clock.monotonic() - t0)
    m["contract_violations"] = violations

    if preview_ms is not None:
        wake_ms = max(preview_ms, state_ms or 0.0)
        m["wake_ms"] = wake_ms
        ctx.add_success("wakes_ms", wake_ms)
    if not state.ok:
        ctx.shared["container_down"] = not session_up(ctx)
        last = (state.last or {}).get("status") if isinstance(state.last, dict) else None
        problems.append(f"container not running in {c.containers_table} within "
                        f"{ms(clock.monotonic() - t0):.0f} ms (last status {last or 'none'})"
                        + _row_not_written(ctx))
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
                           f"cold wake ({n} concurrent calls)")
    return result(NAME, status, reason, m)


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


def _row_not_written(ctx: RunContext) -> str:
    """When ECS ran a task of the session but its row never said running: the row Hermes
    reads is not the one the container writes (production's row-key defect)."""
    try:
        scan = ctx.tasks.scan(include_stopped=True, created_since=ctx.shared["wake_started_wall"])
    except TargetError:
        return ""
    ran = [t for t in scan.tasks if t.get("startedAt") or t.get("lastStatus") == "RUNNING"]
    if not ran:
        return ""
    return (f"; yet ECS ran {len(ran)} task(s) of the session for this wake: the containers row "
            f"Hermes named ({ctx.config.container_id}) is not the one the container writes")
