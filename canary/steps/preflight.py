"""preflight: the key, the synthetic fixtures, the container's starting state; make it cold.

In observe mode it first judges the previous run's sleep (before making the container cold
would destroy the evidence): see `sleep.judge_previous`; and keeps the `lastAutoSave` that
sleep left in the row, for auto_save. Making it cold acts on the
session's real tasks in ECS (found from contract facts, canary/tasks.py), not only the row.

The quick lane's preflight (`QUICK_STEP`) readies the same fixtures but judges no sleep and
makes nothing cold: its session is kept warm between runs.
"""

from __future__ import annotations

from canary.lanes import Lane
from canary.models import Status, StepResult
from canary.steps.base import RunContext, Step, result
from canary.steps.sleep import judge_previous

NAME = "preflight"
LIVE = ("running", "idle", "starting", "stopping")


def run(ctx: RunContext) -> StepResult:
    c = ctx.config
    ctx.api_key.get()  # SecretError: the canary cannot run (the runner reports it)
    findings: list[str] = []
    m: dict = {}
    leftover_mapping = ctx.state.get_mapping(c.thread_id) is not None
    ctx.harness.create_resumption_test_session()
    ctx.run_state.preflight_done = True
    row = ctx.container_row() or {}
    status = row.get("status") or "none"
    m["initial_status"] = status
    if c.sleep_mode == "observe":
        prev = judge_previous(ctx, leftover_mapping)
        ctx.run_state.previous_sleep = prev
        # what that sleep saved, read before the wake below rewrites the row (auto_save checks it)
        ctx.run_state.previous_auto_save = row.get("lastAutoSave")
        if "missed" in prev:  # also here, so a skipped `sleep` step cannot lose it
            m["previous_sleep_missed"] = 1 if prev["missed"] else 0
            if "delay_ms" in prev:
                m["previous_auto_sleep_delay_ms"] = round(prev["delay_ms"], 1)
        else:
            findings.append(f"previous sleep not judged: {prev['unmeasured']}")

    scan = ctx.tasks.scan(include_stopped=True)
    if not scan.complete:
        findings.append(f"task look-up incomplete: {scan.note}")
    m["live_tasks"] = len(scan.live)
    reason = f"fixtures ready; container {c.container_id} was {status}"
    if "hermes" in c.wake_paths and (status in LIVE or scan.live):
        notes = ctx.harness.make_cold(c.container_id, deadline=ctx.deadline)
        findings.append("container was not cold; made it cold to measure a cold wake: "
                        + "; ".join(notes or ["nothing to stop"]))
        reason += " - made it cold (" + "; ".join(notes or ["row only"]) + ")"
        after = ctx.tasks.scan()
        if after.live:
            return result(NAME, Status.FAILED,
                          f"could not make the container cold: {len(after.live)} task(s) of the "
                          "session still running after StopTask", m, findings)
    # Tasks that existed before the wake: the wake's count (concurrency) leaves them out.
    ctx.run_state.known_task_arns = scan.arns
    return result(NAME, Status.PASSED, reason, m, findings)


def run_quick(ctx: RunContext) -> StepResult:
    """The quick lane: the key and the fixtures; the container is left as it is found."""
    c = ctx.config
    ctx.api_key.get()
    ctx.harness.create_resumption_test_session()
    ctx.run_state.preflight_done = True
    status = (ctx.container_row() or {}).get("status") or "none"
    scan = ctx.tasks.scan(include_stopped=True)
    findings = [] if scan.complete else [f"task look-up incomplete: {scan.note}"]
    ctx.run_state.known_task_arns = scan.arns
    return result(NAME, Status.PASSED, f"fixtures ready; container {c.container_id} was {status}",
                  {"initial_status": status, "live_tasks": len(scan.live)}, findings)


STEP = Step(NAME, run, measures={"AutoSleepMissed": "previous_sleep_missed",
                                    "AutoSleepDelay": "previous_auto_sleep_delay_ms"})
QUICK_STEP = Step(NAME, run_quick, lanes=frozenset({Lane.QUICK}))
