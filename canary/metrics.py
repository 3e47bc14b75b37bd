"""RunResult -> CloudWatch Embedded Metric Format (EMF), through aws-lambda-powertools.

The Lambda prints these lines to stdout (CloudWatch Logs turns them into metrics;
no PutMetricData call) and `python -m canary run --emf` prints the very same
lines, so a local run shows exactly what production would emit.

Per synthetic session: one line carries its run's metrics on the aggregate series
(Environment + Lane: the alarms read these, and several sessions put several samples
into one period), one line per executed step carries StepSuccess with Environment +
Lane + Step, and one line carries the metrics the catalogue marks `per_session` again
with Environment + Lane + Session (the dashboard's per-session series).

ScenarioSuccess (and FirstAttemptSuccess) are verdicts on the platform: emitted only by a
session that ran without a canary error. A session the canary broke, a run that never got
to its sessions and a run skipped for the lock emit CanaryError (and RunSkipped) but no
verdict; CanaryError is emitted by every invocation, so the heartbeat counts it.

EMF applies every dimension set of a line to every metric of that line, so each series
needs its own lines. Which metric has which unit, dimensions and resolution comes from
`canary.catalogue`; nothing here restates it.

Powertools' `EphemeralMetrics` (its EMF provider without class-level state) is
used rather than the shared `Metrics` singleton: nothing leaks between warm
invocations, and its default `service` dimension is switched off, because the
alarms select the series by exactly the catalogue's dimensions.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from canary.catalogue import (
    CANARY_ERROR,
    DEFAULT_NAMESPACE,
    ENVIRONMENT_DIMENSION,
    FIRST_ATTEMPT_SUCCESS,
    LANE_DIMENSION,
    METRICS_BY_NAME,
    RUN_SKIPPED,
    SCENARIO_DURATION,
    SCENARIO_SUCCESS,
    SESSION_DIMENSION,
    STEP_DIMENSION,
    STEP_SUCCESS,
    MetricSpec,
)
from canary.models import FleetResult, RunResult, Status

if TYPE_CHECKING:  # Powertools is imported when metrics are built, not at import time
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
        AmazonCloudWatchEMFProvider,
    )

log = logging.getLogger(__name__)

# Metrics this module derives from the run itself; the runner never sets them.
DERIVED = frozenset(
    m.name for m in (STEP_SUCCESS, SCENARIO_SUCCESS, SCENARIO_DURATION, CANARY_ERROR, RUN_SKIPPED,
                     FIRST_ATTEMPT_SUCCESS)
)


def scenario_succeeded(run: RunResult, *, skipped: bool = False) -> bool:
    """The run's `ok` as reported: no failed step, no canary error, not cut short by its
    time budget, or skipped because another run holds the lock (that run is doing the
    work). Not the metric: see `is_verdict`."""
    return skipped or run.ok


def is_verdict(run: RunResult, *, skipped: bool = False) -> bool:
    """Whether the run says anything about the platform (emits ScenarioSuccess): it ran
    and the canary did not break it, or a step failed on the platform whatever broke in the
    canary (a late canary fault must not hide an earlier platform failure). A skipped run
    and a run whose only failures are the canary's own are no verdict."""
    if skipped:
        return False
    return not run.error or any(s.failed and not s.canary_fault for s in run.steps)


def run_values(run: RunResult, *, skipped: bool = False) -> dict[str, float]:
    """The run-level metric values (the aggregate dimensions), by catalogue name.

    `skipped` means another run held the lock: neither a failure nor a success (no
    ScenarioSuccess; RunSkipped 1) and nothing was measured.
    """
    values: dict[str, float] = {}
    if not skipped:
        for name, raw in run.metrics.items():
            spec = METRICS_BY_NAME.get(name)
            if spec is None or name in DERIVED:
                log.warning("metric %r is not a run metric of the catalogue; not emitted", name)
                continue
            value = _number(raw)
            if value is None or (spec.latency and value < 0):
                # Latencies exist only for successful measurements.
                continue
            values[name] = value
        if not run.error and run.duration_ms > 0:
            values[SCENARIO_DURATION.name] = float(run.duration_ms)
    if is_verdict(run, skipped=skipped):
        values[SCENARIO_SUCCESS.name] = 1.0 if run.ok else 0.0
        # A check that passed only on its retry: 0.
        values[FIRST_ATTEMPT_SUCCESS.name] = 1.0 if run.first_attempt_ok else 0.0
    values[CANARY_ERROR.name] = 1.0 if run.error else 0.0
    values[RUN_SKIPPED.name] = 1.0 if skipped else 0.0
    return values


