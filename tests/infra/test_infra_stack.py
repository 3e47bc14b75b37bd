"""The synthesized stack (cdk.json's example environment), asserted resource by resource."""

from __future__ import annotations

import json
import re
from importlib.metadata import metadata
from typing import Any

import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk.assertions import Match

from canary.catalogue import (
    DEFAULT_NAMESPACE,
    ENVIRONMENT_DIMENSION,
    LANE_DIMENSION,
    METRICS,
    Owner,
)
from canary.lanes import Lane
from canary.report_upload import prefix as report_prefix
from canary.scenario import STEP_NAMES, Scenario
from infra.alarms import (
    CANARY_FAULTS,
    HEALTH_ALARM,
    alarm_name,
    runbook,
    specs_for,
    uncheckable,
)
from infra.function import RUNTIME, lambda_environment
from infra.params import MAX_TIMEOUT_S, CanaryParams
from tests.infra.conftest import VARIANT

pytestmark = pytest.mark.infra


def ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


# -- schedule ------------------------------------------------------------------


def test_rule_runs_the_function_on_the_schedule_without_retries(synthesized):
    function_id, _ = synthesized.only("AWS::Lambda::Function")
    minutes = synthesized.params.schedule_minutes
    synthesized.template.has_resource_properties("AWS::Events::Rule", {
        "ScheduleExpression": f"rate({minutes} minutes)",
        "State": "ENABLED",
        "Targets": [Match.object_like({
            "Arn": {"Fn::GetAtt": [function_id, "Arn"]},
            "RetryPolicy": {"MaximumRetryAttempts": 0},
        })],
    })


def test_async_invocations_of_the_function_are_not_retried(synthesized):
    function_id, _ = synthesized.only("AWS::Lambda::Function")
    synthesized.template.has_resource_properties("AWS::Lambda::EventInvokeConfig", {
        "FunctionName": ref(function_id),
        "MaximumRetryAttempts": 0,
    })


# -- function ------------------------------------------------------------------


def test_function_runtime_architecture_timeout_memory_and_concurrency(synthesized):
    params = synthesized.params
    _, function = synthesized.only("AWS::Lambda::Function")
    props = function["Properties"]
    assert props["Runtime"] == "python3.14"
    assert props["Architectures"] == ["arm64"]
    assert props["Handler"] == "canary.handler.handler"
    assert props["Timeout"] == params.timeout_s
    assert props["Timeout"] < params.schedule_minutes * 60
    assert props["Timeout"] <= MAX_TIMEOUT_S
    assert props["MemorySize"] == params.memory_size
    assert "ReservedConcurrentExecutions" not in props  # optional: the run lock prevents overlap


def _python_minor(version: str) -> int:
    return int(version.split(".")[1])


