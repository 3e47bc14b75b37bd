"""Each fault does what its description says (one test per fault; healthy behaviour is
covered by the Hermes, router and lifecycle tests)."""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from sandbox import FAULTS

pytestmark = pytest.mark.integration



def test_registry_has_the_named_faults_with_descriptions():
    names = {
        "slow_wake", "wake_fails", "slow_resume", "duplicate_tasks", "auth_not_enforced",
        "router_no_wake", "no_retry_after", "wrong_unknown_status", "websocket_not_refused",
        "never_sleeps", "sleeps_despite_sessions", "autosave_lost", "autosave_push_fails",
        "unreachable_container", "router_unknown_ok", "row_key_mismatch", "always_running",
        "containers_read_error", "concurrent_wake_fails", "foreign_task_arn",
    }
    assert names <= set(FAULTS)
    assert all(d.strip() and "\n" not in d for d in FAULTS.values())
    assert "4 s" in FAULTS["slow_wake"]


def test_slow_wake_boots_past_the_wake_threshold(make_platform):
    p = make_platform(faults=["slow_wake"])
    assert p.info.boot_delay_s >= 4.0
    s = p.seed()
    t0 = time.monotonic()
    r = p.resume(s.body)
    assert r.status_code == 201
    assert time.monotonic() - t0 >= 4.0
    events = dict(p.sb.events(s.container_id))
    assert events["registered_running"] - events["task_started"] >= 4.0


def test_wake_fails_answers_500_and_the_task_stops(make_platform):
    p = make_platform(faults=["wake_fails"])
    s = p.seed()
    r = p.resume(s.body)
    assert r.status_code == 500
    assert r.json()["message"].startswith("Failed to resume session:")
    (task,) = p.tasks(s.container_id)
    assert task["lastStatus"] == "STOPPED"
    assert task["stoppedReason"]
    assert p.status(s.container_id) == "stopped"
    assert "registered_running" not in p.event_names(s.container_id)


def test_slow_resume_takes_about_a_second_for_a_running_container(make_platform):
    p = make_platform(faults=["slow_resume"])
    s = p.seed()
    assert p.resume(s.body).status_code == 201
    t0 = time.monotonic()
    r = p.resume(s.body)
    assert r.status_code == 201
    assert time.monotonic() - t0 >= 0.9


def test_duplicate_tasks_concurrent_wakes_each_start_a_task(make_platform):
    p = make_platform(faults=["duplicate_tasks"], boot_delay_s=0.5)
    s = p.seed()
    with ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: p.resume(s.body), range(4)))
    assert all(r.status_code == 201 for r in responses)
    assert len(p.tasks(s.container_id)) > 1


def test_auth_not_enforced_accepts_calls_without_the_key(make_platform):
    p = make_platform(faults=["auth_not_enforced"])
    s = p.seed()
    r = p.resume(s.body, auth=False)
    assert r.status_code == 201
    assert r.json()["status"] == "running"


def test_router_no_wake_shows_loading_page_but_never_wakes(stays, make_platform):
    p = make_platform(faults=["router_no_wake"], boot_delay_s=0.1)
    s = p.seed()
    r = p.preview(s.client_id, s.thread_id)
    assert r.status_code in (202, 503)
    assert "Waking Up Edit Session" in r.text
    # a healthy router's wake would have the container running well within this time
    assert stays(lambda: p.status(s.container_id) is None and not p.tasks(), 1.0)


def test_no_retry_after_loading_page_lacks_the_header(make_platform):
    p = make_platform(faults=["no_retry_after"])
    s = p.seed()
    r = p.preview(s.client_id, s.thread_id)
    assert "Waking Up Edit Session" in r.text
    assert "Retry-After" not in r.headers


def test_wrong_unknown_status_answers_500_for_unknown_thread(make_platform):
    p = make_platform(faults=["wrong_unknown_status"])
    r = p.resume({"chatThreadId": "no-such-thread", "clientId": "acme"})
    assert r.status_code == 500


