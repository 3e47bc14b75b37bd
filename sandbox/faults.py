"""The fault registry and the fault matrix: every way the sandbox can be told to misbehave.

Each fault is a real failure mode of the production platform (or of a plausible
regression in it), switched on when the sandbox starts. Each `Fault` member also carries
how the canary proves it caught it (the steps that fail, the words of the reason, the
metric that moves, the options the proof needs). That one table drives the integration
tests and the README's fault table (`python -m sandbox --fault-matrix`), so a new fault is
one member here plus its behaviour in the part it breaks. Step and metric names are plain
strings: the sandbox imports nothing of the canary it is the target of. Names are stable
(`--fault NAME`); the sandbox's parts test members (`Fault.SLOW_WAKE in faults`), so a
misspelt fault is an AttributeError, never a healthy sandbox.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt, ">=": operator.ge, "==": operator.eq,
}


class MetricCheck(NamedTuple):
    """A run metric that must move: `ContainerWakeTime > 3000` (data, so docs can print it)."""

    metric: str
    op: str
    value: float

    def holds(self, metrics: Mapping[str, float]) -> bool:
        """True when the run's metrics show the fault (a metric not measured does not)."""
        measured = metrics.get(self.metric)
        return measured is not None and _OPS[self.op](measured, self.value)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


@dataclass(frozen=True, kw_only=True)
class FaultSpec:
    """What a fault does and how a canary run against it must end.

    `fails`: the steps that fail, exactly (in run order); `reason`: (step, words its reason
    contains); `watches_sleep`: the fault shows only while the canary watches the container
    sleep (sleep mode `wait`); `run_options`: canary settings the proof needs;
    `sandbox_options`: `Sandbox(...)` options it needs; `expected_ok`: not a failure (the run
    stays ok; `note` says what shows instead); `production_defect`: a defect of the
    production build (docs/CONTRACT.md, "What the production build was observed to do").
    """

    description: str
    fails: tuple[str, ...] = ()
    reason: tuple[str, str] | None = None
    metric: MetricCheck | None = None
    watches_sleep: bool = False
    run_options: Mapping[str, Any] = field(default_factory=dict)
    sandbox_options: Mapping[str, Any] = field(default_factory=dict)
    production_defect: bool = False
    expected_ok: bool = False
    note: str = ""

    def __post_init__(self) -> None:
        if "\n" in self.description or not self.description.strip():
            raise ValueError("a fault's description is one non-empty line")
        if len(set(self.fails)) != len(self.fails):
            raise ValueError(f"a step is named twice in fails {self.fails}")
        if self.metric is not None and self.metric.op not in _OPS:
            raise ValueError(f"metric operator {self.metric.op!r}: one of {', '.join(_OPS)}")
        if self.expected_ok:
            if self.fails or self.reason or self.metric or not self.note:
                raise ValueError("a fault that is not a failure fails no step and has a note")
        elif not self.fails or self.reason is None or self.reason[0] not in self.fails:
            raise ValueError("a failure names the steps that fail and one of them with its reason")


