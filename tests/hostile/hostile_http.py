"""Hostile HTTP targets on real loopback sockets (127.0.0.1 only), for test_http_targets.py.

`RawServer` hands each request to a behaviour that writes whatever bytes it likes (drips,
resets, floods, lies); `answer`/`head`/`reset` are the bytes behaviours send; `leaks(text)`
finds the test key in any form a target could echo it in. (A module of its own, not
conftest.py: several test directories have a conftest, so it cannot be imported by name.)
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

REGION = "us-east-1"
# '/', '+' and '=' make every encoding of the key differ from the key itself.
KEY = "Zq7Hv9Lw/hostile+Key=Qx3m/8Rt+Yp2"
MAX_HEAD_BYTES = 64 * 1024


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


Behaviour = Callable[[socket.socket, Request, "RawServer"], bool]
"""Writes an answer to the socket; returns True to keep the connection for another request."""


@dataclass
class RawServer:
    """A threaded TCP server on 127.0.0.1:0 answering with `behave` (bounded: every wait in a
    behaviour ends when the server stops)."""

    behave: Behaviour
    requests: list[Request] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def wait(self, seconds: float) -> bool:
        """Sleep in a behaviour; True when the server is stopping (the behaviour must end)."""
        return self.stopping.wait(seconds)

    def close(self) -> None:
        self.stopping.set()
        with self._lock:
            for conn in self._conns:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        for t in self._threads:
            t.join(5)
        self._sock.close()

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                self._conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(t)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        buf = b""
        try:
            while not self.stopping.is_set():
                while b"\r\n\r\n" not in buf and len(buf) < MAX_HEAD_BYTES:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path = [*lines[0].split(" "), "", ""][:2]
                headers = {k.strip().lower(): v.strip() for k, _, v in
                           (line.partition(":") for line in lines[1:])}
                length = int(headers.get("content-length", "0") or 0)
                while len(buf) < length:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                req = Request(method, path, headers, buf[:length], time.monotonic())
                buf = buf[length:]
                with self._lock:
                    self.requests.append(req)
                if not self.behave(conn, req, self):
                    return
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                conn.close()


# -- answers ------------------------------------------------------------------------------
def head(status: str, headers: dict[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in (headers or {}).items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def answer(conn: socket.socket, status: str, body: bytes | str = b"",
           headers: dict[str, str] | None = None) -> bool:
    """A complete, well-formed answer; keeps the connection."""
    data = body.encode() if isinstance(body, str) else body
    conn.sendall(head(status, {**(headers or {}), "Content-Length": str(len(data))}) + data)
    return True


def reset(conn: socket.socket) -> bool:
    """Close with a TCP RST (SO_LINGER 0), not a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()
    return False


# -- the key in every form a target could echo it in --------------------------------------
def key_forms(key: str = KEY) -> dict[str, str]:
    forms = {
        "raw": key,
        "percent": quote(key, safe=""),
        "json_escaped": json.dumps(key)[1:-1].replace("/", "\\/"),
        "base64": base64.b64encode(f"Bearer {key}".encode()).decode(),
    }
    for pad in range(3):  # the part of base64(... + key + ...) only the key decides
        encoded = base64.b64encode(b"\0" * pad + key.encode()).decode()
        forms[f"base64_core{pad}"] = encoded[4:-4]
    return forms


def leaks(text: str, key: str = KEY, window: int = 10) -> list[str]:
    """The forms of `key` of which any `window` consecutive characters appear in `text`."""
    found = []
    for name, form in key_forms(key).items():
        if any(form[i:i + window] in text for i in range(len(form) - window + 1)):
            found.append(name)
    return found
