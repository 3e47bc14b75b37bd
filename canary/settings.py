"""Every setting of the canary, once: variable, CDK context key, field, kind, default, bounds.

`SETTINGS` is the one table. `CanaryConfig.from_env` (canary/config.py) reads the
environment through it and validates each field by it; the deploy parameters
(infra/params.py) take their context keys, types and defaults from it and validate a
deployment by building the CanaryConfig its Lambda would get; the settings tables of the
docs are generated from it (`python -m canary.settings_docs`). So a rule, a default or a
bound written here holds at synth and at run time alike.

Stdlib only and cheap to import: the Lambda imports it on its cold path.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from canary import contract, ids
from canary.catalogue import (
    DEFAULT_API_THRESHOLD_MS,
    DEFAULT_NAMESPACE,
    DEFAULT_WAKE_THRESHOLD_MS,
)
from canary.lanes import DEFAULT_LANE, LANES, Lane
from canary.sessions import SessionsError, parse_sessions, sessions_problem


class ConfigError(ValueError):
    """A setting is missing or invalid: `name` is the variable (or context key), then why and
    how to fix it (or one whole message in `name`). The message never carries a secret."""

    def __init__(self, name: str, problem: str = "", fix: str = "") -> None:
        super().__init__(f"{name}: {problem}; {fix}" if problem else name)
        self.name, self.problem, self.fix = name, problem, fix


class Kind(Enum):
    """How a setting's text (an environment variable, a `-c` value) becomes its value."""

    TEXT = "text"
    BASE_URL = "base URL"  # a URL the canary appends paths to: a trailing '/' is dropped
    NUMBER = "number"
    WHOLE = "whole number"
    CHOICE = "choice"
    LIST = "comma list"
    JSON = "JSON object"
    EMAILS = "e-mail list"
    NAMES = "name list"  # comma list of identifiers, kept as written (subnet ids...)


@dataclass(frozen=True)
class Derived:
    """A default computed from other fields' values (defaults or settings)."""

    shown: str
    compute: Callable[[Mapping[str, Any]], Any]


Check = Callable[[str, Any], None]  # (name for the error, value) -> None, or ConfigError


@dataclass(frozen=True)
class Setting:
    """One setting. `var` None: deploy-only; `key` None: not a deploy parameter; `field`
    None: not one CanaryConfig field (composed by from_env, or read by something else)."""

    var: str | None
    key: str | None
    field: str | None
    kind: Kind
    meaning: str
    default: Any = None  # None: unset
    shown: str = ""  # the default as documented, when not the plain value
    low: float | None = None
    high: float | None = None
    low_ok: bool = False  # `low` itself is allowed (else values must exceed it)
    choices: tuple[Any, ...] = ()
    check: Check | None = None
    rule: str = ""  # what `check` allows, in words (the docs' "allowed" column)
    required: bool = False  # a deployment must set the context key
    needed: str = ""  # from_env refuses to run without the variable; how to set it
    aliases: tuple[str, ...] = ()  # variables read when `var` is unset
    param: str | None = None  # CanaryParams attribute, when not `field`
    deploy_default: Any = ...  # a parameter's default when not `default` (None: derived);
    # for a variable without a key, what the stack sets it to
    deploy_shown: str = ""  # the parameter's default as documented, when not `shown`
    deploy_note: str = ""  # what a deployment should know (the parameters table)
    reader: str = ""  # what reads the variable, when not CanaryConfig.from_env
    decode: Callable[[str], Any] | None = None  # a JSON setting's text -> value

    @property
    def name(self) -> str:
        """How errors and docs name it: the variable, else the context key, else the field."""
        return self.var or self.key or self.field or "?"

    @property
    def attr(self) -> str | None:
        """The CanaryParams attribute of a deploy parameter."""
        return (self.param or self.field) if self.key else None


# -- checks of single values (each raises ConfigError naming the setting; never echoes a key) --

MAX_BUDGET_S = 900.0  # the Lambda maximum
MIN_BUDGET_S = 1.0  # below it no step and no cleanup fit: refused up front, not at run time
LOG_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192,
    2557, 2922, 3288, 3653,
)
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
HOST = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?$")
_KEY = re.compile(r"^[\x21-\x7e]{1,4096}$")  # what a header value carries: visible ASCII
_SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}$")
_REGION = re.compile(r"^[a-z]{2,4}(?:-[a-z]+)+-\d{1,2}$")
_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_ECS_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_ECS = re.compile(r"^(?:[A-Za-z0-9_-]{1,255}|arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:"
                  r"(?:cluster|service)/[A-Za-z0-9_/-]{1,511})$")
_NAMESPACE = re.compile(r"^(?!AWS/)(?=.*\S)[A-Za-z0-9._/#: -]{1,255}$")
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")
_FAMILY = _ECS_NAME
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
# The session row's key and the attributes the canary itself writes: not overridable.
OWN_ATTRIBUTES = frozenset({"sessionId", "userId", "clientId", "threadId", "containerId",
                            "synthetic"})


