"""sleep: the container auto-sleeps when idle with no active session - and not before.

Modes (SLEEP_MODE):
- wait (sandbox default): remove the canary's own thread mapping (production counts every
  mapping), dirty the workspace where the target allows it (SANDBOX_CONTROL_URL), hold an
  extra active mapping and check the container stays up past idle timeout + check interval
  + margin, remove it, then wait for stopping -> stopped within the same bound.
- observe (real-target default): reports the verdict the preflight drew from the previous
  run (slept, and how late; or missed; or not measured, and why) and arms the next one: the
  canary's mapping is removed and one task left to sleep on its own; cleanup remembers it
  in the canary's table; the next run asks ECS how it ended.
- force: stops the task through ECS and waits for stopped.
"""

from __future__ import annotations

from typing import Any

from canary.clients.base import canary_headers, exchange
from canary.models import Status, StepResult
from canary.steps.base import RunContext, Step, ms, result
from canary.tasks import STOP_REASON, is_live, short

NAME = "sleep"
LIVE = ("running", "idle")


def keepalive_thread(thread_id: str) -> str:
    """The extra mapping wait mode holds (infra/function.py grants access to it by key)."""
    return f"{thread_id}-keepalive"


def run(ctx: RunContext) -> StepResult:
    mode = ctx.config.sleep_mode
    if mode == "observe":
        return _observe(ctx)
    row = ctx.container_row() or {}
    if row.get("status") not in LIVE:
        return result(NAME, Status.SKIPPED,
                      f"skipped: the container is {row.get('status') or 'absent'}, not running "
                      "(no wake succeeded), so there is no sleep to observe")
    if mode == "force":
        return _force(ctx)
    needed = ctx.config.wait_mode_needs_s
    if ctx.remaining() < needed:
        return result(NAME, Status.SKIPPED,
                      f"skipped: wait mode needs about {needed:.0f} s (twice idle timeout + check "
                      f"interval + margin) but {ctx.remaining():.0f} s of the budget are left; "
                      "use SLEEP_MODE=observe or raise CANARY_BUDGET_S")
    return _wait(ctx)


def _observe(ctx: RunContext) -> StepResult:
    c = ctx.config
    ctx.state.delete_mapping(c.thread_id)
    ctx.run_state.leave_running = True
    prev = ctx.run_state.previous_sleep or {"unmeasured": "preflight did not judge it"}
    armed = ("armed: the canary's mapping is removed; the next run observes the sleep"
             if ctx.memory is not None else
             "not armed: no canary table (LOCK_TABLE) to remember the task for the next run")
    if "missed" not in prev:
        return result(NAME, Status.PASSED, f"previous sleep not measured: {prev['unmeasured']}; "
                      f"{armed}")
    if prev["missed"]:
        return result(NAME, Status.FAILED,
                      f"auto-sleep missed: {prev['why']}; {armed}", {"auto_sleep_missed": 1})
    return result(NAME, Status.PASSED,
                  f"the previous run's container slept on its own {prev['delay_ms'] / 1000:.1f} s "
                  f"after its idle timeout ({prev['why']}); {armed}",
                  {"auto_sleep_missed": 0, "auto_sleep_delay_ms": round(prev["delay_ms"], 1)})


