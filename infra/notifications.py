"""Where alarms notify: a paging, a ticket and an owners topic, KMS-encrypted and TLS only.

Severity and fault decide the topic (canary/catalogue.py `AlarmSpec.pages`, `Owner`): the
health composite pages, platform warnings open tickets, the canary's own faults go to its
owners. Each topic takes e-mail addresses and https URLs (a paging service, a chat webhook).
"""

from __future__ import annotations

from aws_cdk import Annotations, ArnFormat, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

CLOUDWATCH = "cloudwatch.amazonaws.com"


def subscribe(topic: sns.Topic, endpoints: tuple[str, ...]) -> None:
    """E-mail for an address, HTTPS for a URL (validated by canary/settings.py)."""
    for endpoint in dict.fromkeys(endpoints):
        if endpoint.startswith("https://"):
            topic.add_subscription(subscriptions.UrlSubscription(
                endpoint, protocol=sns.SubscriptionProtocol.HTTPS))
        else:
            topic.add_subscription(subscriptions.EmailSubscription(endpoint))


class AlarmTopics(Construct):
    """The three topics, one customer managed key (rotated) for all.

    Not `alias/aws/sns`: CloudWatch can only publish to an encrypted topic if the key
    policy lets it use the key, and the AWS managed key's policy cannot be changed.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, environment: str,
        paging: tuple[str, ...], tickets: tuple[str, ...], owners: tuple[str, ...],
    ) -> None:
        super().__init__(scope, construct_id)
        self.key = kms.Key(
            self, "Key",
            description=f"Session resumption canary alarm topics ({environment})",
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
        self.paging = self._topic("Paging", f"pages ({environment})", paging)
        self.tickets = self._topic("Tickets", f"tickets ({environment})", tickets)
        self.owners = self._topic("Owners", f"canary owners ({environment})", owners)

    def _topic(self, construct_id: str, what: str, endpoints: tuple[str, ...]) -> sns.Topic:
        stack = Stack.of(self)
        topic = sns.Topic(
            self, construct_id,
            display_name=f"Session resumption canary {what}",
            master_key=self.key,
            enforce_ssl=True,
        )
        # A topic policy replaces SNS's default one: allow this account's alarms explicitly.
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisAccountsAlarmsToPublish",
                principals=[iam.ServicePrincipal(CLOUDWATCH)],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
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
        subscribe(topic, endpoints)
        if not endpoints:
            Annotations.of(topic).add_info(
                f"the {what} topic has no subscriber: its alarms notify no one (set the "
                "environment's endpoints, see infra/README.md)",
            )
        return topic
