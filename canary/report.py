"""Human output: a live line per step, the seed's metrics block, and the step table."""

from __future__ import annotations

import sys
from typing import TextIO

from canary.catalogue import CONTAINER_WAKE_TIME, PREVIEW_WAKE_TIME
from canary.models import RunResult, Status, StepResult

MARK = {Status.PASSED: "PASS", Status.DEGRADED: "DEGR", Status.FAILED: "FAIL",
        Status.SKIPPED: "SKIP"}


def step_line(step: StepResult) -> str:
    line = f"[{MARK[step.status]}] {step.name:<17} {step.duration_ms:>8.0f} ms  {step.reason}"
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
        reason = s.reason if len(s.reason) <= 110 else s.reason[:107] + "..."
        rows.append((s.name, s.status.value, f"{s.duration_ms:.0f}", reason))
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    w2 = max(len(r[2]) for r in rows)
    lines = [f"{a:<{w0}}  {b:<{w1}}  {c:>{w2}}  {d}" for a, b, c, d in rows]
    lines.insert(1, "-" * min(120, max(len(x) for x in lines)))
    return "\n".join(lines)


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


def full_report(run: RunResult, stream: TextIO | None = None) -> str:
    stream = stream or sys.stdout
    enc = (getattr(stream, "encoding", None) or "").lower()
    emoji = "utf" in enc
    parts = [metrics_block(run, emoji), step_table(run), failures(run), summary(run)]
    return "\n\n".join(p for p in parts if p)
