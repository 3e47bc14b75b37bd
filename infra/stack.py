"""One environment's canary: composes the constructs, one per concern."""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Environment, Stack, Tags
from constructs import Construct

from canary.lanes import Lane
from infra.alarms import CanaryAlarms
from infra.dashboard import CanaryDashboard
from infra.function import CanaryFunction
from infra.lock_table import LockTable
from infra.notifications import AlarmTopics
from infra.params import CanaryParams
from infra.reports import ReportBucket
from infra.schedule import CanarySchedule


def stack_tags(params: CanaryParams) -> dict[str, str]:
    """The tags of the stack and of every resource in it."""
    return {"Service": "session-resumption-canary", "CanaryEnvironment": params.environment}


class CanaryStack(Stack):
    """Scheduled canary + alarms that page + dashboard, for `params.environment`.

    Pinned to `params.account` / `params.region` when the environment sets them (else
    environment-agnostic); never looks anything up, so it synthesizes offline.
    """

    def __init__(self, scope: Construct, *, params: CanaryParams, **kwargs: Any) -> None:
        super().__init__(
            scope, params.stack_name,
            description=f"Session resumption canary ({params.environment})",
            env=Environment(account=params.account, region=params.region),
            # The stack's own tags (explicitStackTags: Tags.of below tags the resources).
            tags=stack_tags(params),
            **kwargs,
        )
        self.params = params
        for key, value in stack_tags(params).items():
            Tags.of(self).add(key, value)

        self.lock = LockTable(self, "Lock")
        self.reports = ReportBucket(self, "Reports", retention_days=params.report_retention_days)
        self.canary = CanaryFunction(self, "Canary", params=params, lock_table=self.lock.table,
                                     report_bucket=self.reports.bucket)
        # One rule per lane on the one function, each sending its lane; the full lane's keeps
        # the construct id (and logical id) it had before there were lanes.
        self.schedules = {
            lane: CanarySchedule(
                self, "Schedule" if lane is Lane.FULL else f"{lane.value.capitalize()}Schedule",
                function=self.canary.function, minutes=minutes,
                environment=params.environment, lane=lane,
            )
            for lane, minutes in params.lanes.items()
        }
        self.notifications = AlarmTopics(
            self, "Notifications", environment=params.environment,
            # Nobody left out: without their own endpoints, tickets fall back to alarmEmails
            # and the canary's owners to the ticket endpoints (a dead canary is never silent).
            paging=(*params.alarm_emails, *params.paging_endpoints),
            tickets=params.ticket_endpoints or params.alarm_emails,
            owners=params.owner_endpoints or params.ticket_endpoints or params.alarm_emails,
        )
        self.alarms = CanaryAlarms(
            self, "Alarms", params=params, function=self.canary.function,
            topics=self.notifications,
        )
        self.dashboard = CanaryDashboard(
            self, "Dashboard", params=params, alarms=self.alarms, function=self.canary.function,
        )

        outputs = {
            "FunctionName": (self.canary.function.function_name, "the canary Lambda"),
            "LogGroupName": (self.canary.log_group.log_group_name, "the canary's run logs"),
            "PagingTopicArn": (self.notifications.paging.topic_arn, "where the health alarm pages"),
            "TicketTopicArn": (self.notifications.tickets.topic_arn, "where warnings go"),
            "OwnersTopicArn": (self.notifications.owners.topic_arn, "the canary's own faults"),
            "HealthAlarmName": (self.alarms.health.alarm_name, "overall health (composite)"),
            "DashboardName": (self.dashboard.dashboard.dashboard_name, "the dashboard"),
            "LockTableName": (self.lock.table.table_name, "the canary's lock table"),
            "ReportBucketName": (self.reports.bucket.bucket_name, "each run's HTML report and "
                                 "JSON result (reports/{environment}/{yyyy}/{mm}/{dd}/)"),
        }
        for name, (value, description) in outputs.items():
            CfnOutput(self, name, value=value, description=description)
