"""What every client shares: the canary's request headers, a bounded HTTP exchange, TargetError.

`exchange()` tells "answered" from "the transport failed": an answer whose status line
arrived but whose body broke (reset, stalled, undecodable) is a transport failure, with
`status` 0 like no answer at all, so no caller mistakes it for the target's verdict.
"""

from __future__ import annotations

import contextvars
import json
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any

import httpx

from canary import USER_AGENT
from canary.clients.transport import total_deadline
from canary.clock import Clock

TRANSPORT_FAILURE = "transport failure"
# Content-Encoding -> zlib wbits; bodies are decoded here, bounded, never by httpx (a 64 KiB
# gzip chunk can inflate to 64 MiB in one step).
_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}
ACCEPT_ENCODING = "gzip, deflate"


class TargetError(Exception):
    """When the target (an AWS API or an HTTP endpoint) failed a call: a result, not a bug."""


class CanaryFault(TargetError):
    """When the failure is the canary's own setup (its permissions, a name it was given, its
    own table or git remote): reported as a canary error for its owners, never as a platform
    symptom that pages the platform's on-call."""


_ATTEMPT: contextvars.ContextVar[object | None] = contextvars.ContextVar(
    "canary_step_attempt", default=None)


def in_attempt(token: object) -> None:
    """Mark the calling thread as running one step attempt (the runner's worker thread):
    the transport failures it notes from now count for that attempt alone."""
    _ATTEMPT.set(token)


class TransportTally:
    """How many of one run's exchanges ended without a complete answer (reset, timeout,
    refused), per step attempt (`in_attempt`). The quick lane retries a check
    whose own attempt saw one: the HTTP layer's own classification, never a reading of the
    reason's text (a hostile body may say anything), and never an exchange another thread
    finished late (an abandoned attempt, a step's leftover thread)."""

    def __init__(self) -> None:
        self._by_attempt: dict[object, int] = {}
        self._lock = threading.Lock()

    def note(self, answer: HttpAnswer) -> HttpAnswer:
        if answer.transport_failure:
            token = _ATTEMPT.get()
            if token is not None:
                with self._lock:
                    self._by_attempt[token] = self._by_attempt.get(token, 0) + 1
        return answer

    def of_attempt(self, token: object) -> int:
        """Transport failures noted by the thread that ran this attempt."""
        with self._lock:
            return self._by_attempt.get(token, 0)


def canary_headers(run_id: str) -> dict[str, str]:
    """Marks every request as the canary's synthetic traffic."""
    return {"User-Agent": USER_AGENT, "X-Canary": "synthetic", "X-Canary-Run": run_id}


@dataclass
class HttpAnswer:
    """One HTTP exchange.

    `status` is the status of a complete answer; 0 when none arrived *or* its body broke
    (`error` then says what happened, starting "transport failure"). `status_line` is the
    status received even when the body then broke. `truncated`: the body was cut at the
    cap (the answer itself was complete enough to judge).
    """

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    elapsed_ms: float = 0.0
    error: str = ""
    truncated: bool = False
    status_line: int = 0

    @property
    def transport_failure(self) -> bool:
        """No complete answer: never a verdict on the target's contract."""
        return bool(self.error)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self) -> Any:
        """The JSON body, or None when it is not JSON (or was truncated, or broke)."""
        if self.truncated or self.error or not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def snippet(self, n: int = 120) -> str:
        s = " ".join(self.text.split())
        return s[:n] + ("..." if len(s) > n else "")

    def describe(self) -> str:
        if self.error:
            return self.error
        return f"HTTP {self.status} {self.snippet(100)!r}"


