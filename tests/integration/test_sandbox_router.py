"""The preview router over loopback HTTP: every row of the contract's router table."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_stopped_container_gets_loading_page_and_a_wake(platform, wait_for):
    s = platform.seed()
    r = platform.preview(s.client_id, s.thread_id)
    assert r.status_code in (202, 503)
    assert "Waking Up Edit Session" in r.text
    assert s.thread_id in r.text
    assert int(r.headers["Retry-After"]) >= 1
    assert '<meta http-equiv="refresh"' in r.text
    # the router asked Hermes to wake it: the container comes up without any Hermes call here
    wait_for(lambda: platform.status(s.container_id) == "running", timeout=10)
    assert "wake_requested" in platform.event_names(s.container_id)


def test_running_container_is_forwarded_with_marker(platform, wait_for):
    s = platform.seed()
    assert platform.resume(s.body).status_code == 201
    r = platform.preview(s.client_id, s.thread_id, "index.html")
    assert r.status_code == 200
    marker = platform.info.preview_marker_template.format(containerId=s.container_id)
    assert marker in r.text
    assert "first_preview_served" in platform.event_names(s.container_id)


def test_starting_container_gets_loading_page(platform):
    s = platform.seed()
    platform.put_container(s.container_id, status="starting")
    r = platform.preview(s.client_id, s.thread_id)
    assert r.status_code in (202, 503)
    assert "Waking Up Edit Session" in r.text


def test_unknown_thread_is_404_naming_thread_and_client(platform):
    r = platform.preview("acme", "no-such-thread")
    assert r.status_code == 404
    assert "Edit Session Not Found" in r.text
    assert "no-such-thread" in r.text and "acme" in r.text


def test_thread_of_another_client_is_404(platform):
    s = platform.seed(client_id="acme")
    r = platform.preview("otherclient", s.thread_id)
    assert r.status_code == 404
    assert "Edit Session Not Found" in r.text


def test_websocket_upgrade_is_502(platform):
    s = platform.seed()
    r = platform.preview(s.client_id, s.thread_id, "_astro/hmr",
                         headers={"Upgrade": "websocket", "Connection": "Upgrade"})
    assert r.status_code == 502
    assert "WebSocket not supported" in r.text


@pytest.mark.parametrize("host", ["example.com", "preview.acme.sandbox.test", "edit.", "edit.acme"])
def test_host_not_edit_client_is_404(platform, host):
    s = platform.seed()
    r = platform.http.get(f"{platform.info.router_url}/session/{s.thread_id}/",
                          headers={"Host": host})
    assert r.status_code == 404
    assert "Waking Up" not in r.text


@pytest.mark.parametrize("path", ["/", "/sessions/x/", "/session/", "/other/session/x"])
def test_path_not_under_session_is_404(platform, path):
    r = platform.http.get(f"{platform.info.router_url}{path}",
                          headers={"Host": "edit.acme.sandbox.test"})
    assert r.status_code == 404
    assert "Waking Up" not in r.text
