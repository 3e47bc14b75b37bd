"""Hermes: `POST {HERMES_API_URL}/api/sessions/resume-preview`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from canary.clients.base import HttpAnswer, TransportTally, canary_headers, exchange
from canary.clock import Clock
from canary.redaction import mask

RESUME_PATH = "/api/sessions/resume-preview"


@dataclass
class ResumeAnswer:
    """resume-preview's answer, parsed as far as it parses."""

    http: HttpAnswer
    body: dict[str, Any] | None

    @property
    def status(self) -> int:
        return self.http.status

    @property
    def transport_failure(self) -> bool:
        """No complete answer (refused, reset, stalled): not the target's verdict, so never
        a contract violation; `describe()` says what happened."""
        return self.http.transport_failure

    @property
    def container_status(self) -> str | None:
        v = (self.body or {}).get("status")
        return v if isinstance(v, str) else None

    def field(self, name: str) -> str | None:
        v = (self.body or {}).get(name)
        return v if isinstance(v, str) and v else None

    def describe(self) -> str:
        if self.http.error:
            return self.http.error
        msg = (self.body or {}).get("message")
        if isinstance(msg, str):
            return f"HTTP {self.status} {msg[:240]!r}"
        return self.http.describe()


class HermesClient:
    def __init__(
        self,
        http: httpx.Client,
        base_url: str,
        api_key: Callable[[], str],
        clock: Clock,
        run_id: str,
        *,
        connect_timeout_s: float = 5.0,
        max_body_bytes: int = 256 * 1024,
        tally: TransportTally | None = None,
    ) -> None:
        self.http = http
        self.tally = tally or TransportTally()
        self.url = base_url.rstrip("/") + RESUME_PATH
        self._api_key = api_key
        self.clock = clock
        self.run_id = run_id
        self.connect_timeout_s = connect_timeout_s
        self.max_body_bytes = max_body_bytes

    def resume_preview(
        self, thread_id: str, client_id: str, *, timeout_s: float, auth: bool = True
    ) -> ResumeAnswer:
        headers = {**canary_headers(self.run_id), "Accept": "application/json"}
        key = self._api_key() if auth else None
        if key:
            headers["Authorization"] = f"Bearer {key}"
        answer = exchange(
            self.http, self.clock, "POST", self.url, headers=headers, timeout_s=timeout_s,
            connect_timeout_s=self.connect_timeout_s, max_body_bytes=self.max_body_bytes,
            json_body={"chatThreadId": thread_id, "clientId": client_id},
        )
        self.tally.note(answer)
        if key:
            _mask_echo(answer, key)
        doc = answer.json()
        return ResumeAnswer(answer, doc if isinstance(doc, dict) else None)


def _mask_echo(answer: HttpAnswer, key: str) -> None:
    """A target that echoes our key (in any encoding) never hands it to a reason: masked at the
    source, before any snippet cuts it or a format escapes it."""
    text = answer.body.decode("latin-1")
    masked = mask(text, key)
    if masked != text:
        answer.body = masked.encode("latin-1", errors="replace")
    answer.headers = {k: mask(v, key) for k, v in answer.headers.items()}
    answer.error = mask(answer.error, key)
