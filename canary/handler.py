"""The Lambda entry point (`canary.handler.handler`): thin.

It owns what lives as long as a warm container: the JSON logger (with secret
masking), the clients (httpx, boto3, the API key provider with its TTL cache),
built lazily on the first invocation and reused, and the Tracer, imported only
when tracing is switched on (`CANARY_TRACING=true`, `POWERTOOLS_TRACE_DISABLED`
not true). Each invocation is one `canary.invocation.Invocation` call, which
never raises. `reset_warm_state()` forgets the clients (tests do this).

Import cost is cold-start time: boto3, httpx and the scenario load on the first
invocation, not at import; `python -X importtime -c "import canary.handler"`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from canary.invocation import Invocation
from canary.redaction import RedactingStdout, RedactSecrets

_stream = RedactingStdout()
_redact_filter = RedactSecrets(_stream)
logger = Logger(stream=_stream)  # service from POWERTOOLS_SERVICE_NAME; JSON lines
logger.addFilter(_redact_filter)

# The canary's own modules log through the same JSON handler (and the same masking).
_canary_logger = logging.getLogger("canary")
_canary_logger.addHandler(logger.registered_handler)
_canary_logger.setLevel(logging.INFO)
_canary_logger.propagate = False


# -- warm-container state ----------------------------------------------------------------


@dataclass
class _Warm:
    key: tuple | None = None  # what the clients were built for (region, endpoint, key source)
    deps: Any = None  # canary.composition.Dependencies
    tracer: Any = None


_warm = _Warm()


def reset_warm_state() -> None:
    """Forget the clients built by earlier invocations, as a new container would.

    For tests (each test points the handler at a different sandbox); Lambda never
    needs it. Closes the HTTP client.
    """
    global _warm
    if _warm.deps is not None:
        _warm.deps.close()
    _warm = _Warm()
    _stream.forget_secrets()


def _dependencies(config: Any) -> Any:
    """The scenario's clients, built on the first invocation of this container and reused.

    boto3 and httpx are imported here, not at module import: the import is paid
    once per container either way, but a handler import (and a config error)
    stays cheap.
    """
    key = (config.region, config.aws_endpoint_url, config.api_key_secret_arn, config.api_key)
    if _warm.deps is not None and _warm.key == key:
        return _warm.deps
    from canary.clock import SystemClock
    from canary.composition import Dependencies

    if _warm.deps is not None:
        _warm.deps.close()
    # One provider per container: its cache (TTL) spans warm invocations.
    _warm.deps = Dependencies.build(config, SystemClock())
    _warm.key = key
    return _warm.deps


def _tracer(environ: Mapping[str, str]) -> Any:
    """The Powertools Tracer, or None. Imported only when tracing is on (aws-xray-sdk is heavy)."""
    if not _truthy(environ.get("CANARY_TRACING")) or _truthy(
        environ.get("POWERTOOLS_TRACE_DISABLED")
    ):
        return None
    if _warm.tracer is None:
        from aws_lambda_powertools import Tracer

        _warm.tracer = Tracer()
    return _warm.tracer


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


# -- the entry point ---------------------------------------------------------------------


def handler(event: Mapping[str, Any] | None, context: Any) -> dict[str, Any]:
    """Run the lane's scenario once over every session and report it (EMF + one summary
    line). The schedule's event `{"lane": "quick"}` picks the lane. Never raises."""
    invocation = Invocation(
        logger=logger, stream=_stream, redact_filter=_redact_filter,
        dependencies=_dependencies, tracer=_tracer,
    )
    return invocation(context, os.environ, event)
