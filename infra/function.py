"""The canary Lambda: its own role (least privilege), log group and function."""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from canary.steps.sleep import keepalive_thread
from infra.bundling import canary_code
from infra.params import CanaryParams

# The latest Python that both Lambda (CDK 2.275's Runtime) and Powertools 3.37 support.
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
HANDLER = "canary.handler.handler"

# Exactly what canary/ calls on each table (tests/infra/test_infra_iam.py reads the source).
CONTAINERS_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem")
MAPPINGS_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem")
CONTAINER_INDEX_ACTIONS = ("dynamodb:Query",)
SESSIONS_ACTIONS = ("dynamodb:PutItem", "dynamodb:Query")
LOCK_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem")
# What Lambda needs of a VPC function's role (AWSLambdaVPCAccessExecutionRole's EC2 part):
# the service manages the function's network interfaces with them, the code never calls them.
VPC_ENI_ACTIONS = (
    "ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DescribeSubnets",
    "ec2:DeleteNetworkInterface", "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
)

_RETENTION = {
    1: logs.RetentionDays.ONE_DAY, 3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS, 7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS, 30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS, 90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS, 150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS, 365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS, 545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS, 1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS, 2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS, 2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS, 3653: logs.RetentionDays.TEN_YEARS,
}


def lambda_environment(params: CanaryParams, lock_table_name: str) -> dict[str, str]:
    """The variables `CanaryConfig.from_env` reads, from the settings table
    (`CanaryParams.lambda_environment`; the parameters were validated against them)."""
    return params.lambda_environment(lock_table_name)


def canary_keys(params: CanaryParams) -> dict[str, tuple[str, ...]]:
    """The partition keys the canary touches, per platform table: read from the CanaryConfig
    the Lambda gets (`params.run_config()`), never re-derived here."""
    config = params.run_config()
    return {
        "containers": (config.container_id,),
        "mappings": (config.thread_id, keepalive_thread(config.thread_id)),
        "container_index": (config.container_id,),  # the index's partition key
        "sessions": (config.session_id,),
    }


def platform_table_statements(stack: Stack, params: CanaryParams) -> list[iam.PolicyStatement]:
    """One statement per table (and the container index): only the actions the canary calls
    there, only on the items whose partition key is the canary's own."""
    def arn(name: str) -> str:
        return stack.format_arn(service="dynamodb", resource="table", resource_name=name)

    keys = canary_keys(params)
    index = f"{params.thread_mappings_table}/index/{params.container_index_name}"
    grants = (
        ("ContainersOwnRow", CONTAINERS_ACTIONS, arn(params.containers_table), "containers"),
        ("MappingsOwnThreads", MAPPINGS_ACTIONS, arn(params.thread_mappings_table), "mappings"),
        ("ContainerIndexOwnContainer", CONTAINER_INDEX_ACTIONS, arn(index), "container_index"),
        ("SessionsOwnSession", SESSIONS_ACTIONS, arn(params.sessions_table), "sessions"),
    )
    return [
        iam.PolicyStatement(
            sid=sid, actions=list(actions), resources=[resource],
            conditions={"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": list(keys[key])}},
        )
        for sid, actions, resource, key in grants
    ]


def deployment_statements(params: CanaryParams) -> list[iam.PolicyStatement]:
    """What the deployment's options need beyond the canary's calls: the VPC's network
    interfaces (Lambda's own use) and decrypting the API key's secret with its KMS key."""
    statements = []
    if params.vpc_subnet_ids:
        statements.append(iam.PolicyStatement(
            sid="VpcNetworkInterfaces", actions=list(VPC_ENI_ACTIONS), resources=["*"],
        ))
    if params.api_key_secret_kms_key_arn:
        secret_region = params.api_key_secret_arn.split(":")[3]
        statements.append(iam.PolicyStatement(
            sid="DecryptApiKeySecret", actions=["kms:Decrypt"],
            resources=[params.api_key_secret_kms_key_arn],
            conditions={"StringEquals": {
                "kms:ViaService": f"secretsmanager.{secret_region}.amazonaws.com",
                "kms:EncryptionContext:SecretARN": params.api_key_secret_arn,
            }},
        ))
    return statements


