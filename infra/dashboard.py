"""The at-a-glance dashboard: wake and API times against their targets, success, faults."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from canary import catalogue as cat
from canary.lanes import Lane
from canary.scenario import SCENARIO
from infra.alarms import CanaryAlarms, lane_alarm_id, runbook
from infra.lane_widgets import lane_rows
from infra.params import CanaryParams

RUNS_PER_POINT = 6  # percentiles over this many runs per datapoint


def target_line(threshold_ms: float) -> cw.HorizontalAnnotation:
    """A horizontal line at the target; the metric is in ms, the label in seconds."""
    return cw.HorizontalAnnotation(
        value=threshold_ms, label=f"{threshold_ms / 1000:g} s target", color=cw.Color.RED,
    )


def lambda_health(function: lambda_.IFunction, params: CanaryParams,
                  run: Duration) -> cw.GraphWidget:
    """The canary function's own health: a canary fault shows here, not as a platform one."""
    return cw.GraphWidget(
        title="Canary Lambda: invocations, errors, throttles; duration against the timeout",
        left=[function.metric_invocations(period=run, label="invocations"),
              function.metric_errors(period=run, label="errors"),
              function.metric_throttles(period=run, label="throttles")],
        right=[function.metric_duration(period=run, statistic="Maximum", label="duration max")],
        left_y_axis=cw.YAxisProps(min=0, show_units=False),
        right_y_axis=cw.YAxisProps(min=0, label="ms", show_units=False),
        right_annotations=[cw.HorizontalAnnotation(
            value=params.timeout_s * 1000, label=f"{params.timeout_s} s timeout",
            color=cw.Color.RED)],
        width=12, height=6,
    )


