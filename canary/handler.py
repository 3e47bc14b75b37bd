"""The Lambda entry point (`canary.handler.handler`): thin.

Per invocation: read the config, take the run lock, read the API key, run the
scenario within the time Lambda has left, print the EMF lines, release the
lock. Every invocation ends with ScenarioSuccess (1 or 0) and one log line a
person understands, whatever went wrong; the handler never raises, so a broken
run is a metric and a log line, not a retried invocation.

Clients (httpx, boto3, the API key provider with its cache) are built once per
warm container, lazily, here and only here; `reset_warm_state()` forgets them
(tests do this between cases). The Tracer (aws-xray-sdk) is imported only when
tracing is switched on: `CANARY_TRACING=true` and `POWERTOOLS_TRACE_DISABLED`
not true.

Import cost is cold-start time: boto3 and httpx load on the first invocation,
not at import; `python -X importtime -c "import canary.handler"` shows the rest.
"""

from __future__ import annotations

import io
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools import Logger

from canary.catalogue import DEFAULT_NAMESPACE
from canary.metrics import emf_lines, scenario_succeeded
from canary.models import RunResult, StepResult

SAFETY_MARGIN_S = 5.0
"""Time kept back from the Lambda's remaining time to report and release the lock."""
SAFETY_MARGIN_FRACTION = 0.2
"""...but never more than this share of it, so a short invocation still runs."""
MIN_BUDGET_S = 0.5
"""Below this the scenario is not started at all (reported as a canary error)."""
LOCK_GRACE_S = 60.0
"""The lock outlives the invocation's deadline by this much before it counts as stale."""
REDACTED = "***"


class _RedactingStdout(io.TextIOBase):
    """The log stream: writes to the *current* sys.stdout with every known secret masked.

    Resolving sys.stdout at write time keeps the logger usable under test
    capture; masking here catches a secret whatever carried it (a message, an
    exception, a traceback).
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: frozenset[str] = frozenset()

    def add_secret(self, value: str | None) -> None:
        if value and len(value) >= 4:  # masking shorter strings would garble ordinary text
            self.secrets = self.secrets | {value}

    def forget_secrets(self) -> None:
        self.secrets = frozenset()

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        sys.stdout.write(self.redact(text))
        return len(text)

    def flush(self) -> None:
        sys.stdout.flush()


class RedactedError(Exception):
    """When a logged exception's text contained a secret: stands in for it, masked."""


_STANDARD_RECORD_KEYS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime",
}


