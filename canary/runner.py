"""run_scenario: the ordered steps, their dependencies, the time budget, cleanup always.

A step whose dependency failed (or was skipped for that reason, or for the budget) is
skipped with `skipped: <dep> failed`; when the budget is spent the remaining steps are
skipped with the reason; cleanup always runs, from a reserved slice of the budget.
Target failures are step results; an exception escaping a step is a canary bug (or an
unreadable secret): the step fails with the error and `RunResult.error` is set.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import httpx

from canary.clients.base import TargetError
from canary.clients.hermes import HermesClient
from canary.clients.orchestrator import OrchestratorClient
from canary.clients.preview import PreviewClient
from canary.clients.state import StateClient
from canary.clock import Clock
from canary.config import CanaryConfig
from canary.harness import Harness
from canary.models import RunResult, Status, StepResult
from canary.redaction import REDACTED
from canary.secrets import ApiKeyProvider, SecretError
from canary.steps import (
    auth,
    auto_save,
    cleanup,
    concurrency,
    hermes_not_found,
    preflight,
    route,
    router_not_found,
    sleep,
    wake_hermes,
    wake_preview,
    warm_api,
    websocket,
)
from canary.steps.base import RunContext

log = logging.getLogger(__name__)


@dataclass
class Dependencies:
    """What a run talks through, created by the caller (CLI or Lambda handler) and reused.

    `http` is one httpx.Client for the whole run (thread-safe; the canary passes explicit
    timeouts and never follows redirects). `dynamodb` and `ecs` are boto3 clients.
    `git_ls_remote(remote, timeout_s) -> [sha, ...]` replaces the `git` subprocess in tests.
    """

    http: httpx.Client
    dynamodb: Any
    ecs: Any
    api_key: ApiKeyProvider
    git_ls_remote: Callable[[str, float], list[str]] | None = None

    @classmethod
    def build(cls, config: CanaryConfig, clock: Clock) -> Dependencies:
        """The real clients for `config`: one httpx client, boto3 DynamoDB and ECS clients
        with short timeouts (a step's deadline bounds a run; a hanging call must not eat
        it), and the API key provider (Secrets Manager only when the key is not given)."""
        import boto3
        from botocore.config import Config

        from canary import USER_AGENT

        kwargs: dict[str, Any] = {"region_name": config.region}
        if config.aws_endpoint_url:
            kwargs["endpoint_url"] = config.aws_endpoint_url
        if config.aws_test_credentials:
            kwargs.update(aws_access_key_id="testing", aws_secret_access_key="testing")
        session = boto3.session.Session()
        aws = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=3,
                     read_timeout=10, max_pool_connections=16, user_agent_extra=USER_AGENT)
        secrets = (session.client("secretsmanager", config=aws, **kwargs)
                   if config.api_key_secret_arn and not config.api_key else None)
        return cls(
            http=httpx.Client(
                limits=httpx.Limits(max_connections=32, max_keepalive_connections=16)),
            dynamodb=session.client("dynamodb", config=aws, **kwargs),
            ecs=session.client("ecs", config=aws, **kwargs),
            api_key=ApiKeyProvider(key=config.api_key, secret_arn=config.api_key_secret_arn,
                                   clock=clock, client=secrets),
        )

    def close(self) -> None:
        self.http.close()
        self.dynamodb.close()
        self.ecs.close()
        self.api_key.close()


@dataclass(frozen=True)
class StepSpec:
    name: str
    module: ModuleType
    depends: tuple[str, ...] = ()


# The order matters: wake_preview makes the container cold again itself, then `sleep`
# puts the preview-woken container to sleep, and `auto_save` checks what it saved.
STEPS: tuple[StepSpec, ...] = (
    StepSpec("preflight", preflight),
    StepSpec("wake_hermes", wake_hermes, ("preflight",)),
    # concurrency, route, warm_api and auth need a running container, not a fast wake: they skip
    # themselves when wake_hermes never got the container up (steps/base.py).
    StepSpec("concurrency", concurrency, ("preflight",)),
    StepSpec("route", route, ("preflight",)),
    StepSpec("warm_api", warm_api, ("preflight",)),
    StepSpec("hermes_not_found", hermes_not_found, ("preflight",)),
    StepSpec("router_not_found", router_not_found, ("preflight",)),
    StepSpec("websocket", websocket, ("preflight",)),
    StepSpec("auth", auth, ("preflight",)),
    StepSpec("wake_preview", wake_preview, ("preflight",)),
    StepSpec("sleep", sleep, ("preflight",)),
    StepSpec("auto_save", auto_save, ("preflight", "sleep")),
)
CLEANUP = StepSpec("cleanup", cleanup)
STEP_NAMES: tuple[str, ...] = (*(s.name for s in STEPS), CLEANUP.name)

# catalogue metric -> (step, measurement)
LATENCIES = {
    "ContainerWakeTime": ("wake_hermes", "wake_ms"),
    "PreviewWakeTime": ("wake_preview", "wake_ms"),
    "APIResponseTime": ("warm_api", "response_ms"),
    "RouteLatency": ("route", "latency_ms"),
    "AutoSleepDelay": ("sleep", "auto_sleep_delay_ms"),
}
COUNTS = {
    "DuplicateTasks": ("concurrency", "duplicate_tasks"),
    "AutoSleepMissed": ("sleep", "auto_sleep_missed"),
    "AutoSaveFailed": ("auto_save", "auto_save_failed"),
    "AuthNotEnforced": ("auth", "auth_not_enforced"),
}
# observe mode: preflight judged the previous run's sleep; used when `sleep` did not run
FALLBACKS = {
    "AutoSleepMissed": ("preflight", "previous_sleep_missed"),
    "AutoSleepDelay": ("preflight", "previous_auto_sleep_delay_ms"),
}
MIN_CLEANUP_S = 2.0
OVERRUN_GRACE_S = 5.0  # how long past its deadline a hanging step is waited for


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


def run_scenario(
    config: CanaryConfig,
    deps: Dependencies,
    clock: Clock,
    *,
    deadline_s: float | None = None,
    on_step: Callable[[StepResult], None] | None = None,
    run_id: str | None = None,
) -> RunResult:
    """Run the scenario once. `deadline_s`: seconds from now the whole run may take
    (default config.budget_s; the Lambda passes less when its own time is shorter)."""
    run_id = run_id or new_run_id()
    budget = config.budget_s if deadline_s is None else max(0.0, float(deadline_s))
    start = clock.monotonic()
    run = RunResult(run_id=run_id, target=config.target, environment=config.environment,
                    started_at=clock.now())
    run_deadline = start + budget
    reserve = min(config.cleanup_reserve_s, budget / 4)
    ctx = build_context(config, deps, clock, run_id)

    broken: dict[str, str] = {}  # step -> "failed" / "skipped": its dependants skip
    for spec in STEPS:
        failed_dep = next((d for d in spec.depends if d in broken), None)
        if failed_dep is not None:
            step = StepResult(spec.name, Status.SKIPPED,
                              reason=f"skipped: {failed_dep} {broken[failed_dep]}")
            broken[spec.name] = "skipped"
        elif clock.monotonic() >= run_deadline - reserve:
            step = StepResult(spec.name, Status.SKIPPED,
                              reason=f"skipped: time budget of {budget:g} s exhausted")
            broken[spec.name] = "skipped"
            run.cut_short.append(spec.name)
        else:
            ctx.deadline = run_deadline - reserve
            step = _run_step(spec, ctx, run)
            if step.status is Status.FAILED:
                broken[spec.name] = "failed"
        _emit(run, step, on_step)

    ctx.deadline = max(run_deadline, clock.monotonic() + min(reserve, MIN_CLEANUP_S))
    _emit(run, _run_step(CLEANUP, ctx, run), on_step)
    run.duration_ms = round((clock.monotonic() - start) * 1000, 1)
    run.metrics = collect_metrics(run)
    return run


def build_context(config: CanaryConfig, deps: Dependencies, clock: Clock, run_id: str
                  ) -> RunContext:
    hermes = HermesClient(deps.http, config.hermes_api_url, deps.api_key.get, clock, run_id,
                          connect_timeout_s=config.connect_timeout_s,
                          max_body_bytes=config.max_body_bytes)
    preview = PreviewClient(deps.http, config, clock, run_id)
    state = StateClient(deps.dynamodb, config)
    orchestrator = OrchestratorClient(deps.ecs, config.ecs_cluster)
    harness = Harness(config, clock, hermes, preview, state, orchestrator)
    return RunContext(config=config, clock=clock, harness=harness, api_key=deps.api_key,
                      run_id=run_id, git_ls_remote=deps.git_ls_remote)


def _run_step(spec: StepSpec, ctx: RunContext, run: RunResult) -> StepResult:
    """Run one step under a watchdog: a step still running OVERRUN_GRACE_S after its
    deadline (an AWS call hanging in retries, a socket that never closes) is abandoned and
    failed, so the run always reports within its budget."""
    began = ctx.clock.monotonic()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["step"] = spec.module.run(ctx)
        except BaseException as exc:  # handed to the runner's thread below
            box["exc"] = exc

    worker = threading.Thread(target=target, name=f"canary-step-{spec.name}", daemon=True)
    worker.start()
    worker.join(max(0.0, ctx.deadline - ctx.clock.monotonic()) + OVERRUN_GRACE_S)
    if worker.is_alive():
        step = StepResult(spec.name, Status.FAILED, reason=(
            f"did not finish within its time ({ctx.clock.monotonic() - began:.0f} s, "
            f"deadline + {OVERRUN_GRACE_S:g} s grace): a call to the target hangs; abandoned"))
    else:
        try:
            if "exc" in box:
                raise box["exc"]
            step = box["step"]
        except TargetError as exc:
            step = StepResult(spec.name, Status.FAILED, reason=str(exc))
        except SecretError as exc:
            step = StepResult(spec.name, Status.FAILED, reason=str(exc))
            run.error = run.error or str(exc)
        except Exception as exc:  # a canary bug: report it, keep going to cleanup
            log.error("step %s raised", spec.name, exc_info=exc)
            msg = f"canary error in {spec.name}: {type(exc).__name__}: {str(exc)[:200]}"
            step = StepResult(spec.name, Status.FAILED, reason=msg)
            run.error = run.error or msg
    step.name = spec.name
    _redact(step, ctx.api_key.peek())
    step.duration_ms = round((ctx.clock.monotonic() - began) * 1000, 1)
    return step


def _redact(step: StepResult, key: str | None) -> None:
    """A hostile target may echo our headers: the key never leaves a step."""
    if not key:
        return
    step.reason = step.reason.replace(key, REDACTED)
    step.findings = [f.replace(key, REDACTED) for f in step.findings]
    step.measurements = {
        k: v.replace(key, REDACTED) if isinstance(v, str) else v
        for k, v in step.measurements.items()
    }


def _emit(run: RunResult, step: StepResult, on_step: Callable[[StepResult], None] | None
          ) -> None:
    run.steps.append(step)
    if on_step is not None:
        try:
            on_step(step)
        except Exception:  # live output must never break a run
            log.exception("on_step callback raised")


def collect_metrics(run: RunResult) -> dict[str, float]:
    """RunResult.metrics from the steps' measurements (catalogue names).

    Latencies only when measured successfully (the step put them there); counts when the
    step that measures them ran; ContractViolations always (the sum over all steps).
    """
    metrics: dict[str, float] = {}
    for name, (step_name, key) in {**LATENCIES, **COUNTS}.items():
        value = _measured(run, step_name, key)
        if value is None and name in FALLBACKS:
            value = _measured(run, *FALLBACKS[name])
        if value is not None:
            metrics[name] = value
    metrics["ContractViolations"] = float(sum(
        v for s in run.steps
        if isinstance(v := s.measurements.get("contract_violations"), int | float)
    ))
    return metrics


def _measured(run: RunResult, step_name: str, key: str) -> float | None:
    step = run.step(step_name)
    if step is None or step.status is Status.SKIPPED:
        return None
    value = step.measurements.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
