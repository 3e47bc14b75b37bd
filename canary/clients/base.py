"""What every client shares: the canary's request headers, a bounded HTTP exchange, TargetError."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from canary import USER_AGENT
from canary.clock import Clock


class TargetError(Exception):
    """When the target (an AWS API or an HTTP endpoint) failed a call: a result, not a bug."""


def canary_headers(run_id: str) -> dict[str, str]:
    """Marks every request as the canary's synthetic traffic."""
    return {"User-Agent": USER_AGENT, "X-Canary": "synthetic", "X-Canary-Run": run_id}


@dataclass
class HttpAnswer:
    """One HTTP exchange. `status` 0 when no response arrived (`error` says why)."""

    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    elapsed_ms: float = 0.0
    error: str = ""
    truncated: bool = False

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")

    def json(self) -> Any:
        """The JSON body, or None when it is not JSON (or was truncated)."""
        if self.truncated or not self.body:
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
    """One request, never following redirects, body capped, total time bounded. Never raises
    for the target's failures (connection refused, timeouts, protocol errors)."""
    timeout_s = max(timeout_s, 0.05)
    timeout = httpx.Timeout(timeout_s, connect=min(connect_timeout_s, timeout_s))
    start = clock.monotonic()
    answer = HttpAnswer()
    try:
        with http.stream(
            method, url, headers=headers, json=json_body, timeout=timeout,
            follow_redirects=False, extensions=extensions or {},
        ) as resp:
            answer.status = resp.status_code
            answer.headers = {k.lower(): v for k, v in resp.headers.items()}
            chunks: list[bytes] = []
            size = 0
            for chunk in resp.iter_bytes():
                chunks.append(chunk)
                size += len(chunk)
                if size > max_body_bytes:
                    answer.truncated = True
                    break
                if clock.monotonic() - start > timeout_s:
                    answer.error = (f"{method} {_short(url)}: body not complete within "
                                    f"{timeout_s:.1f} s")
                    break
            answer.body = b"".join(chunks)[:max_body_bytes]
    except httpx.TimeoutException:
        answer.error = f"{method} {_short(url)}: no answer within {timeout_s:.1f} s (timeout)"
    except httpx.HTTPError as exc:
        answer.error = f"{method} {_short(url)}: {type(exc).__name__}: {str(exc)[:120]}"
    except (OSError, ValueError) as exc:  # h11 oddities, socket errors not wrapped by httpx
        answer.error = f"{method} {_short(url)}: {type(exc).__name__}: {str(exc)[:120]}"
    answer.elapsed_ms = (clock.monotonic() - start) * 1000
    return answer


def _short(url: str) -> str:
    return url if len(url) <= 100 else url[:97] + "..."
