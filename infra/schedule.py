"""The EventBridge rules that run the canary: one per lane, on the one function."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

LANE_EVENT_KEY = "lane"  # the event's field the Lambda reads the lane from


def lane_event(lane: str) -> dict[str, str]:
    """What the rule sends: the lane this invocation runs (overrides CANARY_LANE)."""
    return {LANE_EVENT_KEY: str(lane)}


class CanarySchedule(Construct):
    """Every `minutes`, the `lane` event; a failed run is never retried blindly (the next run
    is the retry)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, function: lambda_.IFunction,
        minutes: int, environment: str, lane: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.lane = str(lane)
        self.rule = events.Rule(
            self, "Rule",
            description=f"Runs the session resumption canary's {lane} lane ({environment}) "
                        f"every {minutes} min",
            schedule=events.Schedule.rate(Duration.minutes(minutes)),
            targets=[targets.LambdaFunction(
                function, retry_attempts=0,
                event=events.RuleTargetInput.from_object(lane_event(self.lane)),
            )],
        )

