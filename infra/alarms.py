"""CloudWatch alarms, built from the one alarm specification (`canary.catalogue.alarm_specs`).

Nothing here restates a threshold, statistic or period: every value comes from
the spec; this module only maps it onto CloudWatch and wires the actions.
"""

from __future__ import annotations

import re
import sys

from aws_cdk import Annotations, Duration
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from canary.catalogue import (
    DEFAULT_NAMESPACE,
    ENVIRONMENT_DIMENSION,
    AlarmSpec,
    Owner,
    alarm_specs,
)
from infra.notifications import AlarmTopics
from infra.params import CanaryParams

RUNBOOK = "docs/RUNBOOK.md"
CANARY_FAULTS = "#canary-faults"  # the runbook's section on the canary's own faults
HEALTH_ALARM = "SessionResumptionHealth"


def _member(enum_cls, camel_case: str):
    """CloudWatch's CamelCase value (spec) -> the CDK enum member (SNAKE_CASE)."""
    return enum_cls[re.sub(r"(?<!^)(?=[A-Z])", "_", camel_case).upper()]


def runbook(params: CanaryParams) -> str:
    """The runbook's address: the environment's URL when it sets one, else the repo path."""
    return getattr(params, "runbook_url", None) or RUNBOOK


def all_specs_for(params: CanaryParams) -> tuple[AlarmSpec, ...]:
    """The specification instantiated with this environment's schedule and targets."""
    return alarm_specs(
        schedule_minutes=params.schedule_minutes,
        wake_threshold_ms=params.wake_failed_ms,
        api_threshold_ms=params.api_failed_ms,
    )


def specs_for(params: CanaryParams) -> tuple[AlarmSpec, ...]:
    """The alarms this deployment creates: those whose metric its configuration emits."""
    config = params.run_config()
    return tuple(s for s in all_specs_for(params) if s.checkable_by(config))


def uncheckable(params: CanaryParams) -> dict[str, str]:
    """Alarm name -> why this deployment does not create it (its metric is never emitted)."""
    config = params.run_config()
    return {
        s.name: f"{s.metric} is emitted only with {' or '.join(map(str, s.emitted_when()))}"
        for s in all_specs_for(params) if not s.checkable_by(config)
    }


def alarm_name(params: CanaryParams, name: str) -> str:
    return f"{params.stack_name}-{name}"


class CanaryAlarms(Construct):
    """One alarm per checkable spec + the composite health alarm, routed by fault and severity.

    Paging alarms (platform, critical) have no actions of their own: the composite pages,
    once per incident. Platform warnings go to the ticket topic, the canary's own faults to
    the owners topic. In maintenance the composite and the platform warnings notify no one.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, params: CanaryParams,
        function: lambda_.IFunction, topics: AlarmTopics,
    ) -> None:
        super().__init__(scope, construct_id)
        dimension_values = {
            ENVIRONMENT_DIMENSION: params.environment,
            "FunctionName": function.function_name,
        }
        link = runbook(params)
        muted = params.maintenance == "true"
        self.alarms: dict[str, cw.Alarm] = {}
        self.specs = specs_for(params)
        for name, why in uncheckable(params).items():
            Annotations.of(self).add_info(
                f"alarm {name} not created: {why}, which this environment's configuration "
                "never is (see docs/RUNBOOK.md)",
            )
            print(f"{params.stack_name}: alarm {name} not created: {why}", file=sys.stderr)
        for spec in self.specs:
            unknown = [d for d in spec.dimensions if d not in dimension_values]
            if unknown:
                raise ValueError(f"alarm {spec.name}: no value for dimension(s) {unknown}")
            alarm = self._alarm(params, spec, dimension_values, link)
            if spec.owner is Owner.CANARY:
                _notify(alarm, cw_actions.SnsAction(topics.owners))
            elif not spec.pages and not muted:
                alarm.add_alarm_action(cw_actions.SnsAction(topics.tickets))
            self.alarms[spec.name] = alarm
        self.health = self._composite(params, link, muted)
        page = cw_actions.SnsAction(topics.paging)
        self.health.add_alarm_action(page)
        self.health.add_ok_action(page)

    def _alarm(self, params: CanaryParams, spec: AlarmSpec, dimension_values: dict[str, str],
               link: str) -> cw.Alarm:
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
        where = (f"{link}{CANARY_FAULTS}" if spec.owner is Owner.CANARY and "#" not in link
                 else link)
        return cw.Alarm(
            self, spec.name,
            alarm_name=alarm_name(params, spec.name),
            alarm_description=f"[{spec.severity.value}, {spec.owner.value}] {spec.runbook} "
                              f"Runbook: {where}",
            metric=metric,
            threshold=spec.threshold,
            comparison_operator=_member(cw.ComparisonOperator, spec.comparison.value),
            evaluation_periods=spec.evaluation_periods,
            datapoints_to_alarm=spec.datapoints_to_alarm,
            treat_missing_data=_member(cw.TreatMissingData, spec.missing_data.value),
        )

    def _composite(self, params: CanaryParams, link: str, muted: bool) -> cw.CompositeAlarm:
        """Any paging alarm in ALARM, each `unless` its `unless` alarm is (catalogue rule)."""
        paging = [s for s in self.specs if s.pages]
        rules = []
        for spec in paging:
            rule: cw.IAlarmRule = self.alarms[spec.name]
            if spec.unless and spec.unless in self.alarms:
                rule = cw.AlarmRule.all_of(
                    rule, cw.AlarmRule.not_(self.alarms[spec.unless]))
            rules.append(rule)
        names = ", ".join(s.name + (f" unless {s.unless}" if s.unless else "") for s in paging)
        return cw.CompositeAlarm(
            self, HEALTH_ALARM,
            composite_alarm_name=alarm_name(params, HEALTH_ALARM),
            alarm_description=(
                "Session resumption is unhealthy: at least one critical platform alarm is in "
                f"ALARM ({names})."
                + (" MAINTENANCE: notifications off." if muted else "")
                + f" Runbook: {link}"
            ),
            alarm_rule=cw.AlarmRule.any_of(*rules),
            actions_enabled=not muted,
        )


def _notify(alarm: cw.Alarm, action: cw_actions.SnsAction) -> None:
    """ALARM and OK: the owners see a canary fault open and close."""
    alarm.add_alarm_action(action)
    alarm.add_ok_action(action)