def shown(value: Any, n: int = 80) -> str:
    """A value for an error message: credentials in a URL masked, length capped."""
    text = re.sub(r"//[^/@\s]*@", "//***@", str(value))
    return repr(text if len(text) <= n else text[: n - 3] + "...")


def check_url(name: str, value: str, *, placeholder: str | None = None) -> None:
    """An http(s) URL the canary can use as a base: a host, no credentials, query or fragment;
    braces only as `placeholder`."""
    filled = (value or "").replace(placeholder, "client") if placeholder else (value or "")
    if "{" in filled or "}" in filled:
        raise ConfigError(name, f"has a placeholder other than {placeholder or '(none allowed)'}"
                          f": {shown(value)}", "remove the braces or use the documented "
                          "placeholder")
    parts = urlsplit(filled)
    if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", filled):
        raise ConfigError(name, f"not an http(s) URL: {shown(value)}",
                          "use e.g. https://host/path")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(name, "carries credentials (user:password@); value not shown",
                          "remove them: the canary sends its key as a bearer token")
    if parts.query or parts.fragment or filled.endswith(("?", "#")):
        raise ConfigError(name, f"has a query or fragment: {shown(value)}",
                          "use a base URL; the canary appends the paths")
    try:
        parts.port  # noqa: B018 - raises for a port that is not 0..65535
    except ValueError:
        raise ConfigError(name, f"has an invalid port: {shown(value)}",
                          "use a port 1-65535") from None
    if not (HOST.match(parts.hostname) or _is_ip(parts.hostname)):
        raise ConfigError(name, f"has an invalid host name: {shown(value)}",
                          "use a DNS name or IP")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def check_preview_host(name: str, host: str) -> None:
    """The Host a preview request sends: edit.{clientId}.<a DNS name>."""
    if "{clientId}" not in host or not HOST.match(host.replace("{clientId}", "client").lower()):
        raise ConfigError(name, f"the preview host {shown(host)} is not edit.{{clientId}}.<a DNS "
                          "name>", "set PREVIEW_DOMAIN to a domain name, e.g. webordinary.com")


def _check_key(name: str, value: str) -> None:
    if not _KEY.match(value):
        raise ConfigError(name, "has characters an HTTP header cannot carry, or is over 4096 "
                          "characters (value not shown)", "use the key as issued: visible "
                          "ASCII, no spaces")


def _check_secret_arn(name: str, value: str) -> None:
    if not _SECRET_ARN.match(value):
        raise ConfigError(name, f"not an ARN of a Secrets Manager secret: {shown(value)}",
                          "use the Secrets Manager secret ARN in full "
                          "(arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-SUFFIX)")


def _check_region(name: str, value: str) -> None:
    if not _REGION.match(value):
        raise ConfigError(name, f"not a region: {shown(value)}", "use e.g. us-west-2")


def _check_table(name: str, value: str) -> None:
    if not _TABLE.match(value):
        raise ConfigError(name, f"not a DynamoDB table or index name: {shown(value)}",
                          "use the name (3-255 letters, digits, '_', '-', '.'), not an ARN")


