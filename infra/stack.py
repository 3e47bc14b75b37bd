"""One environment's canary: composes the constructs, one per concern."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Stack, Tags
from constructs import Construct

from infra.alarms import CanaryAlarms
from infra.dashboard import CanaryDashboard
from infra.function import CanaryFunction
from infra.lock_table import LockTable
from infra.notifications import AlarmTopic
from infra.params import CanaryParams
from infra.schedule import CanarySchedule


class CanaryStack(Stack):
    """Scheduled canary + alarms that page + dashboard, for `params.environment`.

    Environment-agnostic (no account/region lookups): synthesizes offline.
    """

    def __init__(self, scope: Construct, *, params: CanaryParams, **kwargs: Any) -> None:
        super().__init__(
            scope, params.stack_name,
            description=f"Session resumption canary ({params.environment})",
            **kwargs,
        )
        self.params = params
        Tags.of(self).add("Service", "session-resumption-canary")
        Tags.of(self).add("CanaryEnvironment", params.environment)

        self.lock = LockTable(self, "Lock")
        self.canary = CanaryFunction(self, "Canary", params=params, lock_table=self.lock.table)
        self.schedule = CanarySchedule(
            self, "Schedule", function=self.canary.function,
            minutes=params.schedule_minutes, environment=params.environment,
        )
        self.notifications = AlarmTopic(
            self, "Notifications", environment=params.environment, emails=params.alarm_emails,
        )
        self.alarms = CanaryAlarms(
            self, "Alarms", params=params, function=self.canary.function,
            topic=self.notifications.topic,
        )
        self.dashboard = CanaryDashboard(self, "Dashboard", params=params, alarms=self.alarms)

        outputs = {
            "FunctionName": (self.canary.function.function_name, "the canary Lambda"),
            "LogGroupName": (self.canary.log_group.log_group_name, "the canary's run logs"),
            "AlarmTopicArn": (self.notifications.topic.topic_arn, "where the alarms page"),
            "HealthAlarmName": (self.alarms.health.alarm_name, "overall health (composite)"),
            "DashboardName": (self.dashboard.dashboard.dashboard_name, "the dashboard"),
            "LockTableName": (self.lock.table.table_name, "the canary's lock table"),
        }
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)
