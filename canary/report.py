"""Human output: a live line per step, the seed's metrics block, and the step table."""

from __future__ import annotations

import sys
from typing import TextIO

from canary import phases
from canary.catalogue import CONTAINER_WAKE_TIME, PREVIEW_WAKE_TIME
from canary.models import FleetResult, RunResult, Status, StepResult

MARK = {Status.PASSED: "PASS", Status.DEGRADED: "DEGR", Status.FAILED: "FAIL",
        Status.SKIPPED: "SKIP"}


def _reason(step: StepResult) -> str:
    """The reason, saying so when it is the retry's (a transport failure the first time)."""
    return f"(attempt {step.attempts}) {step.reason}" if step.attempts > 1 else step.reason


def step_line(step: StepResult) -> str:
    line = f"[{MARK[step.status]}] {step.name:<17} {step.duration_ms:>8.0f} ms  {_reason(step)}"
    for finding in step.findings:
        if finding != step.reason:
            line += f"\n       - {finding}"
    return line


def _avg(values: list[float]) -> str:
    return f"avg {sum(values) / len(values):.0f}ms" if values else "n/a (not measured)"


def _wakes(run: RunResult) -> list[float]:
    """The cold wakes measured this run, as the run's metrics hold them (the steps'
    declarations say which step measures which; a wake not measured is not there)."""
    return [run.metrics[name] for name in (CONTAINER_WAKE_TIME.name, PREVIEW_WAKE_TIME.name)
            if name in run.metrics]


def metrics_block(run: RunResult, emoji: bool = True) -> str:
    """The seed's report block (Session Resumption Test Metrics)."""
    wakes = _wakes(run)
    api: list[float] = []
    warm = run.step("warm_api")
    if warm is not None and isinstance(warm.measurements.get("response_avg_ms"), int | float):
        api.append(float(warm.measurements["response_avg_ms"]))  # type: ignore[arg-type]
    errors = sum(1 for s in run.steps if s.failed) + (1 if run.error else 0)
    head = ("\N{BAR CHART} " if emoji else "") + "Session Resumption Test Metrics:"
    return "\n".join([
        head,
        f"   Container Wake Time: {_avg(wakes)}",
        f"   API Response Time: {_avg(api)}",
        f"   Successful Wakes: {len(wakes)}",
        f"   Total Errors: {errors}",
    ])


def step_table(run: RunResult) -> str:
    rows = [("step", "status", "ms", "reason")]
    for s in run.steps:
        reason = _reason(s)
        reason = reason if len(reason) <= 110 else reason[:107] + "..."
        rows.append((s.name, s.status.value, f"{s.duration_ms:.0f}", reason))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    w2 = max(len(r[2]) for r in rows)
    lines = [f"{a:<{w0}}  {b:<{w1}}  {c:>{w2}}  {d}" for a, b, c, d in rows]
    lines.insert(1, "-" * min(120, max(len(x) for x in lines)))
    return "\n".join(lines)


def wake_phases(run: RunResult) -> str:
    """Where each measured cold wake's time went (canary/phases.py), one line per wake."""
    lines = [f"- {s.name}: {line}" for s in run.steps
             if (line := phases.describe(s.measurements))]
    return "wake phases:\n" + "\n".join(lines) if lines else ""


def failures(run: RunResult) -> str:
    """Each failed step's whole reason (the table cuts long ones)."""
    lines = [f"- {s.name}: {s.reason}" for s in run.steps if s.failed]
    return "why:\n" + "\n".join(lines) if lines else ""


def summary(run: RunResult) -> str:
    verdict = "OK" if run.ok else "FAILED"
    failed = [s.name for s in run.steps if s.failed]
    degraded = [s.name for s in run.steps if s.status is Status.DEGRADED]
    parts = [f"verdict: {verdict} (run {run.run_id}, {run.target}, {run.duration_ms / 1000:.1f} s)"]
    if failed:
        parts.append(f"failed: {', '.join(failed)}")
    if degraded:
        parts.append(f"degraded: {', '.join(degraded)}")
    if run.error:
        parts.append(f"canary error: {run.error}")
    return "; ".join(parts)


def session_head(run: RunResult) -> str:
    verdict = "OK" if run.ok else "FAILED"
    return (f"== session {run.session or '?'} (client {run.client_id or '?'}, thread "
            f"{run.thread_id or '?'}, {run.lane} lane): {verdict} ==")


def fleet_summary(fleet: FleetResult) -> str:
    """The verdict over every session: which failed, and whether any passed only on a retry."""
    verdict = "OK" if fleet.ok else "FAILED"
    ok = sum(1 for r in fleet.sessions if r.ok)
    parts = [f"verdict: {verdict} (run {fleet.run_id}, {fleet.target}, {fleet.lane} lane, "
             f"{ok}/{len(fleet.sessions)} session(s) ok, {fleet.duration_ms / 1000:.1f} s)"]
    one = len(fleet.sessions) == 1
    for what, pick in (("failed", lambda s: s.failed),
                       ("degraded", lambda s: s.status is Status.DEGRADED)):
        named = [(r.session, [s.name for s in r.steps if pick(s)]) for r in fleet.sessions]
        shown = [", ".join(steps) if one else f"{name} ({', '.join(steps)})"
                 for name, steps in named if steps]
        if shown:
            parts.append(f"{what}: {', '.join(shown)}")
    retried = [f"{r.session}/{s.name}" for r in fleet.sessions for s in r.steps
               if s.attempts > 1]
    if retried:
        parts.append(f"passed or failed only after a retry: {', '.join(retried)}")
    if fleet.error:
        parts.append(f"canary error: {fleet.error}")
    return "; ".join(parts)


def full_report(result: RunResult | FleetResult, stream: TextIO | None = None) -> str:
    """Each session's block (its metrics, steps, wake phases and failures), then the verdict."""
    stream = stream or sys.stdout
    enc = (getattr(stream, "encoding", None) or "").lower()
    emoji = "utf" in enc
    if isinstance(result, RunResult):
        parts = [metrics_block(result, emoji), step_table(result), wake_phases(result),
                 failures(result), summary(result)]
        return "\n\n".join(p for p in parts if p)
    parts = []
    for run in result.sessions:
        parts += [session_head(run), metrics_block(run, emoji), step_table(run),
                  wake_phases(run), failures(run)]
        if run.error:
            parts.append(f"canary error: {run.error}")
    parts.append(fleet_summary(result))
    return "\n\n".join(p for p in parts if p)
