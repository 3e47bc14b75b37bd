"""The metric catalogue and the alarm specification: the one place both sides read.

The canary emits exactly these metrics (canary/metrics.py); infra/ builds the
CloudWatch alarms and the dashboard from exactly these definitions; the tests
evaluate emitted series against the same alarm rules. Pure data, stdlib only:
it is imported by the Lambda at cold start and by the CDK app.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

DEFAULT_NAMESPACE = "Webordinary/SessionResumptionCanary"
ENVIRONMENT_DIMENSION = "Environment"
STEP_DIMENSION = "Step"
CLIENT_DIMENSION = "ClientId"

class Unit(StrEnum):
    """CloudWatch units used by the catalogue (a subset of CloudWatch's)."""

    MILLISECONDS = "Milliseconds"
    COUNT = "Count"


@dataclass(frozen=True)
class MetricSpec:
    """One metric the canary emits: its name, unit, dimensions and meaning."""

    name: str
    unit: Unit
    description: str
    dimensions: tuple[str, ...] = (ENVIRONMENT_DIMENSION,)
    # Standard (60 s) storage suffices while every alarm period is >= 60 s;
    # set True for a metric whose alarm needs a sub-minute period.
    high_resolution: bool = False
    # Latencies are emitted only for successful measurements (a failed wake
    # has no wake time; it shows up in StepSuccess and ScenarioSuccess).
    latency: bool = False


def _latency(name: str, description: str) -> MetricSpec:
    return MetricSpec(name, Unit.MILLISECONDS, description, latency=True)


def _count(name: str, description: str, dimensions: tuple[str, ...] = (ENVIRONMENT_DIMENSION,)):
    return MetricSpec(name, Unit.COUNT, description, dimensions)


CONTAINER_WAKE_TIME = _latency(
    "ContainerWakeTime",
    "Cold wake through Hermes: first resume-preview request sent until the container "
    "is running and its preview answers.",
)
PREVIEW_WAKE_TIME = _latency(
    "PreviewWakeTime",
    "Cold wake through the preview URL: first request until the router serves 200.",
)
API_RESPONSE_TIME = _latency(
    "APIResponseTime", "resume-preview response time for a running container."
)
ROUTE_LATENCY = _latency(
    "RouteLatency", "Preview request through the router to a running container."
)
AUTO_SLEEP_DELAY = _latency(
    "AutoSleepDelay", "How long after the idle timeout the container reached stopped."
)
SCENARIO_DURATION = _latency("ScenarioDuration", "Wall time of the whole scenario run.")
STEP_SUCCESS = _count(
    "StepSuccess",
    "1 when a step passed or was degraded, 0 when it failed (skipped steps emit nothing).",
    (ENVIRONMENT_DIMENSION, STEP_DIMENSION),
)
SCENARIO_SUCCESS = _count(
    "ScenarioSuccess",
    "Every invocation emits it: 1 when no step failed and the scenario ran to the end (or "
    "the run was skipped because another run holds the lock), 0 otherwise, including config, "
    "secret and canary errors and a run cut short by its time budget.",
)
RUN_SKIPPED = _count("RunSkipped", "1 when the run was skipped because another run holds the lock.")
DUPLICATE_TASKS = _count(
    "DuplicateTasks", "Tasks started beyond one for a single wake of the synthetic container."
)
RESUME_STARTED_TASK = _count(
    "ResumeStartedTask",
    "Tasks started by resume-preview calls for a container that was already running (each "
    "such resume is a cold start and a duplicate container; how a row-key defect shows).",
)
AUTO_SLEEP_MISSED = _count(
    "AutoSleepMissed", "1 when the container was still up after idle timeout + check interval."
)
AUTO_SAVE_FAILED = _count(
    "AutoSaveFailed", "1 when a sleep with unsaved work did not leave a pushed commit (work lost)."
)
AUTH_NOT_ENFORCED = _count(
    "AuthNotEnforced", "1 when resume-preview succeeded without the internal API key."
)
CONTRACT_VIOLATIONS = _count(
    "ContractViolations",
    "Responses that broke the platform contract (wrong status, body, headers).",
)
CANARY_ERROR = _count(
    "CanaryError", "1 when the canary itself could not run: bad config, unreadable secret, a bug."
)

METRICS: tuple[MetricSpec, ...] = (
    CONTAINER_WAKE_TIME,
    PREVIEW_WAKE_TIME,
    API_RESPONSE_TIME,
    ROUTE_LATENCY,
    AUTO_SLEEP_DELAY,
    SCENARIO_DURATION,
    STEP_SUCCESS,
    SCENARIO_SUCCESS,
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


@dataclass(frozen=True)
class AlarmSpec:
    """One CloudWatch alarm, fully specified, so infra and tests agree on it.

    `namespace` None means the canary's namespace with its Environment
    dimension; otherwise (AWS/Lambda) `dimensions` names the dimensions infra
    fills in (FunctionName).
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
    dimensions: tuple[str, ...] = (ENVIRONMENT_DIMENSION,)
    # When set, a period with no datapoint counts as this value (CloudWatch metric
    # math `FILL(m, value)`), so no period is ever missing and the alarm fires after
    # exactly M silent periods (plain missing-data handling looks further back).
    fill_missing: float | None = None


DEFAULT_SCHEDULE_MINUTES = 30
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
            "Cold wakes over target: check Fargate task start (image pull, ENI), "
            "health check grace and Hermes polling.",
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
        AlarmSpec(
            "ScenarioFailed", SCENARIO_SUCCESS.name, "Minimum", 1, Comparison.LESS_THAN,
            period, 2, 2, ok_missing, Severity.CRITICAL,
            "Two runs in a row failed: read the canary log for the failed step and its reason.",
        ),
        AlarmSpec(
            "CanaryHeartbeat", SCENARIO_SUCCESS.name, "SampleCount", 1, Comparison.LESS_THAN,
            period, 2, 2, MissingData.BREACHING, Severity.CRITICAL,
            "No canary result for two periods: check the schedule rule, the function's "
            "errors and throttles.", fill_missing=0,
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
            "CanaryError", CANARY_ERROR.name, Severity.WARNING,
            "The canary could not run (config, secret or a canary bug): read its log line.",
        ),
        AlarmSpec(
            "CanaryLambdaErrors", "Errors", "Sum", 1, Comparison.GREATER_OR_EQUAL, period, 1, 1,
            ok_missing, Severity.WARNING,
            "The canary Lambda itself errored or timed out: read its log group.",
            namespace="AWS/Lambda", dimensions=("FunctionName",),
        ),
    )


ALARMS: tuple[AlarmSpec, ...] = alarm_specs()
