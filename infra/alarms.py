"""CloudWatch alarms, built from the one alarm specification (`canary.catalogue.alarm_specs`).

Nothing here restates a threshold, statistic or period: every value comes from
the spec; this module only maps it onto CloudWatch and wires the actions.
"""

from __future__ import annotations

import re

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from canary.catalogue import (
    DEFAULT_NAMESPACE,
    ENVIRONMENT_DIMENSION,
    AlarmSpec,
    Severity,
    alarm_specs,
)
from infra.params import CanaryParams

RUNBOOK = "docs/RUNBOOK.md"
HEALTH_ALARM = "SessionResumptionHealth"


def _member(enum_cls, camel_case: str):
    """CloudWatch's CamelCase value (spec) -> the CDK enum member (SNAKE_CASE)."""
    return enum_cls[re.sub(r"(?<!^)(?=[A-Z])", "_", camel_case).upper()]


def specs_for(params: CanaryParams) -> tuple[AlarmSpec, ...]:
    """The specification instantiated with this environment's schedule and targets."""
    return alarm_specs(
        schedule_minutes=params.schedule_minutes,
        wake_threshold_ms=params.wake_failed_ms,
        api_threshold_ms=params.api_failed_ms,
    )


def alarm_name(params: CanaryParams, name: str) -> str:
    return f"{params.stack_name}-{name}"


class CanaryAlarms(Construct):
    """One alarm per spec + the composite health alarm; all page through `topic`."""

    def __init__(
        self, scope: Construct, construct_id: str, *, params: CanaryParams,
        function: lambda_.IFunction, topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        dimension_values = {
            ENVIRONMENT_DIMENSION: params.environment,
            "FunctionName": function.function_name,
        }
        action = cw_actions.SnsAction(topic)
        self.alarms: dict[str, cw.Alarm] = {}
        self.specs = specs_for(params)
        for spec in self.specs:
            unknown = [d for d in spec.dimensions if d not in dimension_values]
            if unknown:
                raise ValueError(f"alarm {spec.name}: no value for dimension(s) {unknown}")
            metric: cw.IMetric = cw.Metric(
                namespace=spec.namespace or DEFAULT_NAMESPACE,
                metric_name=spec.metric,
                dimensions_map={d: dimension_values[d] for d in spec.dimensions},
                statistic=spec.statistic,
                period=Duration.seconds(spec.period_seconds),
            )
            if spec.fill_missing is not None:
                metric = cw.MathExpression(
                    expression=f"FILL(m, {spec.fill_missing:g})",
                    using_metrics={"m": metric},
                    label=f"{spec.metric} ({spec.statistic}, missing = {spec.fill_missing:g})",
                    period=Duration.seconds(spec.period_seconds),
                )
            alarm = cw.Alarm(
                self, spec.name,
                alarm_name=alarm_name(params, spec.name),
                alarm_description=f"[{spec.severity.value}] {spec.runbook} Runbook: {RUNBOOK}",
                metric=metric,
                threshold=spec.threshold,
                comparison_operator=_member(cw.ComparisonOperator, spec.comparison.value),
                evaluation_periods=spec.evaluation_periods,
                datapoints_to_alarm=spec.datapoints_to_alarm,
                treat_missing_data=_member(cw.TreatMissingData, spec.missing_data.value),
            )
            alarm.add_alarm_action(action)
            alarm.add_ok_action(action)
            self.alarms[spec.name] = alarm

        critical_names = [s.name for s in self.specs if s.severity is Severity.CRITICAL]
        critical = [self.alarms[name] for name in critical_names]
        self.health = cw.CompositeAlarm(
            self, HEALTH_ALARM,
            composite_alarm_name=alarm_name(params, HEALTH_ALARM),
            alarm_description=(
                "Session resumption is unhealthy: at least one critical canary alarm is in "
                f"ALARM ({', '.join(critical_names)})."
                f" Runbook: {RUNBOOK}"
            ),
            alarm_rule=cw.AlarmRule.any_of(*critical),
        )
        self.health.add_alarm_action(action)
        self.health.add_ok_action(action)