def judge_previous(ctx: RunContext, leftover_mapping: bool = False) -> dict[str, Any]:
    """The previous run's sleep, from facts the canary did not write: how ECS says the task
    that run left running ended (stop time, stop code), and the container's own activity
    writes. Returns {"missed": bool, "why": str, "delay_ms"?: float, "last_activity_ms"?: int}
    (the last two when the task stopped on its own) or {"unmeasured": why}."""
    c = ctx.config
    if ctx.memory is None:
        return {"unmeasured": "no canary table (LOCK_TABLE) remembers what the previous run "
                              "left running"}
    left = ctx.memory.recall()
    if left is None:
        return {"unmeasured": "the previous run left no task running"}
    if leftover_mapping:
        return {"unmeasured": "the canary's thread mapping was still there (a previous run did "
                              "not finish), so the container had an active session"}
    # The ARN comes from the canary's own table, proven the session's when it was stored.
    described = ctx.orchestrator.describe([left.task_arn])
    if not described:
        return {"unmeasured": f"ECS no longer lists task {short(left.task_arn)} that the "
                              "previous run left running"}
    task = described[0]
    last_s = left.last_activity_ms / 1000
    row = ctx.container_row() or {}
    if row.get("taskArn") == left.task_arn and isinstance(row.get("lastActivity"), int | float):
        last_s = max(last_s, row["lastActivity"] / 1000)  # the container's own activity write
    bound = c.sleep_deadline_s
    if is_live(task) and task.get("desiredStatus") == "STOPPED":
        return {"unmeasured": f"task {short(left.task_arn)} is stopping right now "
                              f"({task.get('lastStatus')}): judged next run"}
    if is_live(task):
        up_s = ctx.clock.now() - last_s
        if up_s <= bound:
            return {"unmeasured": f"task {short(left.task_arn)} is still up {up_s:.0f} s after "
                                  f"the last activity, within the {bound:g} s bound"}
        return {"missed": True, "why": f"task {short(left.task_arn)} still "
                f"{task.get('lastStatus')} {up_s:.0f} s after the last activity (bound "
                f"{bound:g} s: idle timeout + check interval + margin)"}
    verdict = _judge_stop(task, last_s, c)
    if "delay_ms" in verdict:  # it went to sleep: auto_save judges what it saved against this
        verdict["last_activity_ms"] = int(last_s * 1000)
    return verdict


def _judge_stop(task: dict[str, Any], last_s: float, c: Any) -> dict[str, Any]:
    arn = short(task["taskArn"])
    if task.get("stoppedReason") == STOP_REASON:
        return {"unmeasured": f"task {arn} was stopped by the canary itself, not by auto-sleep"}
    code = task.get("stopCode")
    if code and code != "EssentialContainerExited":
        return {"unmeasured": f"task {arn} was stopped from outside ({code}: "
                              f"{str(task.get('stoppedReason'))[:120]}), not by auto-sleep"}
    codes = [co.get("exitCode") for co in task.get("containers", []) or []]
    if any(isinstance(x, int) and x != 0 for x in codes):
        return {"unmeasured": f"task {arn} exited with code {max(x for x in codes if x)}: a "
                              "crash, not an auto-sleep"}
    stopped = stopped_at(task)
    if stopped is None:
        return {"unmeasured": f"ECS gives no stop time for task {arn}"}
    after_s = stopped - last_s
    delay_ms = max(0.0, (after_s - c.idle_timeout_s) * 1000)
    why = f"task {arn} exited {after_s:.0f} s after the last activity"
    if after_s < c.idle_timeout_s:
        return {"unmeasured": f"{why}, before its idle timeout ({c.idle_timeout_s:g} s): an "
                              "exit, not an auto-sleep"}
    if after_s > c.sleep_deadline_s:
        return {"missed": True, "delay_ms": delay_ms,
                "why": f"{why}, past the {c.sleep_deadline_s:g} s bound"}
    return {"missed": False, "delay_ms": delay_ms, "why": why}


def stopped_at(task: dict[str, Any]) -> float | None:
    value = task.get("stoppedAt")
    if value is None:
        return None
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)


def _force(ctx: RunContext) -> StepResult:
    c = ctx.config
    ctx.state.delete_mapping(c.thread_id)
    notes = ctx.harness.make_cold(c.container_id, deadline=ctx.deadline)
    still = [t for t in ctx.tasks.scan().live if t.get("lastStatus") != "STOPPED"]
    if still:  # ECS, not the row make_cold wrote itself, says whether it stopped
        return result(NAME, Status.FAILED,
                      f"forced stop: {len(still)} task(s) of the session still "
                      f"{', '.join(sorted({str(t.get('lastStatus')) for t in still}))} after "
                      "StopTask")
    return result(NAME, Status.PASSED, "forced stop: " + "; ".join(notes or ["already stopped"]))


