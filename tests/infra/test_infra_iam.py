"""The role grants what canary/ calls, nothing else, and only on the canary's own items.

The calls are read from the source (every attribute of a DynamoDB, ECS, Secrets Manager or S3
client named after one of the service's operations, per botocore's service models), so a
new boto3 call without its grant, or a grant the code no longer needs, fails here.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("dynamodb", "ecs", "secretsmanager", "s3")
# Receivers in canary/ that hold a boto3 client (DynamoDB, ECS, Secrets Manager or S3).
CLIENTS = {"ddb", "ecs", "_client", "client"}
# Receivers with a method that happens to share an operation's name: the canary's own
# objects (TaskTracker.scan, OrchestratorClient.stop_task) and urlsplit's `query`.
NOT_CLIENTS = {"tasks", "orchestrator", "parts"}
RUNTIME_ONLY = ("logs:",)  # the Lambda runtime writes the logs, not canary/'s boto3 calls
DYNAMODB_ITEM_ACTIONS = {
    "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
    "dynamodb:Query",
}


def _operations() -> dict[str, set[str]]:
    """snake_case method name -> the IAM actions ("service:Operation") it may stand for."""
    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    found: dict[str, set[str]] = {}
    for service in SERVICES:
        model = session.get_service_model(service)
        for operation in model.operation_names:
            found.setdefault(xform_name(operation), set()).add(
                f"{model.signing_name}:{operation}"
            )
    return found


def _receiver(node: ast.Attribute) -> str:
    value = node.value
    if isinstance(value, ast.Attribute):
        return value.attr
    return value.id if isinstance(value, ast.Name) else ast.dump(value)


def boto3_calls_in_canary() -> dict[str, list[str]]:
    """IAM action -> where canary/ calls (or passes on) the client method."""
    operations = _operations()
    calls: dict[str, list[str]] = {}
    for path in sorted((ROOT / "canary").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.Attribute) or node.attr not in operations:
                continue
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            receiver = _receiver(node)
            if receiver in NOT_CLIENTS:
                continue
            assert receiver in CLIENTS, (
                f"{where}: .{node.attr} on {receiver!r}: add it to CLIENTS (a boto3 client) "
                "or NOT_CLIENTS (another object)"
            )
            (action,) = operations[node.attr]  # the three services share no name we call
            calls.setdefault(action, []).append(where)
    return calls


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _role_statements(synthesized) -> list[dict[str, Any]]:
    _, role = synthesized.only("AWS::IAM::Role")
    assert not synthesized.resources("AWS::IAM::Policy"), "grants belong to the inline policy"
    return [s for p in role["Properties"]["Policies"] for s in p["PolicyDocument"]["Statement"]]


def _role_actions(synthesized) -> set[str]:
    return {a for s in _role_statements(synthesized) for a in _as_list(s["Action"])
            if not a.startswith(RUNTIME_ONLY)}


def test_the_source_scan_finds_the_calls_it_is_meant_to_find():
    calls = boto3_calls_in_canary()
    for action in ("dynamodb:GetItem", "dynamodb:Query", "ecs:ListTasks",
                   "secretsmanager:GetSecretValue"):
        assert action in calls, action
    assert "dynamodb:Scan" not in calls  # TaskTracker.scan is not DynamoDB's


def test_every_boto3_call_in_canary_is_granted(synthesized):
    calls = boto3_calls_in_canary()
    missing = {a: calls[a] for a in calls.keys() - _role_actions(synthesized)}
    assert not missing, f"called but not granted: {missing}"


def test_every_granted_action_is_called_by_canary(synthesized):
    unused = _role_actions(synthesized) - boto3_calls_in_canary().keys()
    assert not unused, f"granted but never called: {sorted(unused)}"


def _leading_keys(statement: dict[str, Any]) -> list[str] | None:
    condition = statement.get("Condition", {}).get("ForAllValues:StringEquals", {})
    return condition.get("dynamodb:LeadingKeys")


def _table_of(resource: Any) -> str:
    """The table (or table/index/name) an ARN expression names."""
    parts = resource["Fn::Join"][1] if isinstance(resource, dict) else [resource]
    return "".join(p for p in parts if isinstance(p, str)).split(":table/", 1)[1]


def _platform_grants(synthesized) -> dict[str, dict[str, Any]]:
    """Table (or index) name -> its statement, for statements on the platform's tables."""
    params = synthesized.params
    platform = {*params.table_names,
                f"{params.thread_mappings_table}/index/{params.container_index_name}"}
    grants: dict[str, dict[str, Any]] = {}
    for statement in _role_statements(synthesized):
        for resource in _as_list(statement["Resource"]):
            if isinstance(resource, dict) and ":table/" in str(resource):
                name = _table_of(resource)
                if name in platform:
                    assert name not in grants, f"two statements on {name}"
                    grants[name] = statement
    assert grants.keys() == platform
    return grants


