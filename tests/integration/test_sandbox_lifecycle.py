"""The whole container lifecycle: wake, run, stay up for active sessions, auto-save, stop."""

from __future__ import annotations

import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.integration

FAST = {"idle_timeout_s": 0.5, "check_interval_s": 0.05}


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def _remote_head(remote: str) -> str:
    out = subprocess.run(["git", "ls-remote", remote, "refs/heads/main"], capture_output=True,
                         text=True, check=True, timeout=10).stdout
    return out.split()[0]


def test_wake_idle_autosave_push_stop_with_second_session_keeping_it_up(make_platform, wait_for):
    p = make_platform(**FAST)
    first = p.seed()
    second = p.seed(container_id=first.container_id)  # another thread on the same container
    body = p.resume(first.body).json()
    assert body["status"] == "running"
    port = int(p.container(first.container_id)["containerPort"])
    p.sb.dirty_workspace(first.container_id)

    p.end_session(first)
    # quiet: marked idle; past the idle timeout the second session is active, so it stays up
    wait_for(lambda: p.event_names(first.container_id).count("idle_detected") >= 2, timeout=5)
    assert p.status(first.container_id) == "idle"
    assert "stopping" not in p.event_names(first.container_id)

    p.end_session(second)
    wait_for(lambda: p.status(first.container_id) == "stopped", timeout=5)
    row = p.container(first.container_id)
    assert int(row["stoppedAt"]) >= int(row["lastStarted"])
    save = row["lastAutoSave"]
    assert save["pushed"] is True
    remote = p.info.git_remote_template.format(containerId=first.container_id)
    assert _remote_head(remote) == save["commit"]
    message = subprocess.run(["git", "--git-dir", remote, "log", "-1", "--format=%s", "main"],
                             capture_output=True, text=True, check=True).stdout
    assert message.startswith("Auto-save: Container sleeping at ")
    (task,) = p.tasks(first.container_id)
    wait_for(lambda: p.tasks(first.container_id)[0]["lastStatus"] == "STOPPED", timeout=5)
    (task,) = p.tasks(first.container_id)
    assert task["taskArn"] == body["taskArn"]
    assert task["stoppedReason"]
    assert _refused(port)
    names = p.event_names(first.container_id)
    order = ["wake_requested", "task_started", "registered_running", "marked_idle",
             "idle_detected", "stopping", "pushed", "stopped"]
    assert [n for n in names if n in order and n != "idle_detected"] == [
        n for n in order if n != "idle_detected"
    ]
    times = dict(reversed(p.sb.events(first.container_id)))  # first occurrence of each
    assert [times[n] for n in order] == sorted(times[n] for n in order)


def test_clean_workspace_sleeps_without_a_commit(make_platform, wait_for):
    p = make_platform(**FAST)
    s = p.seed()
    p.resume(s.body)
    remote = p.info.git_remote_template.format(containerId=s.container_id)
    head = _remote_head(remote)
    p.end_session(s)
    wait_for(lambda: p.status(s.container_id) == "stopped", timeout=5)
    assert _remote_head(remote) == head
    assert "pushed" not in p.event_names(s.container_id)


def test_second_wake_starts_a_new_task_from_the_saved_work(make_platform, wait_for):
    p = make_platform(**FAST)
    s = p.seed()
    first = p.resume(s.body).json()
    changed = p.sb.dirty_workspace(s.container_id)
    p.end_session(s)
    wait_for(lambda: p.status(s.container_id) == "stopped", timeout=5)
    p.set_mapping(s.thread_id, s.session_id, s.container_id, "active")
    second = p.resume(s.body).json()
    assert second["status"] == "running"
    assert second["taskArn"] != first["taskArn"]
    workdir = p.sb._fargate.running(s.container_id).working_copy.path
    assert (workdir / changed.rsplit("/", 1)[-1]).exists()


def test_every_sleep_after_new_edits_pushes_a_new_commit(make_platform, wait_for):
    p = make_platform(**FAST)
    s = p.seed()
    remote = p.info.git_remote_template.format(containerId=s.container_id)
    commits = []
    for _ in range(2):  # the second container starts from the first one's saved work
        p.set_mapping(s.thread_id, s.session_id, s.container_id, "active")
        p.resume(s.body)
        p.sb.dirty_workspace(s.container_id)
        p.end_session(s)
        wait_for(lambda: p.status(s.container_id) == "stopped", timeout=5)
        save = p.container(s.container_id)["lastAutoSave"]
        assert save["pushed"] is True
        assert _remote_head(remote) == save["commit"]
        commits.append(save["commit"])
    assert commits[0] != commits[1]


