"""ApiKeyProvider: the internal API key from the config or Secrets Manager, cached with a TTL.

The key is never logged: errors name the secret's ARN and the AWS error code, never
the value.
"""

from __future__ import annotations

import threading
from typing import Any

from canary.clock import Clock


class SecretError(RuntimeError):
    """When the API key cannot be read (the message never contains the key)."""


class ApiKeyProvider:
    """`get()` -> the key. Either `key` or `secret_arn`; a boto3 Secrets Manager client
    may be passed, else one is built (lazily, on the first read) for `region`/`endpoint_url`.
    """

    def __init__(
        self,
        *,
        key: str | None = None,
        secret_arn: str | None = None,
        clock: Clock,
        client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        ttl_s: float = 300.0,
        client_kwargs: dict[str, Any] | None = None,
    ) -> None:
        if not key and not secret_arn:
            raise ValueError("ApiKeyProvider needs a key or a secret ARN")
        self._static = key
        self.secret_arn = secret_arn
        self._clock = clock
        self._client = client
        self._region = region
        self._endpoint_url = endpoint_url
        self._client_kwargs = client_kwargs or {}
        self.ttl_s = ttl_s
        self._cached: str | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the Secrets Manager client, if any (the cached key stays usable)."""
        if self._client is not None:
            self._client.close()

    def __repr__(self) -> str:
        source = "config" if self._static else f"secret {self.secret_arn}"
        return f"ApiKeyProvider(source={source!r})"

    def get(self) -> str:
        if self._static:
            return self._static
        with self._lock:
            now = self._clock.monotonic()
            if self._cached is not None and now - self._fetched_at < self.ttl_s:
                return self._cached
            self._cached = self._fetch()
            self._fetched_at = now
            return self._cached

    def peek(self) -> str | None:
        """The key if already known (never fetches): for redacting output."""
        return self._static or self._cached

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None

    def _fetch(self) -> str:
        try:
            if self._client is None:
                import boto3

                self._client = boto3.client(
                    "secretsmanager", region_name=self._region,
                    endpoint_url=self._endpoint_url, **self._client_kwargs,
                )
            resp = self._client.get_secret_value(SecretId=self.secret_arn)
        except Exception as exc:  # botocore errors, no credentials, endpoint down
            code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(
                exc, "response") else None
            raise SecretError(
                f"cannot read the API key from secret {self.secret_arn}: "
                f"{code or type(exc).__name__}"
            ) from None
        value = resp.get("SecretString")
        if not isinstance(value, str) or not value.strip():
            raise SecretError(f"secret {self.secret_arn} has no SecretString (or it is empty)")
        value = value.strip()
        if value.startswith("{"):
            # A JSON secret: take the conventional field.
            import json

            try:
                doc = json.loads(value)
            except ValueError:
                raise SecretError(f"secret {self.secret_arn} is not valid JSON") from None
            for name in ("INTERNAL_API_KEY", "apiKey", "api_key", "key"):
                if isinstance(doc, dict) and isinstance(doc.get(name), str) and doc[name]:
                    return doc[name]
            raise SecretError(
                f"secret {self.secret_arn} is JSON without an INTERNAL_API_KEY/apiKey field"
            )
        return value
