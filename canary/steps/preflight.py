"""preflight: the key, the synthetic fixtures, the container's starting state; make it cold.

In observe mode it also judges the previous run's sleep: a container still up long after
its last activity (idle timeout + check interval + margin) missed its auto-sleep; the
`sleep` step reports that verdict.
"""

from __future__ import annotations

from canary.models import Status, StepResult
from canary.steps.base import RunContext, result

NAME = "preflight"
LIVE = ("running", "idle", "starting", "stopping")


def run(ctx: RunContext) -> StepResult:
    c = ctx.config
    ctx.api_key.get()  # SecretError: the canary cannot run (the runner reports it)
    findings: list[str] = []
    m: dict = {}
    leftover_mapping = ctx.state.get_mapping(c.thread_id) is not None
    ctx.harness.create_resumption_test_session()
    ctx.shared["preflight_done"] = True
    row = ctx.harness.get_container_status(c.container_id) or {}
    status = row.get("status") or "none"
    m["initial_status"] = status
    if c.sleep_mode == "observe":
        _judge_previous_sleep(ctx, row, leftover_mapping, findings)
        prev = ctx.shared.get("previous_sleep")
        if prev is not None:  # also here, so a skipped `sleep` step cannot lose it
            m["previous_sleep_missed"] = 1 if prev["missed"] else 0
            if not prev["missed"]:
                m["previous_auto_sleep_delay_ms"] = round(prev["delay_ms"], 1)

    tasks = ctx.orchestrator.container_tasks(c.container_id)
    live_tasks = [t for t in tasks if t.get("lastStatus") != "STOPPED"]
    m["live_tasks"] = len(live_tasks)
    reason = f"fixtures ready; container {c.container_id} was {status}"
    if "hermes" in c.wake_paths and (status in LIVE or live_tasks):
        notes = ctx.harness.make_cold(c.container_id, deadline=ctx.deadline)
        findings.append("container was not cold; made it cold to measure a cold wake: "
                        + "; ".join(notes or ["nothing to stop"]))
        reason += " - made it cold (" + "; ".join(notes or ["row only"]) + ")"
        tasks = ctx.orchestrator.container_tasks(c.container_id)
        still = [t for t in tasks if t.get("lastStatus") != "STOPPED"]
        if still:
            return result(NAME, Status.FAILED,
                          f"could not make the container cold: {len(still)} task(s) still "
                          "running after StopTask", m, findings)
    ctx.shared["known_task_arns"] = {t["taskArn"] for t in tasks if t.get("taskArn")}
    return result(NAME, Status.PASSED, reason, m, findings)


def _judge_previous_sleep(
    ctx: RunContext, row: dict, leftover_mapping: bool, findings: list[str]
) -> None:
    c = ctx.config
    status = row.get("status")
    last = row.get("lastActivity")
    if not isinstance(last, int | float) or not last:
        return
    if leftover_mapping:
        findings.append("the canary's thread mapping was still there (a previous run did not "
                        "finish), so the previous sleep is not judged")
        return
    now_s = ctx.clock.now()
    idle_s = now_s - last / 1000
    if status in ("running", "idle") and idle_s > c.sleep_deadline_s:
        ctx.shared["previous_sleep"] = {"missed": True, "idle_s": idle_s}
        findings.append(
            f"auto-sleep missed: container still {status} {idle_s:.0f} s after its last "
            f"activity (idle timeout {c.idle_timeout_s:g} s + check "
            f"{c.sleep_check_interval_s:g} s + margin {c.sleep_margin_s:g} s)"
        )
    elif status == "stopped":
        stopped = row.get("stoppedAt")
        if isinstance(stopped, int | float) and stopped >= last:
            delay_ms = stopped - last - c.idle_timeout_s * 1000
            ctx.shared["previous_sleep"] = {"missed": False, "delay_ms": max(0.0, delay_ms)}
