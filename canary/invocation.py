"""One scheduled invocation: config -> time left -> lock -> key -> scenario -> report.

Every path ends in a report: the EMF lines (ScenarioSuccess 1 or 0, whatever went
wrong) and one log line a person understands. Nothing here raises to the caller,
so a broken run is a metric and a log line, not a retried invocation. The
handler module owns the clients and the logger and passes them in.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from canary.catalogue import DEFAULT_NAMESPACE
from canary.metrics import emf_lines, scenario_succeeded
from canary.models import RunResult, StepResult
from canary.redaction import RedactingStdout, RedactSecrets, mask_loggers

SAFETY_MARGIN_S = 5.0
"""Time kept back from the Lambda's remaining time to report and release the lock."""
SAFETY_MARGIN_FRACTION = 0.2
"""...but never more than this share of it, so a short invocation still runs."""
MIN_BUDGET_S = 0.5
"""Below this the scenario is not started at all (reported as a canary error)."""
LOCK_GRACE_S = 60.0
"""The lock outlives the invocation's deadline by this much before it counts as stale."""


@dataclass
class Outcome:
    run: RunResult
    skipped: bool = False
    why: str = ""  # the one line for a person


@dataclass
class Invocation:
    """Runs and reports one invocation with the handler's logger and warm clients.

    `dependencies(config)` returns the scenario's clients (built once per warm
    container by the handler); `tracer(environ)` returns a Powertools Tracer or None.
    """

    logger: Any  # aws_lambda_powertools.Logger
    stream: RedactingStdout
    redact_filter: RedactSecrets
    dependencies: Callable[[Any], Any]
    tracer: Callable[[Mapping[str, str]], Any]

    def __call__(self, context: Any, environ: Mapping[str, str]) -> dict[str, Any]:
        run_id = getattr(context, "aws_request_id", None) or str(uuid.uuid4())
        self.logger.clear_state()
        self.logger.set_correlation_id(run_id)
        started_at, started = time.time(), time.monotonic()
        # What the metrics need even when the configuration itself is broken.
        environment = environ.get("CANARY_ENVIRONMENT") or "production"
        namespace = environ.get("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_NAMESPACE
        try:
            outcome = self._invoke(context, run_id, started_at, environ)
            environment = outcome.run.environment or environment
        except Exception as exc:  # a bug in the canary itself: still report
            self.logger.exception("canary handler failed")
            outcome = self._failed(
                run_id, environment, started_at, f"canary bug: {self._describe(exc)}"
            )
        if not outcome.run.duration_ms:
            outcome.run.duration_ms = (time.monotonic() - started) * 1000
        return self._report(outcome, namespace=namespace, environment=environment)

    def _invoke(
        self, context: Any, run_id: str, started_at: float, environ: Mapping[str, str]
    ) -> Outcome:
        from canary.config import CanaryConfig, ConfigError

        fallback_env = environ.get("CANARY_ENVIRONMENT") or "production"
        try:
            config = CanaryConfig.from_env(environ)
        except ConfigError as exc:
            return self._failed(run_id, fallback_env, started_at, f"invalid configuration: {exc}")
        self.logger.append_keys(**_session_keys(config))

        remaining_s = _remaining_s(context)
        budget_s = min(config.budget_s, _budget_s(remaining_s))
        if budget_s < MIN_BUDGET_S:
            return self._failed(
                run_id, config.environment, started_at,
                f"not started: only {remaining_s:.1f} s of Lambda time left, "
                f"too little to run and report",
            )
        deps = self.dependencies(config)

        lock = None
        if config.lock_table:
            from canary.lock import LockError, RunLock

            lock = RunLock(
                config.lock_table, owner=run_id, ttl_s=min(remaining_s, 86_400) + LOCK_GRACE_S,
                client=deps.dynamodb,
            )
            try:
                if not lock.acquire():
                    return Outcome(
                        _empty_run(run_id, config.environment, started_at),
                        skipped=True,
                        why=f"skipped: another run holds the lock{_holder(lock)}",
                    )
            except LockError as exc:
                return self._failed(run_id, config.environment, started_at, str(exc))
        try:
            return self._run(config, deps, run_id, started_at, budget_s, environ)
        finally:
            if lock is not None:
                self._release(lock)

    def _run(
        self, config: Any, deps: Any, run_id: str, started_at: float, budget_s: float,
        environ: Mapping[str, str],
    ) -> Outcome:
        from canary.clock import SystemClock
        from canary.runner import run_scenario
        from canary.secrets import SecretError

        mask_loggers("canary", self.redact_filter)
        try:
            self.stream.add_secret(deps.api_key.get())  # read now: a bad secret fails clearly
        except SecretError as exc:
            return self._failed(
                run_id, config.environment, started_at,
                f"could not read the internal API key: {exc}",
            )

        def scenario() -> RunResult:
            return run_scenario(
                config, deps, SystemClock(), deadline_s=budget_s, on_step=self._log_step,
                run_id=run_id,
            )

        tracer = self.tracer(environ)
        try:
            if tracer is None:
                run = scenario()
            else:
                with tracer.provider.in_subsegment("## run_scenario") as subsegment:
                    subsegment.put_annotation("run_id", run_id)
                    run = scenario()
        except Exception as exc:
            self.logger.exception("the scenario raised")
            return self._failed(
                run_id, config.environment, started_at, f"canary bug: {self._describe(exc)}"
            )
        return Outcome(run)

    def _report(self, outcome: Outcome, *, namespace: str, environment: str) -> dict[str, Any]:
        """Print the EMF lines and the one summary line; return the (masked) summary."""
        run = outcome.run
        try:
            lines = emf_lines(
                run, namespace=namespace, environment=environment, skipped=outcome.skipped
            )
        except Exception as exc:  # never lose ScenarioSuccess to a bad measurement
            self.logger.exception("could not build the metrics of this run")
            run = self._failed(
                run.run_id, environment, run.started_at, f"canary bug: {self._describe(exc)}"
            ).run
            lines = emf_lines(run, namespace=namespace, environment=environment)
        for line in lines:
            print(line, flush=True)

        ok = scenario_succeeded(run, skipped=outcome.skipped)
        summary = json.loads(self.stream.redact(json.dumps(run.to_dict(), default=str)))
        summary.update(
            ok=ok, skipped=outcome.skipped,
            summary=self.stream.redact(outcome.why or _why(run)),
        )
        if ok:
            self.logger.info(summary["summary"])
        else:
            self.logger.error(summary["summary"])
        return summary

    def _log_step(self, step: StepResult) -> None:
        level = logging.ERROR if step.failed else logging.INFO
        self.logger.log(
            level, f"step {step.name} {step.status.value}", extra={"step": step.to_dict()}
        )

    def _release(self, lock: Any) -> None:
        try:
            if not lock.release():
                self.logger.warning("the run lock had expired and was taken over by another run")
        except Exception as exc:
            self.logger.warning(f"could not release the run lock: {self._describe(exc)}")

    def _failed(self, run_id: str, environment: str, started_at: float, error: str) -> Outcome:
        run = _empty_run(run_id, environment, started_at)
        run.error = self.stream.redact(error)
        return Outcome(run)

    def _describe(self, exc: BaseException) -> str:
        return self.stream.redact(f"{type(exc).__name__}: {exc}")


def _why(run: RunResult) -> str:
    """The one line a person reads first: passed, or why not."""
    seconds = f"{run.duration_ms / 1000:.1f} s"
    if run.error:
        return f"canary could not run: {run.error}"
    failed = [s for s in run.steps if s.failed]
    if failed:
        parts = "; ".join(f"{s.name}: {s.reason or 'failed'}" for s in failed)
        return f"scenario failed in {seconds}: {parts}"
    if run.cut_short:
        return (
            f"scenario incomplete after {seconds}: the time budget ran out before "
            f"{', '.join(run.cut_short)}"
        )
    return f"scenario passed in {seconds} ({len(run.steps)} steps)"


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


def _empty_run(run_id: str, environment: str, started_at: float) -> RunResult:
    return RunResult(run_id=run_id, target="env", environment=environment, started_at=started_at)