def _nag_form(stack: Stack, value: str) -> str:
    """A value as cdk-nag names it in a finding's id (pseudo parameters as `<AWS::...>`)."""
    resolved: Any = stack.resolve(value)
    if isinstance(resolved, str):
        return resolved
    parts = resolved["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else f"<{p['Ref']}>" for p in parts)


class CanaryFunction(Construct):
    """Role + log group + the scheduled function (invoked by EventBridge, never retried)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, params: CanaryParams,
        lock_table: dynamodb.ITable,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)

        self.log_group = logs.LogGroup(
            self, "LogGroup",
            retention=_RETENTION[params.log_retention_days],
            removal_policy=RemovalPolicy.DESTROY,
        )

        cluster_arn = stack.format_arn(
            service="ecs", resource="cluster", resource_name=params.ecs_cluster,
        )
        tasks_arn = stack.format_arn(
            service="ecs", resource="task", resource_name=f"{params.ecs_cluster}/*",
        )
        on_cluster = {"ArnEquals": {"ecs:cluster": cluster_arn}}

        statements = [
            iam.PolicyStatement(
                sid="WriteOwnLogs",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            ),
            *platform_table_statements(stack, params),
            iam.PolicyStatement(
                sid="LockTable",
                actions=list(LOCK_TABLE_ACTIONS),
                resources=[lock_table.table_arn],
            ),
            iam.PolicyStatement(
                sid="ListClusterTasks",
                actions=["ecs:ListTasks"],
                # ListTasks has no usable resource type for Fargate tasks: scope by condition.
                resources=["*"],
                conditions=on_cluster,
            ),
            iam.PolicyStatement(
                sid="ReadAndStopClusterTasks",
                actions=["ecs:DescribeTasks", "ecs:StopTask"],
                resources=[tasks_arn],
                conditions=on_cluster,
            ),
            iam.PolicyStatement(
                sid="ReadApiKey",
                actions=["secretsmanager:GetSecretValue"],
                resources=[params.api_key_secret_arn],
            ),
            *deployment_statements(params),
        ]
        self.role = iam.Role(
            self, "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Session resumption canary ({params.environment}): least privilege",
            inline_policies={"canary": iam.PolicyDocument(statements=statements)},
        )
        Validations.of(self.role).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="ecs:ListTasks supports no resource-level permission for Fargate tasks; "
                "the statement is limited to the platform cluster by an ecs:cluster condition."
                + (" In a VPC, Lambda manages the function's network interfaces with the EC2 "
                   "actions of AWSLambdaVPCAccessExecutionRole, which need '*'."
                   if params.vpc_subnet_ids else ""),
            ),
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::{_nag_form(stack, tasks_arn)}]",
                reason="Task ids are random: the canary describes and stops tasks of the one "
                "platform cluster only (resource pattern plus ecs:cluster condition).",
            ),
        )

        self.function = lambda_.Function(
            self, "Function",
            description=f"Session resumption canary ({params.environment})",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=HANDLER,
            code=canary_code(RUNTIME),
            role=self.role,
            log_group=self.log_group,
            timeout=Duration.seconds(params.timeout_s),
            memory_size=params.memory_size,
            reserved_concurrent_executions=params.reserved_concurrency,
            retry_attempts=0,
            max_event_age=Duration.seconds(params.timeout_s),
            environment=lambda_environment(params, lock_table.table_name),
        )
        if params.vpc_subnet_ids:
            # Ids straight from context: no VPC lookup, so synth stays offline.
            cfn = cast(lambda_.CfnFunction, self.function.node.default_child)
            cfn.vpc_config = lambda_.CfnFunction.VpcConfigProperty(
                subnet_ids=list(params.vpc_subnet_ids),
                security_group_ids=list(params.security_group_ids),
            )