class CanaryDashboard(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, params: CanaryParams,
        alarms: CanaryAlarms, function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        env = params.environment
        run = Duration.minutes(params.schedule_minutes)
        window = Duration.minutes(params.schedule_minutes * RUNS_PER_POINT)

        def metric(spec: cat.MetricSpec, statistic: str, label: str | None = None,
                   period: Duration = run, **dims: str) -> cw.Metric:
            return cw.Metric(
                namespace=cat.DEFAULT_NAMESPACE, metric_name=spec.name,
                # Widgets built here show the full lane; infra/lane_widgets.py shows each lane.
                dimensions_map={cat.ENVIRONMENT_DIMENSION: env,
                                cat.LANE_DIMENSION: Lane.FULL.value, **dims},
                statistic=statistic, period=period, label=label or f"{spec.name} {statistic}",
            )

        def latency(spec: cat.MetricSpec) -> list[cw.IMetric]:
            return [
                metric(spec, stat, f"{label}", window)
                for stat, label in (("p50", "p50"), ("p90", "p90"), ("Maximum", "max"))
            ]

        ms_axis = cw.YAxisProps(label="ms", show_units=False, min=0)
        wake = cw.GraphWidget(
            title="Container wake time (Hermes): p50 / p90 / max",
            left=latency(cat.CONTAINER_WAKE_TIME), left_y_axis=ms_axis,
            left_annotations=[target_line(params.wake_failed_ms)], width=8, height=6,
        )
        # Where the wake time goes: its phases (canary/phases.py) stacked, so the tallest band
        # of a slow wake is the part to look at (runbook: WakeTimeHigh). One run per period.
        phases = cw.GraphWidget(
            title="Where the wake time goes: cold-wake phases (Hermes), stacked",
            left=[metric(spec, "Average", spec.name.removeprefix("WakePhase"))
                  for spec in cat.WAKE_PHASES],
            left_y_axis=ms_axis, stacked=True,
            left_annotations=[target_line(params.wake_failed_ms)], width=8, height=6,
        )
        api = cw.GraphWidget(
            title="Resume API response time (running container)",
            left=latency(cat.API_RESPONSE_TIME), left_y_axis=ms_axis,
            left_annotations=[target_line(params.api_failed_ms)], width=8, height=6,
        )
        preview = cw.GraphWidget(
            title="Preview URL wake time",
            left=latency(cat.PREVIEW_WAKE_TIME), left_y_axis=ms_axis,
            left_annotations=[target_line(params.wake_failed_ms)], width=8, height=6,
        )
        status = cw.AlarmStatusWidget(
            title="Alarms",
            alarms=[*alarms.alarms.values(), alarms.health], width=8, height=6,
        )
        duplicates = cw.GraphWidget(
            title="Duplicate tasks (per wake, per warm resume)",
            left=[metric(cat.DUPLICATE_TASKS, "Sum", "duplicate tasks"),
                  metric(cat.RESUME_STARTED_TASK, "Sum", "tasks started by a warm resume")],
            left_y_axis=cw.YAxisProps(min=0, show_units=False), width=8, height=6,
        )
        sleep_delay = cw.GraphWidget(
            title="Auto-sleep delay after idle timeout",
            left=[metric(cat.AUTO_SLEEP_DELAY, "Maximum", "auto-sleep delay")],
            right=[metric(cat.AUTO_SLEEP_MISSED, "Sum", "auto-sleep missed")],
            left_y_axis=ms_axis, width=8, height=6,
        )
        save = cw.GraphWidget(
            title="Auto-save failures (work lost)",
            left=[metric(cat.AUTO_SAVE_FAILED, "Sum", "auto-save failed")],
            left_y_axis=cw.YAxisProps(min=0, show_units=False), width=8, height=6,
        )
        canary = cw.GraphWidget(
            title="Canary health: run duration against the budget, skipped runs, canary errors",
            left=[metric(cat.SCENARIO_DURATION, "Maximum", "run duration")],
            right=[metric(cat.RUN_SKIPPED, "Sum", "runs skipped (lock held)"),
                   metric(cat.CANARY_ERROR, "Sum", "canary errors")],
            left_y_axis=ms_axis, right_y_axis=cw.YAxisProps(min=0, show_units=False),
            left_annotations=[cw.HorizontalAnnotation(
                value=params.effective_budget_s * 1000,
                label=f"{params.effective_budget_s:g} s budget", color=cw.Color.ORANGE)],
            width=12, height=6,
        )
        contract = cw.GraphWidget(
            title="Contract violations and auth findings",
            left=[metric(cat.CONTRACT_VIOLATIONS, "Sum", "contract violations"),
                  metric(cat.AUTH_NOT_ENFORCED, "Sum", "auth not enforced")],
            left_y_axis=cw.YAxisProps(min=0, show_units=False), width=8, height=6,
        )
        # One widget per step that measures something, derived from its declaration: a new
        # step's metrics are graphed without touching this file.
        per_step = [
            cw.GraphWidget(
                title=f"{step.name}: {', '.join(step.measures)}",
                left=[metric(cat.METRICS_BY_NAME[name],
                             "Maximum" if cat.METRICS_BY_NAME[name].latency else "Sum", name)
                      for name in step.measures],
                left_y_axis=cw.YAxisProps(min=0, show_units=False), width=8, height=5,
            )
            for step in SCENARIO.all_steps if step.measures
        ]
        hints = "\n".join(
            f"| {lane_alarm_id(s.name, lane)} | {s.severity.value} | {s.runbook} |"
            for lane, s in alarms.specs
        )
        text = cw.TextWidget(
            markdown=(
                f"## Session resumption canary: {env}\n"
                f"Runbook: [{runbook(params)}]({runbook(params)}) (every alarm, what it means, "
                "first checks). Each run logs one JSON line per step (`step`, `status`, "
                "`reason`) to the canary's log group.\n\n"
                "| alarm | severity | first check |\n|---|---|---|\n" + hints
            ),
            width=24, height=8,
        )
        self.dashboard = cw.Dashboard(
            self, "Dashboard",
            dashboard_name=f"{params.stack_name}",
            default_interval=Duration.days(7),
            widgets=[[wake, phases, api], [preview, status], *lane_rows(params),
                     [duplicates, sleep_delay, save],
                     [lambda_health(function, params, run), canary], [contract],
                     *(per_step[i:i + 3] for i in range(0, len(per_step), 3)), [text]],
        )
