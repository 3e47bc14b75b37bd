"""run_scenario: the ordered steps, their dependencies, the time budget, cleanup always.

A step whose dependency failed (or was skipped for that reason, or for the budget) is
skipped with `skipped: <dep> failed`; when the budget is spent the remaining steps are
skipped with the reason; cleanup always runs, from a reserved slice of the budget.
Target failures are step results; an exception escaping a step is a canary bug (or an
unreadable secret): the step fails with the error and `RunResult.error` is set.

A lane that retries (the quick lane) runs a check that failed on a transport error
(reset, timeout, refused: the HTTP layer's "transport failure") once more after a short
pause, when the budget allows; a cold wake never (`Step.retry_on_transport`). The step's
`attempts` says so, and FirstAttemptSuccess keeps the first attempt's verdict.

`run_scenario` runs one session; `run_fleet` runs every session of a lane concurrently, a
thread each, each with its own RunContext and cleanup, all within the one budget.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from canary.catalogue import METRICS, Unit
from canary.clients.aws import BoundedClient
from canary.clients.base import CanaryFault, TargetError, in_attempt
from canary.clock import Clock
from canary.composition import Dependencies, build_context
from canary.config import CanaryConfig
from canary.deadline import Deadline
from canary.lanes import RETRY_PAUSE_S
from canary.models import FleetResult, RunResult, Status, StepResult
from canary.redaction import cut, mask
from canary.scenario import Scenario
from canary.secrets import SecretError
from canary.steps.base import RunContext, Step

log = logging.getLogger(__name__)


OVERRUN_GRACE_S = 5.0
"""How long past its deadline a hanging step is waited for, at most; never more than half
the cleanup reserve, so the steps, their graces and cleanup all end within the budget."""
MIN_CLEANUP_S = 2.0
"""Cleanup's floor when a step ran past the budget on a clock the watchdog cannot stop
(a fake clock in tests); real steps are abandoned inside their slice and never need it."""
AWS_CUTOFF_S = 0.25
"""AWS calls are abandoned this long before the watchdog fires, so a step fails with the
call's own reason (which call, how long) rather than the watchdog's."""
MAX_REASON_CHARS = 900
"""Reasons and findings are cut here, after masking (a cut first could leave a key prefix)."""


FLEET_SLACK_S = 1.0
FLEET_SLACK_FRACTION = 0.05
"""Kept back from the sessions' share of the budget (at most this, and this share of it):
every session ends that much before the fleet's one end, by itself; a session's thread still
running at the end is reported as a canary error and abandoned, so the fleet returns within
its budget (the Lambda's own slack past it is a fraction of a second)."""


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def run_fleet(
    config: CanaryConfig,
    deps: Dependencies,
    clock: Clock,
    *,
    deadline_s: float | None = None,
    on_step: Callable[[str, StepResult], None] | None = None,
    run_id: str | None = None,
    scenario: Scenario | None = None,
) -> FleetResult:
    """Every session of `config` (its lane's run configs) concurrently, within one budget
    (`deadline_s`, default config.budget_s). `on_step(session name, step)` is called as
    steps end (serialized). One session's failure or bug never stops another: an exception
    escaping a session's run is that session's canary error (with one session, it reaches
    the caller, which reports it as the canary's). Every session runs until one shared end
    (less FLEET_SLACK_S); one still running at the fleet's end is abandoned and reported."""
    run_id = run_id or new_run_id()
    budget = config.budget_s if deadline_s is None else max(0.0, float(deadline_s))
    start = clock.monotonic()
    sessions_end = start + budget - min(FLEET_SLACK_S, budget * FLEET_SLACK_FRACTION)
    fleet = FleetResult(run_id=run_id, lane=config.lane, target=config.target,
                        environment=config.environment, started_at=clock.now())
    started_real = time.monotonic()
    configs = config.run_configs()
    results: list[RunResult | None] = [None] * len(configs)
    emit = threading.Lock()

    def one(i: int, cfg: CanaryConfig) -> None:
        def step_done(step: StepResult) -> None:
            if on_step is not None:
                with emit:
                    on_step(cfg.session_label, step)

        left = max(0.0, sessions_end - clock.monotonic())  # one shared end, not its own start
        results[i] = run_scenario(cfg, deps, clock, deadline_s=left, on_step=step_done,
                                  run_id=run_id, scenario=scenario)

    def guarded(i: int, cfg: CanaryConfig) -> None:
        try:
            one(i, cfg)
        except Exception as exc:  # a canary bug: this session reports it, the others run on
            log.error("session %s raised", cfg.session_label, exc_info=exc)
            results[i] = _session_error(cfg, fleet, f"canary bug: {type(exc).__name__}: {exc}")

    if len(configs) == 1:
        one(0, configs[0])
    else:
        threads = [threading.Thread(target=guarded, args=(i, c), daemon=True,
                                    name=f"canary-session-{c.session_label}")
                   for i, c in enumerate(configs)]
        for t in threads:
            t.start()
        until = started_real + budget  # join() waits in real time: the fleet's one end
        for t in threads:
            t.join(max(0.0, until - time.monotonic()))
    for i, cfg in enumerate(configs):
        fleet.sessions.append(results[i] or _session_error(
            cfg, fleet, f"canary bug: session {cfg.session_label} did not end within the "
            f"fleet's budget of {budget:g} s; abandoned (its thread may still be running)"))
    fleet.duration_ms = round((clock.monotonic() - start) * 1000, 1)
    return fleet


def _session_error(cfg: CanaryConfig, fleet: FleetResult, error: str) -> RunResult:
    return RunResult(run_id=fleet.run_id, target=cfg.target, environment=cfg.environment,
                     started_at=fleet.started_at, error=error, lane=fleet.lane,
                     session=cfg.session_label, client_id=cfg.client_id,
                     thread_id=cfg.thread_id)


def run_scenario(
    config: CanaryConfig,
    deps: Dependencies,
    clock: Clock,
    *,
    deadline_s: float | None = None,
    on_step: Callable[[StepResult], None] | None = None,
    run_id: str | None = None,
    scenario: Scenario | None = None,
) -> RunResult:
    """Run one session's scenario once (default: the scenario of `config.lane`; `config`
    one session's run config, `CanaryConfig.run_configs()`). `deadline_s`: seconds from now
    the whole run may take (default config.budget_s; the Lambda passes less when its own
    time is shorter)."""
    scenario = scenario or Scenario.for_lane(config.lane)
    run_id = run_id or new_run_id()
    budget = config.budget_s if deadline_s is None else max(0.0, float(deadline_s))
    start = clock.monotonic()
    run = RunResult(run_id=run_id, target=config.target, environment=config.environment,
                    started_at=clock.now(), lane=scenario.lane.value,
                    session=config.session_label, client_id=config.client_id,
                    thread_id=config.thread_id)
    run_end = start + budget  # every step, grace and cleanup ends by then
    reserve = min(config.cleanup_reserve_s, budget / 4)
    steps_end = run_end - reserve
    grace = min(OVERRUN_GRACE_S, reserve / 2)
    aws_limit = Deadline(clock, steps_end + grace)
    ctx = build_context(config, _bounded(deps, aws_limit), clock, run_id)

    broken: dict[str, str] = {}  # step -> "failed" / "skipped": its dependants skip
    for spec in scenario.steps:
        at_ms = round((clock.monotonic() - start) * 1000, 1)  # StepResult.started_ms
        failed_dep = next((d for d in spec.depends if d in broken), None)
        if spec.wake_path is not None and spec.wake_path not in config.wake_paths:
            step = StepResult(spec.name, Status.SKIPPED,
                              reason=f"skipped: '{spec.wake_path}' not in WAKE_PATHS")
        elif failed_dep is not None:
            step = StepResult(spec.name, Status.SKIPPED,
                              reason=f"skipped: {failed_dep} {broken[failed_dep]}")
            broken[spec.name] = "skipped"
        elif clock.monotonic() >= steps_end:
            step = StepResult(spec.name, Status.SKIPPED,
                              reason=f"skipped: time budget of {budget:g} s exhausted")
            broken[spec.name] = "skipped"
            run.cut_short.append(spec.name)
        else:
            ctx.deadline = steps_end
            attempt = object()  # this attempt's own transport failures (clients/base.py)
            step = _run_step(spec, ctx, run, aws_limit, hard_end=steps_end + grace,
                             attempt=attempt)
            on_transport = ctx.hermes.tally.of_attempt(attempt) > 0
            if scenario.retries and _retryable(spec, step, run, on_transport) and \
                    clock.monotonic() + RETRY_PAUSE_S < steps_end:
                step = _retry(spec, step, ctx, run, aws_limit, hard_end=steps_end + grace)
            if step.status is Status.FAILED:
                broken[spec.name] = "failed"
        step.started_ms = at_ms
        _emit(run, step, on_step)

    now = clock.monotonic()
    cleanup_end = max(run_end, now + min(reserve / 2, MIN_CLEANUP_S))
    ctx.deadline = cleanup_end - min(OVERRUN_GRACE_S, (cleanup_end - now) / 4)
    cleanup = _run_step(scenario.cleanup, ctx, run, aws_limit, hard_end=cleanup_end)
    cleanup.started_ms = round((now - start) * 1000, 1)
    _emit(run, cleanup, on_step)
    run.duration_ms = round((clock.monotonic() - start) * 1000, 1)
    run.metrics = collect_metrics(run, scenario)
    return run


def _retryable(spec: Step, step: StepResult, run: RunResult, on_transport: bool) -> bool:
    """A check that failed while an exchange got no complete answer (`on_transport`: the
    HTTP layer's own count, never the reason's text); never a canary error or a cold wake."""
    return spec.retry_on_transport and step.failed and not run.error and on_transport


def _retry(spec: Step, first: StepResult, ctx: RunContext, run: RunResult,
           aws_limit: Deadline, *, hard_end: float) -> StepResult:
    """The step once more after RETRY_PAUSE_S; its result, keeping what the first attempt
    found (`_keep_findings`)."""
    log.info("step %s failed on a transport error; retrying once", spec.name)
    ctx.clock.sleep(RETRY_PAUSE_S)
    began = ctx.clock.monotonic()
    step = _run_step(spec, ctx, run, aws_limit, hard_end=hard_end)
    step.attempts = first.attempts + 1
    _keep_findings(spec, first, step)
    step.duration_ms = round(first.duration_ms + RETRY_PAUSE_S * 1000
                             + (ctx.clock.monotonic() - began) * 1000, 1)
    return step


COUNTED = frozenset(m.name for m in METRICS if m.unit is Unit.COUNT)
"""The catalogue's count metrics: a finding counted by an attempt (a task a resume started,
a contract violation) is not undone by a retry that finds none."""


def _keep_findings(spec: Step, first: StepResult, final: StepResult) -> None:
    """The retry's result keeps the first attempt's findings: for the step's declared count
    metrics and `contract_violations`, the larger of the two attempts' counts (the retry's
    own scan may count what attempt 1 caused as already there); attempt 1's findings and
    reason stay listed first."""
    keys = {key for metric, key in spec.measures.items() if metric in COUNTED}
    keys.add("contract_violations")
    for key in keys:
        counts = [v for v in (first.measurements.get(key), final.measurements.get(key))
                  if isinstance(v, int | float) and not isinstance(v, bool)]
        if counts:
            final.measurements[key] = max(counts)
    kept = [f"attempt 1 failed on a transport error: {first.reason}"]
    kept += [f"attempt 1: {f}" for f in first.findings]
    final.findings[:0] = [cut(f, MAX_REASON_CHARS) for f in kept]


def _bounded(deps: Dependencies, limit: Deadline) -> Dependencies:
    """The run's view of `deps`: every DynamoDB and ECS call abandoned at `limit`."""
    return replace(deps, dynamodb=BoundedClient(deps.dynamodb, limit),
                   ecs=BoundedClient(deps.ecs, limit))


def _run_step(spec: Step, ctx: RunContext, run: RunResult, aws_limit: Deadline, *,
              hard_end: float, attempt: object | None = None) -> StepResult:
    """Run one step under a watchdog: a step still running at `hard_end` (its deadline plus
    a grace; an AWS call hanging, a socket that never closes) is abandoned and failed, so
    the run always reports within its budget. Its AWS calls are abandoned just before.
    `attempt`: the token its worker thread notes its transport failures under."""
    began = ctx.clock.monotonic()
    aws_limit.end = hard_end - min(AWS_CUTOFF_S, max(0.0, hard_end - began) / 4)
    box: dict[str, Any] = {}

    def target() -> None:
        in_attempt(attempt)
        try:
            box["step"] = spec.run(ctx)
        except BaseException as exc:  # handed to the runner's thread below
            box["exc"] = exc

    worker = threading.Thread(target=target, name=f"canary-step-{spec.name}", daemon=True)
    worker.start()
    worker.join(max(0.0, hard_end - ctx.clock.monotonic()))
    canary_error = False
    if worker.is_alive():
        step = StepResult(spec.name, Status.FAILED, reason=(
            f"did not finish within its time ({ctx.clock.monotonic() - began:.1f} s, "
            f"deadline + {max(0.0, hard_end - ctx.deadline):.1f} s grace): a call to the "
            f"target hangs; abandoned"))
    else:
        try:
            if "exc" in box:
                raise box["exc"]
            step = box["step"]
        except CanaryFault as exc:  # the canary's own setup: its owners', not the platform's
            step = StepResult(spec.name, Status.FAILED, reason=f"canary fault: {exc}")
            canary_error = True
        except TargetError as exc:
            step = StepResult(spec.name, Status.FAILED, reason=str(exc))
        except SecretError as exc:
            step = StepResult(spec.name, Status.FAILED, reason=str(exc))
            canary_error = True
        except Exception as exc:  # a canary bug: report it, keep going to cleanup
            log.error("step %s raised", spec.name, exc_info=exc)
            step = StepResult(spec.name, Status.FAILED,
                              reason=f"canary error in {spec.name}: {type(exc).__name__}: {exc}")
            canary_error = True
    step.name = spec.name
    _redact(step, ctx.api_key.peek())
    if canary_error:
        step.canary_fault = True
        run.error = run.error or step.reason
    step.duration_ms = round((ctx.clock.monotonic() - began) * 1000, 1)
    return step


def _redact(step: StepResult, key: str | None) -> None:
    """A hostile target may echo our key, in any encoding: mask it in everything a step
    returns, then cut the texts (never the other way round)."""
    step.reason = cut(mask(step.reason, key), MAX_REASON_CHARS)
    step.findings = [cut(mask(f, key), MAX_REASON_CHARS) for f in step.findings]
    step.measurements = {
        k: mask(v, key) if isinstance(v, str) else v for k, v in step.measurements.items()
    }


def _emit(run: RunResult, step: StepResult, on_step: Callable[[StepResult], None] | None
          ) -> None:
    run.steps.append(step)
    if on_step is not None:
        try:
            on_step(step)
        except Exception:  # live output must never break a run
            log.exception("on_step callback raised")


def collect_metrics(run: RunResult, scenario: Scenario | None = None) -> dict[str, float]:
    """RunResult.metrics from the steps' measurements, as each step declares them
    (`Step.measures`), in run order: a later step's value wins. Only from steps that ran
    (not skipped) and put a number there - a check that could not run leaves its metric
    out. ContractViolations always: the sum of every step's `contract_violations`."""
    metrics: dict[str, float] = {}
    for spec in (scenario or Scenario.for_lane(run.lane)).all_steps:
        for metric, key in spec.measures.items():
            value = _measured(run, spec.name, key)
            if value is not None:
                metrics[metric] = value
    metrics["ContractViolations"] = float(sum(
        v for s in run.steps
        if isinstance(v := s.measurements.get("contract_violations"), int | float)
        and not isinstance(v, bool)))
    return metrics


def _measured(run: RunResult, step_name: str, key: str) -> float | None:
    step = run.step(step_name)
    if step is None or step.status is Status.SKIPPED:
        return None
    value = step.measurements.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