class Fault(StrEnum):
    """A fault by name; `.spec` is its row of the fault matrix."""

    spec: FaultSpec

    def __new__(cls, name: str, spec: FaultSpec) -> Fault:
        member = str.__new__(cls, name)
        member._value_ = name
        member.spec = spec
        return member

    SLOW_WAKE = "slow_wake", FaultSpec(
        description=(
            "containers boot for 4 s (or the configured boot delay if longer): a cold wake "
            "takes longer than the sandbox wake threshold"
        ),
        fails=("wake_hermes",),
        reason=("wake_hermes", "over the failed threshold"),
        metric=MetricCheck("ContainerWakeTime", ">", 3000),
        # the slow wake still completes and is measured; the preview path would only wait more
        run_options={"wake_timeout_s": 6, "wake_paths": ("hermes",)},
    )
    WAKE_FAILS = "wake_fails", FaultSpec(
        description=(
            "the woken task dies while booting and never registers; Hermes answers "
            "500 'Failed to resume session: ...'"
        ),
        fails=("wake_hermes", "wake_preview"),
        reason=("wake_hermes", "Failed to resume session"),
    )
    SLOW_RESUME = "slow_resume", FaultSpec(
        description=(
            "resume-preview for a running container takes ~1 s (far over the API threshold)"
        ),
        fails=("warm_api",),
        reason=("warm_api", "over the failed threshold"),
        metric=MetricCheck("APIResponseTime", ">", 500),
    )
    DUPLICATE_TASKS = "duplicate_tasks", FaultSpec(
        description=(
            "no conditional write on the containers table: concurrent wakes each start a task"
        ),
        fails=("concurrency",),
        reason=("concurrency", "tasks started for one wake"),
        metric=MetricCheck("DuplicateTasks", ">=", 1),
    )
    AUTH_NOT_ENFORCED = "auth_not_enforced", FaultSpec(
        description="Hermes accepts calls without the bearer key",
        production_defect=True,
        expected_ok=True,
        note=(
            "the run exits 0; `auth` is degraded with a SECURITY finding and "
            "`AuthNotEnforced` = 1 (production is known not to enforce the key: a finding to "
            "fix, not an outage to page on)"
        ),
    )
    ROUTER_NO_WAKE = "router_no_wake", FaultSpec(
        description=(
            "the router shows the loading page but never asks Hermes to wake the container"
        ),
        fails=("wake_preview",),
        reason=("wake_preview", "did not answer 200"),
    )
    NO_RETRY_AFTER = "no_retry_after", FaultSpec(
        description="the router's loading page has no Retry-After header",
        fails=("wake_preview",),
        reason=("wake_preview", "Retry-After"),
        metric=MetricCheck("ContractViolations", ">=", 1),
    )
    WRONG_UNKNOWN_STATUS = "wrong_unknown_status", FaultSpec(
        description="Hermes answers 500 instead of 404 for an unknown thread",
        fails=("hermes_not_found",),
        reason=("hermes_not_found", "expected 404"),
        metric=MetricCheck("ContractViolations", ">=", 1),
    )
    WEBSOCKET_NOT_REFUSED = "websocket_not_refused", FaultSpec(
        description="the router answers 200 to WebSocket upgrade requests instead of 502",
        fails=("websocket",),
        reason=("websocket", "WebSocket"),
        metric=MetricCheck("ContractViolations", ">=", 1),
    )
    NEVER_SLEEPS = "never_sleeps", FaultSpec(
        description="the auto-sleep loop never stops an idle container",
        fails=("sleep",),
        reason=("sleep", "auto-sleep missed"),
        metric=MetricCheck("AutoSleepMissed", "==", 1),
        watches_sleep=True,
    )
    SLEEPS_DESPITE_SESSIONS = "sleeps_despite_sessions", FaultSpec(
        description="the auto-sleep loop ignores the active-session count",
        fails=("sleep",),
        reason=("sleep", "active session"),
        watches_sleep=True,
    )
    AUTOSAVE_LOST = "autosave_lost", FaultSpec(
        description=(
            "auto-save commits but never pushes, yet records pushed=true "
            "(only git ls-remote reveals it)"
        ),
        fails=("auto_save",),
        reason=("auto_save", "not on the remote"),
        metric=MetricCheck("AutoSaveFailed", "==", 1),
        watches_sleep=True,
    )
    AUTOSAVE_PUSH_FAILS = "autosave_push_fails", FaultSpec(
        description=(
            "auto-save commits but the push fails (origin unreachable); records pushed=false"
        ),
        fails=("auto_save",),
        reason=("auto_save", "not pushed"),
        metric=MetricCheck("AutoSaveFailed", "==", 1),
        watches_sleep=True,
    )
    UNREACHABLE_CONTAINER = "unreachable_container", FaultSpec(
        description=(
            "the containers table says running but the container does not answer: "
            "router 502 Container unreachable"
        ),
        fails=("wake_hermes", "route", "wake_preview"),
        reason=("wake_hermes", "Container unreachable"),
    )
    ROUTER_UNKNOWN_OK = "router_unknown_ok", FaultSpec(
        description=(
            "the router answers 200 instead of 404 (Edit Session Not Found) for an unknown thread"
        ),
        fails=("router_not_found",),
        reason=("router_not_found", "Edit Session Not Found"),
        metric=MetricCheck("ContractViolations", ">=", 1),
    )
    ROW_KEY_MISMATCH = "row_key_mismatch", FaultSpec(
        description=(
            "as observed in production: tasks are told THREAD_ID=sessionId and register (and "
            "Hermes writes) under the sessionId row; the row Hermes reads stays absent, so every "
            "resume starts a new task and answers running"
        ),
        fails=("wake_hermes", "concurrency", "route", "warm_api", "wake_preview"),
        reason=("wake_hermes", "is not the one the container writes"),
        metric=MetricCheck("ResumeStartedTask", ">=", 1),
        # the woken containers find no session on the row they write and sleep at the idle
        # timeout: keep them up until warm_api
        sandbox_options={"idle_timeout_s": 20.0},
        production_defect=True,
    )
    ALWAYS_RUNNING = "always_running", FaultSpec(
        description=(
            "every 201 says running; a cold resume answers right after RunTask without waiting "
            "(row starting, task PENDING), the task then boots normally"
        ),
        fails=("wake_hermes",),
        reason=("wake_hermes", "201 said running but the containers row"),
        metric=MetricCheck("ContractViolations", ">=", 1),
        production_defect=True,
    )
    CONTAINERS_READ_ERROR = "containers_read_error", FaultSpec(
        description=(
            "Hermes's read of the containers table fails and counts as stopped: every resume "
            "starts a new task, even for a running container"
        ),
        fails=("concurrency", "warm_api"),
        reason=("warm_api", "for a running container started"),
        metric=MetricCheck("ResumeStartedTask", ">=", 1),
        production_defect=True,
    )
    CONCURRENT_WAKE_FAILS = "concurrent_wake_fails", FaultSpec(
        description=(
            "no guard against concurrent starts (each starts a task) and every wake that "
            "overlapped another answers 500 'Failed to resume session: ...'; the tasks keep "
            "running"
        ),
        fails=("wake_hermes", "concurrency"),
        reason=("concurrency", "tasks started for one wake"),
        metric=MetricCheck("DuplicateTasks", ">=", 1),
        production_defect=True,
    )
    FOREIGN_TASK_ARN = "foreign_task_arn", FaultSpec(
        description=(
            "the 201's taskArn names a foreign task (another customer's), not the session's task"
        ),
        fails=("wake_hermes", "warm_api"),
        reason=("wake_hermes", "no contract fact ties to the session"),
        metric=MetricCheck("ContractViolations", ">=", 1),
        production_defect=True,
    )