def _wait(ctx: RunContext) -> StepResult:
    c = ctx.config
    clock = ctx.clock
    cid = c.container_id
    findings: list[str] = []
    m: dict = {}
    ctx.state.delete_mapping(c.thread_id)
    dirtied_at = _dirty(ctx, findings)
    if dirtied_at is not None:
        ctx.run_state.dirtied_at_ms = dirtied_at

    # 1. an active session keeps it awake past the bound
    extra = keepalive_thread(c.thread_id)
    ctx.harness.create_thread_mapping(c.session_id, extra, cid)
    ctx.run_state.extra_mappings.append(extra)
    hold_from = clock.monotonic()
    hold = ctx.harness.wait_for_container_status(
        cid, ("stopping", "stopped"), deadline=min(ctx.deadline, hold_from + c.sleep_deadline_s))
    held_s = clock.monotonic() - hold_from
    ctx.state.delete_mapping(extra)
    ctx.run_state.extra_mappings.remove(extra)
    if hold.ok:
        m["auto_sleep_missed"] = 0
        return result(NAME, Status.FAILED,
                      f"the container went {hold.value.get('status')} {held_s:.1f} s into an "
                      f"active session (it must stay up while a session is active)", m, findings)
    if held_s < c.sleep_deadline_s - 0.05:
        return result(NAME, Status.FAILED,
                      f"budget ran out while checking the container stays up ({held_s:.1f} s of "
                      f"{c.sleep_deadline_s:g} s)", m, findings)
    m["held_awake_ms"] = ms(held_s)

    # 2. no session, no activity: it must stop within the bound
    free_at = clock.monotonic()
    seen: list[str] = []

    def probe() -> dict:
        row = ctx.state.get_container(cid) or {}
        st = row.get("status")
        if st and (not seen or seen[-1] != st):
            seen.append(st)
        return row

    from canary.harness import poll

    res = poll(clock, probe, lambda r: r.get("status") == "stopped",
               deadline=min(ctx.deadline, free_at + c.sleep_deadline_s))
    m["states_seen"] = " -> ".join(seen)
    if not res.ok:
        m["auto_sleep_missed"] = 1
        last = (res.last or {}).get("status")
        return result(NAME, Status.FAILED,
                      f"auto-sleep missed: still {last} {clock.monotonic() - free_at:.1f} s after"
                      f" the last session ended (idle timeout {c.idle_timeout_s:g} s + "
                      f"check {c.sleep_check_interval_s:g} s + margin {c.sleep_margin_s:g} s)",
                      m, findings)
    stopped_after = clock.monotonic() - free_at
    m["auto_sleep_missed"] = 0
    m["stopped_after_ms"] = ms(stopped_after)
    # Delay past the moment it was both idle for the timeout and free of sessions.
    idle_since = ctx.run_state.last_activity or free_at
    allowed_at = max(idle_since + c.idle_timeout_s, free_at)
    m["auto_sleep_delay_ms"] = ms(max(0.0, free_at + stopped_after - allowed_at))
    ctx.run_state.slept = True
    via = "stopping -> stopped" if "stopping" in seen else "stopped (stopping not observed)"
    return result(NAME, Status.PASSED,
                  f"stayed up {held_s:.1f} s with an active session; {via} "
                  f"{stopped_after:.1f} s after the last session ended", m, findings)


def _dirty(ctx: RunContext, findings: list[str]) -> int | None:
    """Leave uncommitted work in the container (sandbox control endpoint); epoch ms or None."""
    c = ctx.config
    if not c.sandbox_control_url:
        findings.append("no SANDBOX_CONTROL_URL: workspace not dirtied, auto-save not tested")
        return None
    at = int(ctx.clock.now() * 1000)
    url = f"{c.sandbox_control_url.rstrip('/')}/containers/{c.container_id}/dirty"
    ans = exchange(ctx.preview.http, ctx.clock, "POST", url,
                   headers=canary_headers(ctx.run_id), timeout_s=ctx.timeout(5.0))
    if ans.status != 200:
        findings.append(f"could not dirty the workspace: {ans.describe()}")
        return None
    return at


STEP = Step(NAME, run, ("preflight",), {"AutoSleepMissed": "auto_sleep_missed",
                                        "AutoSleepDelay": "auto_sleep_delay_ms"})
