"""The seed's harness helpers and bounded adaptive polling."""

from __future__ import annotations

import httpx
import pytest

from canary.harness import poll

CID = "canary-t1-u1"


def test_poll_backs_off_from_25ms_to_the_cap(clock):
    res = poll(clock, lambda: None, lambda v: False, deadline=clock.monotonic() + 2.0)
    assert not res.ok
    assert clock.sleeps[:4] == pytest.approx([0.025, 0.0375, 0.05625, 0.084375])
    assert max(clock.sleeps) == pytest.approx(0.25)
    assert clock.monotonic() - 1000 == pytest.approx(2.0)  # never past the deadline


def test_poll_returns_the_first_satisfying_value(clock):
    values = iter([1, 2, 3, 4])
    res = poll(clock, lambda: next(values), lambda v: v == 3, deadline=clock.monotonic() + 5)
    assert res.ok and res.value == 3 and res.polls == 3


def test_poll_stops_when_told(clock):
    res = poll(clock, lambda: 0, lambda v: False, deadline=clock.monotonic() + 60,
               stop=lambda: True)
    assert not res.ok and res.polls == 1 and clock.sleeps == []


def test_poll_with_a_past_deadline_probes_once(clock):
    res = poll(clock, lambda: 7, lambda v: False, deadline=clock.monotonic() - 1)
    assert res.last == 7 and res.polls == 1 and clock.sleeps == []


def test_set_get_and_wait_for_container_status(make_ctx, clock, h, aws):
    hs = make_ctx().harness
    hs.set_container_status(CID, "starting", {"taskArn": "arn:x"})
    assert hs.get_container_status(CID)["taskArn"] == "arn:x"
    clock.at(1.0, lambda: hs.set_container_status(CID, "running"))
    res = hs.wait_for_container_status(CID, "running", deadline=clock.monotonic() + 5)
    assert res.ok and res.value["status"] == "running"
    assert 1.0 <= res.elapsed_s <= 1.25


def test_wait_for_container_status_gives_up_at_the_deadline(make_ctx, clock):
    hs = make_ctx().harness
    res = hs.wait_for_container_status(CID, ("stopped",), deadline=clock.monotonic() + 1.5)
    assert not res.ok
    assert clock.monotonic() - 1000 == pytest.approx(1.5)


def test_stopped_status_records_stopped_at(make_ctx, clock):
    hs = make_ctx().harness
    hs.set_container_status(CID, "stopped")
    assert hs.get_container_status(CID)["stoppedAt"] == int(clock.now() * 1000)


def test_session_fixture_and_active_session_count(make_ctx):
    hs = make_ctx().harness
    fx = hs.create_resumption_test_session()
    assert fx.container_id == CID
    assert hs.get_active_session_count(CID) == 1
    hs.create_thread_mapping(fx.session_id, "t2", CID)
    hs.create_thread_mapping(fx.session_id, "t3", CID, status="ended")
    assert hs.get_active_session_count(CID) == 2
    session = hs.state.get_session(fx.session_id)
    assert session["previewUrl"] == "http://router.test/session/t1/"
    assert session["ttl"] > 0


def test_simulated_auto_sleep_ends_stopped(make_ctx):
    hs = make_ctx().harness
    hs.set_container_status(CID, "running")
    hs.simulate_container_auto_sleep(CID)
    assert hs.get_container_status(CID)["status"] == "stopped"


def test_http_helpers_go_through_the_clients(make_ctx, platform):
    platform.hermes = lambda req: httpx.Response(201, json={"status": "running"})
    platform.router = lambda req: httpx.Response(200, text="hi")
    hs = make_ctx().harness
    assert hs.test_hermes_session_resumption("t1", "canary", timeout_s=1).container_status \
        == "running"
    assert hs.test_alb_session_routing("t1", "canary", timeout_s=1).text == "hi"
    assert platform.requests[1].headers["host"] == "edit.canary.example.test"


def test_make_cold_stops_live_tasks_and_marks_the_row(make_ctx, aws, h, clock):
    hs = make_ctx().harness
    arn = h.run_task(aws)
    h.put_container(aws, status="running", taskArn=arn)
    notes = hs.make_cold(CID, deadline=clock.monotonic() + 5)
    assert any("stopped task" in n for n in notes)
    assert hs.get_container_status(CID)["status"] == "stopped"
    assert hs.make_cold(CID, deadline=clock.monotonic() + 5) == []  # idempotent
