"""HTTP clients: the canary's headers, no redirects, capped bodies, bounded time, broken answers
as data. A slow-drip server over real loopback proves the total-time bound."""

from __future__ import annotations

import gzip
import http.server
import json
import threading
import time

import httpx
import pytest

from canary import USER_AGENT
from canary.clients.base import exchange
from canary.clients.hermes import HermesClient
from canary.clients.preview import PreviewClient
from canary.clients.transport import http_client
from canary.clock import SystemClock

KEY = "unit-test-key-4f9a1c"


def hermes_client(handler, clock) -> HermesClient:
    http = httpx.Client(transport=httpx.MockTransport(handler))
    return HermesClient(http, "http://hermes.test/hermes", lambda: KEY, clock, "run-abc")


def test_resume_sends_canary_headers_key_and_contract_body(clock, h):
    seen = []

    def handler(req):
        seen.append(req)
        return httpx.Response(201, json={"status": "running", "containerId": "c"})

    ans = hermes_client(handler, clock).resume_preview("t1", "acme", timeout_s=5)
    (req,) = seen
    assert req.url == "http://hermes.test/hermes/api/sessions/resume-preview"
    assert req.headers["user-agent"] == USER_AGENT
    assert req.headers["x-canary"] == "synthetic"
    assert req.headers["x-canary-run"] == "run-abc"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(req.content) == {"chatThreadId": "t1", "clientId": "acme"}
    assert ans.status == 201 and ans.container_status == "running"


def test_resume_without_auth_sends_no_authorization(clock):
    seen = []

    def handler(req):
        seen.append(req)
        return httpx.Response(401, json={"message": "Unauthorized"})

    ans = hermes_client(handler, clock).resume_preview("t1", "acme", timeout_s=5, auth=False)
    assert "authorization" not in seen[0].headers
    assert ans.status == 401


@pytest.mark.parametrize("body", [b"<html>oops</html>", b"[1, 2]", b"", b"{\"status\": "])
def test_non_object_json_is_data_not_a_crash(clock, body):
    ans = hermes_client(lambda r: httpx.Response(201, content=body), clock).resume_preview(
        "t1", "acme", timeout_s=5)
    assert ans.status == 201
    assert ans.body is None
    assert ans.container_status is None


def test_transport_error_is_an_answer_with_a_reason(clock):
    def handler(req):
        raise httpx.ConnectError("connection refused")

    ans = hermes_client(handler, clock).resume_preview("t1", "acme", timeout_s=5)
    assert ans.status == 0
    assert "ConnectError" in ans.describe()


def test_timeout_reason_states_the_real_elapsed_time_not_the_limit(clock):
    def handler(req):  # the socket gave up after 24 s, well before the 120 s limit
        clock.advance(24)
        raise httpx.ReadTimeout("slow")

    ans = hermes_client(handler, clock).resume_preview("t1", "acme", timeout_s=120)
    assert ans.status == 0 and ans.transport_failure
    assert "no answer after 24.0 s" in ans.describe()
    assert "120" not in ans.describe()


class _BreaksAfter(httpx.SyncByteStream):
    """A body that delivers its first bytes, then the connection resets."""

    def __init__(self, first: bytes) -> None:
        self.first = first

    def __iter__(self):
        yield self.first
        raise httpx.RemoteProtocolError("peer closed connection without sending complete body")


def test_body_that_breaks_is_a_transport_failure_not_an_answer(clock):
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(
        201, headers={"Content-Type": "application/json"},
        stream=_BreaksAfter(b'{"status": "run'))))
    ans = HermesClient(http, "http://hermes.test/hermes", lambda: KEY, clock, "r").resume_preview(
        "t1", "acme", timeout_s=5)
    assert ans.status == 0 and ans.http.status_line == 201
    assert ans.transport_failure and ans.body is None
    assert ans.describe().startswith("transport failure: POST")
    assert "201 received but the body broke after 15 bytes" in ans.describe()


def test_key_echoed_by_hermes_is_masked_before_any_snippet_cuts_it(clock):
    echo = "x" * 84 + KEY  # "<html>" + 84: a 100-character snippet cuts the key after 10

    def handler(req):
        return httpx.Response(500, text=f"<html>{echo}</html>", headers={"X-Echo": KEY})

    ans = hermes_client(handler, clock).resume_preview("t1", "acme", timeout_s=5)
    assert ans.status == 500
    assert KEY[:8] not in ans.describe() and KEY not in ans.http.text
    assert KEY not in ans.http.headers["x-echo"]


def test_complete_answer_is_no_transport_failure(clock):
    ans = hermes_client(lambda r: httpx.Response(404, json={"message": "not found"}),
                        clock).resume_preview("t1", "acme", timeout_s=5)
    assert ans.status == ans.http.status_line == 404
    assert not ans.transport_failure


