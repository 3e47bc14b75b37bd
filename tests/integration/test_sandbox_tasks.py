"""ECS tasks as production shapes them: what Hermes's RunTask sets, how tasks stop, and the
foreign tasks (other customers') that share the cluster."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.integration

FAST = {"idle_timeout_s": 0.3, "check_interval_s": 0.05}
OTHER_ID = "othersite-other-thread-other"  # what the foreign task's overrides would derive



def _stopped_fields(task: dict) -> tuple:
    return task["lastStatus"], task["desiredStatus"], task.get("stopCode")


def test_hermes_task_has_no_started_by_and_its_family_as_group(make_platform):
    p = make_platform()
    s = p.seed()
    arn = p.resume(s.body).json()["taskArn"]
    (task,) = p.tasks(s.container_id)
    family = p.ecs.describe_task_definition(
        taskDefinition=p.info.task_definition)["taskDefinition"]["family"]
    assert task["taskArn"] == arn
    assert not task.get("startedBy")
    assert task["group"] == f"family:{family}"


def test_hermes_task_overrides_name_the_session_but_never_the_container_id(make_platform, task_env):
    p = make_platform()
    s = p.seed()
    p.resume(s.body)
    (task,) = p.tasks(s.container_id)
    env = task_env(task)
    assert (env["CLIENT_ID"], env["USER_ID"]) == (s.client_id, s.user_id)
    assert (env["THREAD_ID"], env["SESSION_ID"]) == (s.thread_id, s.session_id)
    assert env["REPO_URL"]
    assert "CONTAINER_ID" not in env
    assert s.container_id not in env.values()


def test_container_registers_under_the_id_it_derives_from_the_overrides(make_platform):
    p = make_platform()
    s = p.seed()
    arn = p.resume(s.body).json()["taskArn"]
    row = p.container(f"{s.client_id}-{s.thread_id}-{s.user_id}")
    assert (row["status"], row["taskArn"]) == ("running", arn)


def test_stop_task_is_user_initiated_with_reason_and_times(make_platform):
    p = make_platform()
    s = p.seed()
    arn = p.resume(s.body).json()["taskArn"]
    p.ecs.stop_task(cluster=p.info.cluster, task=arn, reason="session-resumption-canary")
    (task,) = p.tasks(s.container_id)
    assert _stopped_fields(task) == ("STOPPED", "STOPPED", "UserInitiated")
    assert task["stoppedReason"] == "session-resumption-canary"
    assert task["createdAt"] <= task["startedAt"] <= task["stoppedAt"]
    names = p.event_names(s.container_id)
    assert "stop_task" in names and "task_exited" not in names


def test_stop_task_while_booting_stops_it_before_it_registers(stays, make_platform, wait_for):
    p = make_platform(boot_delay_s=0.5)
    s = p.seed()
    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(p.resume, s.body)
        (task,) = wait_for(lambda: p.tasks(s.container_id), timeout=5)
        p.ecs.stop_task(cluster=p.info.cluster, task=task["taskArn"], reason="canary cleanup")
        assert call.result(timeout=10).status_code == 500  # Hermes saw its task stop
    (task,) = p.tasks(s.container_id)
    assert _stopped_fields(task) == ("STOPPED", "STOPPED", "UserInitiated")
    assert "stop_task" in p.event_names(s.container_id)
    # past the boot delay, it never registered
    assert stays(lambda: "registered_running" not in p.event_names(s.container_id), 0.8)


def test_auto_sleep_exit_is_essential_container_exited(make_platform, wait_for):
    p = make_platform(**FAST)
    s = p.seed()
    p.resume(s.body)
    p.end_session(s)
    (task,) = wait_for(
        lambda: [t for t in p.tasks(s.container_id) if t["lastStatus"] == "STOPPED"], timeout=5
    )
    assert _stopped_fields(task) == ("STOPPED", "STOPPED", "EssentialContainerExited")
    assert task["stoppedReason"]
    assert task["startedAt"] <= task["stoppedAt"]
    names = p.event_names(s.container_id)
    assert "task_exited" in names and "stop_task" not in names


def test_stopping_an_exited_task_keeps_how_it_stopped(make_platform, wait_for):
    p = make_platform(**FAST)
    s = p.seed()
    arn = p.resume(s.body).json()["taskArn"]
    p.end_session(s)
    (before,) = wait_for(
        lambda: [t for t in p.tasks(s.container_id) if t["lastStatus"] == "STOPPED"], timeout=5
    )
    p.ecs.stop_task(cluster=p.info.cluster, task=arn, reason="late")
    (after,) = p.tasks(s.container_id)
    assert (after["stopCode"], after["stoppedReason"], after["stoppedAt"]) == (
        before["stopCode"], before["stoppedReason"], before["stoppedAt"])


def test_two_foreign_tasks_run_from_the_start(make_platform, task_env):
    p = make_platform()
    bare, other = p.info.foreign_task_arns
    tasks = {t["taskArn"]: t for t in p.foreign_tasks()}
    assert {t["lastStatus"] for t in tasks.values()} == {"RUNNING"}
    assert all(t["createdAt"] <= t["startedAt"] for t in tasks.values())
    assert task_env(tasks[bare]) == {}
    env = task_env(tasks[other])
    assert (env["CLIENT_ID"], env["THREAD_ID"], env["SESSION_ID"], env["USER_ID"]) == (
        "othersite", "other-thread", "other-session", "other")
    running = p.ecs.list_tasks(cluster=p.info.cluster, desiredStatus="RUNNING")
    assert {bare, other} <= set(running["taskArns"])


def test_foreign_tasks_boot_no_container(stays, make_platform):
    p = make_platform(boot_delay_s=0.05)
    # a booted container would have registered well within this time
    assert stays(lambda: p.container(OTHER_ID) is None and not p.event_names(OTHER_ID), 0.5)
    assert p.sb._fargate.running(OTHER_ID) is None


def test_foreign_tasks_outlive_a_wake_and_a_sleep(make_platform, wait_for):
    p = make_platform(**FAST)
    s = p.seed()
    p.resume(s.body)
    p.end_session(s)
    wait_for(lambda: p.status(s.container_id) == "stopped", timeout=5)
    for task in p.foreign_tasks():
        assert (task["lastStatus"], task["desiredStatus"]) == ("RUNNING", "RUNNING")
        assert "stoppedAt" not in task and "stopCode" not in task


def test_a_foreign_task_stops_when_stopped_from_outside(make_platform):
    p = make_platform()
    bare, other = p.info.foreign_task_arns
    p.ecs.stop_task(cluster=p.info.cluster, task=other, reason="someone else")
    tasks = {t["taskArn"]: t for t in p.foreign_tasks()}
    assert _stopped_fields(tasks[other]) == ("STOPPED", "STOPPED", "UserInitiated")
    assert tasks[bare]["lastStatus"] == "RUNNING"


def test_canary_table_has_the_lock_key_and_ttl(make_platform):
    p = make_platform()
    name = p.info.canary_table
    assert name == "session-resumption-canary"
    table = p.ddb.describe_table(TableName=name)["Table"]
    assert table["KeySchema"] == [{"AttributeName": "lockId", "KeyType": "HASH"}]
    ttl = p.ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == ("ENABLED", "expiresAt")
