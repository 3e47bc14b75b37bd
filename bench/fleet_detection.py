"""How long a lane's alarms take to see a fault: real runs' EMF, placed on the lane's schedule
(one run a period), through the offline alarm evaluator (canary/alarm_evaluation.py).

The runs are placed at the start of consecutive periods (CloudWatch's periods are aligned to
the epoch; a rate schedule fires at some offset in its period), each run's EMF stamped with
the end of that run. The fault starts just before the first faulty run; CloudWatch evaluates
the alarm once a minute. A fault that starts just after a run waits one more period.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from canary.alarm_evaluation import AlarmState, datapoints_from_emf, evaluate
from canary.catalogue import AlarmSpec

EVALUATION_STEP_S = 60  # CloudWatch evaluates an alarm once a minute
START_S = 1_800_000_000  # an epoch second on a whole hour: every period starts there


@dataclass(frozen=True)
class Run:
    """One run's EMF lines and how long it took."""

    lines: tuple[str, ...]
    duration_s: float


@dataclass(frozen=True)
class Detection:
    """One alarm's verdict: minutes from the fault's start until it first went to ALARM
    (None: never within the runs), or already in ALARM before the fault (`before`)."""

    alarm: str
    minutes: float | None
    before: bool = False


def stamped(lines: Iterable[str], at_s: float) -> list[str]:
    """The EMF lines with their timestamp set to `at_s` (epoch seconds); other lines as is."""
    out = []
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            out.append(line)
            continue
        if isinstance(doc, dict) and "_aws" in doc:
            doc["_aws"]["Timestamp"] = int(at_s * 1000)
            line = json.dumps(doc, separators=(",", ":"))
        out.append(line)
    return out


def on_schedule(runs: Sequence[Run], period_s: int, start_s: float = START_S) -> list[str]:
    """Run i at the start of period i, its EMF stamped with its end."""
    lines: list[str] = []
    for i, run in enumerate(runs):
        lines += stamped(run.lines, start_s + i * period_s + run.duration_s)
    return lines


def detect(spec: AlarmSpec, lines: Sequence[str], *, namespace: str,
           dimensions: Mapping[str, str], healthy: int, runs: int,
           start_s: float = START_S) -> Detection:
    """Evaluate `spec` once a minute from the first period until the end of the last run's
    period; the fault starts at period `healthy`."""
    period = spec.period_seconds
    points = datapoints_from_emf(lines, namespace=namespace, metric=spec.metric,
                                 dimensions={d: dimensions[d] for d in spec.dimensions})
    fault_s = start_s + healthy * period
    end_s = start_s + runs * period
    state, at = AlarmState.INSUFFICIENT_DATA, start_s + EVALUATION_STEP_S
    at_fault = AlarmState.INSUFFICIENT_DATA
    while at <= end_s:
        previous = state
        state = evaluate(spec, points, at=at, current_state=state).state
        if at < fault_s:
            at_fault = state
        elif state is AlarmState.ALARM and previous is not AlarmState.ALARM:
            return Detection(spec.name, (at - fault_s) / 60)
        at += EVALUATION_STEP_S
    return Detection(spec.name, None, before=at_fault is AlarmState.ALARM)


def detections(specs: Iterable[AlarmSpec], runs: Sequence[Run], *, healthy: int,
               namespace: str, dimensions: Mapping[str, str],
               start_s: float = START_S) -> list[Detection]:
    """Every canary-namespace alarm of a lane over the runs (the first `healthy` before the
    fault), on the lane's period (the alarms' period is the lane's schedule)."""
    out = []
    for spec in specs:
        if spec.namespace is not None:  # AWS/Lambda's own metrics: not in the EMF
            continue
        lines = on_schedule(runs, spec.period_seconds, start_s)
        out.append(detect(spec, lines, namespace=namespace, dimensions=dimensions,
                          healthy=healthy, runs=len(runs), start_s=start_s))
    return out


def first(found: Iterable[Detection]) -> Detection | None:
    """The alarm that went to ALARM first after the fault started."""
    fired = [d for d in found if d.minutes is not None]
    return min(fired, key=lambda d: d.minutes or 0.0) if fired else None