def test_connect_timeout_setting_reaches_hermes_and_preview_requests(clock, h):
    seen = []

    def handler(req):
        seen.append(req.extensions["timeout"]["connect"])
        return httpx.Response(200)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    HermesClient(http, "http://hermes.test/hermes", lambda: KEY, clock, "r",
                 connect_timeout_s=1.5).resume_preview("t1", "acme", timeout_s=9)
    PreviewClient(http, h.make_config(connect_timeout_s=2.5), clock, "r").get("t1", timeout_s=9)
    assert seen == [1.5, 2.5]


def test_gzip_body_is_inflated_only_up_to_the_cap(clock):
    bomb = gzip.compress(b"\0" * (20 * 1024 * 1024))  # 20 MiB of zeros in ~20 KiB
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(
        200, headers={"Content-Encoding": "gzip"}, stream=httpx.ByteStream(bomb))))
    ans = exchange(http, clock, "GET", "http://router.test/x", headers={}, timeout_s=5,
                   max_body_bytes=64 * 1024)
    assert ans.status == 200 and ans.truncated
    assert len(ans.body) == 64 * 1024 and set(ans.body) == {0}


def test_undecodable_gzip_body_is_a_transport_failure(clock):
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(
        200, headers={"Content-Encoding": "gzip"}, stream=httpx.ByteStream(b"not gzip at all"))))
    ans = exchange(http, clock, "GET", "http://router.test/x", headers={}, timeout_s=5)
    assert ans.status == 0 and ans.status_line == 200
    assert "200 received but its body could not be decoded" in ans.error


def test_gzip_body_is_decoded(clock):
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(
        200, headers={"Content-Encoding": "gzip"},
        stream=httpx.ByteStream(gzip.compress(b"Waking Up Edit Session")))))
    ans = exchange(http, clock, "GET", "http://router.test/x", headers={}, timeout_s=5)
    assert ans.text == "Waking Up Edit Session" and not ans.truncated


def test_huge_body_is_capped(clock):
    big = b"x" * (3 * 1024 * 1024)
    http = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, content=big)))
    ans = exchange(http, clock, "GET", "http://router.test/x", headers={}, timeout_s=5,
                   max_body_bytes=256 * 1024)
    assert ans.truncated
    assert len(ans.body) == 256 * 1024
    assert ans.json() is None


def test_redirects_are_not_followed(clock):
    calls = []

    def handler(req):
        calls.append(req.url.path)
        return httpx.Response(302, headers={"Location": "https://evil.example/"})

    # a client that would follow them: exchange() must override it
    http = httpx.Client(transport=httpx.MockTransport(handler), follow_redirects=True)
    ans = exchange(http, clock, "GET", "http://router.test/x", headers={}, timeout_s=5)
    assert ans.status == 302
    assert calls == ["/x"]


def test_preview_sends_edit_host_and_canary_headers(clock, h):
    seen = []

    def handler(req):
        seen.append(req)
        return httpx.Response(200, text="hello")

    http = httpx.Client(transport=httpx.MockTransport(handler))
    page = PreviewClient(http, h.make_config(), clock, "run-abc").get(
        "t1", "a/b", timeout_s=3, headers={"Upgrade": "websocket"})
    (req,) = seen
    assert str(req.url) == "http://router.test/session/t1/a/b"
    assert req.headers["host"] == "edit.canary.example.test"
    assert req.headers["x-canary"] == "synthetic"
    assert req.headers["upgrade"] == "websocket"
    assert page.text == "hello"


def test_preview_over_https_uses_the_edit_host_as_tls_server_name(clock, h):
    seen = []

    def handler(req):
        seen.append(req)
        return httpx.Response(200)

    http = httpx.Client(transport=httpx.MockTransport(handler))
    cfg = h.make_config(preview_base_url="https://alb.example.com")
    PreviewClient(http, cfg, clock, "r").get("t1", timeout_s=3)
    assert seen[0].extensions["sni_hostname"] == "edit.canary.example.test"


class _Drip(http.server.BaseHTTPRequestHandler):
    """Headers at once, then one byte every 100 ms, for ever (until the client leaves)."""

    disable_nagle_algorithm = True

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        try:
            for _ in range(200):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)
        except OSError:
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def drip_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Drip)
    srv.daemon_threads = True
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def test_slow_drip_body_is_a_transport_failure_cut_at_the_total_timeout(drip_server):
    with httpx.Client() as http:
        started = time.monotonic()
        ans = exchange(http, SystemClock(), "GET", drip_server + "/", headers={},
                       timeout_s=0.5)
        took = time.monotonic() - started
    assert ans.status == 0 and ans.status_line == 200
    assert ans.error.startswith("transport failure: GET")
    assert "200 received but the body was not complete after 0.5 s" in ans.error
    assert took < 2.0


def test_a_key_in_an_unsendable_header_is_never_quoted(drip_server):
    key = "abc\ndef-secret-value"
    with http_client() as http:
        ans = exchange(http, SystemClock(), "GET", drip_server + "/",
                       headers={"Authorization": f"Bearer {key}"}, timeout_s=1)
    assert ans.transport_failure and "could not be sent" in ans.error
    assert "def-secret" not in ans.error and "abc" not in ans.error