def test_failed_session_count_is_taken_as_active(make_platform, wait_for):
    p = make_platform(**FAST)
    s = p.seed()
    p.resume(s.body)
    p.ddb.delete_table(TableName=p.info.thread_mappings_table)  # the count now fails
    wait_for(lambda: p.event_names(s.container_id).count("idle_detected") >= 2, timeout=5)
    assert p.status(s.container_id) == "idle"  # up: idle, never stopping


def test_activity_writes_are_throttled(make_platform, wait_for):
    p = make_platform(activity_write_interval_s=60.0, idle_timeout_s=30.0)
    s = p.seed()
    p.resume(s.body)
    # Hermes touched lastActivity on resume; the container itself writes at most once a minute
    written = int(p.container(s.container_id)["lastActivity"])
    for _ in range(5):
        assert p.preview(s.client_id, s.thread_id).status_code == 200
    assert int(p.container(s.container_id)["lastActivity"]) == written


def test_preview_requests_keep_the_container_awake(make_platform):
    p = make_platform(idle_timeout_s=0.6, check_interval_s=0.05, activity_write_interval_s=0.1)
    s = p.seed()
    p.resume(s.body)
    # the session ends (mapping no longer active): only preview traffic keeps it up now
    p.set_mapping(s.thread_id, s.session_id, s.container_id, "ended")
    for _ in range(12):  # ~1.2 s of traffic, paced at 0.1 s: twice the idle timeout
        assert p.preview(s.client_id, s.thread_id).status_code == 200
        time.sleep(0.1)
    assert p.status(s.container_id) == "running"


def test_concurrent_wakes_start_exactly_one_task(make_platform):
    p = make_platform()
    s = p.seed()
    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: p.resume(s.body), range(6)))
    assert [r.status_code for r in responses] == [201] * 6
    assert {r.json()["status"] for r in responses} == {"running"}
    assert len({r.json()["taskArn"] for r in responses}) == 1
    assert len(p.tasks(s.container_id)) == 1
    assert p.event_names(s.container_id).count("wake_requested") == 1


def test_task_is_pending_until_the_container_registers(make_platform, wait_for):
    p = make_platform(boot_delay_s=1.0)
    s = p.seed()
    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(p.resume, s.body)
        (task,) = wait_for(lambda: p.tasks(s.container_id), timeout=5)
        assert task["lastStatus"] == "PENDING"
        assert p.status(s.container_id) == "starting"
        assert call.result(timeout=10).status_code == 201
    (task,) = p.tasks(s.container_id)
    assert task["lastStatus"] == "RUNNING"
    assert "registered_running" in p.event_names(s.container_id)


def test_stop_task_kills_the_container_and_marks_it_stopped(make_platform):
    p = make_platform()
    s = p.seed()
    arn = p.resume(s.body).json()["taskArn"]
    port = int(p.container(s.container_id)["containerPort"])
    p.ecs.stop_task(cluster=p.info.cluster, task=arn, reason="operator")
    (task,) = p.tasks(s.container_id)
    assert task["lastStatus"] == "STOPPED" and task["stoppedReason"] == "operator"
    assert p.status(s.container_id) == "stopped"
    assert _refused(port)


QUIET = {"idle_timeout_s": 30.0, "idle_mark_s": 0.2, "check_interval_s": 0.05}


def test_quiet_container_marks_itself_idle(make_platform, wait_for):
    p = make_platform(**QUIET)
    s = p.seed()
    p.resume(s.body)
    wait_for(lambda: p.status(s.container_id) == "idle", timeout=5)
    assert "marked_idle" in p.event_names(s.container_id)
    assert "stopping" not in p.event_names(s.container_id)


def test_preview_request_turns_an_idle_container_running(make_platform, wait_for):
    p = make_platform(**{**QUIET, "idle_mark_s": 1.0})  # room to read the status before it idles
    s = p.seed()
    p.resume(s.body)
    wait_for(lambda: p.status(s.container_id) == "idle", timeout=5)
    assert p.preview(s.client_id, s.thread_id).status_code == 200
    assert p.status(s.container_id) == "running"  # written before the page is served


def test_resume_wakes_an_idle_container_which_goes_idle_again_later(make_platform, wait_for):
    p = make_platform(**QUIET)
    s = p.seed()
    task = p.resume(s.body).json()["taskArn"]
    wait_for(lambda: p.status(s.container_id) == "idle", timeout=5)
    body = p.resume(s.body).json()
    assert (body["status"], body["taskArn"]) == ("running", task)
    assert len(p.tasks(s.container_id)) == 1
    # the wake signal reset the container's own idle timer: a second quiet spell marks it again
    wait_for(lambda: p.event_names(s.container_id).count("marked_idle") == 2, timeout=5)
    assert p.status(s.container_id) == "idle"
