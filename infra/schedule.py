"""The EventBridge rule that runs the canary on its schedule."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct


class CanarySchedule(Construct):
    """Every `minutes`; a failed run is never retried blindly (the next run is the retry)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, function: lambda_.IFunction,
        minutes: int, environment: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.rule = events.Rule(
            self, "Rule",
            description=f"Runs the session resumption canary ({environment}) every {minutes} min",
            schedule=events.Schedule.rate(Duration.minutes(minutes)),
            targets=[targets.LambdaFunction(function, retry_attempts=0)],
        )
