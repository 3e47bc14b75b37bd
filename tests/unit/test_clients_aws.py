"""State (DynamoDB) and orchestrator (ECS) clients over moto; AWS failures are TargetError."""

from __future__ import annotations

import boto3
import pytest

from canary.clients.base import TargetError
from canary.clients.orchestrator import OrchestratorClient, task_environment
from canary.clients.state import StateClient


def test_container_row_round_trip_with_plain_numbers(aws, h):
    s = StateClient(aws["ddb"], h.make_config())
    assert s.get_container("c1") is None
    s.update_container("c1", {"status": "running", "lastActivity": 1234,
                              "lastAutoSave": {"at": 5, "commit": "abc", "pushed": True}})
    row = s.get_container("c1")
    assert row["status"] == "running"
    assert row["lastActivity"] == 1234 and isinstance(row["lastActivity"], int)
    assert row["lastAutoSave"] == {"at": 5, "commit": "abc", "pushed": True}


def test_mappings_by_container_index(aws, h):
    s = StateClient(aws["ddb"], h.make_config())
    s.put_mapping({"threadId": "a", "containerId": "c1", "status": "active"})
    s.put_mapping({"threadId": "b", "containerId": "c1", "status": "ended"})
    s.put_mapping({"threadId": "x", "containerId": "c2", "status": "active"})
    assert sorted(m["threadId"] for m in s.mappings_for_container("c1")) == ["a", "b"]
    s.delete_mapping("a")
    assert s.get_mapping("a") is None


@pytest.mark.parametrize("schema", ["hash", "hash_range"])
def test_sessions_work_with_both_key_schemas(monkeypatch, schema, h):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    from moto import mock_aws

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=h.REGION)
        h.create_tables(ddb, schema)
        s = StateClient(ddb, h.make_config())
        s.put_session({"sessionId": "s1", "userId": "u1", "threadId": "t1"})
        s.put_session({"sessionId": "s1", "userId": "u1", "threadId": "t1", "status": "x"})
        assert s.get_session("s1")["status"] == "x"


def test_missing_table_is_a_target_error_naming_the_call(aws, h):
    s = StateClient(aws["ddb"], h.make_config(containers_table="no-such-table"))
    with pytest.raises(TargetError, match="GetItem no-such-table: ResourceNotFoundException"):
        s.get_container("c1")


def test_orchestrator_finds_only_the_containers_tasks(aws, h):
    mine = h.run_task(aws, "canary-t1-u1")
    other = h.run_task(aws, "someone-else")
    o = OrchestratorClient(aws["ecs"], "webordinary-edit-cluster")
    tasks = o.container_tasks("canary-t1-u1")
    assert [t["taskArn"] for t in tasks] == [mine]
    assert task_environment(tasks[0]) == {"CONTAINER_ID": "canary-t1-u1"}
    assert other not in [t["taskArn"] for t in tasks]


def test_orchestrator_counts_a_task_hermes_named_even_without_overrides(aws):
    arn = aws["ecs"].run_task(cluster="webordinary-edit-cluster", launchType="FARGATE",
                              taskDefinition=aws["task_definition"])["tasks"][0]["taskArn"]
    o = OrchestratorClient(aws["ecs"], "webordinary-edit-cluster")
    assert [t["taskArn"] for t in o.container_tasks("canary-t1-u1", {arn})] == [arn]


def test_stop_task_and_stopped_listing(aws, h):
    arn = h.run_task(aws)
    o = OrchestratorClient(aws["ecs"], "webordinary-edit-cluster")
    o.stop_task(arn)
    assert o.container_tasks("canary-t1-u1", include_stopped=False) == []
    (t,) = o.container_tasks("canary-t1-u1")
    assert t["lastStatus"] == "STOPPED"


def test_unknown_cluster_is_a_target_error(aws):
    o = OrchestratorClient(aws["ecs"], "no-cluster")
    with pytest.raises(TargetError, match="ListTasks no-cluster"):
        o.container_tasks("c")


def test_put_container_helper_matches_client(aws, h):
    h.put_container(aws, status="idle")
    row = StateClient(aws["ddb"], h.make_config()).get_container("canary-t1-u1")
    assert row["status"] == "idle"
