"""The dashboard's lane and session widgets: each lane side by side, one line per session.

The aggregate series (`[Environment, Lane]`) say whether a lane is healthy; the per-session
series (`[Environment, Lane, Session]`, dashboard only) say which session is not. Which
sessions there are comes from the config the Lambda derives (`params.session_configs`), so
a session added to `canarySessions` gets its lines without touching this file.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw

from canary import catalogue as cat
from canary.lanes import LANES, Lane
from canary.scenario import Scenario, metrics_of
from infra.params import CanaryParams

FULL_WIDTH = 24


def lane_metric(params: CanaryParams, lane: Lane, spec: cat.MetricSpec, statistic: str,
                label: str, **dims: str) -> cw.Metric:
    """One lane's series of a catalogue metric (a session's or a step's with that dimension
    in `dims`), one datapoint per scheduled run of the lane."""
    dimensions = {cat.ENVIRONMENT_DIMENSION: params.environment, cat.LANE_DIMENSION: lane.value,
                  **dims}
    return cw.Metric(
        namespace=cat.DEFAULT_NAMESPACE, metric_name=spec.name, dimensions_map=dimensions,
        statistic=statistic, period=Duration.minutes(params.lanes[lane]), label=label,
    )


def session_names(params: CanaryParams, lane: Lane) -> list[str]:
    """The `Session` dimension values `lane` emits: one per configured session."""
    return [c.session_label for c in params.session_configs(lane)]


def _success(params: CanaryParams, lane: Lane, width: int) -> cw.GraphWidget:
    """Final result (what pages) next to the first attempt (flakiness, graph only)."""
    period = Duration.minutes(params.lanes[lane])
    rates = [
        cw.MathExpression(
            expression=f"100 * {key}", label=label, period=period,
            using_metrics={key: lane_metric(params, lane, spec, "Average", spec.name)},
        )
        for key, spec, label in (
            ("final", cat.SCENARIO_SUCCESS, "ScenarioSuccess % (final: pages)"),
            ("first", cat.FIRST_ATTEMPT_SUCCESS, "FirstAttemptSuccess % (graph only)"),
        )
    ]
    return cw.GraphWidget(
        title=f"{lane.value} lane: success rate (%), final and first attempt "
              f"(every {params.lanes[lane]} min)",
        left=rates, left_y_axis=cw.YAxisProps(min=0, max=100, label="%", show_units=False),
        width=width, height=6,
    )


def _per_session(params: CanaryParams, lane: Lane, spec: cat.MetricSpec, statistic: str,
                 width: int, axis: cw.YAxisProps,
                 line: cw.HorizontalAnnotation | None = None) -> cw.GraphWidget:
    return cw.GraphWidget(
        title=f"{lane.value} lane: {spec.name} per session ({statistic})",
        left=[lane_metric(params, lane, spec, statistic, name, **{cat.SESSION_DIMENSION: name})
              for name in session_names(params, lane)],
        left_y_axis=axis, left_annotations=[line] if line else None,
        width=width, height=6,
    )


def _steps(params: CanaryParams, lane: Lane, width: int) -> cw.GraphWidget:
    """Which of the lane's steps failed (its scenario's steps, derived from their lanes)."""
    return cw.GraphWidget(
        title=f"{lane.value} lane: per-step success (share of sessions that passed)",
        left=[lane_metric(params, lane, cat.STEP_SUCCESS, "Average", step,
                          **{cat.STEP_DIMENSION: step})
              for step in Scenario.for_lane(lane).names],
        left_y_axis=cw.YAxisProps(min=0, max=1, show_units=False), width=width, height=6,
    )


def per_session_metrics() -> tuple[cat.MetricSpec, ...]:
    """The metrics graphed per session: exactly those the catalogue emits with the Session
    dimension (`MetricSpec.per_session`), so the two never drift apart."""
    return tuple(m for m in cat.METRICS if m.per_session)


def lane_rows(params: CanaryParams) -> list[list[cw.IWidget]]:
    """Rows of widgets, the lanes side by side in each: success (final and first attempt),
    per-step success, then each metric the catalogue marks `per_session`, one line per
    session (latencies: the worst, against their target; counts: the lowest)."""
    lanes = list(params.lanes)
    width = FULL_WIDTH // len(lanes)
    ms_axis = cw.YAxisProps(label="ms", show_units=False, min=0)
    targets = {cat.API_RESPONSE_TIME.name: params.api_failed_ms,
               cat.CONTAINER_WAKE_TIME.name: params.wake_failed_ms}
    text = cw.TextWidget(
        markdown="### Lanes\n" + "\n".join(
            f"- **{lane.value}** (every {params.lanes[lane]} min): {LANES[lane].description}; "
            f"sessions: {', '.join(session_names(params, lane))}" for lane in lanes),
        width=FULL_WIDTH, height=3,
    )
    rows: list[list[cw.IWidget]] = [
        [text],
        [_success(params, lane, width) for lane in lanes],
        [_steps(params, lane, width) for lane in lanes],
    ]
    for spec in sorted(per_session_metrics(), key=lambda m: m.latency):  # success first
        target = targets.get(spec.name)
        line = None if target is None else cw.HorizontalAnnotation(
            value=target, label=f"{target / 1000:g} s target", color=cw.Color.RED)
        statistic, axis = (("Maximum", ms_axis) if spec.latency else
                           ("Minimum", cw.YAxisProps(min=0, show_units=False)))
        rows.append([
            _per_session(params, lane, spec, statistic, width, axis, line)
            if spec.name in metrics_of(lane) else cw.Spacer(width=width, height=6)
            for lane in lanes
        ])
    return rows
