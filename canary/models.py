"""Results: what a step returns and what a run adds up to.

Target failures are data (a StepResult with status FAILED and a reason), never
exceptions. The verdict is derived from the steps, never stored beside them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PASSED = "passed"
    DEGRADED = "degraded"  # worked, but past a "degraded" threshold
    FAILED = "failed"
    SKIPPED = "skipped"


Measurement = float | int | str | bool | None


@dataclass
class StepResult:
    """One step's outcome. `measurements` holds what it measured (milliseconds
    for times, named `*_ms`); `findings` holds notes a person should read even
    when the step passed (e.g. a security finding)."""

    name: str
    status: Status
    duration_ms: float = 0.0
    reason: str = ""
    measurements: dict[str, Measurement] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "duration_ms": round(self.duration_ms, 1),
            "reason": self.reason,
            "measurements": dict(self.measurements),
            "findings": list(self.findings),
        }


@dataclass
class RunResult:
    """One scenario run.

    `metrics` maps catalogue metric names (canary/catalogue.py) to the value
    this run measured, e.g. {"ContainerWakeTime": 1234.5, "DuplicateTasks": 0}.
    Latencies appear only when measured successfully. StepSuccess and
    ScenarioSuccess are derived from `steps` by canary/metrics.py.
    """

    run_id: str
    target: str
    environment: str
    started_at: float  # seconds since the epoch, from the injected clock
    steps: list[StepResult] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)
    duration_ms: float = 0.0
    error: str = ""  # set when the canary itself could not run (config, secret, bug)
    # Steps never run because the time budget was spent: they checked nothing, so a
    # run cut short is not ok (a budget too short for the platform must not read as healthy).
    cut_short: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.error and not self.cut_short and not any(s.failed for s in self.steps)

    def step(self, name: str) -> StepResult | None:
        return next((s for s in self.steps if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "run_id": self.run_id,
            "target": self.target,
            "environment": self.environment,
            "started_at": self.started_at,
            "duration_ms": round(self.duration_ms, 1),
            "error": self.error,
            "cut_short": list(self.cut_short),
            "steps": [s.to_dict() for s in self.steps],
            "metrics": dict(self.metrics),
        }