#: name -> one-line description (`python -m sandbox --list-faults`, the canary CLI's check)
FAULTS: dict[str, str] = {f.value: f.spec.description for f in Fault}


class UnknownFaultError(ValueError):
    """When a fault name is not in the registry."""


def validate(names: Iterable[str]) -> frozenset[Fault]:
    """Return the faults as a set, or raise naming the bad names and listing the valid ones."""
    return frozenset(Fault(n) for n in validate_names(names, FAULTS, "fault", UnknownFaultError))


def validate_names(
    names: Iterable[str], registry: Mapping[str, str], kind: str, error: type[ValueError]
) -> frozenset[str]:
    """The names as a set, or `error` naming the unknown ones and listing the registry."""
    wanted = list(names)
    unknown = [n for n in wanted if n not in registry]
    if unknown:
        raise error(
            f"unknown {kind}(s): {', '.join(sorted(unknown))}; valid {kind}s: "
            f"{', '.join(sorted(registry))}"
        )
    return frozenset(wanted)


def _code(values: Iterable[str]) -> str:
    return ", ".join(f"`{v}`" for v in values)


def _options(spec: FaultSpec) -> str:
    parts = [f"`{k}={v!r}`" for k, v in spec.run_options.items()]
    if spec.watches_sleep:
        parts.append("`sleep_mode='wait'`")
    parts += [f"sandbox `{k}={v!r}`" for k, v in spec.sandbox_options.items()]
    return ", ".join(parts)


def matrix_markdown() -> str:
    """The fault matrix as the Markdown table the sandbox README shows (one row per fault)."""
    lines = [
        "| fault | what it breaks | the canary's verdict | the reason says | metric | "
        "proved with |",
        "|---|---|---|---|---|---|",
    ]
    for fault in Fault:
        s = fault.spec
        name = f"`{fault}`" + (" (production)" if s.production_defect else "")
        if s.expected_ok:
            verdict, says, metric = f"not a failure: {s.note}", "", ""
        else:
            step, words = s.reason or ("", "")
            verdict = f"fails {_code(s.fails)}"
            says, metric = f"`{step}`: \"{words}\"", f"`{s.metric}`" if s.metric else ""
        cells = (name, s.description, verdict, says, metric, _options(s))
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"
