"""ApiKeyProvider: the internal API key from the config or Secrets Manager, cached with a TTL.

The key is never logged: errors name the secret's ARN and what went wrong (the AWS
error code, a timeout, a reset), never the value. A read is bounded in time: the
caller passes what its deadline leaves, and the read is abandoned when that passes.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from canary.clock import Clock
from canary.deadline import TimeUp, bounded

READ_TIMEOUT_S = 5.0
"""How long one read may take when the caller names no limit."""
JSON_FIELDS = ("INTERNAL_API_KEY", "apiKey", "api_key", "key")


class SecretError(RuntimeError):
    """When the API key cannot be read (the message never contains the key).

    `configuration` is True when the deployment is wrong (no such secret, no permission,
    no usable value) and False when Secrets Manager failed (timeout, reset, 5xx, ...).
    """

    def __init__(self, message: str, *, configuration: bool = True) -> None:
        super().__init__(message)
        self.configuration = configuration


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
        timeout_s: float = READ_TIMEOUT_S,
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
        self.timeout_s = timeout_s
        self._cached: str | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()  # the cache; never held over a read
        self._client_lock = threading.Lock()  # building the client (once)

    def close(self) -> None:
        """Close the Secrets Manager client, if any (the cached key stays usable)."""
        if self._client is not None:
            self._client.close()

    def __repr__(self) -> str:
        source = "config" if self._static else f"secret {self.secret_arn}"
        return f"ApiKeyProvider(source={source!r})"

    def get(self, timeout_s: float | None = None) -> str:
        """The key; a read from Secrets Manager waits at most `timeout_s` (default
        `self.timeout_s`) and raises SecretError when it fails or takes longer."""
        if self._static:
            return self._static
        now = self._clock.monotonic()
        with self._lock:
            if self._cached is not None and now - self._fetched_at < self.ttl_s:
                return self._cached
        limit = self.timeout_s if timeout_s is None else timeout_s
        try:
            response = bounded(self._read, limit, what="GetSecretValue")
        except TimeUp as exc:
            raise SecretError(self._cannot(str(exc)), configuration=False) from None
        except Exception as exc:  # botocore errors, no credentials, endpoint down
            from canary.clients.aws import describe_aws_error, is_configuration_error

            raise SecretError(self._cannot(describe_aws_error(exc)),
                              configuration=is_configuration_error(exc)) from None
        value = self._parse(response)
        with self._lock:
            self._cached, self._fetched_at = value, now
        return value

    def peek(self) -> str | None:
        """The key if already known (never fetches): for redacting output."""
        return self._static or self._cached

    def _cannot(self, why: str) -> str:
        return f"cannot read the API key from secret {self.secret_arn}: {why}"

    def _read(self) -> Any:
        with self._client_lock:
            if self._client is None:
                import boto3

                from canary.clients.aws import client_config

                self._client = boto3.client(
                    "secretsmanager", region_name=self._region, config=client_config(),
                    endpoint_url=self._endpoint_url, **self._client_kwargs,
                )
            client = self._client
        return client.get_secret_value(SecretId=self.secret_arn)

    def _parse(self, response: Any) -> str:
        value = response.get("SecretString") if isinstance(response, dict) else None
        if not isinstance(value, str) or not value.strip():
            raise SecretError(f"secret {self.secret_arn} has no SecretString (or it is empty)")
        value = value.strip()
        if not value.startswith("{"):
            return value
        try:  # a JSON secret: take the conventional field
            doc = json.loads(value)
        except ValueError:
            raise SecretError(f"secret {self.secret_arn} is not valid JSON") from None
        for name in JSON_FIELDS:
            if isinstance(doc, dict) and isinstance(doc.get(name), str) and doc[name]:
                return doc[name]
        raise SecretError(
            f"secret {self.secret_arn} is JSON without an INTERNAL_API_KEY/apiKey field"
        )
