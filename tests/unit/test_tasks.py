"""Which ECS tasks are the synthetic session's: contract facts only, bounded look-ups
(moto's ECS through mock_aws)."""

from __future__ import annotations

import pytest

from canary import tasks as tasks_mod
from canary.clients.orchestrator import OrchestratorClient
from canary.tasks import STOP_REASON, SessionIdentity, SessionTasks

IDENTITY = SessionIdentity("canary", "t1", "canary-session-t1", "canary-t1-u1")


@pytest.fixture
def session_tasks(aws):
    return SessionTasks(OrchestratorClient(aws["ecs"], "webordinary-edit-cluster"), IDENTITY)


def test_a_task_whose_override_values_name_the_session_is_ours(aws, h, session_tasks):
    arn = h.run_task(aws)
    assert session_tasks.scan().arns == {arn}


def test_override_variable_names_do_not_matter_only_values(aws, h, session_tasks):
    arn = h.run_task(aws, {"SITE": "canary", "CHAT": "t1", "OTHER": "x"})
    assert session_tasks.scan().arns == {arn}


def test_client_id_alone_does_not_make_a_task_ours(aws, h, session_tasks):
    h.run_task(aws, {"CLIENT_ID": "canary", "SESSION_ID": "someone-elses-session"})
    assert session_tasks.scan().arns == set()


def test_a_foreign_task_is_not_ours_even_when_responses_name_it(aws, h, session_tasks):
    foreign = h.run_task(aws, h.FOREIGN_ENV)
    session_tasks.note_answer(foreign)
    session_tasks.note_row({"taskArn": foreign})
    assert session_tasks.scan(include_stopped=True).arns == set()
    assert session_tasks.stop(foreign) is None
    (t,) = aws["ecs"].describe_tasks(cluster="webordinary-edit-cluster", tasks=[foreign])["tasks"]
    assert t["lastStatus"] != "STOPPED"


def test_a_task_without_overrides_named_by_one_response_is_not_ours(aws, h, session_tasks):
    bare = h.run_task(aws, {})
    session_tasks.note_answer(bare)
    assert session_tasks.scan().arns == set()
    assert session_tasks.stop(bare) is None


def test_a_task_without_overrides_named_by_the_201_and_the_row_is_ours(aws, h, session_tasks):
    bare = h.run_task(aws, {})
    session_tasks.note_answer(bare)
    session_tasks.note_row({"status": "running", "taskArn": bare})
    assert session_tasks.scan().arns == {bare}


def test_stop_stops_our_task_with_the_canarys_reason(aws, h, session_tasks):
    arn = h.run_task(aws)
    assert "stopped task" in session_tasks.stop(arn)
    (t,) = aws["ecs"].describe_tasks(cluster="webordinary-edit-cluster", tasks=[arn])["tasks"]
    assert t["lastStatus"] == "STOPPED" and t["stoppedReason"] == STOP_REASON
    assert session_tasks.scan().live == []
    assert session_tasks.scan(include_stopped=True).arns == {arn}


def test_the_family_of_a_task_proven_ours_narrows_later_look_ups(aws, h, session_tasks):
    arn = h.run_task(aws)
    other_family = aws["ecs"].register_task_definition(
        family="unrelated", containerDefinitions=[{"name": "x", "image": "x", "memory": 128}],
    )["taskDefinition"]["taskDefinitionArn"]
    for _ in range(3):
        aws["ecs"].run_task(cluster="webordinary-edit-cluster", taskDefinition=other_family,
                            launchType="FARGATE")
    session_tasks.note_answer(arn)
    described: list[int] = []
    real = session_tasks.orchestrator.describe
    session_tasks.orchestrator.describe = lambda arns: described.append(len(arns)) or real(arns)
    assert session_tasks.scan().arns == {arn}
    assert session_tasks.families == {"edit"}
    assert sum(described) == 1  # the known ARN only: the other family was never listed


def test_a_configured_family_is_never_widened(aws, h):
    t = SessionTasks(OrchestratorClient(aws["ecs"], "webordinary-edit-cluster"), IDENTITY,
                     family="not-edit")
    h.run_task(aws)
    assert t.scan().arns == set() and t.families == {"not-edit"}


def test_a_scan_over_its_description_bound_says_it_is_incomplete(aws, h, session_tasks,
                                                                  monkeypatch):
    monkeypatch.setattr(tasks_mod, "MAX_DESCRIBED", 2)
    for _ in range(3):
        h.run_task(aws, h.FOREIGN_ENV)
    scan = session_tasks.scan()
    assert not scan.complete and "ECS_TASK_FAMILY" in scan.note


def test_created_since_leaves_out_older_tasks_and_keeps_undated_ones(aws, h, session_tasks):
    from moto.ecs.models import ecs_backends

    old, new, undated = h.run_task(aws), h.run_task(aws), h.run_task(aws)
    backend = ecs_backends["123456789012"][h.REGION]
    for task in backend.tasks["webordinary-edit-cluster"].values():
        if task.task_arn in (old, new):  # moto records no creation time: set it, as ECS does
            task.created_at = 1_000.0 if task.task_arn == old else 2_000.0
    assert session_tasks.scan(created_since=2_000.0).arns == {new, undated}