def test_websocket_not_refused_answers_200_to_upgrades(make_platform):
    p = make_platform(faults=["websocket_not_refused"])
    s = p.seed()
    r = p.preview(s.client_id, s.thread_id, "_astro/hmr",
                  headers={"Upgrade": "websocket", "Connection": "Upgrade"})
    assert r.status_code == 200


def test_never_sleeps_keeps_an_idle_container_without_sessions_up(stays, make_platform):
    p = make_platform(faults=["never_sleeps"], idle_timeout_s=0.2, check_interval_s=0.05)
    s = p.seed()
    p.resume(s.body)
    p.end_session(s)
    assert stays(lambda: p.status(s.container_id) in ("running", "idle"), 1.0)  # 5x timeout
    assert "idle_detected" not in p.event_names(s.container_id)


def test_sleeps_despite_sessions_stops_with_an_active_session(make_platform, wait_for):
    p = make_platform(faults=["sleeps_despite_sessions"], idle_timeout_s=0.3,
                      check_interval_s=0.05)
    s = p.seed()  # its mapping stays active
    p.resume(s.body)
    wait_for(lambda: p.status(s.container_id) == "stopped", timeout=5)


def _sleep_with_unsaved_work(make_platform, wait_for, fault):
    """Wake, dirty, let it sleep: (lastAutoSave, the remote's refs, the event names)."""
    p = make_platform(faults=[fault], idle_timeout_s=0.3, check_interval_s=0.05)
    s = p.seed()
    p.resume(s.body)
    p.sb.dirty_workspace(s.container_id)
    p.end_session(s)
    wait_for(lambda: p.status(s.container_id) == "stopped", timeout=5)
    remote = p.info.git_remote_template.format(containerId=s.container_id)
    heads = subprocess.run(["git", "ls-remote", remote], capture_output=True, text=True,
                           check=True).stdout
    return p.container(s.container_id)["lastAutoSave"], heads, p.event_names(s.container_id)


def test_autosave_lost_records_pushed_but_the_remote_lacks_the_commit(make_platform, wait_for):
    save, heads, events = _sleep_with_unsaved_work(make_platform, wait_for, "autosave_lost")
    assert save["pushed"] is True
    assert save["commit"] not in heads
    assert "pushed" not in events


def test_autosave_push_fails_records_not_pushed(make_platform, wait_for):
    save, heads, events = _sleep_with_unsaved_work(make_platform, wait_for, "autosave_push_fails")
    assert save["pushed"] is False
    assert save["commit"] not in heads
    assert "pushed" not in events


def test_unreachable_container_is_running_in_state_but_router_502(make_platform):
    p = make_platform(faults=["unreachable_container"])
    s = p.seed()
    assert p.resume(s.body).json()["status"] == "running"
    r = p.preview(s.client_id, s.thread_id)
    assert r.status_code == 502
    assert "Container unreachable" in r.text


def test_router_unknown_ok_answers_200_for_unknown_thread(make_platform):
    p = make_platform(faults=["router_unknown_ok"])
    r = p.preview("acme", "no-such-thread")
    assert r.status_code == 200


def _running_arns(p) -> set[str]:
    return {t["taskArn"] for t in p.tasks() if t["lastStatus"] == "RUNNING"}


def test_row_key_mismatch_starts_a_task_on_every_resume_and_answers_running(make_platform):
    p = make_platform(faults=["row_key_mismatch"])
    s = p.seed()
    first, second = p.resume(s.body), p.resume(s.body)  # the second for a running container
    assert [r.status_code for r in (first, second)] == [201, 201]
    assert [r.json()["status"] for r in (first, second)] == ["running", "running"]
    assert {r.json()["containerId"] for r in (first, second)} == {s.container_id}
    assert first.json()["taskArn"] != second.json()["taskArn"]
    assert _running_arns(p) == {first.json()["taskArn"], second.json()["taskArn"]}
    assert p.container(s.container_id) is None  # the row Hermes reads is never written