def test_runtime_is_the_latest_python_that_cdk_offers_and_powertools_supports():
    offered = {
        f"3.{m.group(1)}"
        for name in dir(lambda_.Runtime)
        if (m := re.fullmatch(r"PYTHON_3_(\d+)", name))
    }
    supported = {
        c.rsplit(" :: ", 1)[1]
        for c in metadata("aws-lambda-powertools").get_all("Classifier")
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    latest = max(offered & supported, key=_python_minor)
    assert RUNTIME.name == f"python{latest}"


def test_function_environment_carries_every_setting_from_context(synthesized):
    params = synthesized.params
    _, function = synthesized.only("AWS::Lambda::Function")
    lock_id, _ = synthesized.only("AWS::DynamoDB::Table")
    variables = function["Properties"]["Environment"]["Variables"]
    bucket_id, _ = synthesized.only("AWS::S3::Bucket")
    assert variables == {**lambda_environment(params, "LOCK"), "LOCK_TABLE": ref(lock_id),
                         "REPORT_BUCKET": ref(bucket_id)}
    expected = {
        "CANARY_ENVIRONMENT": params.environment,
        "HERMES_API_URL": params.hermes_api_url,
        "PREVIEW_URL_TEMPLATE": params.preview_url_template,
        "INTERNAL_API_KEY_SECRET_ARN": params.api_key_secret_arn,
        "SESSIONS_TABLE": params.sessions_table,
        "THREAD_MAPPINGS_TABLE": params.thread_mappings_table,
        "CONTAINERS_TABLE": params.containers_table,
        "CONTAINER_INDEX_NAME": params.container_index_name,
        "ECS_CLUSTER": params.ecs_cluster,
        "ECS_SERVICE": params.ecs_service,
        "CANARY_CLIENT_ID": params.canary_client_id,
        "CANARY_USER_ID": params.canary_user_id,
        "CANARY_THREAD_ID": params.canary_thread_id,
        "WAKE_FAILED_MS": str(params.wake_failed_ms),
        "API_FAILED_MS": str(params.api_failed_ms),
        "SLEEP_MODE": params.sleep_mode,
        "IDLE_TIMEOUT_S": str(params.idle_timeout_s),
        "CANARY_BUDGET_S": str(params.effective_budget_s),
        "POWERTOOLS_METRICS_NAMESPACE": DEFAULT_NAMESPACE,
    }
    assert {k: variables.get(k) for k in expected} == expected
    assert "POWERTOOLS_SERVICE_NAME" in variables
    assert int(variables["CANARY_BUDGET_S"]) < function["Properties"]["Timeout"]


def test_alb_mode_sets_alb_dns_name_and_preview_domain_instead_of_a_template(synthesized):
    values = {
        k: v for k, v in synthesized.params.__dict__.items()
        if k not in ("preview_url_template", "alb_dns_name", "preview_domain")
    }
    params = CanaryParams(**values, alb_dns_name="alb.internal", preview_domain="webordinary.com")
    env = lambda_environment(params, "lock")
    assert (env["ALB_DNS_NAME"], env["PREVIEW_DOMAIN"]) == ("alb.internal", "webordinary.com")
    assert "PREVIEW_URL_TEMPLATE" not in env


def test_function_logs_to_its_own_log_group_with_retention(synthesized):
    log_group_id, log_group = synthesized.only("AWS::Logs::LogGroup")
    _, function = synthesized.only("AWS::Lambda::Function")
    assert log_group["Properties"]["RetentionInDays"] == synthesized.params.log_retention_days
    assert function["Properties"]["LoggingConfig"]["LogGroup"] == ref(log_group_id)


def test_lock_table_is_on_demand_with_ttl_and_point_in_time_recovery(synthesized):
    synthesized.template.has_resource_properties("AWS::DynamoDB::Table", {
        "KeySchema": [{"AttributeName": "lockId", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "lockId", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
        "TimeToLiveSpecification": {"AttributeName": "expiresAt", "Enabled": True},
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
    })


# -- IAM -----------------------------------------------------------------------


def _statements(synthesized) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for logical_id, policy in synthesized.resources("AWS::IAM::Policy").items():
        found += [(logical_id, s) for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    for logical_id, role in synthesized.resources("AWS::IAM::Role").items():
        for inline in role["Properties"].get("Policies", []):
            found += [(logical_id, s) for s in inline["PolicyDocument"]["Statement"]]
    return found


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _flat(value: Any) -> str:
    """An ARN expression as text: Fn::Join pieces joined, intrinsics rendered as <...>."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(_flat(p) for p in parts)
    if isinstance(value, dict) and "Ref" in value:
        return f"<{value['Ref']}>"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    return json.dumps(value)


def _names_something(synthesized, resource: str) -> bool:
    """A resource of this template (<Id.Arn>) or an ARN naming a configured resource."""
    params = synthesized.params
    reports = re.escape(report_prefix(params.environment))  # the report bucket's objects
    if m := re.fullmatch(rf"<([A-Za-z0-9]+)\.Arn>(?:/{reports}\*)?", resource):
        return m.group(1) in synthesized.template_json["Resources"]
    if resource == params.api_key_secret_arn:
        return True
    named = [f":table/{name}" for name in params.table_names] + [
        f":table/{params.thread_mappings_table}/index/{params.container_index_name}",
        f":task/{params.ecs_cluster}/*",
    ]
    return resource.startswith("arn:<AWS::Partition>:") and any(
        resource.endswith(n) for n in named
    )


def test_roles_are_built_here_without_managed_policies(synthesized):
    roles = synthesized.resources("AWS::IAM::Role")
    assert roles, "the function's role is missing"
    for role in roles.values():
        assert "ManagedPolicyArns" not in role["Properties"]


def test_every_iam_statement_names_its_actions_and_resources(synthesized):
    statements = _statements(synthesized)
    assert statements
    for where, statement in statements:
        assert statement["Effect"] == "Allow", where
        for action in _as_list(statement["Action"]):
            assert "*" not in action, f"{where}: wildcard action {action}"
        for resource in _as_list(statement["Resource"]):
            if resource == "*":
                # Only where the action has no resource type: then a condition scopes it.
                assert statement.get("Condition", {}).get("ArnEquals", {}).get("ecs:cluster"), (
                    f"{where}: unscoped '*' resource in {statement}"
                )
            else:
                assert _names_something(synthesized, _flat(resource)), (
                    f"{where}: resource {_flat(resource)} names nothing of ours"
                )


def test_iam_resources_are_the_platform_tables_the_lock_table_the_cluster_and_the_secret(
    synthesized,
):
    params = synthesized.params
    lock_id, _ = synthesized.only("AWS::DynamoDB::Table")
    log_group_id, _ = synthesized.only("AWS::Logs::LogGroup")
    by_action: dict[str, set[str]] = {}
    conditions: dict[str, Any] = {}
    for _, statement in _statements(synthesized):
        for action in _as_list(statement["Action"]):
            by_action.setdefault(action, set()).update(
                _flat(r) for r in _as_list(statement["Resource"])
            )
            conditions[action] = statement.get("Condition")
    arn = "arn:<AWS::Partition>:dynamodb:<AWS::Region>:<AWS::AccountId>:table/"
    containers, mappings, sessions, lock = (
        arn + params.containers_table, arn + params.thread_mappings_table,
        arn + params.sessions_table, f"<{lock_id}.Arn>")
    index = f"{arn}{params.thread_mappings_table}/index/{params.container_index_name}"
    assert by_action["dynamodb:GetItem"] == {containers, mappings, lock}
    assert by_action["dynamodb:PutItem"] == {mappings, sessions, lock}
    assert by_action["dynamodb:DeleteItem"] == {mappings, lock}
    assert by_action["dynamodb:UpdateItem"] == {containers}
    assert by_action["dynamodb:Query"] == {index, sessions}
    cluster = f":cluster/{params.ecs_cluster}"
    assert by_action["ecs:ListTasks"] == {"*"}
    assert by_action["ecs:DescribeTasks"] == by_action["ecs:StopTask"]
    (tasks,) = by_action["ecs:StopTask"]
    assert tasks.endswith(f":task/{params.ecs_cluster}/*")
    for action in ("ecs:ListTasks", "ecs:DescribeTasks", "ecs:StopTask"):
        assert _flat(conditions[action]["ArnEquals"]["ecs:cluster"]).endswith(cluster)
    assert by_action["secretsmanager:GetSecretValue"] == {params.api_key_secret_arn}
    assert by_action["logs:PutLogEvents"] == {f"<{log_group_id}.Arn>"}
    bucket_id, _ = synthesized.only("AWS::S3::Bucket")
    reports = f"<{bucket_id}.Arn>/{report_prefix(params.environment)}*"
    assert by_action.pop("s3:PutObject") == {reports}  # the run reports: written, never read
    assert not any(a.startswith(("iam:", "sts:", "kms:", "s3:")) for a in by_action)


# -- notifications -------------------------------------------------------------

TOPICS = ("Paging", "Tickets", "Owners")


def _topics(synthesized) -> dict[str, str]:
    """Topic role (Paging, Tickets, Owners) -> logical id."""
    found = {}
    for logical_id in synthesized.resources("AWS::SNS::Topic"):
        (role,) = [t for t in TOPICS if f"Notifications{t}" in logical_id]
        found[role] = logical_id
    assert sorted(found) == sorted(TOPICS)
    return found


def test_every_topic_is_encrypted_with_one_rotated_key_that_cloudwatch_may_use(synthesized):
    key_id, key = synthesized.only("AWS::KMS::Key")
    for topic in synthesized.resources("AWS::SNS::Topic").values():
        assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert key["Properties"]["EnableKeyRotation"] is True
    cloudwatch = [
        s for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert len(cloudwatch) == 1
    assert set(cloudwatch[0]["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}


def test_every_topic_policy_denies_publishing_without_tls(synthesized):
    for topic_id in _topics(synthesized).values():
        synthesized.template.has_resource_properties("AWS::SNS::TopicPolicy", {
            "Topics": [ref(topic_id)],
            "PolicyDocument": {"Statement": Match.array_with([Match.object_like({
                "Effect": "Deny",
                "Principal": "*",
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            })])},
        })


def _subscriptions(synthesized) -> dict[str, set[tuple[str, str]]]:
    """Topic role -> {(protocol, endpoint)}."""
    by_id = {v: k for k, v in _topics(synthesized).items()}
    found: dict[str, set[tuple[str, str]]] = {t: set() for t in TOPICS}
    for s in synthesized.resources("AWS::SNS::Subscription").values():
        props = s["Properties"]
        found[by_id[props["TopicArn"]["Ref"]]].add((props["Protocol"], props["Endpoint"]))
    return found


def test_without_their_own_endpoints_tickets_and_owners_reach_the_alarm_emails(synthesized):
    # A dead canary (heartbeat, its errors) must never go to a topic nobody reads.
    emails = {("email", e) for e in synthesized.params.alarm_emails}
    assert emails and not synthesized.params.ticket_endpoints
    subscriptions = _subscriptions(synthesized)
    assert subscriptions["Tickets"] == emails and subscriptions["Owners"] == emails


def test_alarm_emails_are_subscribed_to_the_paging_topic(synthesized):
    assert _subscriptions(synthesized)["Paging"] == {
        ("email", e) for e in synthesized.params.alarm_emails
    }


def test_https_endpoints_subscribe_over_https_and_owners_default_to_tickets(variant):
    subscriptions = _subscriptions(variant)
    assert ("https", VARIANT["pagingEndpoints"][0]) in subscriptions["Paging"]
    assert ("email", VARIANT["pagingEndpoints"][1]) in subscriptions["Paging"]
    assert subscriptions["Tickets"] == {("email", VARIANT["ticketEndpoints"][0])}
    assert subscriptions["Owners"] == subscriptions["Tickets"]


# -- alarms --------------------------------------------------------------------


def _alarms_by_name(synthesized, cfn_type="AWS::CloudWatch::Alarm"):
    return {
        a["Properties"]["AlarmName"]: (logical_id, a["Properties"])
        for logical_id, a in synthesized.resources(cfn_type).items()
    }


def _alarm_metric(props, spec):
    """The alarm's metric, flat: from the alarm itself, or from the one metric under a
    `FILL(m, value)` expression when the spec fills missing periods."""
    if spec.fill_missing is None:
        return props
    expression, (inner,) = props["Metrics"][0], props["Metrics"][1:]
    assert expression["Expression"] == f"FILL(m, {spec.fill_missing:g})", spec.name
    assert expression["ReturnData"] is True and inner["ReturnData"] is False
    assert inner["Id"] == "m"
    stat = inner["MetricStat"]
    return {**stat["Metric"], "Statistic": stat["Stat"], "Period": stat["Period"]}


def _lane_specs(params) -> list[tuple[Lane, Any, str]]:
    """(lane, spec, deployed alarm name) of every alarm of every lane the deployment runs."""
    return [(lane, spec, alarm_name(params, spec.name, lane))
            for lane in params.lanes for spec in specs_for(params, lane)]


def test_every_alarm_of_the_specification_is_deployed_as_specified(synthesized):
    params = synthesized.params
    function_id, _ = synthesized.only("AWS::Lambda::Function")
    alarms = _alarms_by_name(synthesized)
    specs = _lane_specs(params)
    assert len(alarms) == len(specs), "an alarm outside the specification was added"
    for lane, spec, name in specs:
        _, props = alarms[name]
        expected_dimensions = (
            [{"Name": "FunctionName", "Value": ref(function_id)}]
            if spec.namespace == "AWS/Lambda"
            else [{"Name": ENVIRONMENT_DIMENSION, "Value": params.environment},
                  {"Name": LANE_DIMENSION, "Value": lane.value}]
        )
        metric = _alarm_metric(props, spec)
        assert {
            "Namespace": metric["Namespace"],
            "MetricName": metric["MetricName"],
            "Dimensions": metric["Dimensions"],
            "Statistic": metric["Statistic"],
            "Threshold": props["Threshold"],
            "ComparisonOperator": props["ComparisonOperator"],
            "Period": metric["Period"],
            "EvaluationPeriods": props["EvaluationPeriods"],
            "DatapointsToAlarm": props["DatapointsToAlarm"],
            "TreatMissingData": props["TreatMissingData"],
        } == {
            "Namespace": spec.namespace or DEFAULT_NAMESPACE,
            "MetricName": spec.metric,
            "Dimensions": expected_dimensions,
            "Statistic": spec.statistic,
            "Threshold": spec.threshold,
            "ComparisonOperator": spec.comparison.value,
            "Period": spec.period_seconds,
            "EvaluationPeriods": spec.evaluation_periods,
            "DatapointsToAlarm": spec.datapoints_to_alarm,
            "TreatMissingData": spec.missing_data.value,
        }, spec.name
        assert spec.runbook in props["AlarmDescription"]


def test_alarms_notify_by_fault_and_severity_and_paging_ones_only_through_the_composite(
    synthesized,
):
    params, topics = synthesized.params, _topics(synthesized)
    alarms = _alarms_by_name(synthesized)
    for _, spec, name in _lane_specs(params):
        _, props = alarms[name]
        actions = (props.get("AlarmActions", []), props.get("OKActions", []))
        if spec.owner is Owner.CANARY:
            assert actions == ([ref(topics["Owners"])], [ref(topics["Owners"])]), spec.name
        elif spec.pages:
            assert actions == ([], []), spec.name
        else:
            assert actions == ([ref(topics["Tickets"])], []), spec.name
    (composite,) = synthesized.resources("AWS::CloudWatch::CompositeAlarm").values()
    assert composite["Properties"]["AlarmActions"] == [ref(topics["Paging"])]
    assert composite["Properties"]["OKActions"] == [ref(topics["Paging"])]
    assert composite["Properties"].get("ActionsEnabled", True) is True


def test_canary_faults_carry_a_runbook_link_to_the_canary_faults_section(synthesized):
    params = synthesized.params
    alarms = _alarms_by_name(synthesized)
    owned = [(s, name) for _, s, name in _lane_specs(params) if s.owner is Owner.CANARY]
    assert {s.name for s, _ in owned} == {"CanaryError", "CanaryLambdaErrors", "CanaryHeartbeat"}
    for _, name in owned:
        description = alarms[name][1]["AlarmDescription"]
        assert f"Runbook: {runbook(params)}{CANARY_FAULTS}" in description
        assert "not a platform one" in description


def test_alarm_thresholds_follow_the_configured_targets(synthesized):
    params = synthesized.params
    alarms = _alarms_by_name(synthesized)
    assert alarms[alarm_name(params, "WakeTimeHigh")][1]["Threshold"] == params.wake_failed_ms
    assert alarms[alarm_name(params, "ResumeApiSlow")][1]["Threshold"] == params.api_failed_ms


def _rule_text(props) -> str:
    return _flat(props["AlarmRule"])


def test_composite_fires_on_any_paging_alarm_alone_and_never_on_a_canary_fault(
    synthesized,
):
    params = synthesized.params
    alarms = _alarms_by_name(synthesized)
    (composite,) = _alarms_by_name(synthesized, "AWS::CloudWatch::CompositeAlarm").items()
    name, (_, props) = composite
    assert name == alarm_name(params, HEALTH_ALARM)
    rule = _rule_text(props)
    ids = {name: alarms[name][0] for _, _, name in _lane_specs(params)}
    referenced = set(re.findall(r"<([A-Za-z0-9]+)\.Arn>", rule))
    paging = {name for _, s, name in _lane_specs(params) if s.pages}
    assert {s.name for _, s, name in _lane_specs(params) if name in paging} >= {"ScenarioFailed"}
    assert not {n for n in paging if n.endswith("CanaryHeartbeat")}
    # ScenarioSuccess holds only the platform's verdicts: no alarm needs a CanaryError guard.
    assert referenced == {ids[n] for n in paging}
    assert "NOT" not in rule and "AND" not in rule and rule.count(" OR ") == len(paging) - 1


def test_maintenance_keeps_the_composite_but_turns_its_and_the_warnings_actions_off(variant):
    params, topics = variant.params, _topics(variant)
    (composite,) = variant.resources("AWS::CloudWatch::CompositeAlarm").values()
    assert composite["Properties"]["ActionsEnabled"] is False
    assert composite["Properties"]["AlarmActions"] == [ref(topics["Paging"])]
    alarms = _alarms_by_name(variant)
    for _, spec, name in _lane_specs(params):
        props = alarms[name][1]
        expected = [ref(topics["Owners"])] if spec.owner is Owner.CANARY else []
        assert props.get("AlarmActions", []) == expected, spec.name


def test_an_alarm_whose_metric_is_never_emitted_is_not_created_and_synth_says_so(
    synthesized, variant,
):
    manifest = (variant.outdir / f"{variant.stack_name}.metadata.json").read_text()
    assert variant.params.sleep_mode == "force"
    for metric in ("AutoSaveFailed", "AutoSleepMissed"):
        assert alarm_name(variant.params, metric) not in _alarms_by_name(variant)
        assert metric in uncheckable(variant.params)
        assert f"alarm {metric} not created" in manifest
    # Observe mode checks the lastAutoSave the container reports: the alarm exists.
    assert synthesized.params.sleep_mode == "observe"
    assert alarm_name(synthesized.params, "AutoSaveFailed") in _alarms_by_name(synthesized)
    assert "not created" not in (
        synthesized.outdir / f"{synthesized.stack_name}.metadata.json").read_text()


# -- dashboard -----------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard(synthesized) -> dict[str, Any]:
    _, resource = synthesized.only("AWS::CloudWatch::Dashboard")
    body = _flat(resource["Properties"]["DashboardBody"])
    return json.loads(body)


def _widget(dashboard, title_part: str) -> dict[str, Any]:
    (widget,) = [
        w for w in dashboard["widgets"] if title_part in w["properties"].get("title", "")
    ]
    return widget["properties"]


def _lines(properties) -> list[dict[str, Any]]:
    return properties.get("annotations", {}).get("horizontal", [])


def test_wake_time_graph_shows_p50_p90_max_against_a_60_s_line(dashboard):
    wake = _widget(dashboard, "Container wake time")
    assert {"label": "60 s target", "value": 60000} in [
        {k: line[k] for k in ("label", "value")} for line in _lines(wake)
    ]
    stats = {m[-1]["stat"] for m in wake["metrics"]}
    assert stats == {"p50", "p90", "Maximum"}
    assert {m[1] for m in wake["metrics"]} == {"ContainerWakeTime"}


def test_wake_phases_are_stacked_beside_the_wake_time_in_wake_order(dashboard):
    from canary.catalogue import WAKE_PHASES

    rows = {w["properties"].get("title", "").split(":")[0]: w for w in dashboard["widgets"]}
    phases, wake = rows["Where the wake time goes"], rows["Container wake time (Hermes)"]
    assert phases["properties"]["stacked"] is True
    assert [m[1] for m in phases["properties"]["metrics"]] == [m.name for m in WAKE_PHASES]
    assert phases["y"] == wake["y"] and phases["x"] == wake["x"] + wake["width"]


def test_api_response_graph_has_a_2_s_line(dashboard):
    api = _widget(dashboard, "Resume API response time")
    assert {"label": "2 s target", "value": 2000} in [
        {k: line[k] for k in ("label", "value")} for line in _lines(api)
    ]
    assert {m[1] for m in api["metrics"]} == {"APIResponseTime"}


def test_dashboard_shows_success_steps_faults_alarms_and_the_runbook(dashboard, synthesized):
    for lane in synthesized.params.lanes:
        success = _widget(dashboard, f"{lane.value} lane: success rate")
        assert any("100 * final" in json.dumps(m) for m in success["metrics"])
        steps = _widget(dashboard, f"{lane.value} lane: per-step success")
        assert [m[-1]["label"] for m in steps["metrics"]] == list(
            Scenario.for_lane(lane).names)
    assert "wake_hermes" in STEP_NAMES and "wake_hermes" not in Scenario.for_lane("quick").names
    for title, metric in (
        ("Preview URL wake time", "PreviewWakeTime"), ("Duplicate tasks", "DuplicateTasks"),
        ("Auto-sleep delay", "AutoSleepDelay"), ("Auto-save failures", "AutoSaveFailed"),
    ):
        assert metric in {m[1] for m in _widget(dashboard, title)["metrics"]}, title
    alarms = _widget(dashboard, "Alarms")
    assert len(alarms["alarms"]) == len(_lane_specs(synthesized.params)) + 1
    (text,) = [w for w in dashboard["widgets"]
               if w["type"] == "text" and "Runbook" in w["properties"]["markdown"]]
    assert runbook(synthesized.params) in text["properties"]["markdown"]


def test_every_emitted_metric_has_an_alarm_or_a_dashboard_graph(dashboard, synthesized):
    alarmed = {a[1]["MetricName"] for a in _alarms_by_name(synthesized).values()
               if "MetricName" in a[1]}
    alarmed |= {m["MetricStat"]["Metric"]["MetricName"]
                for a in _alarms_by_name(synthesized).values() for m in a[1].get("Metrics", [])
                if "MetricStat" in m}
    graphed = {m[1] for w in dashboard["widgets"] for m in w["properties"].get("metrics", [])
               if len(m) > 1 and m[0] == DEFAULT_NAMESPACE}
    unwatched = [m.name for m in METRICS if m.name not in alarmed | graphed]
    assert not unwatched
    assert {"ContractViolations", "RouteLatency", "ScenarioDuration", "RunSkipped",
            "CanaryError", "AuthNotEnforced"} <= graphed
    assert "ContractViolations" in alarmed


def test_dashboard_shows_the_lambdas_health_with_duration_against_the_timeout(
    dashboard, synthesized,
):
    health = _widget(dashboard, "Canary Lambda")
    assert {m[1] for m in health["metrics"] if m[0] == "AWS/Lambda"} == {
        "Invocations", "Errors", "Throttles", "Duration"}
    timeout_ms = synthesized.params.timeout_s * 1000
    assert timeout_ms in [line["value"] for line in _lines(health)]


def test_each_step_that_measures_has_a_widget_derived_from_its_declaration(dashboard):
    from canary.scenario import SCENARIO

    for step in SCENARIO.all_steps:
        if step.measures:
            widget = _widget(dashboard, f"{step.name}: ")
            assert {m[1] for m in widget["metrics"]} == set(step.measures), step.name