_BUCKET = re.compile(r"^(?!xn--)(?!.*\.\.)[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _check_bucket(name: str, value: str) -> None:
    if not _BUCKET.match(value):
        raise ConfigError(name, f"not an S3 bucket name: {shown(value)}",
                          "use the bucket's name (3-63 lower-case letters, digits, '.', '-'), "
                          "not an ARN or URL")


def _check_ecs(name: str, value: str) -> None:
    if not _ECS.match(value):
        raise ConfigError(name, f"not an ECS name or ARN: {shown(value)}",
                          "use the name (letters, digits, '-', '_') or its full ARN")


def check_ecs_name(name: str, value: str) -> None:
    """An ECS name, not an ARN (the stack builds the role's ARNs from the cluster's name)."""
    if not _ECS_NAME.match(value):
        raise ConfigError(name, f"must be the name, not an ARN: {shown(value)}",
                          "use the name (letters, digits, '-', '_'): the stack builds the "
                          "role's ARNs from it")


def _check_family(name: str, value: str) -> None:
    if not _FAMILY.match(value):
        raise ConfigError(name, f"not a task definition family: {shown(value)}",
                          "use the family name only (letters, digits, '-', '_'), no revision")


def _check_dimension(name: str, value: str) -> None:
    if not _PRINTABLE.match(value):
        raise ConfigError(name, f"not a metric dimension value: {shown(value)}",
                          "use a short name, e.g. production")


def _check_namespace(name: str, value: str) -> None:
    if not _NAMESPACE.match(value):
        raise ConfigError(name, f"not a CloudWatch namespace: {shown(value)}",
                          "use letters, digits and . - _ / # : (not starting AWS/), at most 255")


def _check_git_remote(name: str, value: str) -> None:
    if value.startswith("-") or not re.match(r"^\S{1,2048}$", value):
        raise ConfigError(name, f"not a git remote: {shown(value)}",
                          "use a URL or path without spaces, not starting with '-'")


def _check_marker(name: str, value: str) -> None:
    if not 1 <= len(value) <= 1000:
        raise ConfigError(name, f"{len(value)} characters",
                          "use a short text the preview page contains (1-1000 characters)")


def _check_quick_schedule(name: str, value: int) -> None:
    """Off (0), or long enough that one quick run (at most its lane's budget) ends before the
    next starts (an overlapping run would skip, and a skip is no verdict)."""
    shortest = LANES[Lane.QUICK].min_schedule_minutes
    if 0 < value < shortest:
        raise ConfigError(name, f"{value} minutes is shorter than one quick run may take "
                          f"({LANES[Lane.QUICK].max_budget_s:g} s and a minute's slack)",
                          f"use 0 (off) or at least {shortest}")


def _check_emails(name: str, value: tuple[str, ...]) -> None:
    for email in value:
        if not _EMAIL.match(email):
            raise ConfigError(name, f"has an invalid e-mail address {email!r}",
                              "use addresses like oncall@example.com")


def _check_endpoints(name: str, value: tuple[str, ...]) -> None:
    """Each an e-mail address or an https URL SNS can post to; a URL is never echoed (a chat
    webhook's path is its credential)."""
    for i, endpoint in enumerate(value):
        if _EMAIL.match(endpoint):
            continue
        parts = urlsplit(endpoint)
        if parts.scheme != "https" or not parts.hostname or " " in endpoint:
            raise ConfigError(name, f"entry {i + 1} is neither an e-mail address nor an https "
                              "URL", "use e.g. oncall@example.com or https://hooks.example.com/...")


def _check_retention(name: str, value: int) -> None:
    if value not in LOG_RETENTION_DAYS:
        raise ConfigError(name, f"must be one of CloudWatch's values {LOG_RETENTION_DAYS}, got "
                          f"{value}", "use one of those numbers of days")


_ACCOUNT = re.compile(r"^\d{12}$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]{1,128}$")
_SUBNET = re.compile(r"^subnet-[0-9a-f]{8,17}$")
_SECURITY_GROUP = re.compile(r"^sg-[0-9a-f]{8,17}$")
RUNBOOK_PATH = "docs/RUNBOOK.md"


def _check_account(name: str, value: str) -> None:
    if not _ACCOUNT.match(value):
        raise ConfigError(name, f"not an AWS account id: {shown(value)}",
                          "use the 12-digit account id, e.g. 111122223333")


def _check_kms_key_arn(name: str, value: str) -> None:
    if not _KMS_KEY_ARN.match(value):
        raise ConfigError(name, f"not a KMS key ARN: {shown(value)}",
                          "use the key's ARN (arn:aws:kms:REGION:ACCOUNT:key/KEY-ID), not an "
                          "alias: IAM matches Decrypt against the key")


def _id_check(pattern: re.Pattern[str], example: str) -> Check:
    def check(name: str, value: tuple[str, ...]) -> None:
        for item in value:
            if not pattern.match(item):
                raise ConfigError(name, f"has an invalid id {shown(item)}",
                                  f"use ids like {example}")
    return check


def _check_runbook(name: str, value: str) -> None:
    """The runbook link of alarms and dashboard: an http(s) URL (anchors allowed), or the
    repository path when no URL is set."""
    parts = urlsplit(value)
    if value == RUNBOOK_PATH:
        return
    if parts.scheme not in ("http", "https") or not parts.hostname or \
            re.search(r"\s", value) or "@" in parts.netloc or len(value) > 300:
        raise ConfigError(name, f"not an http(s) URL: {shown(value)}",
                          "use the runbook's URL, e.g. https://wiki.example.com/canary-runbook "
                          "(no credentials, at most 300 characters)")


def parse_session_attributes(raw: str | None) -> tuple[tuple[str, Any], ...]:
    """CANARY_SESSION_ATTRIBUTES: a JSON object of extra attributes for the session row, as
    sorted (name, value) pairs (ConfigError when it is not one, or names an attribute the
    canary writes itself)."""
    if raw is None:
        return ()
    example = 'use a JSON object, e.g. {"editBranch": "thread-{threadId}"}'
    try:
        value = json.loads(raw)
    except ValueError:
        raise ConfigError("CANARY_SESSION_ATTRIBUTES", "not JSON", example) from None
    if not isinstance(value, dict):
        raise ConfigError("CANARY_SESSION_ATTRIBUTES", "not a JSON object", example)
    pairs = tuple(sorted(value.items()))
    check_session_attributes("CANARY_SESSION_ATTRIBUTES", pairs)
    return pairs


def check_session_attributes(name: str, pairs: tuple[tuple[str, Any], ...]) -> None:
    for attr, value in pairs:
        if not isinstance(attr, str) or not attr or attr in OWN_ATTRIBUTES:
            raise ConfigError(name, f"attribute {attr!r} cannot be set",
                              f"leave out {', '.join(sorted(OWN_ATTRIBUTES))}: the canary writes "
                              "them (set CANARY_USER_ID / CANARY_SESSION_ID for the key values)")
        if not isinstance(value, str | int | bool):
            raise ConfigError(name, f"attribute {attr!r} has a value of type "
                              f"{type(value).__name__}", "use strings, whole numbers or booleans")
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**38:
            raise ConfigError(name, f"attribute {attr!r} has more than 38 digits",
                              "DynamoDB numbers hold at most 38 digits")


def _decode_sessions(raw: str) -> Any:
    try:
        return parse_sessions(raw)
    except SessionsError as exc:
        raise ConfigError("CANARY_SESSIONS", exc.problem, exc.fix) from None


def _check_sessions(name: str, value: Any) -> None:
    problem = sessions_problem(tuple(value)) if value else None  # (): unset
    if problem:
        raise ConfigError(name, *problem)


# -- the table -------------------------------------------------------------------------

_TABLES = "the role may only touch the platform's three tables"
_URL_RULE = "http(s) URL: a host, no credentials, query or fragment"


def _wake_timeout(values: Mapping[str, Any]) -> float:
    return min(max(2 * values["wake_failed_ms"] / 1000, 1.0), MAX_BUDGET_S)


S, K = Setting, Kind  # short names for the rows below
SETTINGS: tuple[Setting, ...] = (
    S("CANARY_ENVIRONMENT", None, "environment", K.TEXT, "metric dimension `Environment`",
      "production", check=_check_dimension, rule="printable, at most 255",
      deploy_note="the environment's name"),
    S("HERMES_API_URL", "hermesApiUrl", "hermes_api_url", K.BASE_URL,
      "Hermes base URL ending in the global prefix, e.g. `https://alb/hermes` (a trailing `/` "
      "is dropped)", check=check_url, rule=_URL_RULE, required=True, shown="required",
      needed="set it to the Hermes base URL ending in the global prefix, e.g. "
      "https://alb.example.com/hermes"),
    S("AWS_REGION", None, "region", K.TEXT, "the platform's region (`AWS_DEFAULT_REGION` when "
      "unset)", "us-east-1", check=_check_region, rule="e.g. `us-west-2`",
      shown="required (the Lambda runtime sets it)", aliases=("AWS_DEFAULT_REGION",),
      needed="set the region of the platform, e.g. us-west-2"),
    S("AWS_ENDPOINT_URL", None, "aws_endpoint_url", K.TEXT,
      "another AWS endpoint (moto in tests); boto3 honours it too", check=check_url,
      rule=_URL_RULE, shown="unset"),
    S("PREVIEW_URL_TEMPLATE", "previewUrlTemplate", None, K.TEXT,
      "where previews are: e.g. `https://edit.{clientId}.example.com/session/{threadId}/`",
      rule="ends in `/session/{threadId}/`; `{clientId}` the only other placeholder",
      shown="or `ALB_DNS_NAME` + `PREVIEW_DOMAIN`", param="preview_url_template",
      deploy_shown="or `albDnsName` + `previewDomain`"),
    S("ALB_DNS_NAME", "albDnsName", None, K.TEXT,
      "instead of a template: connect to the ALB and send `Host: edit.{clientId}.{domain}`",
      rule="a host name, or an http(s) URL", shown="", param="alb_dns_name"),
    S("PREVIEW_DOMAIN", "previewDomain", None, K.TEXT,
      "with `ALB_DNS_NAME`: the preview domain (after `edit.{clientId}.`)",
      rule="a DNS name", shown="", param="preview_domain"),
    S("INTERNAL_API_KEY", None, "api_key", K.TEXT, "the bearer key (never printed)",
      check=_check_key, rule="visible ASCII, at most 4096",
      shown="one of this and `INTERNAL_API_KEY_SECRET_ARN`"),
    S("INTERNAL_API_KEY_SECRET_ARN", "apiKeySecretArn", "api_key_secret_arn", K.TEXT,
      "the Secrets Manager secret holding the key (plain, or JSON `INTERNAL_API_KEY`)",
      check=_check_secret_arn, rule="a secret's full ARN", required=True,
      shown="one of this and `INTERNAL_API_KEY`",
      deploy_note="the full ARN (with its 6-character suffix); the only secret the function "
      "may read"),
    S("CANARY_CLIENT_ID", "canaryClientId", "client_id", K.TEXT,
      "the synthetic session's clientId", "canary", rule=ids.RULES["client"][1],
      required=True, shown="required for a real target", param="canary_client_id"),
    S("CANARY_USER_ID", "canaryUserId", "user_id", K.TEXT,
      "the synthetic session's userId (e-mail ids, production's `*`)", "canary",
      rule=ids.RULES["user"][1], required=True, shown="required for a real target",
      param="canary_user_id"),
    S("CANARY_THREAD_ID", "canaryThreadId", "thread_id", K.TEXT,
      "the synthetic session's threadId", "canary-thread", rule=ids.RULES["thread"][1],
      required=True, shown="required for a real target", param="canary_thread_id"),
    S("CANARY_SESSION_ID", "canarySessionId", "session_id_override", K.TEXT,
      "the synthetic session row's sessionId", rule=ids.RULES["session"][1],
      shown="`canary-session-{threadId}`", param="canary_session_id"),
    S("CANARY_SESSION_ATTRIBUTES", "sessionAttributes", "session_attributes", K.JSON,
      "extra attributes of the synthetic session row (`{clientId}`, `{threadId}`, `{userId}`, "
      "`{sessionId}` filled in); production's Hermes needs "
      '`{"editBranch": "thread-{threadId}"}`', (), check=check_session_attributes,
      rule="strings, whole numbers, booleans; not the row's own attributes", shown="none",
      deploy_default=None),
    S("CANARY_SESSIONS", "canarySessions", "configured_sessions", K.JSON,
      "the synthetic sessions, run concurrently: a JSON list of `{\"name\", \"clientId\", "
      "\"threadId\", \"userId\", \"sessionId\"}` (`name`: the metrics' `Session` dimension; "
      "fields left out fall back to the single-session variables)", (),
      check=_check_sessions, decode=_decode_sessions,
      rule="1-50 entries; names unique, 1-64 of letters, digits, `._-`; ids by their rules; "
      "no two sessions with the same container, thread or session id",
      shown="one session from the single-session variables, named by its clientId",
      deploy_shown="one session", deploy_default=None, param="canary_sessions"),
    S("CANARY_LANE", None, "lane", K.CHOICE, "which lane runs: `full` (cold wake, sleep, "
      "auto-save) or `quick` (a warm session's checks); in Lambda the schedule's event "
      "`{\"lane\": ...}` overrides it", DEFAULT_LANE.value,
      choices=tuple(lane.value for lane in Lane), shown="`full`",
      deploy_note="each lane's schedule passes its own"),
    S("SESSIONS_TABLE", "sessionsTable", "sessions_table", K.TEXT, "sessions table (either "
      "key schema)", contract.SESSIONS_TABLE, check=_check_table,
      rule="a table name, not an ARN", deploy_note=_TABLES),
    S("THREAD_MAPPINGS_TABLE", "threadMappingsTable", "thread_mappings_table", K.TEXT,
      "thread-mappings table", contract.THREAD_MAPPINGS_TABLE, check=_check_table,
      rule="a table name, not an ARN", deploy_note=_TABLES),
    S("CONTAINERS_TABLE", "containersTable", "containers_table", K.TEXT, "containers table",
      contract.CONTAINERS_TABLE, check=_check_table, rule="a table name, not an ARN",
      deploy_note=_TABLES),
    S("CONTAINER_INDEX_NAME", "containerIndexName", "container_index", K.TEXT,
      "the thread-mappings index by containerId", contract.CONTAINER_INDEX,
      check=_check_table, rule="an index name", param="container_index_name"),
    S("ECS_CLUSTER", "ecsCluster", "ecs_cluster", K.TEXT, "the platform's ECS cluster",
      contract.ECS_CLUSTER, check=_check_ecs, rule="a name or ARN (deploy: a name)",
      deploy_note="the role may list, describe and stop tasks of this cluster only"),
    S("ECS_SERVICE", "ecsService", "ecs_service", K.TEXT, "the platform's ECS service",
      contract.ECS_SERVICE, check=_check_ecs, rule="a name or ARN"),
    S("ECS_TASK_FAMILY", "ecsTaskFamily", "ecs_task_family", K.TEXT,
      "the platform's task definition family: narrows ECS look-ups", check=_check_family,
      rule="a family name, no revision", shown="learnt from a task proven the session's"),
    S("WAKE_DEGRADED_MS", "wakeDegradedMs", "wake_degraded_ms", K.NUMBER,
      "cold wake: degraded above this", 45_000, low=0, high=900_000),
    S("WAKE_FAILED_MS", "wakeFailedMs", "wake_failed_ms", K.NUMBER,
      "cold wake: failed above this (alarm threshold, dashboard line)",
      DEFAULT_WAKE_THRESHOLD_MS, low=0, high=900_000),
    S("API_DEGRADED_MS", "apiDegradedMs", "api_degraded_ms", K.NUMBER,
      "resume-preview for a running container: degraded above this", 1_000, low=0,
      high=60_000),
    S("API_FAILED_MS", "apiFailedMs", "api_failed_ms", K.NUMBER,
      "resume-preview for a running container: failed above this (alarm threshold, dashboard "
      "line)", DEFAULT_API_THRESHOLD_MS, low=0, high=60_000),
    S("SLEEP_MODE", "sleepMode", "sleep_mode", K.CHOICE, "how the auto-sleep is checked: "
      "`observe` (judged next run), `wait` (within the run), `force` (stopped through ECS)",
      "observe", choices=("wait", "observe", "force"), shown="`observe` (sandbox: `wait`)",
      deploy_shown="`observe`",
      deploy_note="`wait` needs twice the sleep bound within the budget, which the 14-minute "
      "Lambda limit rules out for a 20-minute idle timeout"),
    S("IDLE_TIMEOUT_S", "idleTimeoutSeconds", "idle_timeout_s", K.NUMBER,
      "the platform's auto-sleep idle timeout", contract.IDLE_TIMEOUT_S, low=0, high=86_400),
    S("SLEEP_CHECK_INTERVAL_S", "sleepCheckIntervalSeconds", "sleep_check_interval_s",
      K.NUMBER, "how often the platform's auto-sleep checks", contract.SLEEP_CHECK_INTERVAL_S,
      low=0, high=3_600),
    S("SLEEP_MARGIN_S", None, "sleep_margin_s", K.NUMBER, "slack over idle timeout + check "
      "interval before a sleep counts as missed", 60, low=0, high=3_600, low_ok=True),
    S("WAKE_CONCURRENCY", "wakeConcurrency", "wake_concurrency", K.WHOLE,
      "concurrent resume-preview calls on a cold wake", 3, low=1, high=20),
    S("WAKE_PATHS", None, "wake_paths", K.LIST, "which cold wakes run",
      ("hermes", "preview"), choices=("hermes", "preview"), shown="`hermes,preview`"),
    S("WARM_API_SAMPLES", None, "warm_api_samples", K.WHOLE, "resume-preview calls for a "
      "running container (the slowest counts)", 3, low=1, high=10),
    S("CANARY_BUDGET_S", "budgetSeconds", "budget_s", K.NUMBER, "the run's time budget (the "
      "Lambda also caps it by its remaining time less a margin)", 600, low=MIN_BUDGET_S,
      high=MAX_BUDGET_S, low_ok=True,
      deploy_default=None, deploy_shown="`min(600, timeout - 60)`",
      deploy_note="ends below the function's timeout"),
    S("CLEANUP_RESERVE_S", None, "cleanup_reserve_s", K.NUMBER,
      "budget slice kept for cleanup",
      Derived("min(30, budget/10)", lambda v: min(30.0, v["budget_s"] / 10)),
      low=0, high=MAX_BUDGET_S, low_ok=True),
    S("WAKE_TIMEOUT_S", None, "wake_timeout_s", K.NUMBER, "how long a wake is waited for",
      Derived("2 x `WAKE_FAILED_MS` (1..900 s)", _wake_timeout), low=0, high=MAX_BUDGET_S),
    S("CONNECT_TIMEOUT_S", None, "connect_timeout_s", K.NUMBER, "HTTP connect timeout (each "
      "exchange also has a total deadline)", 5, low=0, high=60),
    S("PREVIEW_MARKER", "previewMarker", "preview_marker", K.TEXT, "text the preview page must "
      "contain (`{containerId}` substituted)", check=_check_marker, rule="1-1000 characters",
      shown="unset: any 200"),
    S("GIT_REMOTE_URL", "gitRemoteUrl", "git_remote_url", K.TEXT, "where auto-saves are pushed "
      "(`{containerId}` substituted): read over git's smart HTTP for http(s) remotes, with "
      "`git ls-remote` for local paths", check=_check_git_remote,
      rule="a URL or path, no spaces, not starting with `-`",
      shown="unset: remote check skipped"),
    S("SANDBOX_CONTROL_URL", None, "sandbox_control_url", K.TEXT, "sandbox only: lets `sleep` "
      "dirty the workspace", check=check_url, rule=_URL_RULE, shown="unset"),
    S("LOCK_TABLE", None, "lock_table", K.TEXT, "the canary's own table: the run lock "
      "(Lambda) and the memory between runs (observe mode's sleep verdict)",
      check=_check_table, rule="a table name", shown="unset: no lock, previous sleep not "
      "measured", deploy_note="the stack's own table"),
    S("REPORT_BUCKET", None, "report_bucket", K.TEXT, "where the Lambda writes each run's "
      "HTML report and JSON result (`reports/{environment}/{yyyy}/{mm}/{dd}/{run_id}.html`, "
      "`.json`)", check=_check_bucket, rule="an S3 bucket name", shown="unset: no report "
      "written", deploy_note="the stack's own report bucket"),
    S("POWERTOOLS_METRICS_NAMESPACE", None, "metrics_namespace", K.TEXT,
      "the metrics' CloudWatch namespace (the alarms read the default)",
      DEFAULT_NAMESPACE, check=_check_namespace,
      rule="not starting `AWS/`, at most 255"),
    S("POWERTOOLS_SERVICE_NAME", None, None, K.TEXT, "Powertools' service name in log lines",
      shown="unset", deploy_default="session-resumption-canary", reader="Powertools"),
    S("CANARY_TRACING", None, None, K.TEXT, "`true` turns the X-Ray tracer on (imported "
      "only then)", shown="off", reader="`canary/handler.py`"),
    # Deploy-only: the stack's own settings.
    S(None, "scheduleMinutes", None, K.WHOLE, "run period; also the alarms' period. Must "
      "exceed the sleep bound (idle timeout + check interval + margin) so the container falls "
      "asleep between runs (unless `sleepMode` is `force`). The function timeout is "
      "`min(14 min, period - 60 s)`", LANES[Lane.FULL].schedule_minutes, low=3,
      param="schedule_minutes"),
    S(None, "quickScheduleMinutes", None, K.WHOLE, "the quick lane's run period (a second "
      "schedule on the same function, sending `{\"lane\": \"quick\"}`); also its alarms' "
      "period. `0` turns the quick lane off", LANES[Lane.QUICK].schedule_minutes, low=0,
      low_ok=True, high=60, check=_check_quick_schedule, param="quick_schedule_minutes"),
    S(None, "alarmEmails", None, K.EMAILS, "e-mail addresses paged by the health composite, "
      "and the fallback for tickets and the canary's owners (list, or comma-separated string)",
      (), check=_check_emails, rule="e-mail addresses",
      shown="none", param="alarm_emails"),
    S(None, "pagingEndpoints", None, K.EMAILS, "where critical platform alarms page (the health "
      "composite only): e-mail addresses and https URLs (a paging service's or chat webhook's), "
      "added to `alarmEmails` (list, or comma-separated string)", (), check=_check_endpoints,
      rule="e-mail addresses, https URLs", shown="none", param="paging_endpoints"),
    S(None, "ticketEndpoints", None, K.EMAILS, "where platform warnings go (the ticket topic): "
      "e-mail addresses and https URLs", (), check=_check_endpoints,
      rule="e-mail addresses, https URLs", shown="`alarmEmails`", param="ticket_endpoints"),
    S(None, "ownerEndpoints", None, K.EMAILS, "where the canary's own faults go (CanaryError, "
      "CanaryLambdaErrors, CanaryHeartbeat): e-mail addresses and https URLs", (),
      check=_check_endpoints, rule="e-mail addresses, https URLs",
      shown="`ticketEndpoints`, else `alarmEmails`", param="owner_endpoints"),
    S(None, "maintenance", None, K.CHOICE, "`true` during planned platform work: the health "
      "composite and the platform warnings keep their state but notify no one (the canary's "
      "own alarms still do)", "false", choices=("false", "true"), param="maintenance"),
    S(None, "memorySize", None, K.WHOLE, "Lambda memory in MB", 512, low=128, high=10_240,
      param="memory_size"),
    S(None, "logRetentionDays", None, K.WHOLE, "log group retention in days", 30,
      check=_check_retention, rule="a CloudWatch value: 1, 3, 5, 7, 14, 30, 60, 90, ...",
      param="log_retention_days"),
    S(None, "reportRetentionDays", None, K.WHOLE, "how long the run reports (HTML and JSON) "
      "are kept in the report bucket, in days", 30, low=1, high=3_650,
      param="report_retention_days"),
    S(None, "reservedConcurrency", None, K.WHOLE, "reserved concurrency of the function "
      "(the run lock already keeps runs from overlapping; reserving fails to deploy in "
      "accounts with a low concurrency quota)", None, low=1, high=10_000, shown="none",
      param="reserved_concurrency"),
    S(None, "vpcSubnetIds", None, K.NAMES, "subnets the function runs in (e.g. to reach an "
      "internal ALB); with `securityGroupIds`, both or neither", (),
      check=_id_check(_SUBNET, "subnet-0123456789abcdef0"), rule="subnet ids",
      shown="none: not in a VPC", param="vpc_subnet_ids"),
    S(None, "securityGroupIds", None, K.NAMES, "security groups of the function in the VPC; "
      "with `vpcSubnetIds`, both or neither", (),
      check=_id_check(_SECURITY_GROUP, "sg-0123456789abcdef0"), rule="security group ids",
      shown="none", param="security_group_ids"),
    S(None, "apiKeySecretKmsKeyArn", None, K.TEXT, "the customer managed KMS key encrypting "
      "the API key's secret: the role may decrypt with it through Secrets Manager only",
      check=_check_kms_key_arn, rule="a KMS key ARN, not an alias",
      shown="unset: `aws/secretsmanager`", param="api_key_secret_kms_key_arn"),
    S(None, "runbookUrl", None, K.TEXT, "the runbook link in alarm descriptions and on the "
      "dashboard", RUNBOOK_PATH, check=_check_runbook, rule="an http(s) URL",
      shown="`docs/RUNBOOK.md` (the repository path)", param="runbook_url"),
    S(None, "account", None, K.TEXT, "the AWS account the stack deploys to (with `region`, "
      "both or neither)", check=_check_account, rule="12 digits",
      shown="unset: the CLI's credentials", param="account"),
    S(None, "region", None, K.TEXT, "the AWS region the stack deploys to (with `account`, "
      "both or neither)", check=_check_region, rule="e.g. `us-west-2`",
      shown="unset: the CLI's region", param="region"),
    # Fields only code sets (the sandbox profile, tests): bounds and defaults only.
    S(None, None, "retry_after_cap_s", K.NUMBER, "longest Retry-After honoured", 5, low=0,
      high=60),
    S(None, None, "max_body_bytes", K.WHOLE, "largest response body read", 256 * 1024,
      low=1024, high=16 * 1024 * 1024),
)
del S, K

BY_FIELD: dict[str, Setting] = {s.field: s for s in SETTINGS if s.field}
BY_VAR: dict[str, Setting] = {s.var: s for s in SETTINGS if s.var}
BY_KEY: dict[str, Setting] = {s.key: s for s in SETTINGS if s.key}


def default(field: str) -> Any:
    """The field's default (a derived one computed from the other defaults)."""
    value = BY_FIELD[field].default
    if isinstance(value, Derived):
        return value.compute({f: s.default for f, s in BY_FIELD.items()
                              if not isinstance(s.default, Derived)})
    return value


def with_defaults(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` (field -> value) completed with the defaults of the fields from_env fills;
    derived ones are computed from the values given."""
    out = dict(values)
    for s in SETTINGS:
        if s.field and s.var and not s.reader and s.field not in out and \
                not isinstance(s.default, Derived):
            out[s.field] = s.default
    for s in SETTINGS:
        if s.field and s.field not in out and isinstance(s.default, Derived):
            out[s.field] = s.default.compute(out)
    return out


def parse(setting: Setting, raw: str) -> Any:
    """A variable's text (stripped, non-empty) as the setting's value."""
    name, kind = setting.name, setting.kind
    if kind is Kind.BASE_URL:
        return raw.rstrip("/")
    if kind is Kind.NUMBER:
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(name, f"not a number: {shown(raw)}", "use a plain number") from None
        if not math.isfinite(value):
            raise ConfigError(name, f"not a finite number: {shown(raw)}", "use a plain number")
        return value
    if kind is Kind.WHOLE:
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(name, f"not a whole number: {shown(raw)}", "use e.g. 3") from None
    if kind is Kind.CHOICE:
        return raw.lower()
    if kind is Kind.LIST:
        items = tuple(dict.fromkeys(p.strip().lower() for p in raw.split(",") if p.strip()))
        if not items or any(p not in setting.choices for p in items):
            raise ConfigError(name, f"invalid {raw!r}",
                              f"use a comma list of {', '.join(setting.choices)}")
        return items
    if kind is Kind.JSON:
        return (setting.decode or parse_session_attributes)(raw)
    if kind in (Kind.EMAILS, Kind.NAMES):
        return tuple(p.strip() for p in raw.split(",") if p.strip())
    return raw


def validate(setting: Setting, value: Any, name: str | None = None) -> None:
    """Hold one value to the setting's bounds, choices and check (ConfigError naming it)."""
    name = name or setting.name
    kind = setting.kind
    if kind is Kind.NUMBER:
        _check_number(setting, name, value)
    elif kind is Kind.WHOLE:
        low, high = setting.low, setting.high
        if isinstance(value, bool) or not isinstance(value, int) or \
                (low is not None and value < low) or (high is not None and value > high):
            span = f"{low:g}..{high:g}" if high is not None else f"at least {low:g}"
            raise ConfigError(name, f"must be {span}, got {value!r}",
                              "use a whole number in that range")
    elif kind is Kind.CHOICE and value not in setting.choices:
        word = "mode" if setting.var == "SLEEP_MODE" else "value"
        raise ConfigError(name, f"unknown {word} {value!r}",
                          f"use one of {', '.join(setting.choices)}")
    elif kind is Kind.LIST and (not value or any(v not in setting.choices for v in value)):
        raise ConfigError(name, f"invalid {','.join(value) or '(empty)'}",
                          f"use a comma list of {', '.join(setting.choices)}")
    if setting.check is not None:
        setting.check(name, value)


def _check_number(setting: Setting, name: str, value: Any) -> None:
    unit = "milliseconds" if name.endswith(("_MS", "Ms", "_ms")) else "seconds"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(name, f"not a finite number: {value!r}", f"use a number of {unit}")
    low, high = setting.low or 0, setting.high if setting.high is not None else math.inf
    if value > high or (value < low if setting.low_ok else value <= low):
        raise ConfigError(name, f"must be {'>=' if setting.low_ok else '>'} {low:g} and at most "
                          f"{high:g}, got {value:g}", f"use a number of {unit} in that range")


def env_text(value: Any) -> str:
    """A value as an environment variable's text (what `parse` reads back)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)
