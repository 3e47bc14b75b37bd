"""One scheduled invocation: config -> time left -> lock -> key -> scenario -> report.

Every path ends in a report: the EMF lines (ScenarioSuccess 1 or 0, whatever went
wrong) and one log line a person understands. Nothing here raises to the caller,
so a broken run is a metric and a log line, not a retried invocation. The
handler module owns the clients and the logger and passes them in.

One deadline per invocation: the Lambda's remaining time less a safety margin (and
at most CANARY_BUDGET_S). Taking the lock, reading the key, the scenario and giving
the lock back are each bounded by a slice of what it leaves and charged against it,
so the report is printed before the deadline whatever hangs. With REPORT_BUCKET set, the
run's HTML report and JSON result are then written to S3 (canary/report_upload.py), bounded
by what the Lambda has left; a failed upload is a log line, never a lost metric.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from canary.catalogue import DEFAULT_NAMESPACE
from canary.clock import Clock, SystemClock
from canary.deadline import Deadline, TimeUp, bounded
from canary.metrics import emf_lines, scenario_succeeded
from canary.models import FleetResult, StepResult
from canary.redaction import RedactingStdout, RedactSecrets, mask_loggers

SAFETY_MARGIN_S = 5.0
"""Time kept back from the Lambda's remaining time to report and release the lock."""
SAFETY_MARGIN_FRACTION = 0.2
"""...but never more than this share of it, so a short invocation still runs."""
MIN_BUDGET_S = 0.5
"""Below this the scenario is not started at all (reported as a canary error)."""
LOCK_GRACE_S = 60.0
"""The lock outlives the invocation's deadline (its run's budget) by this much before it
counts as stale."""
LOCK_CALL_S = 3.0
LOCK_CALL_FRACTION = 0.1
"""One lock call (take, read, give back) waits at most this long and normally at most
this share of the time left (DynamoDB answers in milliseconds; a hang must not eat the
run); giving the lock back keeps exactly that share aside."""
KEY_READ_S = 5.0
KEY_READ_FRACTION = 0.25
"""Reading the key from Secrets Manager: at most this long, normally this share of what
is left."""
CALL_FLOOR_S = 1.0
"""...but a take or a read gets at least this (a busy endpoint is not a hung one), as long
as that is at most half of what is left."""
REPORT_UPLOAD_S = 5.0
REPORT_UPLOAD_FRACTION = 0.5
"""Writing the report to S3 (after the EMF): at most this long, and this share of the
Lambda's time left."""
SCENARIO_SLACK_S = 0.25
SCENARIO_SLACK_FRACTION = 0.05
"""The runner ends within its budget by itself; this much past it (kept out of the budget,
so the report still comes before the deadline), it is abandoned as a canary bug."""