def test_row_key_mismatch_task_is_told_the_session_and_registers_under_it(
    make_platform, task_env
):
    p = make_platform(faults=["row_key_mismatch"])
    s = p.seed()
    arn = p.resume(s.body).json()["taskArn"]
    (task,) = [t for t in p.tasks() if t["taskArn"] == arn]
    env = task_env(task)
    assert (env["THREAD_ID"], env["SESSION_ID"]) == (s.session_id, s.session_id)
    row = p.container(s.session_id)
    assert (row["status"], row["taskArn"]) == ("running", arn)


def test_always_running_answers_running_while_row_starting_and_task_pending(
    make_platform, wait_for
):
    p = make_platform(faults=["always_running"], boot_delay_s=1.0)
    s = p.seed()
    r = p.resume(s.body)
    assert r.status_code == 201 and r.json()["status"] == "running"
    assert p.status(s.container_id) == "starting"
    (task,) = p.tasks(s.container_id)
    assert (task["taskArn"], task["lastStatus"]) == (r.json()["taskArn"], "PENDING")
    # and then it boots normally
    wait_for(lambda: p.status(s.container_id) == "running", timeout=5)
    assert p.tasks(s.container_id)[0]["lastStatus"] == "RUNNING"


def test_containers_read_error_starts_a_task_for_a_running_container(make_platform):
    p = make_platform(faults=["containers_read_error"])
    s = p.seed()
    first = p.resume(s.body).json()
    first_port = int(p.container(s.container_id)["containerPort"])
    second = p.resume(s.body)
    assert second.status_code == 201
    assert second.json()["taskArn"] != first["taskArn"]
    assert _running_arns(p) == {first["taskArn"], second.json()["taskArn"]}
    # the first container was left alone and still serves
    assert p.http.get(f"http://127.0.0.1:{first_port}/").status_code == 200


def test_concurrent_wake_fails_answers_500_and_leaves_the_tasks_running(make_platform, wait_for):
    p = make_platform(faults=["concurrent_wake_fails"], boot_delay_s=0.5)
    s = p.seed()
    with ThreadPoolExecutor(3) as pool:
        responses = list(pool.map(lambda _: p.resume(s.body), range(3)))
    assert [r.status_code for r in responses] == [500] * 3
    assert all(r.json()["message"].startswith("Failed to resume session:") for r in responses)
    assert len(p.tasks(s.container_id)) >= 2
    wait_for(lambda: all(t["lastStatus"] == "RUNNING" for t in p.tasks(s.container_id)),
             timeout=5)
    assert p.status(s.container_id) == "running"


def test_concurrent_wake_fails_lets_a_lone_wake_succeed(make_platform):
    p = make_platform(faults=["concurrent_wake_fails"])
    s = p.seed()
    r = p.resume(s.body)
    assert (r.status_code, r.json()["status"]) == (201, "running")
    assert len(p.tasks(s.container_id)) == 1


def test_foreign_task_arn_answers_a_foreign_tasks_arn(make_platform):
    p = make_platform(faults=["foreign_task_arn"])
    s = p.seed()
    r = p.resume(s.body)
    assert r.status_code == 201
    assert r.json()["taskArn"] in p.info.foreign_task_arns
    (task,) = p.tasks(s.container_id)  # the task it really started, which the row names
    assert p.container(s.container_id)["taskArn"] == task["taskArn"] != r.json()["taskArn"]


def test_answers_starting_answers_at_once_and_starts_the_task_later(make_platform, wait_for):
    p = make_platform(variations=["answers_starting"])
    s = p.seed()
    t0 = time.monotonic()
    r = p.resume(s.body)
    assert time.monotonic() - t0 < 0.5  # generous: a healthy cold wake blocks for the boot
    assert r.status_code == 201
    assert r.json()["status"] == "starting" and "taskArn" not in r.json()
    assert p.tasks(s.container_id) == []
    (task,) = wait_for(lambda: p.tasks(s.container_id), timeout=5)
    wait_for(lambda: p.status(s.container_id) == "running", timeout=5)
    assert p.container(s.container_id)["taskArn"] == task["taskArn"]
