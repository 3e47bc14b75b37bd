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
    LANE_DIMENSION,
    AlarmSpec,
    Owner,
    alarm_specs,
)
from canary.lanes import Lane
from canary.scenario import metrics_of
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


def all_specs_for(params: CanaryParams, lane: Lane = Lane.FULL) -> tuple[AlarmSpec, ...]:
    """The specification instantiated with this environment's targets and `lane`'s schedule
    (one evaluation period is one scheduled run of the lane)."""
    return alarm_specs(
        schedule_minutes=params.lanes.get(lane) or params.schedule_minutes,
        wake_threshold_ms=params.wake_failed_ms,
        api_threshold_ms=params.api_failed_ms,
    )


def _lane_level(spec: AlarmSpec) -> bool:
    """On the canary's own series (which carry the Lane dimension); the function's AWS/Lambda
    metrics are one series for both lanes, alarmed once, with the full lane."""
    return spec.namespace is None


def _fed_by(spec: AlarmSpec, lane: Lane) -> bool:
    """Whether `lane`'s scenario can emit the alarm's metric at all."""
    if not _lane_level(spec):
        return lane is Lane.FULL
    return spec.metric in metrics_of(lane)


def specs_for(params: CanaryParams, lane: Lane = Lane.FULL) -> tuple[AlarmSpec, ...]:
    """The alarms this deployment creates for `lane`: those whose metric the lane's scenario
    and this configuration emit (none for a lane the deployment does not run)."""
    if lane not in params.lanes:
        return ()
    config = params.lane_config(lane)
    return tuple(s for s in all_specs_for(params, lane)
                 if _fed_by(s, lane) and s.checkable_by(config))


def uncheckable(params: CanaryParams, lane: Lane = Lane.FULL) -> dict[str, str]:
    """Alarm name -> why this deployment does not create it for `lane` although the lane's
    scenario has the metric (this configuration never emits it)."""
    if lane not in params.lanes:
        return {}
    config = params.lane_config(lane)
    return {
        s.name: f"{s.metric} is emitted only with {' or '.join(map(str, s.emitted_when()))}"
        for s in all_specs_for(params, lane) if _fed_by(s, lane) and not s.checkable_by(config)
    }


def lane_alarm_id(name: str, lane: Lane = Lane.FULL) -> str:
    """An alarm's name within the stack: the full lane keeps the catalogue's name, another
    lane's is prefixed with the lane (`quick-ResumeApiSlow`)."""
    return name if lane is Lane.FULL else f"{lane.value}-{name}"


def alarm_name(params: CanaryParams, name: str, lane: Lane = Lane.FULL) -> str:
    return f"{params.stack_name}-{lane_alarm_id(name, lane)}"


class CanaryAlarms(Construct):
    """Per lane, one alarm per spec its metrics feed + one composite health alarm over both
    lanes, routed by fault and severity.

    Paging alarms (platform, critical) have no actions of their own: the composite pages,
    once per incident. Platform warnings go to the ticket topic, the canary's own faults to
    the owners topic. In maintenance the composite and the platform warnings notify no one.
    `alarms` is keyed by `lane_alarm_id`; `specs` lists (lane, spec) in creation order.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, params: CanaryParams,
        function: lambda_.IFunction, topics: AlarmTopics,
    ) -> None:
        super().__init__(scope, construct_id)
        link = runbook(params)
        muted = params.maintenance == "true"
        self.alarms: dict[str, cw.Alarm] = {}
        self.specs: tuple[tuple[Lane, AlarmSpec], ...] = tuple(
            (lane, spec) for lane in params.lanes for spec in specs_for(params, lane))
        for lane in params.lanes:
            for name, why in uncheckable(params, lane).items():
                name = lane_alarm_id(name, lane)
                Annotations.of(self).add_info(
                    f"alarm {name} not created: {why}, which this environment's configuration "
                    "never is (see docs/RUNBOOK.md)",
                )
                print(f"{params.stack_name}: alarm {name} not created: {why}", file=sys.stderr)
        for lane, spec in self.specs:
            dimension_values = {
                ENVIRONMENT_DIMENSION: params.environment,
                LANE_DIMENSION: lane.value,
                "FunctionName": function.function_name,
            }
            unknown = [d for d in spec.dimensions if d not in dimension_values]
            if unknown:
                raise ValueError(f"alarm {spec.name}: no value for dimension(s) {unknown}")
            # The full lane's alarms keep their construct ids (and logical ids) of one lane.
            where = self if lane is Lane.FULL else self._lane_scope(lane)
            alarm = _alarm(where, params, lane, spec, dimension_values, link)
            if spec.owner is Owner.CANARY:
                _notify(alarm, cw_actions.SnsAction(topics.owners))
            elif not spec.pages and not muted:
                alarm.add_alarm_action(cw_actions.SnsAction(topics.tickets))
            self.alarms[lane_alarm_id(spec.name, lane)] = alarm
        self.health = self._composite(params, link, muted)
        page = cw_actions.SnsAction(topics.paging)
        self.health.add_alarm_action(page)
        self.health.add_ok_action(page)

    def _lane_scope(self, lane: Lane) -> Construct:
        child = self.node.try_find_child(lane.value.capitalize())
        return child if isinstance(child, Construct) else Construct(self, lane.value.capitalize())

    def _composite(self, params: CanaryParams, link: str, muted: bool) -> cw.CompositeAlarm:
        """Any lane's paging alarm in ALARM (catalogue rule `health_in_alarm`): only final
        results page (FirstAttemptSuccess has no alarm), and ScenarioSuccess holds only the
        platform's verdicts, so the canary's own faults never reach it."""
        rules: list[cw.IAlarmRule] = []
        names: list[str] = []
        for lane, spec in self.specs:
            if spec.pages:
                rules.append(self.alarms[lane_alarm_id(spec.name, lane)])
                names.append(lane_alarm_id(spec.name, lane))
        return cw.CompositeAlarm(
            self, HEALTH_ALARM,
            composite_alarm_name=alarm_name(params, HEALTH_ALARM),
            alarm_description=(
                "Session resumption is unhealthy: at least one critical platform alarm is in "
                f"ALARM ({', '.join(names)})."
                + (" MAINTENANCE: notifications off." if muted else "")
                + f" Runbook: {link}"
            ),
            alarm_rule=cw.AlarmRule.any_of(*rules),
            actions_enabled=not muted,
        )


def _alarm(scope: Construct, params: CanaryParams, lane: Lane, spec: AlarmSpec,
           dimension_values: dict[str, str], link: str) -> cw.Alarm:
    """One CloudWatch alarm of `lane`, exactly as the spec says."""
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
    lane_note = "" if lane is Lane.FULL else f"[{lane.value} lane] "
    return cw.Alarm(
        scope, spec.name,
        alarm_name=alarm_name(params, spec.name, lane),
        alarm_description=f"{lane_note}[{spec.severity.value}, {spec.owner.value}] "
                          f"{spec.runbook} Runbook: {where}",
        metric=metric,
        threshold=spec.threshold,
        comparison_operator=_member(cw.ComparisonOperator, spec.comparison.value),
        evaluation_periods=spec.evaluation_periods,
        datapoints_to_alarm=spec.datapoints_to_alarm,
        treat_missing_data=_member(cw.TreatMissingData, spec.missing_data.value),
    )


def _notify(alarm: cw.Alarm, action: cw_actions.SnsAction) -> None:
    """ALARM and OK: the owners see a canary fault open and close."""
    alarm.add_alarm_action(action)
    alarm.add_ok_action(action)
