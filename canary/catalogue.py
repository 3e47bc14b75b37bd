"""The metric catalogue and the alarm specification: the one place both sides read.

The canary emits exactly these metrics (canary/metrics.py); infra/ builds the
CloudWatch alarms and the dashboard from exactly these definitions; the tests
evaluate emitted series against the same alarm rules. Pure data, stdlib only:
it is imported by the Lambda at cold start and by the CDK app.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from canary.lanes import LANES, Lane

DEFAULT_NAMESPACE = "Webordinary/SessionResumptionCanary"
ENVIRONMENT_DIMENSION = "Environment"
LANE_DIMENSION = "Lane"  # canary/lanes.py: `full` or `quick`; on every canary metric
STEP_DIMENSION = "Step"
SESSION_DIMENSION = "Session"  # a synthetic session's name: per-session series (dashboard)
CLIENT_DIMENSION = "ClientId"
AGGREGATE_DIMENSIONS = (ENVIRONMENT_DIMENSION, LANE_DIMENSION)
"""The series the alarms read: every session of a lane puts its sample into it."""

class Unit(StrEnum):
    """CloudWatch units used by the catalogue (a subset of CloudWatch's)."""

    MILLISECONDS = "Milliseconds"
    COUNT = "Count"


@dataclass(frozen=True)
class When:
    """One configuration in which the canary emits a metric: every condition given holds.

    Kept as data next to the metric so infra creates an alarm only where its metric can
    appear (an alarm on a metric never emitted can never fire, and says nothing)."""

    sleep_modes: tuple[str, ...] = ()  # SLEEP_MODE is one of these (empty: any mode)
    wake_path: str = ""  # WAKE_PATHS includes this path
    setting: str = ""  # this CanaryConfig field is set (not None or empty)

    def holds(self, config: Any) -> bool:
        """True when `config` (a CanaryConfig, or anything with its attributes) meets it."""
        return (
            (not self.sleep_modes or getattr(config, "sleep_mode", None) in self.sleep_modes)
            and (not self.wake_path or self.wake_path in (getattr(config, "wake_paths", ()) or ()))
            and (not self.setting or getattr(config, self.setting, None) not in (None, "", ()))
        )

    def __str__(self) -> str:
        parts = []
        if self.sleep_modes:
            parts.append(f"sleep mode {' or '.join(self.sleep_modes)}")
        if self.wake_path:
            parts.append(f"wake path {self.wake_path!r}")
        if self.setting:
            parts.append(f"{self.setting} set")
        return " and ".join(parts) or "always"


ALWAYS = (When(),)


@dataclass(frozen=True)
class MetricSpec:
    """One metric the canary emits: its name, unit, dimensions and meaning; when it is
    emitted, and what watches it (an alarm, a dashboard graph, or both, and why)."""

    name: str
    unit: Unit
    description: str
    dimensions: tuple[str, ...] = AGGREGATE_DIMENSIONS
    watched_by: str = ""
    emitted_when: tuple[When, ...] = ALWAYS
    # Standard (60 s) storage suffices while every alarm period is >= 60 s;
    # set True for a metric whose alarm needs a sub-minute period.
    high_resolution: bool = False
    # Latencies are emitted only for successful measurements (a failed wake
    # has no wake time; it shows up in StepSuccess and ScenarioSuccess).
    latency: bool = False
    # Also emitted per synthetic session, with the Session dimension: only the metrics the
    # dashboard's per-session widgets graph (infra/lane_widgets.py reads this marker), since
    # each session x lane x metric is a billable custom metric.
    per_session: bool = False

    @property
    def session_dimensions(self) -> tuple[str, ...] | None:
        """The per-session series' dimensions (None: no per-session series)."""
        return (*self.dimensions, SESSION_DIMENSION) if self.per_session else None

    def emitted_by(self, config: Any) -> bool:
        """Whether a canary configured so can ever emit this metric."""
        return any(w.holds(config) for w in self.emitted_when)


def _latency(name: str, description: str, watched_by: str,
             emitted_when: tuple[When, ...] = ALWAYS, *, per_session: bool = False
             ) -> MetricSpec:
    return MetricSpec(name, Unit.MILLISECONDS, description, watched_by=watched_by,
                      emitted_when=emitted_when, latency=True, per_session=per_session)


def _count(name: str, description: str, watched_by: str,
           dimensions: tuple[str, ...] = AGGREGATE_DIMENSIONS,
           emitted_when: tuple[When, ...] = ALWAYS, *, per_session: bool = False
           ) -> MetricSpec:
    return MetricSpec(name, Unit.COUNT, description, dimensions, watched_by, emitted_when,
                      per_session=per_session)


SLEEP_OBSERVED = (When(sleep_modes=("wait", "observe")),)  # force mode stops it itself


CONTAINER_WAKE_TIME = _latency(
    "ContainerWakeTime",
    "Cold wake through Hermes: first resume-preview request sent until the container "
    "is running and its preview answers.",
    "alarm WakeTimeHigh (pages) and a graph against the wake target: the headline promise; "
    "per session on the dashboard",
    (When(wake_path="hermes"),), per_session=True,
)
PREVIEW_WAKE_TIME = _latency(
    "PreviewWakeTime",
    "Cold wake through the preview URL: first request until the router serves 200.",
    "alarm PreviewWakeTimeHigh (ticket) and a graph against the wake target",
    (When(wake_path="preview"),),
)
API_RESPONSE_TIME = _latency(
    "APIResponseTime", "resume-preview response time for a running container.",
    "alarm ResumeApiSlow (pages) and a graph against the API target; per session on the "
    "dashboard", per_session=True,
)
ROUTE_LATENCY = _latency(
    "RouteLatency", "Preview request through the router to a running container.",
    "graph only (the route step's widget): a broken route fails the run (ScenarioFailed); "
    "its latency has no contract target to alarm on",
)
AUTO_SLEEP_DELAY = _latency(
    "AutoSleepDelay", "How long after the idle timeout the container reached stopped.",
    "graph only (auto-sleep widget): a sleep too late is AutoSleepMissed's alarm",
    SLEEP_OBSERVED,
)
# Where a cold wake through Hermes spends its time (canary/phases.py splits it from ECS's task
# timestamps and the canary's own marks). Graph only: WakeTimeHigh alarms on the whole wake;
# these say which part of it to look at. A phase whose timestamps are missing or out of order
# is not measured (nothing emitted).
_PHASES_WATCHED = ("graph only (the stacked wake-phases widget next to the wake time): which "
                   "part of a slow wake to look at; WakeTimeHigh alarms on the whole wake")
_HERMES_WAKE = (When(wake_path="hermes"),)
WAKE_PHASE_SCHEDULING = _latency(
    "WakePhaseScheduling",
    "Cold wake phase: first resume-preview request sent until ECS created the task (crosses "
    "the canary's and ECS's clocks).", _PHASES_WATCHED, _HERMES_WAKE,
)
WAKE_PHASE_PROVISIONING = _latency(
    "WakePhaseProvisioning",
    "Cold wake phase: task created until its image pull started (ECS's clock).",
    _PHASES_WATCHED, _HERMES_WAKE,
)
WAKE_PHASE_IMAGE_PULL = _latency(
    "WakePhaseImagePull",
    "Cold wake phase: image pull started until it stopped (ECS's clock).",
    _PHASES_WATCHED, _HERMES_WAKE,
)
WAKE_PHASE_CONTAINER_START = _latency(
    "WakePhaseContainerStart",
    "Cold wake phase: image pulled until ECS says the task started (ECS's clock).",
    _PHASES_WATCHED, _HERMES_WAKE,
)
WAKE_PHASE_APP_READY = _latency(
    "WakePhaseAppReady",
    "Cold wake phase: task started until the container registered running in the containers "
    "table (crosses ECS's and the canary's clocks).", _PHASES_WATCHED, _HERMES_WAKE,
)
WAKE_PHASE_PREVIEW = _latency(
    "WakePhasePreview",
    "Cold wake phase: containers row running until the preview answered 200 through the "
    "router (the canary's clock).", _PHASES_WATCHED, _HERMES_WAKE,
)
WAKE_PHASES: tuple[MetricSpec, ...] = (
    WAKE_PHASE_SCHEDULING, WAKE_PHASE_PROVISIONING, WAKE_PHASE_IMAGE_PULL,
    WAKE_PHASE_CONTAINER_START, WAKE_PHASE_APP_READY, WAKE_PHASE_PREVIEW,
)
"""In wake order: they add up to ContainerWakeTime when every phase is measured."""
SCENARIO_DURATION = _latency(
    "ScenarioDuration", "Wall time of the whole scenario run.",
    "graph only (canary health widget, against the budget): a run cut short by its budget "
    "already fails (ScenarioFailed)",
)
STEP_SUCCESS = _count(
    "StepSuccess",
    "1 when a step passed or was degraded, 0 when it failed (skipped steps emit nothing).",
    "graph only (per-step success): which step failed; failures alarm through ScenarioSuccess",
    (ENVIRONMENT_DIMENSION, LANE_DIMENSION, STEP_DIMENSION),
)
SCENARIO_SUCCESS = _count(
    "ScenarioSuccess",
    "The platform's verdict, one sample per session whose run is one: 1 when no step failed "
    "and the scenario ran to the end, 0 when a step failed or the run was cut short by its "
    "time budget. No sample from a session the canary itself broke (CanaryError 1: config, "
    "secret, a canary bug or fault of its own), from a run that never got to its sessions, "
    "or from a run skipped because another run holds the lock (not a verdict either way).",
    "alarm ScenarioFailed (pages), the success-rate graph and the per-session success graph",
    per_session=True,
)
FIRST_ATTEMPT_SUCCESS = _count(
    "FirstAttemptSuccess",
    "ScenarioSuccess as it would have been without retries: 0 also when a check passed only "
    "on its retry after a transport failure (quick lane; the full lane never retries, so "
    "there it equals ScenarioSuccess). Like Synthetics' SuccessPercent beside "
    "SuccessPercentWithRetries.",
    "graph only (next to the success rate): flakiness stays visible; only the final result "
    "(ScenarioSuccess) pages. Emitted exactly when ScenarioSuccess is.",
)
RUN_SKIPPED = _count(
    "RunSkipped", "1 when the run was skipped because another run holds the lock.",
    "graph only (canary health widget): a skip is harmless once; many mean runs overlap, "
    "which the heartbeat and duration graphs show",
)
DUPLICATE_TASKS = _count(
    "DuplicateTasks", "Tasks started beyond one for a single wake of the synthetic container.",
    "alarm DuplicateTasks (pages) and the duplicate-tasks graph",
)
RESUME_STARTED_TASK = _count(
    "ResumeStartedTask",
    "Tasks started by resume-preview calls for a container that was already running (each "
    "such resume is a cold start and a duplicate container; how a row-key defect shows).",
    "alarm ResumeStartedTask (pages) and the duplicate-tasks graph",
)
AUTO_SLEEP_MISSED = _count(
    "AutoSleepMissed", "1 when the container was still up after idle timeout + check interval.",
    "alarm AutoSleepMissed (ticket) and the auto-sleep graph",
    emitted_when=SLEEP_OBSERVED,
)
AUTO_SAVE_FAILED = _count(
    "AutoSaveFailed", "1 when a sleep with unsaved work did not leave a pushed commit (work lost).",
    "alarm AutoSaveFailed (pages: work lost) and the auto-save graph",
    # Wait mode watches a dirty sleep itself; observe mode checks the lastAutoSave the
    # container reports for the previous run's sleep (pushed=false, or, with a git remote,
    # a commit missing there). Force mode stops the task: nothing is auto-saved.
    emitted_when=(When(sleep_modes=("wait", "observe")),),
)
AUTH_NOT_ENFORCED = _count(
    "AuthNotEnforced", "1 when resume-preview succeeded without the internal API key.",
    "alarm AuthNotEnforced (ticket: a security finding) and the auth step's graph",
)
CONTRACT_VIOLATIONS = _count(
    "ContractViolations",
    "Responses that broke the platform contract (wrong status, body, headers).",
    "alarm ContractViolations (ticket) and the contract graph: the platform changed under "
    "the canary",
)
CANARY_ERROR = _count(
    "CanaryError",
    "Every invocation emits it, once per session (once for a run that never got to its "
    "sessions): 1 when the canary itself could not give a verdict: bad config, unreadable "
    "secret, a canary bug or fault of its own; 0 otherwise (also for a skipped run).",
    "alarms CanaryError (the canary's owners) and CanaryHeartbeat (its SampleCount: every "
    "invocation emits it), and the canary health graph",
)

METRICS: tuple[MetricSpec, ...] = (
    CONTAINER_WAKE_TIME,
    PREVIEW_WAKE_TIME,
    API_RESPONSE_TIME,
    ROUTE_LATENCY,
    *WAKE_PHASES,
    AUTO_SLEEP_DELAY,
    SCENARIO_DURATION,
    STEP_SUCCESS,
    SCENARIO_SUCCESS,
    FIRST_ATTEMPT_SUCCESS,
    RUN_SKIPPED,
    DUPLICATE_TASKS,
    RESUME_STARTED_TASK,
    AUTO_SLEEP_MISSED,
    AUTO_SAVE_FAILED,
    AUTH_NOT_ENFORCED,
    CONTRACT_VIOLATIONS,
    CANARY_ERROR,
)
METRICS_BY_NAME: dict[str, MetricSpec] = {m.name: m for m in METRICS}
RUN_LEVEL: frozenset[str] = frozenset(m.name for m in (
    STEP_SUCCESS, SCENARIO_SUCCESS, FIRST_ATTEMPT_SUCCESS, SCENARIO_DURATION, CANARY_ERROR,
    RUN_SKIPPED, CONTRACT_VIOLATIONS))
"""Metrics of the run itself (derived from it, or summed over every step), not of one step:
every lane emits them (canary/scenario.py `metrics_of`)."""


class Comparison(StrEnum):
    """CloudWatch comparison operators used by the alarm specification."""

    GREATER_THAN = "GreaterThanThreshold"
    GREATER_OR_EQUAL = "GreaterThanOrEqualToThreshold"
    LESS_THAN = "LessThanThreshold"


class MissingData(StrEnum):
    """CloudWatch TreatMissingData values."""

    BREACHING = "breaching"
    NOT_BREACHING = "notBreaching"
    IGNORE = "ignore"
    MISSING = "missing"


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"


class Owner(StrEnum):
    """Whose fault an alarm reports, so it reaches the people who can fix it.

    Platform critical alarms page through the health composite (only it notifies), platform
    warnings open tickets, the canary's own faults go to the canary's owners."""

    PLATFORM = "platform"
    CANARY = "canary"


@dataclass(frozen=True)
class AlarmSpec:
    """One CloudWatch alarm, fully specified, so infra and tests agree on it.

    `namespace` None means the canary's namespace with its Environment and Lane
    dimensions (the aggregate series: every session's sample); otherwise (AWS/Lambda)
    `dimensions` names the dimensions infra fills in (FunctionName).
    """

    name: str
    metric: str
    statistic: str
    threshold: float
    comparison: Comparison
    period_seconds: int
    evaluation_periods: int
    datapoints_to_alarm: int
    missing_data: MissingData
    severity: Severity
    runbook: str
    namespace: str | None = None
    dimensions: tuple[str, ...] = AGGREGATE_DIMENSIONS
    # When set, a period with no datapoint counts as this value (CloudWatch metric
    # math `FILL(m, value)`), so no period is ever missing and the alarm fires after
    # exactly M silent periods (plain missing-data handling looks further back).
    fill_missing: float | None = None
    owner: Owner = Owner.PLATFORM

    @property
    def pages(self) -> bool:
        """Part of the health composite, which alone notifies the paging topic."""
        return self.owner is Owner.PLATFORM and self.severity is Severity.CRITICAL

    def emitted_when(self) -> tuple[When, ...]:
        """When its metric is emitted (metrics outside the catalogue, AWS/Lambda's: always)."""
        spec = METRICS_BY_NAME.get(self.metric) if self.namespace is None else None
        return spec.emitted_when if spec else ALWAYS

    def checkable_by(self, config: Any) -> bool:
        """Whether a canary configured so can ever feed this alarm."""
        return any(w.holds(config) for w in self.emitted_when())


DEFAULT_SCHEDULE_MINUTES = LANES[Lane.FULL].schedule_minutes
DEFAULT_WAKE_THRESHOLD_MS = 60_000
DEFAULT_API_THRESHOLD_MS = 2_000


def alarm_specs(
    schedule_minutes: int = DEFAULT_SCHEDULE_MINUTES,
    wake_threshold_ms: float = DEFAULT_WAKE_THRESHOLD_MS,
    api_threshold_ms: float = DEFAULT_API_THRESHOLD_MS,
) -> tuple[AlarmSpec, ...]:
    """Every alarm of the canary. One evaluation period is one scheduled run."""
    if schedule_minutes < 1:
        raise ValueError(f"schedule_minutes must be >= 1, got {schedule_minutes}")
    period = schedule_minutes * 60
    ok_missing = MissingData.NOT_BREACHING  # absence of a run is the heartbeat's job

    def at_least_one(
        name: str, metric: str, severity: Severity, runbook: str, m: int = 1, n: int = 1
    ):
        return AlarmSpec(
            name, metric, "Maximum", 1, Comparison.GREATER_OR_EQUAL, period, n, m,
            ok_missing, severity, runbook,
        )

    return (
        AlarmSpec(
            "WakeTimeHigh", CONTAINER_WAKE_TIME.name, "Maximum", wake_threshold_ms,
            Comparison.GREATER_THAN, period, 3, 2, ok_missing, Severity.CRITICAL,
            "Cold wakes over target: find the slow phase on the stacked wake-phases widget "
            "(scheduling, provisioning, image pull, container start, app ready, preview) and "
            "check that part (runbook).",
        ),
        AlarmSpec(
            "PreviewWakeTimeHigh", PREVIEW_WAKE_TIME.name, "Maximum", wake_threshold_ms,
            Comparison.GREATER_THAN, period, 3, 2, ok_missing, Severity.WARNING,
            "Wakes through the preview URL over target: check the router's wake call "
            "and Retry-After.",
        ),
        AlarmSpec(
            "ResumeApiSlow", API_RESPONSE_TIME.name, "Maximum", api_threshold_ms,
            Comparison.GREATER_THAN, period, 3, 2, ok_missing, Severity.CRITICAL,
            "resume-preview slow for a running container: check Hermes latency and "
            "DynamoDB throttling.",
        ),
        # ScenarioSuccess holds only verdicts on the platform (a session the canary broke
        # emits none), so a period without one is not breaching and one session's canary
        # fault never mutes the others' failures.
        AlarmSpec(
            "ScenarioFailed", SCENARIO_SUCCESS.name, "Minimum", 1, Comparison.LESS_THAN,
            period, 2, 2, ok_missing, Severity.CRITICAL,
            "Two runs in a row failed for at least one session: read the canary log for the "
            "failed step and its reason. Only the platform's verdicts count: a session the "
            "canary itself broke reports CanaryError to its owners instead.",
        ),
        AlarmSpec(
            "CanaryHeartbeat", CANARY_ERROR.name, "SampleCount", 1, Comparison.LESS_THAN,
            period, 2, 2, MissingData.BREACHING, Severity.CRITICAL,
            "Canary fault, not a platform one (goes to the canary's owners): no canary result "
            "for two periods; check the schedule rule, the function's errors and throttles.",
            fill_missing=0, owner=Owner.CANARY,
        ),
        at_least_one(
            "AutoSaveFailed", AUTO_SAVE_FAILED.name, Severity.CRITICAL,
            "Work lost on sleep: check the container's git auto-save and push credentials.",
        ),
        at_least_one(
            "DuplicateTasks", DUPLICATE_TASKS.name, Severity.CRITICAL,
            "Concurrent wakes started more than one task: check Hermes' conditional write; "
            "stop the extra task.",
        ),
        at_least_one(
            "ResumeStartedTask", RESUME_STARTED_TASK.name, Severity.CRITICAL,
            "A resume for a running container started a new task: Hermes does not see the "
            "running container (compare the containers row it reads with the one the container "
            "writes); stop the extra tasks.",
        ),
        at_least_one(
            "AutoSleepMissed", AUTO_SLEEP_MISSED.name, Severity.WARNING,
            "Container did not sleep after its idle timeout: check the auto-sleep loop and "
            "active-session count.",
        ),
        at_least_one(
            "AuthNotEnforced", AUTH_NOT_ENFORCED.name, Severity.WARNING,
            "Security finding: resume-preview accepts calls without the internal API key.",
        ),
        at_least_one(
            "ContractViolations", CONTRACT_VIOLATIONS.name, Severity.WARNING,
            "The platform answered outside its contract (status, body, headers): read the run's "
            "findings; the platform changed, or the contract must.",
        ),
        # In ALARM while either of the last two runs erred (any session): the owners' signal,
        # kept up one more period so a fault that comes and goes does not flap.
        replace(at_least_one(
            "CanaryError", CANARY_ERROR.name, Severity.WARNING,
            "Canary fault, not a platform one (goes to the canary's owners): the canary could "
            "not run (config, secret or a canary bug); read its log line.", m=1, n=2,
        ), owner=Owner.CANARY),
        AlarmSpec(
            "CanaryLambdaErrors", "Errors", "Sum", 1, Comparison.GREATER_OR_EQUAL, period, 1, 1,
            ok_missing, Severity.WARNING,
            "Canary fault, not a platform one (goes to the canary's owners): the canary Lambda "
            "itself errored or timed out; read its log group.",
            namespace="AWS/Lambda", dimensions=("FunctionName",), owner=Owner.CANARY,
        ),
    )


def health_in_alarm(specs: tuple[AlarmSpec, ...], in_alarm: Mapping[str, bool]) -> bool:
    """The health composite's rule, as infra builds it: any paging alarm in ALARM (an alarm
    not deployed counts as not in ALARM)."""
    return any(in_alarm.get(s.name, False) for s in specs if s.pages)


ALARMS: tuple[AlarmSpec, ...] = alarm_specs()