def step_values(run: RunResult) -> dict[str, float]:
    """StepSuccess per executed step: 1 passed or degraded, 0 failed; skipped steps emit nothing."""
    return {
        step.name: 0.0 if step.failed else 1.0
        for step in run.steps
        if step.status is not Status.SKIPPED
    }


def session_runs(result: RunResult | FleetResult) -> list[RunResult]:
    """The runs whose samples a result emits: each session's, or for a fleet that never got
    to its sessions (a config error, the key, the lock held) one empty run carrying its error
    (so CanaryError is emitted whatever went wrong)."""
    if isinstance(result, RunResult):
        return [result]
    if result.sessions:
        return list(result.sessions)
    return [RunResult(run_id=result.run_id, target=result.target, lane=result.lane,
                      environment=result.environment, started_at=result.started_at,
                      duration_ms=result.duration_ms, error=result.error)]


def emf_documents(
    result: RunResult | FleetResult,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    environment: str,
    skipped: bool = False,
    timestamp_ms: int | None = None,
) -> list[dict[str, Any]]:
    """The EMF objects of a run (one session) or a fleet: for each session, its run line on
    the aggregate series, one StepSuccess line per executed step, then the catalogue's
    `per_session` metrics with the Session dimension (only for a named session).

    The timestamp is the run's start (from the injected clock), so a run's
    metrics land in the period it was scheduled in.
    """
    if not environment:
        raise ValueError("environment must be a non-empty string (the Environment dimension)")
    documents: list[dict[str, Any]] = []
    for run in session_runs(result):
        timestamp = int(run.started_at * 1000) if timestamp_ms is None else int(timestamp_ms)
        aggregate = {ENVIRONMENT_DIMENSION: environment, LANE_DIMENSION: run.lane}
        run_metrics = {METRICS_BY_NAME[name]: value
                       for name, value in run_values(run, skipped=skipped).items()}
        documents.append(_document(namespace, aggregate, timestamp, run_metrics))
        for step, value in step_values(run).items():
            documents.append(_document(namespace, {**aggregate, STEP_DIMENSION: step},
                                       timestamp, {STEP_SUCCESS: value}))
        per_session = {spec: v for spec, v in run_metrics.items() if spec.per_session}
        if run.session and per_session:
            documents.append(_document(namespace, {**aggregate, SESSION_DIMENSION: run.session},
                                       timestamp, per_session))
    return documents


def emf_lines(
    run: RunResult | FleetResult,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    environment: str,
    skipped: bool = False,
    timestamp_ms: int | None = None,
) -> list[str]:
    """`emf_documents` as the compact JSON lines Powertools prints (one per EMF object)."""
    return [
        json.dumps(doc, separators=(",", ":"))
        for doc in emf_documents(
            run, namespace=namespace, environment=environment, skipped=skipped,
            timestamp_ms=timestamp_ms,
        )
    ]


def record_run(
    run: RunResult | FleetResult,
    *,
    namespace: str = DEFAULT_NAMESPACE,
    environment: str,
    skipped: bool = False,
    write: Callable[[str], object] = print,
) -> list[str]:
    """Emit the run's EMF lines (stdout by default, as Powertools does) and return them."""
    lines = emf_lines(run, namespace=namespace, environment=environment, skipped=skipped)
    for line in lines:
        write(line)
    return lines


def _document(
    namespace: str, dimensions: Mapping[str, str], timestamp_ms: int,
    values: Mapping[MetricSpec, float],
) -> dict[str, Any]:
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.metric_properties import (
        MetricResolution,
    )

    provider = _provider(namespace)
    for name, value in dimensions.items():
        provider.add_dimension(name=name, value=value)
    for spec, value in values.items():
        if set(dimensions) not in (set(spec.dimensions), set(spec.session_dimensions or ())):
            raise ValueError(
                f"metric {spec.name} has dimensions {spec.dimensions} in the catalogue, "
                f"not {tuple(dimensions)}"
            )
        provider.add_metric(
            name=spec.name, unit=spec.unit.value, value=value,
            resolution=MetricResolution.High if spec.high_resolution else MetricResolution.Standard,
        )
    provider.set_timestamp(timestamp_ms)
    return dict(provider.serialize_metric_set())


def _provider(namespace: str) -> AmazonCloudWatchEMFProvider:
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
        AmazonCloudWatchEMFProvider,
    )

    provider = AmazonCloudWatchEMFProvider(namespace=namespace)
    # Powertools would add a `service` dimension (POWERTOOLS_SERVICE_NAME) to every
    # metric; the alarms select by the catalogue's dimensions only.
    provider.service = None
    return provider


def _number(raw: object) -> float | None:
    if isinstance(raw, bool):
        return float(raw)
    if isinstance(raw, int | float) and math.isfinite(raw):
        return float(raw)
    return None