class _RedactSecrets(logging.Filter):
    """Masks known secrets in a log record itself (message, exception, extra fields).

    The output stream masks too; this keeps the records clean for every other
    handler (a test's capture, a future log shipper). Records without a secret
    pass untouched.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = _stream.secrets
        if not secrets:
            return True
        message = record.getMessage()
        if any(s in message for s in secrets):
            record.msg, record.args = _stream.redact(message), ()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text = f"{type(exc).__name__}: {exc}"
            if any(s in text for s in secrets):
                record.exc_info = (RedactedError, RedactedError(_stream.redact(text)),
                                   record.exc_info[2])
                record.exc_text = None
        for key, value in list(vars(record).items()):
            if key in _STANDARD_RECORD_KEYS or not isinstance(value, str | dict | list | tuple):
                continue
            dumped = json.dumps(value, default=str)
            if any(s in dumped for s in secrets):
                setattr(record, key, json.loads(_stream.redact(dumped)))
        return True


_stream = _RedactingStdout()
_redact_filter = _RedactSecrets()
logger = Logger(stream=_stream)  # service from POWERTOOLS_SERVICE_NAME; JSON lines
logger.addFilter(_redact_filter)

# The canary's own modules log through the same JSON handler (and the same masking).
_canary_logger = logging.getLogger("canary")
_canary_logger.addHandler(logger.registered_handler)
_canary_logger.setLevel(logging.INFO)
_canary_logger.propagate = False


def _mask_canary_loggers() -> None:
    """Put the masking filter on every canary.* logger (a parent's filter does not see
    its children's records). Idempotent; run once the scenario's modules are imported."""
    for name, candidate in list(logging.Logger.manager.loggerDict.items()):
        ours = name == "canary" or name.startswith("canary.")
        if ours and isinstance(candidate, logging.Logger) and (
            _redact_filter not in candidate.filters
        ):
            candidate.addFilter(_redact_filter)


# -- warm-container state ----------------------------------------------------------------


@dataclass
class _Warm:
    key: tuple | None = None  # what the clients were built for (region, endpoint, key source)
    deps: Any = None  # canary.runner.Dependencies
    tracer: Any = None


_warm = _Warm()


def reset_warm_state() -> None:
    """Forget the clients built by earlier invocations, as a new container would.

    For tests (each test points the handler at a different sandbox); Lambda never
    needs it. Closes the HTTP client.
    """
    global _warm
    http = getattr(_warm.deps, "http", None)
    if http is not None:
        http.close()
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
    import boto3
    import httpx
    from botocore.config import Config

    from canary.clock import SystemClock
    from canary.runner import Dependencies
    from canary.secrets import ApiKeyProvider

    if _warm.deps is not None:
        _warm.deps.http.close()
    kwargs: dict[str, Any] = {"region_name": config.region}
    if config.aws_endpoint_url:
        kwargs["endpoint_url"] = config.aws_endpoint_url
    session = boto3.session.Session()
    aws = Config(
        retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=20,
        max_pool_connections=16,
    )
    secrets = None
    if config.api_key_secret_arn and not config.api_key:
        secrets = session.client("secretsmanager", config=aws, **kwargs)
    _warm.deps = Dependencies(
        http=httpx.Client(
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=16)
        ),
        dynamodb=session.client("dynamodb", config=aws, **kwargs),
        ecs=session.client("ecs", config=aws, **kwargs),
        # One provider per container: its cache (TTL) spans warm invocations.
        api_key=ApiKeyProvider(
            key=config.api_key, secret_arn=config.api_key_secret_arn, clock=SystemClock(),
            client=secrets,
        ),
    )
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


@dataclass
class _Outcome:
    run: RunResult
    skipped: bool = False
    why: str = ""  # the one line for a person


def handler(event: Mapping[str, Any] | None, context: Any) -> dict[str, Any]:
    """Run the scenario once and report it. Never raises."""
    run_id = getattr(context, "aws_request_id", None) or str(uuid.uuid4())
    logger.clear_state()
    logger.set_correlation_id(run_id)
    started_at, started = time.time(), time.monotonic()
    environ = os.environ
    # What the metrics need even when the configuration itself is broken.
    environment = environ.get("CANARY_ENVIRONMENT") or "production"
    namespace = environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE
    try:
        outcome = _invoke(context, run_id, started_at, environ)
        environment = outcome.run.environment or environment
    except Exception as exc:  # a bug in the handler itself: still report
        logger.exception("canary handler failed")
        outcome = _failed(run_id, environment, started_at, f"canary bug: {_describe(exc)}")
    if not outcome.run.duration_ms:
        outcome.run.duration_ms = (time.monotonic() - started) * 1000
    return _report(outcome, namespace=namespace, environment=environment)


def _invoke(context: Any, run_id: str, started_at: float, environ: Mapping[str, str]) -> _Outcome:
    from canary.config import CanaryConfig, ConfigError

    fallback_env = environ.get("CANARY_ENVIRONMENT") or "production"
    try:
        config = CanaryConfig.from_env(environ)
    except ConfigError as exc:
        return _failed(run_id, fallback_env, started_at, f"invalid configuration: {exc}")
    logger.append_keys(**_session_keys(config))

    remaining_s = _remaining_s(context)
    budget_s = min(config.budget_s, _budget_s(remaining_s))
    if budget_s < MIN_BUDGET_S:
        return _failed(
            run_id, config.environment, started_at,
            f"not started: only {remaining_s:.1f} s of Lambda time left, "
            f"too little to run and report",
        )
    deps = _dependencies(config)

    lock = None
    if config.lock_table:
        from canary.lock import LockError, RunLock

        lock = RunLock(
            config.lock_table, owner=run_id, ttl_s=min(remaining_s, 86_400) + LOCK_GRACE_S,
            client=deps.dynamodb,
        )
        try:
            if not lock.acquire():
                return _Outcome(
                    _empty_run(run_id, config.environment, started_at),
                    skipped=True,
                    why=f"skipped: another run holds the lock{_holder(lock)}",
                )
        except LockError as exc:
            return _failed(run_id, config.environment, started_at, str(exc))
    try:
        return _run(config, deps, run_id, started_at, budget_s, environ)
    finally:
        if lock is not None:
            _release(lock)


def _run(
    config: Any, deps: Any, run_id: str, started_at: float, budget_s: float,
    environ: Mapping[str, str],
) -> _Outcome:
    from canary.clock import SystemClock
    from canary.runner import run_scenario
    from canary.secrets import SecretError

    _mask_canary_loggers()
    try:
        _stream.add_secret(deps.api_key.get())  # read now: a bad secret fails here, clearly
    except SecretError as exc:
        return _failed(
            run_id, config.environment, started_at,
            f"could not read the internal API key: {exc}",
        )

    def scenario() -> RunResult:
        return run_scenario(
            config, deps, SystemClock(), deadline_s=budget_s, on_step=_log_step, run_id=run_id
        )

    tracer = _tracer(environ)
    try:
        if tracer is None:
            run = scenario()
        else:
            with tracer.provider.in_subsegment("## run_scenario") as subsegment:
                subsegment.put_annotation("run_id", run_id)
                run = scenario()
    except Exception as exc:
        logger.exception("the scenario raised")
        return _failed(run_id, config.environment, started_at, f"canary bug: {_describe(exc)}")
    return _Outcome(run)


def _report(outcome: _Outcome, *, namespace: str, environment: str) -> dict[str, Any]:
    """Print the EMF lines and the one summary line; return the (masked) summary."""
    run = outcome.run
    try:
        lines = emf_lines(
            run, namespace=namespace, environment=environment, skipped=outcome.skipped
        )
    except Exception as exc:  # never lose ScenarioSuccess to a bad measurement
        logger.exception("could not build the metrics of this run")
        run = _failed(run.run_id, environment, run.started_at, f"canary bug: {_describe(exc)}").run
        lines = emf_lines(run, namespace=namespace, environment=environment)
    for line in lines:
        print(line, flush=True)

    ok = scenario_succeeded(run, skipped=outcome.skipped)
    summary = json.loads(_stream.redact(json.dumps(run.to_dict(), default=str)))
    summary.update(
        ok=ok, skipped=outcome.skipped, summary=_stream.redact(outcome.why or _why(run))
    )
    if ok:
        logger.info(summary["summary"])
    else:
        logger.error(summary["summary"])
    return summary


def _why(run: RunResult) -> str:
    """The one line a person reads first: passed, or why not."""
    seconds = f"{run.duration_ms / 1000:.1f} s"
    if run.error:
        return f"canary could not run: {run.error}"
    failed = [s for s in run.steps if s.failed]
    short = run.cut_short
    if failed:
        parts = "; ".join(f"{s.name}: {s.reason or 'failed'}" for s in failed)
        return f"scenario failed in {seconds}: {parts}"
    if short:
        return (
            f"scenario incomplete after {seconds}: the time budget ran out before "
            f"{', '.join(short)}"
        )
    return f"scenario passed in {seconds} ({len(run.steps)} steps)"


def _log_step(step: StepResult) -> None:
    level = logging.ERROR if step.failed else logging.INFO
    logger.log(level, f"step {step.name} {step.status.value}", extra={"step": step.to_dict()})


# -- helpers -----------------------------------------------------------------------------


def _remaining_s(context: Any) -> float:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:  # a local call without a Lambda context
        return float("inf")
    return max(0.0, remaining() / 1000)


def _budget_s(remaining_s: float) -> float:
    margin = min(SAFETY_MARGIN_S, remaining_s * SAFETY_MARGIN_FRACTION)
    return remaining_s - margin


def _session_keys(config: Any) -> dict[str, str]:
    keys = {
        "clientId": getattr(config, "client_id", None),
        "threadId": getattr(config, "thread_id", None),
        "userId": getattr(config, "user_id", None),
        "containerId": getattr(config, "container_id", None),
        "environment": getattr(config, "environment", None),
    }
    return {k: str(v) for k, v in keys.items() if v}


def _holder(lock: Any) -> str:
    try:
        holder = lock.holder()
    except Exception:
        return ""
    if holder is None:
        return ""
    left = holder.expires_at - time.time()
    return f" (run {holder.owner}, lock expires in {max(0, left):.0f} s)"


def _release(lock: Any) -> None:
    try:
        if not lock.release():
            logger.warning("the run lock had expired and was taken over by another run")
    except Exception as exc:
        logger.warning(f"could not release the run lock: {_describe(exc)}")


def _empty_run(run_id: str, environment: str, started_at: float) -> RunResult:
    return RunResult(run_id=run_id, target="env", environment=environment, started_at=started_at)


def _failed(run_id: str, environment: str, started_at: float, error: str) -> _Outcome:
    run = _empty_run(run_id, environment, started_at)
    run.error = _stream.redact(error)
    return _Outcome(run)


def _describe(exc: BaseException) -> str:
    return _stream.redact(f"{type(exc).__name__}: {exc}")
