"""The preview router (production: a Lambda behind the ALB).

`Host: edit.{clientId}.{domain}`, path `/session/{threadId}/...`: forwards to the
running container, or asks Hermes (over HTTP, with the key, without waiting) to
wake it and answers a loading page.
"""

from __future__ import annotations

import html
import http.client
import json
import threading
from typing import Any

from sandbox.faults import Fault
from sandbox.hermes import RESUME_PATH
from sandbox.httpserver import Handler
from sandbox.state import Tables

_HOP = {"connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "te",
        "content-length"}

LOADING = """<!doctype html>
<html><head><meta charset="utf-8"><meta http-equiv="refresh" content="{retry}">
<title>Waking Up Edit Session</title></head>
<body><h1>Waking Up Edit Session</h1>
<p>The edit session for thread <code>{thread}</code> ({client}) is starting. This page
refreshes itself every {retry} s.</p></body></html>
"""

NOT_FOUND = """<!doctype html>
<html><head><meta charset="utf-8"><title>Edit Session Not Found</title></head>
<body><h1>Edit Session Not Found</h1>
<p>No edit session for thread <code>{thread}</code> of client <code>{client}</code>.</p>
</body></html>
"""


class Router:
    def __init__(
        self,
        tables: Tables,
        hermes_url: str,
        api_key: str,
        faults: frozenset[Fault],
        retry_after_s: int,
        forward_timeout_s: float,
        wake_call_timeout_s: float,
    ) -> None:
        self.tables = tables
        self.hermes_url = hermes_url  # http://127.0.0.1:P/hermes
        self._api_key = api_key
        self.faults = faults
        self.retry_after_s = retry_after_s
        self.forward_timeout_s = forward_timeout_s
        self.wake_call_timeout_s = wake_call_timeout_s
        self._lock = threading.Lock()
        self._waking: dict[str, threading.Thread] = {}

    def request_wake(self, thread_id: str, client_id: str, container_id: str) -> None:
        """Fire-and-forget resume-preview; at most one call in flight per container."""
        if Fault.ROUTER_NO_WAKE in self.faults:
            return
        with self._lock:
            t = self._waking.get(container_id)
            if t is not None and t.is_alive():
                return
            t = threading.Thread(
                target=self._wake, args=(thread_id, client_id), name=f"router-wake-{container_id}",
                daemon=True,
            )
            self._waking[container_id] = t
        t.start()

    def _wake(self, thread_id: str, client_id: str) -> None:
        host_port = self.hermes_url.split("://", 1)[1].split("/", 1)[0]
        host, port = host_port.rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=self.wake_call_timeout_s)
        try:
            body = json.dumps({"chatThreadId": thread_id, "clientId": client_id})
            conn.request("POST", RESUME_PATH, body=body, headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self._api_key}",
                "Connection": "close",
            })
            conn.getresponse().read()
        except OSError:
            pass  # the next page load asks again
        finally:
            conn.close()

    def join(self, timeout: float) -> None:
        with self._lock:
            threads = list(self._waking.values())
            self._waking.clear()
        for t in threads:
            t.join(timeout)


def parse_host(host: str | None) -> str | None:
    """clientId from `edit.{clientId}.{anything}` (port ignored), else None."""
    if not host:
        return None
    labels = host.split(":", 1)[0].lower().split(".")
    if len(labels) >= 3 and labels[0] == "edit" and labels[1] and all(labels[2:]):
        return labels[1]
    return None


def parse_path(path: str) -> str | None:
    """threadId from `/session/{threadId}` or `/session/{threadId}/...`, else None."""
    parts = path.split("?", 1)[0].split("/")
    if len(parts) >= 3 and parts[0] == "" and parts[1] == "session" and parts[2]:
        return parts[2]
    return None


class RouterHandler(Handler):
    def do_GET(self) -> None:
        router: Router = self.server.app  # type: ignore[attr-defined]
        body = self.read_body() if self.command in ("POST", "PUT") else b""
        client_id = parse_host(self.headers.get("Host"))
        thread_id = parse_path(self.path)
        if client_id is None or thread_id is None:
            self.send(404, "Not Found\n")
            return
        if (self.headers.get("Upgrade") or "").lower() == "websocket":
            if Fault.WEBSOCKET_NOT_REFUSED in router.faults:
                self.send(200, "WebSocket upgrade accepted\n")
            else:
                self.send(502, "WebSocket not supported: the preview router cannot upgrade\n")
            return
        mapping = router.tables.get_mapping(thread_id)
        container_id = (mapping or {}).get("containerId", "")
        if mapping is None or not container_id.startswith(f"{client_id}-"):
            status = 200 if Fault.ROUTER_UNKNOWN_OK in router.faults else 404
            self.send(status, NOT_FOUND.format(thread=html.escape(thread_id),
                                               client=html.escape(client_id)),
                      "text/html; charset=utf-8")
            return
        row = router.tables.get_container(container_id) or {}
        if row.get("status") in ("running", "idle") and (
            row.get("containerIp") or row.get("containerPort")
        ):
            self._forward(router, row, body)
            return
        router.request_wake(thread_id, client_id, container_id)
        headers = {"Cache-Control": "no-store"}
        if Fault.NO_RETRY_AFTER not in router.faults:
            headers["Retry-After"] = str(router.retry_after_s)
        self.send(
            202,
            LOADING.format(retry=router.retry_after_s, thread=html.escape(thread_id),
                           client=html.escape(client_id)),
            "text/html; charset=utf-8",
            headers,
        )

    do_HEAD = do_GET
    do_POST = do_GET

    def _forward(self, router: Router, row: dict[str, Any], body: bytes) -> None:
        port = int(row.get("containerPort") or 8080)
        conn = http.client.HTTPConnection(
            str(row.get("containerIp") or "127.0.0.1"), port, timeout=router.forward_timeout_s
        )
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            headers["Connection"] = "close"
            headers["X-Forwarded-Host"] = self.headers.get("Host", "")
            conn.request(self.command, self.path, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            status = resp.status
            out = {k: v for k, v in resp.getheaders() if k.lower() not in _HOP | {"content-type",
                                                                                  "server", "date"}}
            ctype = resp.getheader("Content-Type", "application/octet-stream")
        except OSError as exc:
            self.send(502, f"Container unreachable: {type(exc).__name__}\n")
            return
        finally:
            conn.close()
        self.send(status, data, ctype, out)
