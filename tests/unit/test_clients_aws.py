"""State (DynamoDB) and orchestrator (ECS) clients over moto; AWS failures are TargetError."""

from __future__ import annotations

import boto3
import pytest

from canary.clients.base import TargetError
from canary.clients.orchestrator import OrchestratorClient, override_values
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


def test_orchestrator_lists_by_desired_status_and_stops_with_a_reason(aws, h):
    arn = h.run_task(aws)
    o = OrchestratorClient(aws["ecs"], "webordinary-edit-cluster")
    o.stop_task(arn, reason="session-resumption-canary")
    assert o.list_task_arns("RUNNING") == ([], False)
    assert o.list_task_arns("STOPPED") == ([arn], False)
    (t,) = o.describe([arn, arn])
    assert t["stoppedReason"] == "session-resumption-canary"
    assert "canary-session-t1" in override_values(t)


def test_orchestrator_listing_is_bounded_in_pages(aws, h):
    arns = [h.run_task(aws) for _ in range(3)]
    o = OrchestratorClient(aws["ecs"], "webordinary-edit-cluster")
    pages = []
    real = aws["ecs"].list_tasks

    def one_per_page(**kwargs):  # moto does not paginate: serve one ARN per page
        pages.append(kwargs.get("nextToken"))
        i = int(kwargs.get("nextToken") or 0)
        resp = real(**{k: v for k, v in kwargs.items() if k != "nextToken"})
        return {"taskArns": resp["taskArns"][i:i + 1], "nextToken": str(i + 1)}

    aws["ecs"].list_tasks = one_per_page
    listed, truncated = o.list_task_arns("RUNNING", max_pages=2)
    assert truncated and len(listed) == 2 and set(listed) <= set(arns) and len(pages) == 2


def test_unknown_cluster_is_a_target_error(aws):
    o = OrchestratorClient(aws["ecs"], "no-cluster")
    with pytest.raises(TargetError, match="ListTasks no-cluster"):
        o.list_task_arns("RUNNING")


def test_put_container_helper_matches_client(aws, h):
    h.put_container(aws, status="idle")
    row = StateClient(aws["ddb"], h.make_config()).get_container("canary-t1-u1")
    assert row["status"] == "idle"
