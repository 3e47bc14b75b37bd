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


def offset_key(key: str) -> str:
    """Where the interval a `*_ms` measurement times starts, ms after its step began
    (`wake_ms` -> `wake_offset_ms`): a step whose measured interval is not the whole step
    records it, and the HTML anchors the measurement's bar and target line there."""
    return key.removesuffix("_ms") + "_offset_ms"


@dataclass
class StepResult:
    """One step's outcome. `measurements` holds what it measured (milliseconds
    for times, named `*_ms`); `findings` holds notes a person should read even
    when the step passed (e.g. a security finding). `attempts`: 2 when the step was retried
    after a transport failure (quick lane); the result is the retry's."""

    name: str
    status: Status
    duration_ms: float = 0.0
    reason: str = ""
    measurements: dict[str, Measurement] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)
    attempts: int = 1
    started_ms: float | None = None  # ms after the run began (set by the runner)
    canary_fault: bool = False  # failed on the canary's own setup or a bug (set by the runner)

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "started_ms": self.started_ms,
            "duration_ms": round(self.duration_ms, 1),
            "reason": self.reason,
            "measurements": dict(self.measurements),
            "findings": list(self.findings),
            "attempts": self.attempts,
            "canary_fault": self.canary_fault,
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
    lane: str = "full"  # canary/lanes.py
    session: str = ""  # the synthetic session's name (EMF's Session dimension)
    client_id: str = ""
    thread_id: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and not self.cut_short and not any(s.failed for s in self.steps)

    @property
    def first_attempt_ok(self) -> bool:
        """`ok` had no step been retried (a retried step failed its first attempt)."""
        return self.ok and all(s.attempts <= 1 for s in self.steps)

    def session_dict(self) -> dict[str, Any]:
        """This session's entry in the result document's `sessions` list."""
        return {
            "name": self.session,
            "ok": self.ok,
            "first_attempt_ok": self.first_attempt_ok,
            "client_id": self.client_id,
            "thread_id": self.thread_id,
            "started_at": self.started_at,
            "duration_ms": round(self.duration_ms, 1),
            "error": self.error,
            "cut_short": list(self.cut_short),
            "steps": [s.to_dict() for s in self.steps],
            "metrics": dict(self.metrics),
        }

    def step(self, name: str) -> StepResult | None:
        return next((s for s in self.steps if s.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        """One session's run on its own: its `sessions` entry, and where it ran."""
        return {"run_id": self.run_id, "target": self.target, "environment": self.environment,
                "lane": self.lane, **self.session_dict()}


@dataclass
class FleetResult:
    """One invocation (or CLI run) of a lane: every synthetic session's RunResult.

    `to_dict()` is the result document every renderer reads (text, HTML, S3): a top-level
    `sessions` list, one entry per session, even with one session. `ok` only when every
    session is ok; `error` is the canary's own failure before any session ran (config, key,
    a bug), when `sessions` may be empty."""

    run_id: str
    lane: str
    target: str
    environment: str
    started_at: float
    sessions: list[RunResult] = field(default_factory=list)
    duration_ms: float = 0.0
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and all(s.ok for s in self.sessions)

    @property
    def first_attempt_ok(self) -> bool:
        return self.ok and all(s.first_attempt_ok for s in self.sessions)

    def session(self, name: str) -> RunResult | None:
        return next((s for s in self.sessions if s.session == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "run_id": self.run_id,
            "lane": self.lane,
            "target": self.target,
            "environment": self.environment,
            "started_at": self.started_at,
            "duration_ms": round(self.duration_ms, 1),
            "error": self.error,
            "first_attempt_ok": self.first_attempt_ok,
            "sessions": [s.session_dict() for s in self.sessions],
        }
