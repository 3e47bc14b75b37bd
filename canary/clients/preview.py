"""The preview router: `GET edit.{clientId}.{domain}/session/{threadId}/{path}`.

When connecting to an ALB by its DNS name, the Host header (and, for https, the TLS
server name) is `edit.{clientId}.{PREVIEW_DOMAIN}`. Redirects are never followed.
"""

from __future__ import annotations

from typing import Any

import httpx

from canary.clients.base import HttpAnswer, TransportTally, canary_headers, exchange
from canary.clock import Clock


class PreviewClient:
    def __init__(
        self,
        http: httpx.Client,
        config: Any,  # CanaryConfig (preview_request, connect_timeout_s, max_body_bytes)
        clock: Clock,
        run_id: str,
        tally: TransportTally | None = None,
    ) -> None:
        self.http = http
        self.tally = tally or TransportTally()
        self.config = config
        self.clock = clock
        self.run_id = run_id

    def get(
        self,
        thread_id: str,
        path: str = "",
        *,
        timeout_s: float,
        client_id: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> HttpAnswer:
        url, extra = self.config.preview_request(thread_id, path, client_id)
        all_headers = {**canary_headers(self.run_id), **extra, **(headers or {})}
        extensions: dict[str, Any] = {}
        host = extra.get("Host")
        if host and url.startswith("https://"):
            extensions["sni_hostname"] = host
        return self.tally.note(exchange(
            self.http, self.clock, "GET", url, headers=all_headers, timeout_s=timeout_s,
            connect_timeout_s=self.config.connect_timeout_s,
            max_body_bytes=self.config.max_body_bytes, extensions=extensions,
        ))