def exchange(
    http: httpx.Client,
    clock: Clock,
    method: str,
    url: str,
    *,
    headers: dict[str, str],
    timeout_s: float,
    connect_timeout_s: float = 5.0,
    max_body_bytes: int = 256 * 1024,
    json_body: Any = None,
    extensions: dict[str, Any] | None = None,
) -> HttpAnswer:
    """One request, never following redirects, body capped, total time bounded (by the
    network backend of `transport.http_client()`, and between body chunks here). Never
    raises for the target's failures (refused, reset, timeouts, protocol errors)."""
    timeout_s = max(timeout_s, 0.05)
    timeout = httpx.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s))
    headers = {"Accept-Encoding": ACCEPT_ENCODING, **headers}
    start = clock.monotonic()
    answer = HttpAnswer()
    why = ""
    try:
        with total_deadline(timeout_s), http.stream(
            method, url, headers=headers, json=json_body, timeout=timeout,
            follow_redirects=False, extensions=extensions or {},
        ) as resp:
            answer.status_line = resp.status_code
            answer.headers = {k.lower(): v for k, v in resp.headers.items()}
            why = _read_body(resp, answer, clock, start, timeout_s, max_body_bytes)
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError, zlib.error) as exc:
        # ValueError/OSError: h11 oddities and socket errors httpx does not wrap
        why = _why(exc, answer, clock.monotonic() - start)
    answer.elapsed_ms = (clock.monotonic() - start) * 1000
    if why:
        answer.error = _scrub(f"{TRANSPORT_FAILURE}: {method} {_short(url)}: {why}", headers)
    else:
        answer.status = answer.status_line
    return answer


def _read_body(resp: httpx.Response, answer: HttpAnswer, clock: Clock, start: float,
               timeout_s: float, cap: int) -> str:
    """Read at most `cap` decoded bytes into `answer`; why the body is incomplete, or ""."""
    encoding = resp.headers.get("content-encoding", "").strip().lower()
    inflate = zlib.decompressobj(_WBITS[encoding]) if encoding in _WBITS else None
    source = resp.iter_raw
    if resp.is_stream_consumed:  # built in memory (a test's MockTransport): already decoded
        inflate, source = None, lambda: iter((resp.content,))
    chunks: list[bytes] = []
    size = 0
    try:
        for raw in source():
            data = inflate.decompress(raw, cap + 1 - size) if inflate else raw
            chunks.append(data)
            size += len(data)
            if size > cap or (inflate is not None and inflate.unconsumed_tail):
                answer.truncated = True
                break
            if clock.monotonic() - start > timeout_s:
                return (f"HTTP {resp.status_code} received but the body was not complete "
                        f"after {clock.monotonic() - start:.1f} s ({size} bytes; total time "
                        f"limit {timeout_s:.1f} s)")
    finally:
        answer.body = b"".join(chunks)[:cap]
    return ""


def _why(exc: Exception, answer: HttpAnswer, elapsed_s: float) -> str:
    """What went wrong, with the real elapsed time (never the timeout's value)."""
    kind = type(exc).__name__
    if isinstance(exc, httpx.LocalProtocolError | UnicodeEncodeError):
        # our own request was malformed; the text may quote a header (the key): never shown
        return f"the request could not be sent ({kind}: a header value is not sendable)"
    detail = str(exc)[:160]
    said = f"{kind}: {detail}" if detail else kind
    if answer.status_line:
        if isinstance(exc, zlib.error | httpx.DecodingError):
            return (f"HTTP {answer.status_line} received but its body could not be decoded "
                    f"({said})")
        if isinstance(exc, httpx.TimeoutException):
            return (f"HTTP {answer.status_line} received but the body stalled: not complete "
                    f"after {elapsed_s:.1f} s ({len(answer.body)} bytes; {kind})")
        return (f"HTTP {answer.status_line} received but the body broke after "
                f"{len(answer.body)} bytes, {elapsed_s:.1f} s ({said})")
    if isinstance(exc, httpx.ConnectTimeout):
        return f"no connection after {elapsed_s:.1f} s ({kind})"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer after {elapsed_s:.1f} s ({kind})"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect after {elapsed_s:.1f} s ({said})"
    return f"no valid answer after {elapsed_s:.1f} s ({said})"


def _scrub(message: str, headers: dict[str, str]) -> str:
    """An error may quote what we sent (h11 quotes an illegal header value): mask credentials."""
    for name, value in headers.items():
        if name.lower() not in ("authorization", "cookie") or not value:
            continue
        token = value.split(" ", 1)[-1]
        for secret in (value, token):
            if len(secret) >= 4:
                escaped = secret.encode("unicode_escape").decode("ascii")
                message = message.replace(secret, "***").replace(escaped, "***")
    return message


def _short(url: str) -> str:
    return url if len(url) <= 100 else url[:97] + "..."
