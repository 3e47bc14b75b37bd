"""The canary's httpx client, with a total deadline per exchange that httpx itself lacks.

httpx timeouts are per socket operation: a target that drips a byte of its status line
or headers just inside the read timeout holds a request for hours (encode/httpx#1450).
`http_client()` builds the one client a run shares on a network backend whose every
connect, read and write gets at most the time left before the deadline that
`exchange()` sets with `total_deadline()` (a context variable: per thread, so
concurrent exchanges keep their own). Without a deadline the backend adds nothing.
"""

from __future__ import annotations

import contextlib
import contextvars
import ssl
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpcore
import httpx

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "canary_http_deadline", default=None)


@contextlib.contextmanager
def total_deadline(seconds: float) -> Iterator[None]:
    """Network operations in this block end `seconds` from now (time.monotonic) at the latest."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def _left(timeout: float | None, expired: type[Exception]) -> float | None:
    """The operation's timeout, cut to the time left before the deadline (raises if none)."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the exchange's total time is used up")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(
            ssl_context, server_hostname, _left(timeout, httpcore.ConnectTimeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_tcp(
            host, port, _left(timeout, httpcore.ConnectTimeout), local_address, socket_options))

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None
                            ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.connect_unix_socket(
            path, _left(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def http_client(*, max_connections: int = 32, max_keepalive_connections: int = 16
                ) -> httpx.Client:
    """One client for a run: pooled connections, the canary's total deadline honoured.

    httpx has no public hook for the network backend, so the transport's pool gets it
    here (checked: a changed httpx fails loudly, not silently without the deadline).
    """
    transport = httpx.HTTPTransport(limits=httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_keepalive_connections))
    pool = getattr(transport, "_pool", None)
    if not isinstance(getattr(pool, "_network_backend", None), httpcore.NetworkBackend):
        raise RuntimeError("httpx's transport layout changed: cannot install the deadline "
                           "backend (see canary/clients/transport.py)")
    pool._network_backend = _DeadlineBackend(pool._network_backend)  # type: ignore[union-attr]
    return httpx.Client(transport=transport)
