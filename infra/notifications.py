"""The alarm topic: KMS-encrypted, TLS only, e-mail subscriptions from context."""

from __future__ import annotations

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

CLOUDWATCH = "cloudwatch.amazonaws.com"


class AlarmTopic(Construct):
    """SNS topic the alarms page through.

    A customer managed key (rotated) rather than `alias/aws/sns`: CloudWatch can
    only publish to an encrypted topic if the key policy lets it use the key,
    and the AWS managed key's policy cannot be changed.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, environment: str,
        emails: tuple[str, ...],
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.key = kms.Key(
            self, "Key",
            description=f"Session resumption canary alarm topic ({environment})",
            enable_key_rotation=True,
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsToUseTheKey",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy "*" means this key
            )
        )
        self.topic = sns.Topic(
            self, "Topic",
            display_name=f"Session resumption canary ({environment})",
            master_key=self.key,
            enforce_ssl=True,
        )
        # A topic policy replaces SNS's default one: allow this account's alarms explicitly.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisAccountsAlarmsToPublish",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "ArnLike": {
                        "aws:SourceArn": stack.format_arn(
                            service="cloudwatch", resource="alarm", resource_name="*",
                            arn_format=ArnFormat.COLON_RESOURCE_NAME,
                        )
                    },
                    "StringEquals": {"aws:SourceAccount": stack.account},
                },
            )
        )
        for email in emails:
            self.topic.add_subscription(subscriptions.EmailSubscription(email))

