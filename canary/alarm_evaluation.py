"""Would these datapoints put the alarm into ALARM? CloudWatch's rules, offline.

moto stores alarms but never evaluates them, so the tests evaluate the emitted
series against the alarm specification (`canary.catalogue.alarm_specs`) here.
The rules follow CloudWatch's documentation ("Alarm evaluation" and "Configuring
how CloudWatch alarms treat missing data", AmazonCloudWatch user guide):

1. Raw datapoints are grouped into periods aligned to multiples of the period
   (epoch based) and each period is aggregated with the alarm's statistic.
2. CloudWatch retrieves an *evaluation range* longer than `evaluation_periods`
   (the documented example: 5 periods for 3 evaluation periods; the real length
   depends on period and resolution, so it is a parameter here, default N + 2).
3. With at least N real datapoints in the range, the most recent N real ones are
   evaluated and the missing-data setting is not consulted.
4. With none, the treatment decides: breaching -> ALARM, notBreaching -> OK,
   ignore -> the current state is kept, missing -> INSUFFICIENT_DATA.
5. With fewer than N, all real ones count and the shortfall is filled with the
   treatment (breaching / notBreaching). For missing and ignore a real
   non-breaching point gives OK; when only breaching points exist, `missing`
   goes to ALARM once the oldest of them is at least M periods old and every more
   recent period is breaching or missing ("premature alarm" rule); before that
   (e.g. one recent breaching point, M=3) `missing` goes to INSUFFICIENT_DATA, as
   the guide documents, and `ignore` keeps the current state. Each of these matches
   a row of the documented tables; the tests reproduce those tables.
6. ALARM when at least `datapoints_to_alarm` (M) of the evaluated N breach, OK otherwise.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from canary.catalogue import AlarmSpec, MissingData


class AlarmState(StrEnum):
    OK = "OK"
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


@dataclass(frozen=True)
class Datapoint:
    """One raw value as CloudWatch receives it: epoch seconds and the value."""

    timestamp: float
    value: float


@dataclass(frozen=True)
class Evaluation:
    """The outcome of one evaluation and what it was based on (oldest period first)."""

    state: AlarmState
    values: tuple[float | None, ...]  # aggregated per period over the evaluation range
    breaching: tuple[bool | None, ...]  # None: missing
    reason: str


_COMPARISONS = {
    "GreaterThanThreshold": lambda v, t: v > t,
    "GreaterThanOrEqualToThreshold": lambda v, t: v >= t,
    "LessThanThreshold": lambda v, t: v < t,
    "LessThanOrEqualToThreshold": lambda v, t: v <= t,
}

STATISTICS = ("Maximum", "Minimum", "Sum", "SampleCount", "Average")


def aggregate(values: Sequence[float], statistic: str) -> float | None:
    """One period's datapoint: the statistic over its raw values (None when there are none)."""
    if statistic not in STATISTICS:
        raise ValueError(f"unsupported statistic {statistic!r}; use one of {', '.join(STATISTICS)}")
    if not values:
        return None
    if statistic == "Maximum":
        return max(values)
    if statistic == "Minimum":
        return min(values)
    if statistic == "Sum":
        return math.fsum(values)
    if statistic == "SampleCount":
        return float(len(values))
    return math.fsum(values) / len(values)


def breaches(spec: AlarmSpec, value: float) -> bool:
    """Is this aggregated datapoint on the wrong side of the threshold?"""
    try:
        compare = _COMPARISONS[str(spec.comparison)]
    except KeyError:
        raise ValueError(f"alarm {spec.name}: unsupported comparison {spec.comparison!r}") from None
    return compare(value, spec.threshold)


