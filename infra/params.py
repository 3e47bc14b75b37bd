"""Deploy parameters: one typed, validated object per environment.

CDK context carries the parameters (cdk.json, `-c`). Which keys exist, their kinds and
defaults come from the settings table (canary/settings.py): each setting with a context
key is a `CanaryParams` attribute. A deployment is validated by building the CanaryConfig
its Lambda will get (`lambda_environment` -> `CanaryConfig.from_env`), so the rules of a
setting are the same at synth and at run time; only what the stack alone has (schedule,
e-mails, memory, log retention, the environment's name, timeout and budget) is checked here.
Nothing half-configured synthesizes: a missing or malformed parameter raises `ParamsError`
naming the environment, the parameter and how to set it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import field, make_dataclass
from typing import Any

from canary import settings
from canary.config import CanaryConfig, ConfigError
from canary.lanes import Lane
from canary.settings import BY_VAR, Kind, Setting

# Context keys (cdk.json "context" or `npx cdk ... -c KEY=VALUE`).
ENVIRONMENTS_KEY = "environments"  # mapping: environment name -> parameters
SELECT_KEY = "deployEnvironments"  # optional comma list: build only these stacks
STACK_PREFIX = "SessionResumptionCanary"

MAX_TIMEOUT_S = 14 * 60  # the brief's ceiling, below Lambda's 15 min hard limit
TIMEOUT_MARGIN_S = 60  # the function ends this long before the next scheduled run
BUDGET_MARGIN_S = 30  # the canary's own budget ends this long before the timeout
# What a deployment's config is checked with: the runtime sets AWS_REGION and the lock
# table's name is a token until deploy, so any valid ones stand in.
_CHECK_ENV = {"AWS_REGION": "us-east-1", "LOCK_TABLE": "canary-lock"}
_ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,24}$")

PARAMETERS: tuple[Setting, ...] = tuple(s for s in settings.SETTINGS if s.key)
KEYS: dict[str, str] = {s.key: s.attr for s in PARAMETERS if s.key and s.attr}
"""Context key -> CanaryParams attribute."""
_BY_ATTR = {s.attr: s for s in PARAMETERS}
# Parameters without a default: checked (by name) on construction.
REQUIRED: tuple[str, ...] = tuple(s.attr for s in PARAMETERS if s.required and s.attr)
_VAR_NAMES = re.compile(r"\b(" + "|".join(
    sorted((s.var for s in PARAMETERS if s.var), key=len, reverse=True)) + r")\b")


class ParamsError(ValueError):
    """When a deploy parameter is missing, unknown or malformed."""


class _Params:
    """What CanaryParams does besides holding the parameters (its fields: the table)."""

    environment: str

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
    def effective_budget_s(self) -> float:
        if self.budget_s is not None:
            return self.budget_s
        return min(settings.default("budget_s"), self.timeout_s - TIMEOUT_MARGIN_S)

    @property
    def table_names(self) -> tuple[str, str, str]:
        return (self.sessions_table, self.thread_mappings_table, self.containers_table)

    def lambda_environment(self, lock_table_name: str) -> dict[str, str]:
        """The function's environment: every parameter that has a variable, and what the
        stack itself sets (environment name, lock table, metric namespace, service name)."""
        env = {"CANARY_ENVIRONMENT": self.environment}
        for setting in PARAMETERS:
            value = self.effective_budget_s if setting.attr == "budget_s" else \
                getattr(self, setting.attr or "")
            if setting.var and value not in (None, "", ()):
                env[setting.var] = settings.env_text(value)
        env["LOCK_TABLE"] = lock_table_name
        env["POWERTOOLS_METRICS_NAMESPACE"] = BY_VAR["POWERTOOLS_METRICS_NAMESPACE"].default
        env["POWERTOOLS_SERVICE_NAME"] = BY_VAR["POWERTOOLS_SERVICE_NAME"].deploy_default
        return env

    def run_config(self) -> CanaryConfig:
        """The CanaryConfig the deployed Lambda builds from its environment."""
        return CanaryConfig.from_env({**self.lambda_environment(_CHECK_ENV["LOCK_TABLE"]),
                                      "AWS_REGION": _CHECK_ENV["AWS_REGION"]})

    @property
    def lanes(self) -> dict[Lane, int]:
        """Lane -> its schedule in minutes, for each lane this deployment runs (the full lane
        always; the quick lane unless `quickScheduleMinutes` is 0)."""
        minutes = {Lane.FULL: self.schedule_minutes, Lane.QUICK: self.quick_schedule_minutes}
        return {lane: m for lane, m in minutes.items() if m}

    def lane_config(self, lane: Lane) -> CanaryConfig:
        """The CanaryConfig the Lambda runs `lane` with (the lane's own synthetic ids)."""
        return self.run_config().for_lane(lane)

    def session_configs(self, lane: Lane) -> tuple[CanaryConfig, ...]:
        """One CanaryConfig per configured session of `lane`, as the Lambda derives them."""
        return self.lane_config(lane).run_configs()

    def all_run_configs(self) -> tuple[CanaryConfig, ...]:
        """Every (lane, session) run config this deployment's Lambda can run."""
        return tuple(c for lane in self.lanes for c in self.session_configs(lane))

    # -- validation ----------------------------------------------------------

    def _fail(self, key: str, problem: str) -> ParamsError:
        return ParamsError(
            f"environment {self.environment!r}: parameter {key!r} {problem} "
            f"(set it in cdk.json under context.{ENVIRONMENTS_KEY}.{self.environment}, "
            f"or pass -c {self.environment}.{key}=VALUE)"
        )

    def _refused(self, exc: ConfigError) -> ParamsError:
        """A setting refused by the run-time rules, told in context keys."""
        first = re.search(r"[A-Za-z][A-Za-z0-9_]*", exc.name)
        setting = BY_VAR.get(first.group(0)) if first else None
        key = (setting.key if setting else None) or exc.name
        text = f"{exc.problem}; {exc.fix}" if exc.problem else str(exc)
        return self._fail(key, _VAR_NAMES.sub(lambda m: repr(BY_VAR[m.group(1)].key), text))

    def _validate(self) -> None:
        if not _ENV_NAME.match(self.environment or ""):
            raise ParamsError(
                f"environment name {self.environment!r} must be lower-case letters, digits "
                "and '-', starting with a letter, at most 25 characters"
            )
        for attr in REQUIRED:
            value = getattr(self, attr)
            if value is None or (isinstance(value, str) and not value.strip()):
                key = _BY_ATTR[attr].key
                raise ParamsError(
                    f"environment {self.environment!r}: missing required parameter {key!r} "
                    f"(set it in cdk.json under context.{ENVIRONMENTS_KEY}.{self.environment}, "
                    f"or pass -c {self.environment}.{key}=VALUE)"
                )
        try:
            for setting in PARAMETERS:
                value = getattr(self, setting.attr or "")
                if setting.var is None and value is not None:  # the stack's own, when set
                    settings.validate(setting, value, setting.key)
            settings.check_ecs_name("ecsCluster", self.ecs_cluster)
            config = self.run_config()
        except ConfigError as exc:
            raise self._refused(exc) from None
        self._validate_timing(config)
        self._validate_pairs()
        self._validate_lanes()

    def _validate_pairs(self) -> None:
        """Parameters that only make sense together: both set or neither; the secret's key
        in the secret's region (Secrets Manager uses keys of its own region only)."""
        pairs = (("vpcSubnetIds", "securityGroupIds"), ("account", "region"))
        for first, second in pairs:
            given = [bool(getattr(self, KEYS[key])) for key in (first, second)]
            if given[0] != given[1]:
                missing, present = (second, first) if given[0] else (first, second)
                raise self._fail(missing, f"is unset but {present!r} is set (both or neither)")
        key = self.api_key_secret_kms_key_arn
        if key and key.split(":")[3] != self.api_key_secret_arn.split(":")[3]:
            raise self._fail("apiKeySecretKmsKeyArn", "is in another region than the secret "
                             "('apiKeySecretArn'); use the key that encrypts the secret")

    def _validate_lanes(self) -> None:
        """Both lanes run at once on the one function: a reserved concurrency must allow it."""
        lanes = len(self.lanes)
        if self.reserved_concurrency is not None and self.reserved_concurrency < lanes:
            raise self._fail(
                "reservedConcurrency",
                f"({self.reserved_concurrency}) must allow the {lanes} lanes to run at once "
                f"(at least {lanes}); raise it, leave it unset, or set quickScheduleMinutes 0",
            )

    def _validate_timing(self, config: CanaryConfig) -> None:
        budget = self.effective_budget_s
        if not TIMEOUT_MARGIN_S <= budget <= self.timeout_s - BUDGET_MARGIN_S:
            raise self._fail(
                "budgetSeconds",
                f"must be {TIMEOUT_MARGIN_S}..{self.timeout_s - BUDGET_MARGIN_S} s "
                f"(the function timeout is {self.timeout_s} s), got {budget:g}",
            )
        needs = config.wait_mode_needs_s + config.cleanup_reserve_s
        if self.sleep_mode == "wait" and needs > budget:
            raise self._fail(
                "sleepMode",
                f"'wait' needs a budget of at least {math.ceil(needs)} s (twice the sleep bound, "
                "idleTimeoutSeconds + sleepCheckIntervalSeconds + margin, plus the cleanup "
                f"reserve) but the budget is {budget:g} s; use 'observe' or 'force'",
            )
        bound = config.sleep_deadline_s
        if self.sleep_mode != "force" and self.schedule_minutes * 60 <= bound:
            raise self._fail(
                "scheduleMinutes",
                f"({self.schedule_minutes} min) must be longer than the sleep bound, "
                f"idleTimeoutSeconds + sleepCheckIntervalSeconds + margin ({bound:g} s), so the "
                "synthetic container falls asleep between runs (or use sleepMode 'force')",
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
        kwargs: dict[str, Any] = {attr: None for attr in REQUIRED}  # missing: named on init
        for key, raw in values.items():
            setting = settings.BY_KEY[key]
            kwargs[KEYS[key]] = _coerce(environment, setting, raw)
        return cls(environment=environment, **kwargs)


_TYPES = {Kind.NUMBER: float, Kind.WHOLE: int, Kind.EMAILS: tuple[str, ...],
          Kind.NAMES: tuple[str, ...]}


def _field(setting: Setting) -> tuple[str, Any, Any]:
    """(attribute, type, dataclass field) of one parameter."""
    kind = _TYPES.get(setting.kind, str)
    if setting.required:
        return (setting.attr or "", kind, field())
    value = setting.default if setting.deploy_default is ... else setting.deploy_default
    return (setting.attr or "", kind | None if value is None else kind, field(default=value))


CanaryParams = make_dataclass(
    "CanaryParams", [("environment", str), *map(_field, PARAMETERS)],
    bases=(_Params,), frozen=True, kw_only=True,
)
CanaryParams.__module__ = __name__
CanaryParams.__doc__ = """Everything one environment's stack needs; validated on construction.
Attributes: `environment` and one per deploy parameter (canary/settings.py, `KEYS`)."""


def _coerce(environment: str, setting: Setting, raw: Any) -> Any:
    """Context values from `-c` arrive as strings, cdk.json's as JSON: the parameter's type."""
    if raw is None:
        return None
    kind = setting.kind
    try:
        if kind is Kind.WHOLE:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            return int(raw)
        if kind is Kind.NUMBER:
            if isinstance(raw, bool) or not isinstance(raw, int | float | str):
                raise ValueError
            return _number(raw.strip()) if isinstance(raw, str) else raw
        if kind in (Kind.EMAILS, Kind.NAMES):
            if isinstance(raw, str):
                return settings.parse(setting, raw)
            if not isinstance(raw, Sequence):
                raise ValueError
            return tuple(p for p in (str(x).strip() for x in raw) if p)
        if kind is Kind.JSON and isinstance(raw, Mapping | list):  # cdk.json's own JSON
            return json.dumps(raw, sort_keys=True)
        if kind is Kind.CHOICE and isinstance(raw, bool):  # cdk.json's true/false
            raw = str(raw).lower()
        if not isinstance(raw, str):
            raise ValueError
        text = raw.strip()
        return settings.parse(setting, text) if text and kind is not Kind.JSON else text
    except ValueError:
        what = {Kind.WHOLE: "an integer", Kind.NUMBER: "a number",
                Kind.EMAILS: "a list (or comma-separated string)",
                Kind.NAMES: "a list (or comma-separated string)"}.get(kind, "a string")
        raise ParamsError(
            f"environment {environment!r}: parameter {setting.key!r} must be {what}, got {raw!r}"
        ) from None


def _number(text: str) -> float | int:
    try:
        return int(text)
    except ValueError:
        return float(text)


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
