"""Each fault does what its description says (one test per fault; healthy behaviour is
covered by the Hermes, router and lifecycle tests)."""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from sandbox import FAULTS

pytestmark = pytest.mark.integration


def _stays(predicate, seconds: float, interval: float = 0.05) -> bool:
    """True if the predicate holds at every check for `seconds` (a bounded negative check)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not predicate():
            return False
        time.sleep(interval)
    return True


def test_registry_has_the_named_faults_with_descriptions():
    names = {
        "slow_wake", "wake_fails", "slow_resume", "duplicate_tasks", "auth_not_enforced",
        "router_no_wake", "no_retry_after", "wrong_unknown_status", "websocket_not_refused",
        "never_sleeps", "sleeps_despite_sessions", "autosave_lost", "autosave_push_fails",
        "unreachable_container", "router_unknown_ok",
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


def test_router_no_wake_shows_loading_page_but_never_wakes(make_platform):
    p = make_platform(faults=["router_no_wake"], boot_delay_s=0.1)
    s = p.seed()
    r = p.preview(s.client_id, s.thread_id)
    assert r.status_code in (202, 503)
    assert "Waking Up Edit Session" in r.text
    # a healthy router's wake would have the container running well within this time
    assert _stays(lambda: p.status(s.container_id) is None and not p.tasks(), 1.0)


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


def test_never_sleeps_keeps_an_idle_container_without_sessions_up(make_platform):
    p = make_platform(faults=["never_sleeps"], idle_timeout_s=0.2, check_interval_s=0.05)
    s = p.seed()
    p.resume(s.body)
    p.end_session(s)
    assert _stays(lambda: p.status(s.container_id) in ("running", "idle"), 1.0)  # 5x timeout
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
