"""One HTTP server base for every sandbox server: loopback only, keep-alive, clean stop.

`ThreadingHTTPServer` leaves a handler thread blocked on every idle keep-alive
connection; `stop()` shuts those sockets down and joins the threads, so stopping
the sandbox leaves no thread and no port behind.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Handler(BaseHTTPRequestHandler):
    """Keep-alive handler with small helpers; subclasses implement do_GET etc."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = 30  # an idle keep-alive connection is dropped after this many seconds
    server_version = "sandbox"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: requests carry the bearer key; nothing is logged."""

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def send(
        self,
        status: int,
        body: bytes | str = b"",
        content_type: str = "text/plain; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send(status, json.dumps(payload), "application/json; charset=utf-8", headers)


class _TrackingServer(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5: twenty sessions waking at once (three calls
    # each) overflow it, and a dropped SYN is a client's connect timeout, a sandbox artefact.
    request_queue_size = 256
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, handler: type[Handler], app: Any) -> None:
        self.app = app
        self._conns: dict[socket.socket, threading.Thread | None] = {}
        self._conns_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        t = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"{type(self.app).__name__}-conn",
            daemon=True,
        )
        with self._conns_lock:
            self._conns[request] = t
        t.start()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (its timeout, a reset) is the client's business: no
        traceback on stderr. Anything else is a sandbox bug and is printed."""
        import sys

        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._conns_lock:
            self._conns.pop(request, None)
        super().shutdown_request(request)

    def drop_connections(self, timeout: float) -> None:
        with self._conns_lock:
            conns = list(self._conns.items())
        for sock, _ in conns:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for _, thread in conns:
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout)


class HttpServer:
    """A ThreadingHTTPServer on 127.0.0.1 (port chosen by the OS) served by a daemon thread."""

    def __init__(self, handler: type[Handler], app: Any, name: str) -> None:
        self._server = _TrackingServer(handler, app)
        self._name = name
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HttpServer:
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self._name,
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop accepting, drop open connections, join every thread, free the port."""
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout)
            self._thread = None
        self._server.server_close()
        self._server.drop_connections(timeout)
