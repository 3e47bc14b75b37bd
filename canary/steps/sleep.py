"""sleep: the container auto-sleeps when idle with no active session - and not before.

Modes (SLEEP_MODE):
- wait (sandbox default): remove the canary's own thread mapping (production counts every
  mapping), dirty the workspace where the target allows it (SANDBOX_CONTROL_URL), hold an
  extra active mapping and check the container stays up past idle timeout + check interval
  + margin, remove it, then wait for stopping -> stopped within the same bound.
- observe (real-target default): reports the verdict the preflight drew from the previous
  run (slept, and how late; or missed) and arms the next one: the canary's mapping is
  removed and the container left to sleep on its own; the next run observes it.
- force: stops the task through ECS and waits for stopped.
"""

from __future__ import annotations

from canary.clients.base import canary_headers, exchange
from canary.models import Status, StepResult
from canary.steps.base import RunContext, ms, result

NAME = "sleep"
LIVE = ("running", "idle")


def run(ctx: RunContext) -> StepResult:
    mode = ctx.config.sleep_mode
    if mode == "observe":
        return _observe(ctx)
    row = ctx.state.get_container(ctx.config.container_id) or {}
    if row.get("status") not in LIVE:
        return result(NAME, Status.SKIPPED,
                      f"skipped: the container is {row.get('status') or 'absent'}, not running "
                      "(no wake succeeded), so there is no sleep to observe")
    if mode == "force":
        return _force(ctx)
    needed = 2 * ctx.config.sleep_deadline_s + 1.0
    if ctx.remaining() < needed:
        return result(NAME, Status.SKIPPED,
                      f"skipped: wait mode needs about {needed:.0f} s (twice idle timeout + check "
                      f"interval + margin) but {ctx.remaining():.0f} s of the budget are left; "
                      "use SLEEP_MODE=observe or raise CANARY_BUDGET_S")
    return _wait(ctx)


def _observe(ctx: RunContext) -> StepResult:
    c = ctx.config
    ctx.state.delete_mapping(c.thread_id)
    ctx.shared["canary_mapping_removed"] = True
    ctx.shared["leave_running"] = True
    prev = ctx.shared.get("previous_sleep")
    armed = "armed: the canary's mapping is removed; the next run observes the sleep"
    if prev is None:
        return result(NAME, Status.PASSED, f"nothing to judge from the previous run; {armed}")
    if prev["missed"]:
        return result(NAME, Status.FAILED,
                      f"auto-sleep missed: the container was still up {prev['idle_s']:.0f} s "
                      f"after its last activity (bound {c.sleep_deadline_s:g} s); {armed}",
                      {"auto_sleep_missed": 1})
    return result(NAME, Status.PASSED,
                  f"the previous run's container slept {prev['delay_ms'] / 1000:.1f} s after "
                  f"its idle timeout; {armed}",
                  {"auto_sleep_missed": 0, "auto_sleep_delay_ms": round(prev["delay_ms"], 1)})


def _force(ctx: RunContext) -> StepResult:
    c = ctx.config
    ctx.state.delete_mapping(c.thread_id)
    ctx.shared["canary_mapping_removed"] = True
    notes = ctx.harness.make_cold(c.container_id, deadline=ctx.deadline)
    row = ctx.state.get_container(c.container_id) or {}
    if row.get("status") != "stopped":
        return result(NAME, Status.FAILED,
                      f"forced stop: status {row.get('status')!r} after StopTask")
    return result(NAME, Status.PASSED, "forced stop: " + "; ".join(notes or ["already stopped"]))


def _wait(ctx: RunContext) -> StepResult:
    c = ctx.config
    clock = ctx.clock
    cid = c.container_id
    findings: list[str] = []
    m: dict = {}
    ctx.state.delete_mapping(c.thread_id)
    ctx.shared["canary_mapping_removed"] = True
    dirtied_at = _dirty(ctx, findings)
    if dirtied_at is not None:
        ctx.shared["dirtied_at_ms"] = dirtied_at

    # 1. an active session keeps it awake past the bound
    extra = f"{c.thread_id}-keepalive"
    ctx.harness.create_thread_mapping(c.session_id, extra, cid)
    ctx.shared.setdefault("extra_mappings", []).append(extra)
    hold_from = clock.monotonic()
    hold = ctx.harness.wait_for_container_status(
        cid, ("stopping", "stopped"), deadline=min(ctx.deadline, hold_from + c.sleep_deadline_s))
    held_s = clock.monotonic() - hold_from
    ctx.state.delete_mapping(extra)
    ctx.shared["extra_mappings"].remove(extra)
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
    idle_since = ctx.shared.get("last_activity", free_at)
    allowed_at = max(idle_since + c.idle_timeout_s, free_at)
    m["auto_sleep_delay_ms"] = ms(max(0.0, free_at + stopped_after - allowed_at))
    ctx.shared["slept"] = True
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