def period_values(
    spec: AlarmSpec, datapoints: Iterable[Datapoint], *, at: float, periods: int
) -> list[float | None]:
    """The aggregated values of the `periods` complete periods ending at or before `at`.

    Oldest first. Periods are aligned to multiples of the period, as CloudWatch
    aligns them; a datapoint belongs to the period its timestamp falls in.
    """
    size = spec.period_seconds
    end = math.floor(at / size) * size
    first = end - periods * size
    buckets: list[list[float]] = [[] for _ in range(periods)]
    for point in datapoints:
        if first <= point.timestamp < end:
            buckets[int((point.timestamp - first) // size)].append(float(point.value))
    values = [aggregate(bucket, spec.statistic) for bucket in buckets]
    if spec.fill_missing is not None:  # metric math FILL(m, value)
        values = [spec.fill_missing if v is None else v for v in values]
    return values


def default_evaluation_range(spec: AlarmSpec) -> int:
    """CloudWatch's documented example retrieves 5 periods for 3 evaluation periods."""
    return spec.evaluation_periods + 2


def evaluate_values(
    spec: AlarmSpec,
    values: Sequence[float | None],
    *,
    current_state: AlarmState = AlarmState.INSUFFICIENT_DATA,
) -> Evaluation:
    """Evaluate per-period values over the evaluation range (oldest first, None = missing)."""
    n, m = spec.evaluation_periods, spec.datapoints_to_alarm
    if not 1 <= m <= n:
        raise ValueError(f"alarm {spec.name}: need 1 <= datapoints_to_alarm <= evaluation_periods")
    if len(values) < n:
        raise ValueError(f"alarm {spec.name}: evaluation range {len(values)} is shorter than {n}")
    marks = tuple(None if v is None else breaches(spec, v) for v in values)
    real = [b for b in marks if b is not None]
    treatment = MissingData(spec.missing_data)

    def result(state: AlarmState, reason: str) -> Evaluation:
        return Evaluation(state, tuple(values), marks, reason)

    def verdict(breaching: int, evaluated: int, how: str) -> Evaluation:
        state = AlarmState.ALARM if breaching >= m else AlarmState.OK
        return result(state, f"{breaching} of {evaluated} datapoints breaching ({how}); M={m}")

    if len(real) >= n:
        return verdict(sum(real[-n:]), n, "most recent real datapoints")
    if not real:
        states = {
            MissingData.BREACHING: AlarmState.ALARM,
            MissingData.NOT_BREACHING: AlarmState.OK,
            MissingData.IGNORE: current_state,
            MissingData.MISSING: AlarmState.INSUFFICIENT_DATA,
        }
        return result(states[treatment], f"no datapoint in the evaluation range ({treatment})")

    fill = n - len(real)
    breaching = sum(real)
    if treatment is MissingData.BREACHING:
        return verdict(breaching + fill, n, f"{fill} missing filled as breaching")
    if treatment is MissingData.NOT_BREACHING or breaching >= m or not all(real):
        return verdict(breaching, n, f"{fill} missing filled as not breaching")
    # Only breaching real datapoints, fewer than M of them.
    oldest_age = len(marks) - marks.index(True)  # 1 = the most recent period
    if treatment is MissingData.MISSING and oldest_age >= m:
        return result(
            AlarmState.ALARM,
            f"oldest breaching datapoint is {oldest_age} periods old and nothing since "
            "is within the threshold",
        )
    if treatment is MissingData.MISSING:  # documented: too recent to alarm, too few to clear
        return result(
            AlarmState.INSUFFICIENT_DATA,
            f"oldest breaching datapoint is {oldest_age} periods old (< M={m}): too few to decide",
        )
    return result(current_state, f"too few datapoints to decide ({treatment}); state kept")


def evaluate(
    spec: AlarmSpec,
    datapoints: Iterable[Datapoint],
    *,
    at: float,
    current_state: AlarmState = AlarmState.INSUFFICIENT_DATA,
    evaluation_range: int | None = None,
) -> Evaluation:
    """Evaluate the alarm at time `at` from raw datapoints."""
    span = evaluation_range or default_evaluation_range(spec)
    values = period_values(spec, datapoints, at=at, periods=span)
    return evaluate_values(spec, values, current_state=current_state)


def simulate(
    spec: AlarmSpec,
    datapoints: Iterable[Datapoint],
    *,
    times: Iterable[float],
    initial_state: AlarmState = AlarmState.INSUFFICIENT_DATA,
    evaluation_range: int | None = None,
) -> list[AlarmState]:
    """The alarm's state after each evaluation at `times`, carrying the state forward."""
    points = list(datapoints)
    state = initial_state
    states = []
    for at in times:
        state = evaluate(
            spec, points, at=at, current_state=state, evaluation_range=evaluation_range
        ).state
        states.append(state)
    return states


def datapoints_from_emf(
    lines: Iterable[str],
    *,
    namespace: str,
    metric: str,
    dimensions: Mapping[str, str],
) -> list[Datapoint]:
    """The datapoints CloudWatch would extract from EMF log lines for one metric.

    A metric is identified by namespace, name and its exact set of dimensions
    (as an alarm selects it): a StepSuccess line with Environment + Step is not
    the Environment-only series.
    """
    wanted = dict(dimensions)
    points: list[Datapoint] = []
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue  # an ordinary log line
        if not isinstance(doc, dict) or "_aws" not in doc:
            continue
        timestamp = doc["_aws"]["Timestamp"] / 1000
        for directive in doc["_aws"]["CloudWatchMetrics"]:
            if directive["Namespace"] != namespace:
                continue
            if not any(
                set(keys) == set(wanted) and all(doc.get(k) == v for k, v in wanted.items())
                for keys in directive["Dimensions"]
            ):
                continue
            if not any(d["Name"] == metric for d in directive["Metrics"]):
                continue
            raw = doc[metric]
            for value in raw if isinstance(raw, list) else [raw]:
                points.append(Datapoint(timestamp, float(value)))
    return points