@pytest.fixture(scope="module")
def run_configs(synthesized):
    """Every (lane, session) config the deployed Lambda derives: what it may touch."""
    return synthesized.params.all_run_configs()


def test_leading_keys_cover_both_lanes_of_every_configured_session(synthesized):
    mappings = _leading_keys(_platform_grants(synthesized)[
        synthesized.params.thread_mappings_table])
    # cdk.json's example: sessions site-a and site-b, the full and the quick lane.
    for thread in ("canary-thread-0001", "canary-thread-0002"):
        assert {thread, f"{thread}-quick"} <= set(mappings), thread


def test_without_the_quick_lane_no_quick_key_is_granted(variant):
    for grant in _platform_grants(variant).values():
        assert not [k for k in _leading_keys(grant) if "-quick" in k], grant


def test_containers_grant_is_limited_to_the_canary_containers(synthesized, run_configs):
    grant = _platform_grants(synthesized)[synthesized.params.containers_table]
    assert sorted(_leading_keys(grant)) == sorted({c.container_id for c in run_configs})
    assert len(_leading_keys(grant)) == 4  # two sessions, two lanes: four containers
    assert set(_as_list(grant["Action"])) == {"dynamodb:GetItem", "dynamodb:UpdateItem"}


def test_mappings_grant_is_limited_to_the_canary_threads_and_the_full_lanes_keepalives(
    synthesized, run_configs,
):
    grant = _platform_grants(synthesized)[synthesized.params.thread_mappings_table]
    threads = {c.thread_id for c in run_configs}
    sleeping = {c.thread_id for c in run_configs if c.lane == "full"}  # quick never sleeps
    assert sleeping and sleeping != threads
    assert sorted(_leading_keys(grant)) == sorted(
        threads | {f"{thread}-keepalive" for thread in sleeping})
    assert set(_as_list(grant["Action"])) == {
        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"}


def test_container_index_query_is_limited_to_the_canary_containers(synthesized, run_configs):
    params = synthesized.params
    grant = _platform_grants(synthesized)[
        f"{params.thread_mappings_table}/index/{params.container_index_name}"]
    assert sorted(_leading_keys(grant)) == sorted({c.container_id for c in run_configs})
    assert _as_list(grant["Action"]) == ["dynamodb:Query"]


def test_sessions_grant_is_limited_to_the_canary_sessions(synthesized, run_configs):
    grant = _platform_grants(synthesized)[synthesized.params.sessions_table]
    assert sorted(_leading_keys(grant)) == sorted({c.session_id for c in run_configs})
    assert set(_as_list(grant["Action"])) == {"dynamodb:PutItem", "dynamodb:Query"}


def test_no_dynamodb_item_action_on_a_platform_table_goes_without_leading_keys(synthesized):
    lock_id, _ = synthesized.only("AWS::DynamoDB::Table")
    for statement in _role_statements(synthesized):
        if not DYNAMODB_ITEM_ACTIONS & set(_as_list(statement["Action"])):
            continue
        resources = _as_list(statement["Resource"])
        if resources == [{"Fn::GetAtt": [lock_id, "Arn"]}]:
            continue  # the canary's own lock table
        assert _leading_keys(statement), f"no dynamodb:LeadingKeys on {statement}"