@dataclass
class Outcome:
    run: FleetResult
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
    clock: Clock = field(default_factory=SystemClock)
    out: TextIO | None = None  # where the EMF lines go (default: the current sys.stdout)
    _sink: Any = field(default=None, init=False, repr=False)  # this invocation's report sink
    _lane: str = field(default="full", init=False, repr=False)  # for a run that never started

    def __call__(self, context: Any, environ: Mapping[str, str],
                 event: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """One invocation; the schedule's event `{"lane": ...}` overrides CANARY_LANE."""
        run_id = getattr(context, "aws_request_id", None) or str(uuid.uuid4())
        self._sink = None
        environ = with_event_lane(environ, event)
        self._lane = _lane_of(environ)
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
        summary = self._report(outcome, namespace=namespace, environment=environment)
        self._publish(outcome, summary, environment, context)
        return summary

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
        self.stream.add_secret(config.api_key)  # a key given in the config: masked from now

        remaining_s = _remaining_s(context)
        deadline = Deadline.after(self.clock, min(config.budget_s, _budget_s(remaining_s)))
        if deadline.remaining() < MIN_BUDGET_S:
            return self._failed(
                run_id, config.environment, started_at,
                f"not started: only {remaining_s:.1f} s of Lambda time left, "
                f"too little to run and report",
            )
        deps = self.dependencies(config)
        from canary.report_upload import ReportSink

        self._sink = ReportSink.of(config, deps)
        if not config.lock_table:
            return self._run(config, deps, run_id, started_at, deadline, 0.0, environ)

        from canary.lock import LockError, RunLock, lane_lock_id

        # The lock outlives this run's own deadline (the lane's budget, e.g. the quick lane's
        # cap), not the Lambda's remaining time: a crashed quick run must not hold the quick
        # lock for a quarter of an hour while the next runs skip.
        lock = RunLock(
            config.lock_table, owner=run_id, ttl_s=deadline.remaining() + LOCK_GRACE_S,
            client=deps.dynamodb, lock_id=lane_lock_id(config.lane),
        )
        release_s = deadline.share(LOCK_CALL_S, LOCK_CALL_FRACTION)  # kept for giving it back
        try:
            if not lock.acquire(timeout_s=deadline.share(LOCK_CALL_S, LOCK_CALL_FRACTION,
                                                         floor_s=CALL_FLOOR_S)):
                return Outcome(
                    _empty_run(run_id, config.environment, started_at, config.lane),
                    skipped=True,
                    why=f"skipped: another run holds the lock{_holder(lock, deadline)}",
                )
        except LockError as exc:
            self._release(lock, release_s, quiet=True)  # a take left unanswered may have won
            return self._failed(run_id, config.environment, started_at, str(exc))
        try:
            return self._run(config, deps, run_id, started_at, deadline, release_s, environ)
        finally:
            self._release(lock, deadline.share(LOCK_CALL_S))

    def _run(
        self, config: Any, deps: Any, run_id: str, started_at: float, deadline: Deadline,
        release_s: float, environ: Mapping[str, str],
    ) -> Outcome:
        from canary.runner import run_fleet
        from canary.secrets import SecretError

        mask_loggers("canary", self.redact_filter)
        before_release = Deadline(deadline.clock, deadline.end - release_s)
        try:  # read now: a bad secret fails clearly, before any step
            self.stream.add_secret(deps.api_key.get(timeout_s=before_release.share(
                KEY_READ_S, KEY_READ_FRACTION, floor_s=CALL_FLOOR_S)))
        except SecretError as exc:
            return self._failed(
                run_id, config.environment, started_at,
                f"could not read the internal API key: {exc}",
            )
        tracer = self.tracer(environ)  # before the budget is measured: it costs time too
        left = before_release.remaining()
        slack_s = min(SCENARIO_SLACK_S, left * SCENARIO_SLACK_FRACTION)
        budget_s = left - slack_s
        if budget_s < MIN_BUDGET_S:
            return self._failed(
                run_id, config.environment, started_at,
                f"not started: only {max(0.0, budget_s):.1f} s left after taking the lock and "
                f"reading the key, too little to run and report",
            )

        def scenario() -> FleetResult:
            def run() -> FleetResult:
                return run_fleet(
                    config, deps, self.clock, deadline_s=budget_s, on_step=self._log_step,
                    run_id=run_id,
                )

            if tracer is None:
                return run()
            with tracer.provider.in_subsegment("## run_fleet") as subsegment:
                subsegment.put_annotation("run_id", run_id)
                return run()

        try:
            run = bounded(scenario, budget_s + slack_s, what="scenario")
        except TimeUp:
            return self._failed(
                run_id, config.environment, started_at,
                f"canary bug: the scenario did not end within its budget of {budget_s:.1f} s",
            )
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
            print(line, file=self.out or sys.stdout, flush=True)

        ok = scenario_succeeded(run, skipped=outcome.skipped)
        summary = self.stream.redact_data(json.loads(json.dumps(run.to_dict(), default=str)))
        summary.update(
            ok=ok, skipped=outcome.skipped,
            summary=self.stream.redact(outcome.why or _why(run)),
        )
        if ok:
            self.logger.info(summary["summary"])
        else:
            self.logger.error(summary["summary"])
        return summary

    def _publish(self, outcome: Outcome, summary: dict[str, Any], environment: str,
                 context: Any) -> None:
        """The run's HTML and JSON to the report bucket, after the EMF and the summary line
        (so neither waits for S3); logs the key, or why not."""
        sink, self._sink = self._sink, None
        if sink is None or outcome.skipped:
            return
        timeout_s = min(REPORT_UPLOAD_S, _remaining_s(context) * REPORT_UPLOAD_FRACTION)
        try:
            where = sink.write(summary, environment=environment, timeout_s=timeout_s,
                               clock=self.clock, redact=self.stream.redact)
        except Exception as exc:  # S3 down, no permission, a bug: the metrics are out already
            from canary.clients.aws import describe_aws_error

            self.logger.warning(f"could not write the run's report to S3: "
                                f"{self.stream.redact(describe_aws_error(exc))}")
            return
        summary["report"] = where
        self.logger.info(f"run report: {where}", extra={"report": where})

    def _log_step(self, session: str, step: StepResult) -> None:
        level = logging.ERROR if step.failed else logging.INFO
        self.logger.log(
            level, f"session {session}: step {step.name} {step.status.value}",
            extra={"session": session, "step": step.to_dict()},
        )

    def _release(self, lock: Any, timeout_s: float, *, quiet: bool = False) -> None:
        """Give the lock back within `timeout_s` (a hang leaves it to expire)."""
        try:
            released = lock.release(timeout_s=timeout_s)
        except Exception as exc:
            self.logger.warning(f"could not release the run lock: {self._describe(exc)}")
            return
        if not released and not quiet:
            self.logger.warning("the run lock had expired and was taken over by another run")

    def _failed(self, run_id: str, environment: str, started_at: float, error: str) -> Outcome:
        run = _empty_run(run_id, environment, started_at, self._lane)
        run.error = self.stream.redact(error)
        return Outcome(run)

    def _describe(self, exc: BaseException) -> str:
        return self.stream.redact(f"{type(exc).__name__}: {exc}")


def _why(fleet: FleetResult) -> str:
    """The one line a person reads first: passed, or why not (each session that did not)."""
    seconds = f"{fleet.duration_ms / 1000:.1f} s"
    if fleet.error:
        return f"canary could not run: {fleet.error}"
    problems = []
    for run in fleet.sessions:
        who = f"session {run.session}: " if len(fleet.sessions) > 1 else ""
        failed = [s for s in run.steps if s.failed]
        if run.error and not failed:
            problems.append(f"{who}canary error: {run.error}")
        elif failed:
            problems.append(who + "; ".join(f"{s.name}: {s.reason or 'failed'}" for s in failed))
        elif run.cut_short:
            problems.append(f"{who}the time budget ran out before {', '.join(run.cut_short)}")
    lane = f"{fleet.lane} lane, {len(fleet.sessions)} session(s)"
    if problems:
        return f"scenario failed in {seconds} ({lane}): " + " | ".join(problems)
    steps = sum(len(r.steps) for r in fleet.sessions)
    return f"scenario passed in {seconds} ({lane}, {steps} steps)"


def with_event_lane(environ: Mapping[str, str], event: Mapping[str, Any] | None
                    ) -> Mapping[str, str]:
    """The environment with the schedule event's lane as CANARY_LANE (one function, one rule
    per lane); a bad value is refused by the config like a bad variable."""
    if not isinstance(event, Mapping) or event.get("lane") is None:
        return environ
    return {**environ, "CANARY_LANE": str(event["lane"])}


def _lane_of(environ: Mapping[str, str]) -> str:
    """The lane the metrics of a run that never started are emitted for."""
    from canary.lanes import DEFAULT_LANE, parse_lane

    try:
        return parse_lane(environ.get("CANARY_LANE") or DEFAULT_LANE).value
    except ValueError:
        return DEFAULT_LANE.value


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
        "lane": getattr(config, "lane", None),
        "clientId": getattr(config, "client_id", None),
        "threadId": getattr(config, "thread_id", None),
        "userId": getattr(config, "user_id", None),
        "containerId": getattr(config, "container_id", None),
        "environment": getattr(config, "environment", None),
    }
    return {k: str(v) for k, v in keys.items() if v}


def _holder(lock: Any, deadline: Deadline) -> str:
    try:
        holder = lock.holder(timeout_s=deadline.share(LOCK_CALL_S, LOCK_CALL_FRACTION,
                                                      floor_s=CALL_FLOOR_S))
    except Exception:
        return ""
    if holder is None:
        return ""
    left = holder.expires_at - time.time()
    return f" (run {holder.owner}, lock expires in {max(0, left):.0f} s)"


def _empty_run(run_id: str, environment: str, started_at: float, lane: str) -> FleetResult:
    return FleetResult(run_id=run_id, lane=lane, target="env", environment=environment,
                       started_at=started_at)
