"""Deploy parameters: one typed, validated object per environment.

CDK context carries the parameters (cdk.json, `-c`); this module turns one
environment's mapping into a frozen `CanaryParams` and refuses to synthesize
anything half-configured: a missing or malformed parameter raises `ParamsError`
naming the environment, the parameter and how to set it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import MISSING as _MISSING
from dataclasses import dataclass, field, fields
from typing import Any

from canary import contract, ids
from canary.catalogue import (
    DEFAULT_API_THRESHOLD_MS,
    DEFAULT_SCHEDULE_MINUTES,
    DEFAULT_WAKE_THRESHOLD_MS,
)
from canary.config import ConfigError, parse_session_attributes

# Context keys (cdk.json "context" or `npx cdk ... -c KEY=VALUE`).
ENVIRONMENTS_KEY = "environments"  # mapping: environment name -> parameters
SELECT_KEY = "deployEnvironments"  # optional comma list: build only these stacks
STACK_PREFIX = "SessionResumptionCanary"

MAX_TIMEOUT_S = 14 * 60  # the brief's ceiling, below Lambda's 15 min hard limit
TIMEOUT_MARGIN_S = 60  # the function ends this long before the next scheduled run
BUDGET_MARGIN_S = 30  # the canary's own budget ends this long before the timeout
MAX_DEFAULT_BUDGET_S = 600
SLEEP_MODES = ("wait", "observe", "force")
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
    2557, 2922, 3288, 3653,
)
_ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,24}$")
_SECRET_ARN = re.compile(r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[\w/+=.@-]+$")
_NAME = re.compile(r"^[\w.-]{1,255}$")
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")


class ParamsError(ValueError):
    """When a deploy parameter is missing, unknown or malformed."""


# Context key -> CanaryParams attribute. Required keys have no default below.
KEYS: dict[str, str] = {
    "hermesApiUrl": "hermes_api_url",
    "previewUrlTemplate": "preview_url_template",
    "albDnsName": "alb_dns_name",
    "previewDomain": "preview_domain",
    "apiKeySecretArn": "api_key_secret_arn",
    "canaryClientId": "canary_client_id",
    "canaryUserId": "canary_user_id",
    "canaryThreadId": "canary_thread_id",
    "scheduleMinutes": "schedule_minutes",
    "sessionsTable": "sessions_table",
    "threadMappingsTable": "thread_mappings_table",
    "containersTable": "containers_table",
    "containerIndexName": "container_index_name",
    "ecsCluster": "ecs_cluster",
    "ecsService": "ecs_service",
    "wakeDegradedMs": "wake_degraded_ms",
    "wakeFailedMs": "wake_failed_ms",
    "apiDegradedMs": "api_degraded_ms",
    "apiFailedMs": "api_failed_ms",
    "sleepMode": "sleep_mode",
    "idleTimeoutSeconds": "idle_timeout_s",
    "sleepCheckIntervalSeconds": "sleep_check_interval_s",
    "budgetSeconds": "budget_s",
    "alarmEmails": "alarm_emails",
    "memorySize": "memory_size",
    "logRetentionDays": "log_retention_days",
    "wakeConcurrency": "wake_concurrency",
    "previewMarker": "preview_marker",
    "gitRemoteUrl": "git_remote_url",
    "canarySessionId": "canary_session_id",
    "sessionAttributes": "session_attributes",
    "ecsTaskFamily": "ecs_task_family",
}
_ATTR_TO_KEY = {attr: key for key, attr in KEYS.items()}


@dataclass(frozen=True)
class CanaryParams:
    """Everything one environment's stack needs; validated on construction."""

    environment: str
    hermes_api_url: str
    api_key_secret_arn: str
    canary_client_id: str
    canary_user_id: str
    canary_thread_id: str
    preview_url_template: str | None = None
    alb_dns_name: str | None = None
    preview_domain: str | None = None
    schedule_minutes: int = DEFAULT_SCHEDULE_MINUTES
    sessions_table: str = contract.SESSIONS_TABLE
    thread_mappings_table: str = contract.THREAD_MAPPINGS_TABLE
    containers_table: str = contract.CONTAINERS_TABLE
    container_index_name: str = contract.CONTAINER_INDEX
    ecs_cluster: str = contract.ECS_CLUSTER
    ecs_service: str = contract.ECS_SERVICE
    wake_degraded_ms: int = 45_000
    wake_failed_ms: int = DEFAULT_WAKE_THRESHOLD_MS
    api_degraded_ms: int = 1_000
    api_failed_ms: int = DEFAULT_API_THRESHOLD_MS
    sleep_mode: str = "observe"
    idle_timeout_s: int = contract.IDLE_TIMEOUT_S
    sleep_check_interval_s: int = contract.SLEEP_CHECK_INTERVAL_S
    budget_s: int | None = None  # None: derived from the timeout
    alarm_emails: tuple[str, ...] = field(default_factory=tuple)
    memory_size: int = 512
    log_retention_days: int = 30
    wake_concurrency: int | None = None
    preview_marker: str | None = None
    git_remote_url: str | None = None
    canary_session_id: str | None = None
    session_attributes: str | None = None  # JSON object (a mapping in cdk.json)
    ecs_task_family: str | None = None

    def __post_init__(self) -> None:
        self._validate()

    # -- derived -------------------------------------------------------------

    @property
    def stack_name(self) -> str:
        return f"{STACK_PREFIX}-{self.environment}"

    @property
    def timeout_s(self) -> int:
        """Below the schedule period (no overlap) and at most 14 minutes."""
        return min(MAX_TIMEOUT_S, self.schedule_minutes * 60 - TIMEOUT_MARGIN_S)

    @property
    def effective_budget_s(self) -> int:
        if self.budget_s is not None:
            return self.budget_s
        return min(MAX_DEFAULT_BUDGET_S, self.timeout_s - TIMEOUT_MARGIN_S)

    @property
    def table_names(self) -> tuple[str, str, str]:
        return (self.sessions_table, self.thread_mappings_table, self.containers_table)

    # -- validation ----------------------------------------------------------

    def _fail(self, attr: str, problem: str) -> None:
        key = _ATTR_TO_KEY.get(attr, attr)
        raise ParamsError(
            f"environment {self.environment!r}: parameter {key!r} {problem} "
            f"(set it in cdk.json under context.{ENVIRONMENTS_KEY}.{self.environment}, "
            f"or pass -c {self.environment}.{key}=VALUE)"
        )

    def _validate(self) -> None:
        if not _ENV_NAME.match(self.environment or ""):
            raise ParamsError(
                f"environment name {self.environment!r} must be lower-case letters, digits "
                "and '-', starting with a letter, at most 25 characters"
            )
        for attr in REQUIRED:
            value = getattr(self, attr)
            if value is None or (isinstance(value, str) and not value.strip()):
                key = _ATTR_TO_KEY[attr]
                raise ParamsError(
                    f"environment {self.environment!r}: missing required parameter {key!r} "
                    f"(set it in cdk.json under context.{ENVIRONMENTS_KEY}.{self.environment}, "
                    f"or pass -c {self.environment}.{key}=VALUE)"
                )
        for attr in ("hermes_api_url", "preview_url_template", "git_remote_url"):
            value = getattr(self, attr)
            if value is not None and not re.match(r"^https?://[^\s/]+", value):
                self._fail(attr, f"must be an http(s) URL, got {value!r}")
        if self.hermes_api_url.endswith("/"):
            self._fail("hermes_api_url", "must not end with '/' (e.g. https://alb/hermes)")
        if not _SECRET_ARN.match(self.api_key_secret_arn):
            self._fail(
                "api_key_secret_arn",
                "must be a Secrets Manager secret ARN "
                "(arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME), "
                f"got {self.api_key_secret_arn!r}",
            )
        self._validate_preview()
        self._validate_session()
        for attr in (
            "sessions_table", "thread_mappings_table", "containers_table",
            "container_index_name", "ecs_cluster", "ecs_service",
        ):
            if not _NAME.match(getattr(self, attr)):
                self._fail(attr, f"is not a valid resource name: {getattr(self, attr)!r}")
        self._validate_numbers()
        if self.sleep_mode not in SLEEP_MODES:
            self._fail(
                "sleep_mode", f"must be one of {', '.join(SLEEP_MODES)}, got {self.sleep_mode!r}"
            )
        for email in self.alarm_emails:
            if not _EMAIL.match(email):
                self._fail("alarm_emails", f"has an invalid e-mail address {email!r}")
        self._validate_timing()

    def _validate_session(self) -> None:
        """The synthetic session's ids and row attributes, by the rules the Lambda applies."""
        for attr, kind in (("canary_client_id", "client"), ("canary_user_id", "user"),
                           ("canary_thread_id", "thread"), ("canary_session_id", "session")):
            value = getattr(self, attr)
            why = ids.problem(kind, value) if value is not None else None
            if why:
                self._fail(attr, f"is not an id the platform allows: {why}")
        try:
            parse_session_attributes(self.session_attributes)
        except ConfigError as exc:
            self._fail("session_attributes", str(exc))

    def _validate_preview(self) -> None:
        if self.preview_url_template:
            template = self.preview_url_template
            missing = [p for p in ("{clientId}", "{threadId}") if p not in template]
            if missing:
                self._fail("preview_url_template", f"must contain {' and '.join(missing)}")
            return
        if not self.alb_dns_name and not self.preview_domain:
            raise ParamsError(
                f"environment {self.environment!r}: missing required parameter "
                "'previewUrlTemplate' "
                "(or both 'albDnsName' and 'previewDomain'); set it in cdk.json under "
                f"context.{ENVIRONMENTS_KEY}.{self.environment}"
            )
        if not self.alb_dns_name:
            self._fail("alb_dns_name", "is required with 'previewDomain' (or 'previewUrlTemplate')")
        if not self.preview_domain:
            self._fail("preview_domain", "is required with 'albDnsName' (or 'previewUrlTemplate')")

    def _validate_numbers(self) -> None:
        positive = (
            "schedule_minutes", "wake_degraded_ms", "wake_failed_ms", "api_degraded_ms",
            "api_failed_ms", "idle_timeout_s", "sleep_check_interval_s",
        )
        for attr in positive:
            if getattr(self, attr) <= 0:
                self._fail(attr, f"must be > 0, got {getattr(self, attr)}")
        if self.wake_degraded_ms > self.wake_failed_ms:
            self._fail("wake_degraded_ms", "must not exceed 'wakeFailedMs'")
        if self.api_degraded_ms > self.api_failed_ms:
            self._fail("api_degraded_ms", "must not exceed 'apiFailedMs'")
        if not 128 <= self.memory_size <= 10240:
            self._fail("memory_size", f"must be 128..10240 MB, got {self.memory_size}")
        if self.log_retention_days not in LOG_RETENTION_DAYS:
            self._fail(
                "log_retention_days",
                f"must be one of CloudWatch's values {LOG_RETENTION_DAYS}, "
                f"got {self.log_retention_days}",
            )
        if self.wake_concurrency is not None and not 1 <= self.wake_concurrency <= 10:
            self._fail("wake_concurrency", f"must be 1..10, got {self.wake_concurrency}")

    def _validate_timing(self) -> None:
        if self.schedule_minutes * 60 - TIMEOUT_MARGIN_S < 2 * TIMEOUT_MARGIN_S:
            self._fail("schedule_minutes", f"must be >= 3 minutes, got {self.schedule_minutes}")
        budget = self.effective_budget_s
        if not TIMEOUT_MARGIN_S <= budget <= self.timeout_s - BUDGET_MARGIN_S:
            self._fail(
                "budget_s",
                f"must be {TIMEOUT_MARGIN_S}..{self.timeout_s - BUDGET_MARGIN_S} s "
                f"(the function timeout is {self.timeout_s} s), got {budget}",
            )
        sleep_window = self.idle_timeout_s + self.sleep_check_interval_s
        if self.sleep_mode == "wait" and sleep_window >= budget:
            self._fail(
                "sleep_mode",
                f"'wait' needs a budget longer than idleTimeoutSeconds + sleepCheckIntervalSeconds "
                f"({sleep_window} s) but the budget is {budget} s; use 'observe' or 'force'",
            )
        if self.sleep_mode != "force" and self.schedule_minutes * 60 <= sleep_window:
            self._fail(
                "schedule_minutes",
                f"({self.schedule_minutes} min) must be longer than idleTimeoutSeconds + "
                f"sleepCheckIntervalSeconds ({sleep_window} s) so the synthetic container "
                "falls asleep between runs (or use sleepMode 'force')",
            )

    # -- construction from context -------------------------------------------

    @classmethod
    def from_context(cls, environment: str, values: Mapping[str, Any]) -> CanaryParams:
        """Build from one environment's context mapping (camelCase keys, strings allowed)."""
        values = {k: v for k, v in values.items() if not str(k).startswith("_")}  # comments
        unknown = sorted(set(values) - set(KEYS))
        if unknown:
            raise ParamsError(
                f"environment {environment!r}: unknown parameter(s) "
                f"{', '.join(map(repr, unknown))}; "
                f"known: {', '.join(sorted(KEYS))}"
            )
        types = {f.name: f.type for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, raw in values.items():
            attr = KEYS[key]
            kwargs[attr] = _coerce(environment, key, raw, types[attr])
        for attr in REQUIRED:
            kwargs.setdefault(attr, None)  # reported by __init__ as missing, by name
        return cls(environment=environment, **kwargs)


# Parameters without a default: checked (by name) in CanaryParams.__init__.
REQUIRED: tuple[str, ...] = tuple(
    f.name for f in fields(CanaryParams)
    if f.name != "environment" and f.default is _MISSING and f.default_factory is _MISSING
)


def _coerce(environment: str, key: str, raw: Any, annotation: str) -> Any:
    """Context values from `-c` arrive as strings: turn them into the field's type."""
    if raw is None:
        return None
    try:
        if "int" in annotation:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            return int(raw)
        if "tuple" in annotation:
            if isinstance(raw, str):
                items = [p.strip() for p in raw.split(",")]
            elif isinstance(raw, Sequence):
                items = [str(p).strip() for p in raw]
            else:
                raise ValueError
            return tuple(p for p in items if p)
        if isinstance(raw, Mapping) and key == "sessionAttributes":
            return json.dumps(raw, sort_keys=True)
        if not isinstance(raw, str):
            raise ValueError
        return raw.strip()
    except ValueError:
        kind = "an integer" if "int" in annotation else (
            "a list (or comma-separated string)" if "tuple" in annotation else "a string"
        )
        raise ParamsError(
            f"environment {environment!r}: parameter {key!r} must be {kind}, got {raw!r}"
        ) from None


def _as_mapping(name: str, raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):  # `-c environments='{"staging": {...}}'`
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ParamsError(f"context {name!r} is not valid JSON: {exc}") from None
    if not isinstance(raw, Mapping):
        raise ParamsError(f"context {name!r} must be a mapping, got {type(raw).__name__}")
    return dict(raw)


def environments_from_context(context: Mapping[str, Any]) -> list[CanaryParams]:
    """Every environment to synthesize, from the app's context.

    `environments` maps name -> parameters; `-c NAME.KEY=VALUE` overrides one
    parameter; `-c deployEnvironments=a,b` limits the stacks built.
    """
    raw = context.get(ENVIRONMENTS_KEY)
    if raw is None:
        raise ParamsError(
            f"missing required context {ENVIRONMENTS_KEY!r} (a mapping of environment name "
            "to parameters; see infra/README.md)"
        )
    environments = _as_mapping(ENVIRONMENTS_KEY, raw)
    if not environments:
        raise ParamsError(f"context {ENVIRONMENTS_KEY!r} names no environment")
    selected = list(environments)
    if context.get(SELECT_KEY):
        selected = [s.strip() for s in str(context[SELECT_KEY]).split(",") if s.strip()]
        unknown = [s for s in selected if s not in environments]
        if unknown:
            raise ParamsError(
                f"context {SELECT_KEY!r} names unknown environment(s) {', '.join(unknown)}; "
                f"defined: {', '.join(environments)}"
            )
    result = []
    for name in selected:
        values = _as_mapping(f"{ENVIRONMENTS_KEY}.{name}", environments[name] or {})
        prefix = f"{name}."
        for key, value in context.items():
            if isinstance(key, str) and key.startswith(prefix):
                values[key[len(prefix):]] = value
        result.append(CanaryParams.from_context(name, values))
    return result
