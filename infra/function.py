"""The canary Lambda: its own role (least privilege), log group and function."""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from canary.footprint import (
    CONTAINER_INDEX_ACTIONS,
    CONTAINERS_ACTIONS,
    LOCK_TABLE_ACTIONS,
    MAPPINGS_ACTIONS,
    SESSIONS_ACTIONS,
    table_keys,
)
from canary.report_upload import prefix as report_prefix
from infra.bundling import canary_code
from infra.params import CanaryParams

# The latest Python that both Lambda (CDK 2.275's Runtime) and Powertools 3.37 support.
RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
HANDLER = "canary.handler.handler"

# The actions per table (exactly what canary/ calls) live in canary/footprint.py, which the
# dry run reads too.

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
    """The partition keys the canary touches, per platform table: every session of every lane
    the deployment runs, each from the run config the Lambda derives
    (`params.all_run_configs()`) by canary/footprint.py, as the dry run does."""
    keys: dict[str, dict[str, None]] = {}
    for config in params.all_run_configs():
        for table, values in table_keys(config).items():
            keys.setdefault(table, {}).update(dict.fromkeys(values))
    return {table: tuple(values) for table, values in keys.items()}


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


def report_statements(params: CanaryParams, bucket: s3.IBucket | None
                      ) -> list[iam.PolicyStatement]:
    """Writing the run's report: s3:PutObject under this environment's prefix only (the one
    canary/report_upload.py writes under), never read, list or delete."""
    if bucket is None:
        return []
    return [iam.PolicyStatement(
        sid="WriteRunReports", actions=["s3:PutObject"],
        resources=[bucket.arn_for_objects(f"{report_prefix(params.environment)}*")],
    )]


def _nag_form(stack: Stack, value: str) -> str:
    """A value as cdk-nag names it in a finding's id (pseudo parameters as `<AWS::...>`)."""
    resolved: Any = stack.resolve(value)
    if isinstance(resolved, str):
        return resolved
    parts = resolved["Fn::Join"][1]
    return "".join(p if isinstance(p, str) else f"<{p['Ref']}>" if "Ref" in p
                   else f"<{'.'.join(p['Fn::GetAtt'])}>" for p in parts)


class CanaryFunction(Construct):
    """Role + log group + the scheduled function (invoked by EventBridge, never retried)."""

    def __init__(
        self, scope: Construct, construct_id: str, *, params: CanaryParams,
        lock_table: dynamodb.ITable, report_bucket: s3.IBucket | None = None,
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
            *report_statements(params, report_bucket),
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

        if report_bucket is not None:
            reports = report_statements(params, report_bucket)[0].resources[0]
            Validations.of(self.role).acknowledge(Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::{_nag_form(stack, reports)}]",
                reason="Each run's report has its own key (date and run id): the canary may "
                "put objects under its environment's report prefix only, never read, list or "
                "delete them.",
            ))

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
            environment={
                **lambda_environment(params, lock_table.table_name),
                **({"REPORT_BUCKET": report_bucket.bucket_name} if report_bucket else {}),
            },
        )
        if params.vpc_subnet_ids:
            # Ids straight from context: no VPC lookup, so synth stays offline.
            cfn = cast(lambda_.CfnFunction, self.function.node.default_child)
            cfn.vpc_config = lambda_.CfnFunction.VpcConfigProperty(
                subnet_ids=list(params.vpc_subnet_ids),
                security_group_ids=list(params.security_group_ids),
            )
