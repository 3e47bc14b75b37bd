"""CanaryConfig: one frozen, typed object, validated once.

`from_env(environ)` is the only place that reads environment variables (Lambda,
`--target env`); `for_sandbox(info)` builds the sandbox profile. A bad value raises
`ConfigError` naming the variable and how to fix it. The API key is never part of
repr/str.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from canary import contract, ids

SLEEP_MODES = ("wait", "observe", "force")
WAKE_PATH_NAMES = ("hermes", "preview")
TARGETS = ("sandbox", "env")



_FAMILY = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
# The session row's key and the attributes the canary itself writes: not overridable.
_OWN_ATTRIBUTES = frozenset({"sessionId", "userId", "clientId", "threadId", "containerId",
                             "synthetic"})


class ConfigError(ValueError):
    """When a configuration value is missing or invalid (the message names the variable)."""


def _err(var: str, problem: str, fix: str) -> ConfigError:
    return ConfigError(f"{var}: {problem}; {fix}")


@dataclass(frozen=True)
class CanaryConfig:
    """Everything a run needs to know about its target. Times: *_ms milliseconds, *_s seconds."""

    hermes_api_url: str
    # Preview: connect to preview_base_url, send Host = preview_host_template.format(clientId)
    # (None: the URL's own host). Path: /session/{threadId}/
    preview_base_url: str
    preview_host_template: str | None
    client_id: str
    user_id: str
    thread_id: str
    target: str = "env"
    environment: str = "production"
    region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    api_key_secret_arn: str | None = None
    sessions_table: str = contract.SESSIONS_TABLE
    thread_mappings_table: str = contract.THREAD_MAPPINGS_TABLE
    containers_table: str = contract.CONTAINERS_TABLE
    container_index: str = contract.CONTAINER_INDEX
    ecs_cluster: str = contract.ECS_CLUSTER
    ecs_service: str = contract.ECS_SERVICE
    wake_degraded_ms: float = 45_000
    wake_failed_ms: float = 60_000
    api_degraded_ms: float = 1_000
    api_failed_ms: float = 2_000
    sleep_mode: str = "observe"
    idle_timeout_s: float = contract.IDLE_TIMEOUT_S
    sleep_check_interval_s: float = contract.SLEEP_CHECK_INTERVAL_S
    sleep_margin_s: float = 60
    wake_concurrency: int = 3
    wake_paths: tuple[str, ...] = WAKE_PATH_NAMES
    budget_s: float = 600
    cleanup_reserve_s: float = 30
    wake_timeout_s: float = 120  # give up on a wake after this (measured wakes may exceed failed)
    retry_after_cap_s: float = 5
    connect_timeout_s: float = 5
    max_body_bytes: int = 256 * 1024
    warm_api_samples: int = 3
    preview_marker: str | None = None
    git_remote_url: str | None = None
    sandbox_control_url: str | None = None
    lock_table: str | None = None
    metrics_namespace: str = "Webordinary/SessionResumptionCanary"
    # The synthetic session row: its sessionId (default canary-session-{threadId}) and extra
    # attributes a deployment needs (e.g. editBranch), as sorted (name, value) pairs.
    session_id_override: str | None = None
    session_attributes: tuple[tuple[str, Any], ...] = ()
    # Narrows ECS look-ups to one task definition family (else learnt from known tasks).
    ecs_task_family: str | None = None
    synthetic_ids_explicit: bool = True
    aws_test_credentials: bool = False  # sandbox only: moto accepts any credentials

    def __post_init__(self) -> None:
        self._validate()

    def __str__(self) -> str:
        return repr(self)

    # -- derived ----------------------------------------------------------------------
    @property
    def container_id(self) -> str:
        return f"{self.client_id}-{self.thread_id}-{self.user_id}"

    @property
    def session_id(self) -> str:
        return self.session_id_override or f"canary-session-{self.thread_id}"

    def session_row_extras(self) -> dict[str, Any]:
        """CANARY_SESSION_ATTRIBUTES with {clientId}/{threadId}/{userId}/{sessionId} filled in."""
        subs = {"{clientId}": self.client_id, "{threadId}": self.thread_id,
                "{userId}": self.user_id, "{sessionId}": self.session_id}
        out: dict[str, Any] = {}
        for name, value in self.session_attributes:
            if isinstance(value, str):
                for placeholder, actual in subs.items():
                    value = value.replace(placeholder, actual)
            out[name] = value
        return out

    @property
    def sleep_deadline_s(self) -> float:
        """How long after its last activity an idle container must have stopped."""
        return self.idle_timeout_s + self.sleep_check_interval_s + self.sleep_margin_s

    def preview_request(self, thread_id: str, path: str = "",
                        client_id: str | None = None) -> tuple[str, dict[str, str]]:
        """(url, extra headers) for a preview page of a thread."""
        cid = client_id or self.client_id
        base = self.preview_base_url.format(clientId=cid).rstrip("/")
        url = f"{base}/session/{thread_id}/{path.lstrip('/')}"
        headers = {}
        if self.preview_host_template:
            headers["Host"] = self.preview_host_template.format(clientId=cid)
        return url, headers

    def marker_for(self, container_id: str | None = None) -> str | None:
        if not self.preview_marker:
            return None
        return self.preview_marker.replace("{containerId}", container_id or self.container_id)

    def git_remote_for(self, container_id: str | None = None) -> str | None:
        if not self.git_remote_url:
            return None
        return self.git_remote_url.replace("{containerId}", container_id or self.container_id)

    def replace(self, **changes: Any) -> CanaryConfig:
        return dataclasses.replace(self, **changes)

    def describe_thresholds(self) -> str:
        return (
            f"wake degraded > {self.wake_degraded_ms:g} ms, failed > {self.wake_failed_ms:g} ms; "
            f"API degraded > {self.api_degraded_ms:g} ms, failed > {self.api_failed_ms:g} ms; "
            f"sleep mode {self.sleep_mode} (idle timeout {self.idle_timeout_s:g} s, "
            f"check {self.sleep_check_interval_s:g} s, margin {self.sleep_margin_s:g} s); "
            f"wake concurrency {self.wake_concurrency}; budget {self.budget_s:g} s"
        )

    # -- validation -------------------------------------------------------------------
    def _validate(self) -> None:
        if self.target not in TARGETS:
            raise _err("target", f"unknown target {self.target!r}", f"use one of {TARGETS}")
        _check_locations(self)
        if self.target == "env" and not self.synthetic_ids_explicit:
            raise _err(
                "CANARY_CLIENT_ID/CANARY_USER_ID/CANARY_THREAD_ID",
                "not set for a real target",
                "set all three to the canary's own synthetic session (the canary only ever "
                "touches that session and its container)",
            )
        for var, kind, value in (
            ("CANARY_CLIENT_ID", "client", self.client_id),
            ("CANARY_USER_ID", "user", self.user_id),
            ("CANARY_THREAD_ID", "thread", self.thread_id),
            ("CANARY_SESSION_ID", "session", self.session_id),
        ):
            why = ids.problem(kind, value)
            if why:
                raise _err(var, f"invalid id: {why}", "use an id the platform allows")
        _session_attributes(self.session_attributes)
        if self.ecs_task_family is not None and not _FAMILY.match(self.ecs_task_family):
            raise _err("ECS_TASK_FAMILY", f"not a task definition family: {self.ecs_task_family!r}",
                       "use the family name only (letters, digits, '-', '_'), no revision")
        if not self.api_key and not self.api_key_secret_arn:
            raise _err("INTERNAL_API_KEY / INTERNAL_API_KEY_SECRET_ARN", "neither is set",
                       "set the key, or the ARN of the Secrets Manager secret holding it")
        _check_key(self)
        _check_numbers(self)
        if self.wake_degraded_ms > self.wake_failed_ms:
            raise _err("WAKE_DEGRADED_MS", f"{self.wake_degraded_ms:g} is above WAKE_FAILED_MS "
                       f"{self.wake_failed_ms:g}", "the degraded level must not exceed failed")
        if self.api_degraded_ms > self.api_failed_ms:
            raise _err("API_DEGRADED_MS", f"{self.api_degraded_ms:g} is above API_FAILED_MS "
                       f"{self.api_failed_ms:g}", "the degraded level must not exceed failed")
        if self.sleep_mode not in SLEEP_MODES:
            raise _err("SLEEP_MODE", f"unknown mode {self.sleep_mode!r}",
                       f"use one of {', '.join(SLEEP_MODES)}")
        if not self.wake_paths or any(p not in WAKE_PATH_NAMES for p in self.wake_paths):
            raise _err("WAKE_PATHS", f"invalid {','.join(self.wake_paths) or '(empty)'}",
                       f"use a comma list of {', '.join(WAKE_PATH_NAMES)}")
        if not 0 <= self.cleanup_reserve_s < self.budget_s:
            raise _err("CANARY_BUDGET_S", f"budget {self.budget_s:g} s leaves nothing after the "
                       f"cleanup reserve {self.cleanup_reserve_s:g} s", "raise the budget")
        _check_names(self)

    # -- constructors -----------------------------------------------------------------
    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, target: str = "env") -> CanaryConfig:
        """The configuration of a real deployment (docs/ARCHITECTURE.md lists the names)."""
        env = {k: v.strip() for k, v in environ.items() if isinstance(v, str) and v.strip()}

        def req(name: str, hint: str) -> str:
            if name not in env:
                raise _err(name, "not set", hint)
            return env[name]

        hermes = req("HERMES_API_URL", "set it to the Hermes base URL ending in the global prefix, "
                     "e.g. https://alb.example.com/hermes")
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
        if not region:
            raise _err("AWS_REGION", "not set", "set the region of the platform, e.g. us-west-2")
        if "PREVIEW_URL_TEMPLATE" in env:
            tmpl = env["PREVIEW_URL_TEMPLATE"]
            base, sep, rest = tmpl.partition("/session/")
            if not sep or rest.rstrip("/") != "{threadId}":
                raise _err("PREVIEW_URL_TEMPLATE", f"does not end in /session/{{threadId}}/: "
                           f"{_shown(tmpl)}", "e.g. https://edit.{clientId}.example.com/session/"
                           "{threadId}/ (the contract's path; {clientId} is the only other "
                           "placeholder)")
            host_tmpl = None
        elif "ALB_DNS_NAME" in env:
            alb = env["ALB_DNS_NAME"]
            domain = req("PREVIEW_DOMAIN", "with ALB_DNS_NAME, set the preview domain (the part "
                         "after edit.{clientId}.), or set PREVIEW_URL_TEMPLATE instead")
            base = alb if "://" in alb else f"https://{alb}"
            host_tmpl = f"edit.{{clientId}}.{domain}"
        else:
            raise _err("PREVIEW_URL_TEMPLATE", "not set (nor ALB_DNS_NAME + PREVIEW_DOMAIN)",
                       "set PREVIEW_URL_TEMPLATE=https://edit.{clientId}.example.com/session/"
                       "{threadId}/ or ALB_DNS_NAME and PREVIEW_DOMAIN")
        synthetic = [env.get(n)
                     for n in ("CANARY_CLIENT_ID", "CANARY_USER_ID", "CANARY_THREAD_ID")]
        explicit = all(synthetic)
        if target == "env" and not explicit:
            missing = [n for n, v in zip(("CANARY_CLIENT_ID", "CANARY_USER_ID",
                                          "CANARY_THREAD_ID"), synthetic, strict=True) if not v]
            raise _err(", ".join(missing), "not set for a real target",
                       "set CANARY_CLIENT_ID, CANARY_USER_ID and CANARY_THREAD_ID to the canary's "
                       "own synthetic session (it never touches any other)")
        budget = _num(env, "CANARY_BUDGET_S", 600.0)
        wake_failed = _num(env, "WAKE_FAILED_MS", 60_000.0)
        wake_timeout = min(max(2 * wake_failed / 1000, 1.0), MAX_BUDGET_S)
        kwargs: dict[str, Any] = dict(
            target=target,
            hermes_api_url=hermes.rstrip("/"),
            preview_base_url=base,
            preview_host_template=host_tmpl,
            client_id=synthetic[0] or "canary",
            user_id=synthetic[1] or "canary",
            thread_id=synthetic[2] or "canary-thread",
            synthetic_ids_explicit=explicit,
            environment=env.get("CANARY_ENVIRONMENT", "production"),
            region=region,
            aws_endpoint_url=env.get("AWS_ENDPOINT_URL"),
            api_key=env.get("INTERNAL_API_KEY"),
            api_key_secret_arn=env.get("INTERNAL_API_KEY_SECRET_ARN"),
            sessions_table=env.get("SESSIONS_TABLE", contract.SESSIONS_TABLE),
            thread_mappings_table=env.get("THREAD_MAPPINGS_TABLE", contract.THREAD_MAPPINGS_TABLE),
            containers_table=env.get("CONTAINERS_TABLE", contract.CONTAINERS_TABLE),
            container_index=env.get("CONTAINER_INDEX_NAME", contract.CONTAINER_INDEX),
            ecs_cluster=env.get("ECS_CLUSTER", contract.ECS_CLUSTER),
            ecs_service=env.get("ECS_SERVICE", contract.ECS_SERVICE),
            wake_degraded_ms=_num(env, "WAKE_DEGRADED_MS", 45_000.0),
            wake_failed_ms=wake_failed,
            api_degraded_ms=_num(env, "API_DEGRADED_MS", 1_000.0),
            api_failed_ms=_num(env, "API_FAILED_MS", 2_000.0),
            sleep_mode=env.get("SLEEP_MODE", "observe").lower(),
            idle_timeout_s=_num(env, "IDLE_TIMEOUT_S", float(contract.IDLE_TIMEOUT_S)),
            sleep_check_interval_s=_num(
                env, "SLEEP_CHECK_INTERVAL_S", float(contract.SLEEP_CHECK_INTERVAL_S)
            ),
            sleep_margin_s=_num(env, "SLEEP_MARGIN_S", 60.0),
            wake_concurrency=_int(env, "WAKE_CONCURRENCY", 3),
            wake_paths=_paths(env.get("WAKE_PATHS", "hermes,preview")),
            budget_s=budget,
            cleanup_reserve_s=_num(env, "CLEANUP_RESERVE_S", min(30.0, budget / 10)),
            wake_timeout_s=_num(env, "WAKE_TIMEOUT_S", wake_timeout),
            connect_timeout_s=_num(env, "CONNECT_TIMEOUT_S", 5.0),
            warm_api_samples=_int(env, "WARM_API_SAMPLES", 3),
            preview_marker=env.get("PREVIEW_MARKER"),
            git_remote_url=env.get("GIT_REMOTE_URL"),
            sandbox_control_url=env.get("SANDBOX_CONTROL_URL"),
            lock_table=env.get("LOCK_TABLE"),
            session_id_override=env.get("CANARY_SESSION_ID"),
            session_attributes=parse_session_attributes(env.get("CANARY_SESSION_ATTRIBUTES")),
            ecs_task_family=env.get("ECS_TASK_FAMILY"),
            metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE",
                                      "Webordinary/SessionResumptionCanary"),
        )
        return cls(**kwargs)

    @classmethod
    def for_sandbox(cls, info: Any, *, api_key: str | None = None, **overrides: Any
                    ) -> CanaryConfig:
        """The sandbox profile: thresholds scaled to its seconds-long timeouts, sleep mode wait.

        The key comes from the sandbox's secret (Secrets Manager at info.aws_endpoint_url)
        unless `api_key` is given.
        """
        kwargs: dict[str, Any] = dict(
            target="sandbox",
            environment="sandbox",
            hermes_api_url=info.hermes_url.rstrip("/"),
            preview_base_url=info.router_url,
            preview_host_template=info.preview_host_template,
            client_id="canary",
            user_id="canary",
            thread_id="canary-thread",
            synthetic_ids_explicit=False,
            region=info.region,
            aws_endpoint_url=info.aws_endpoint_url,
            api_key=api_key,
            api_key_secret_arn=info.secret_arn,
            sessions_table=info.sessions_table,
            thread_mappings_table=info.thread_mappings_table,
            containers_table=info.containers_table,
            container_index=info.container_index,
            ecs_cluster=info.cluster,
            ecs_service=info.service,
            wake_degraded_ms=1_500,
            wake_failed_ms=3_000,
            api_degraded_ms=100,
            api_failed_ms=500,
            sleep_mode="wait",
            idle_timeout_s=float(info.idle_timeout_s),
            sleep_check_interval_s=float(info.check_interval_s),
            sleep_margin_s=max(0.5, float(info.idle_timeout_s) / 2),
            budget_s=60,
            cleanup_reserve_s=5,
            wake_timeout_s=6,
            retry_after_cap_s=5,
            connect_timeout_s=2,
            preview_marker=info.preview_marker_template,
            git_remote_url=info.git_remote_template,
            sandbox_control_url=info.control_url,
            lock_table=getattr(info, "canary_table", None),
            aws_test_credentials=True,
        )
        kwargs.update(overrides)
        return cls(**kwargs)


def parse_session_attributes(raw: str | None) -> tuple[tuple[str, Any], ...]:
    """CANARY_SESSION_ATTRIBUTES: a JSON object of extra attributes for the session row
    (ConfigError when it is not one, or names an attribute the canary writes itself)."""
    if raw is None:
        return ()
    import json

    try:
        value = json.loads(raw)
    except ValueError:
        raise _err("CANARY_SESSION_ATTRIBUTES", "not JSON",
                   'use a JSON object, e.g. {"editBranch": "thread-{threadId}"}') from None
    if not isinstance(value, dict):
        raise _err("CANARY_SESSION_ATTRIBUTES", "not a JSON object",
                   'use a JSON object, e.g. {"editBranch": "thread-{threadId}"}')
    pairs = tuple(sorted(value.items()))
    _session_attributes(pairs)
    return pairs


def _session_attributes(pairs: tuple[tuple[str, Any], ...]) -> None:
    for name, value in pairs:
        if not isinstance(name, str) or not name or name in _OWN_ATTRIBUTES:
            raise _err("CANARY_SESSION_ATTRIBUTES", f"attribute {name!r} cannot be set",
                       f"leave out {', '.join(sorted(_OWN_ATTRIBUTES))}: the canary writes them "
                       "(set CANARY_USER_ID / CANARY_SESSION_ID for the key values)")
        if not isinstance(value, str | int | bool):
            raise _err("CANARY_SESSION_ATTRIBUTES", f"attribute {name!r} has a value of type "
                       f"{type(value).__name__}", "use strings, whole numbers or booleans")


# -- checks of single settings (each error names the variable; a secret is never echoed) -----

MAX_BUDGET_S = 900.0  # the Lambda maximum
# attribute, variable, low, high, low allowed: every number has a sane, finite range
_NUMBERS: tuple[tuple[str, str, float, float, bool], ...] = (
    ("wake_degraded_ms", "WAKE_DEGRADED_MS", 0, 900_000, False),
    ("wake_failed_ms", "WAKE_FAILED_MS", 0, 900_000, False),
    ("api_degraded_ms", "API_DEGRADED_MS", 0, 60_000, False),
    ("api_failed_ms", "API_FAILED_MS", 0, 60_000, False),
    ("idle_timeout_s", "IDLE_TIMEOUT_S", 0, 86_400, False),
    ("sleep_check_interval_s", "SLEEP_CHECK_INTERVAL_S", 0, 3_600, False),
    ("sleep_margin_s", "SLEEP_MARGIN_S", 0, 3_600, True),
    ("budget_s", "CANARY_BUDGET_S", 0, MAX_BUDGET_S, False),
    ("cleanup_reserve_s", "CLEANUP_RESERVE_S", 0, MAX_BUDGET_S, True),
    ("wake_timeout_s", "WAKE_TIMEOUT_S", 0, MAX_BUDGET_S, False),
    ("connect_timeout_s", "CONNECT_TIMEOUT_S", 0, 60, False),
    ("retry_after_cap_s", "retry_after_cap_s", 0, 60, False),
)
_WHOLE_NUMBERS: tuple[tuple[str, str, int, int], ...] = (
    ("wake_concurrency", "WAKE_CONCURRENCY", 1, 20),
    ("warm_api_samples", "WARM_API_SAMPLES", 1, 10),
    ("max_body_bytes", "max_body_bytes", 1024, 16 * 1024 * 1024),
)
_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?$")
_KEY = re.compile(r"^[\x21-\x7e]{1,4096}$")  # what a header value carries: visible ASCII
_SECRET_ARN = re.compile(
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]{1,512}$")
_REGION = re.compile(r"^[a-z]{2,4}(?:-[a-z]+)+-\d{1,2}$")
_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
_ECS = re.compile(r"^(?:[A-Za-z0-9_-]{1,255}|arn:aws[a-z-]*:ecs:[a-z0-9-]+:\d{12}:"
                  r"(?:cluster|service)/[A-Za-z0-9_/-]{1,511})$")
_NAMESPACE = re.compile(r"^(?!AWS/)(?=.*\S)[A-Za-z0-9._/#: -]{1,255}$")
_PRINTABLE = re.compile(r"^[^\x00-\x1f\x7f]{1,255}$")


def _check_numbers(c: CanaryConfig) -> None:
    for attr, var, low, high, low_ok in _NUMBERS:
        value = getattr(c, attr)
        unit = "milliseconds" if var.endswith("_MS") else "seconds"
        if (isinstance(value, bool) or not isinstance(value, int | float)
                or not math.isfinite(value)):
            raise _err(var, f"not a finite number: {value!r}", f"use a number of {unit}")
        if value > high or (value < low if low_ok else value <= low):
            raise _err(var, f"must be {'>=' if low_ok else '>'} {low:g} and at most {high:g}, "
                       f"got {value:g}", f"use a number of {unit} in that range")
    for attr, var, low, high in _WHOLE_NUMBERS:
        value = getattr(c, attr)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise _err(var, f"must be {low}..{high}, got {value!r}",
                       "use a whole number in that range")


def _check_locations(c: CanaryConfig) -> None:
    _url("HERMES_API_URL", c.hermes_api_url)
    _url("PREVIEW_URL_TEMPLATE / ALB_DNS_NAME", c.preview_base_url, placeholder="{clientId}")
    if c.preview_host_template is not None:
        host = c.preview_host_template
        sample = host.replace("{clientId}", "client").lower()
        if "{clientId}" not in host or not _HOST.match(sample):
            raise _err("PREVIEW_DOMAIN", f"the preview host {_shown(host)} is not "
                       "edit.{clientId}.<a DNS name>", "set PREVIEW_DOMAIN to a domain name, "
                       "e.g. webordinary.com")
    if c.aws_endpoint_url is not None:
        _url("AWS_ENDPOINT_URL", c.aws_endpoint_url)
    if c.sandbox_control_url is not None:
        _url("SANDBOX_CONTROL_URL", c.sandbox_control_url)
    if c.git_remote_url is not None and (
            c.git_remote_url.startswith("-") or not re.match(r"^\S{1,2048}$", c.git_remote_url)):
        raise _err("GIT_REMOTE_URL", f"not a git remote: {_shown(c.git_remote_url)}",
                   "use a URL or path without spaces, not starting with '-'")
    if c.preview_marker is not None and not 1 <= len(c.preview_marker) <= 1000:
        raise _err("PREVIEW_MARKER", f"{len(c.preview_marker)} characters",
                   "use a short text the preview page contains (1-1000 characters)")


def _check_key(c: CanaryConfig) -> None:
    if c.api_key is not None and not _KEY.match(c.api_key):
        raise _err("INTERNAL_API_KEY", "has characters an HTTP header cannot carry, or is over "
                   "4096 characters (value not shown)", "use the key as issued: visible ASCII, "
                   "no spaces")
    if c.api_key_secret_arn is not None and not _SECRET_ARN.match(c.api_key_secret_arn):
        raise _err("INTERNAL_API_KEY_SECRET_ARN",
                   f"not an ARN of a Secrets Manager secret: {_shown(c.api_key_secret_arn)}",
                   "use the secret's full ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:...)")


def _check_names(c: CanaryConfig) -> None:
    if not _REGION.match(c.region):
        raise _err("AWS_REGION", f"not a region: {_shown(c.region)}", "use e.g. us-west-2")
    for var, table in (("SESSIONS_TABLE", c.sessions_table),
                       ("THREAD_MAPPINGS_TABLE", c.thread_mappings_table),
                       ("CONTAINERS_TABLE", c.containers_table),
                       ("CONTAINER_INDEX_NAME", c.container_index), ("LOCK_TABLE", c.lock_table)):
        if table is not None and not _TABLE.match(table):
            raise _err(var, f"not a DynamoDB table or index name: {_shown(table)}",
                       "use the name (3-255 letters, digits, '_', '-', '.'), not an ARN")
    for var, name in (("ECS_CLUSTER", c.ecs_cluster), ("ECS_SERVICE", c.ecs_service)):
        if not _ECS.match(name):
            raise _err(var, f"not an ECS name or ARN: {_shown(name)}",
                       "use the name (letters, digits, '-', '_') or its full ARN")
    if not _PRINTABLE.match(c.environment):
        raise _err("CANARY_ENVIRONMENT", f"not a metric dimension value: {_shown(c.environment)}",
                   "use a short name, e.g. production")
    if not _NAMESPACE.match(c.metrics_namespace):
        raise _err("POWERTOOLS_METRICS_NAMESPACE",
                   f"not a CloudWatch namespace: {_shown(c.metrics_namespace)}",
                   "use letters, digits and . - _ / # : (not starting AWS/), at most 255")


def _url(var: str, value: str, *, placeholder: str | None = None) -> None:
    """An http(s) URL the canary can use as a base: a host, no credentials, query or fragment;
    braces only as `placeholder`."""
    filled = (value or "").replace(placeholder, "client") if placeholder else (value or "")
    if "{" in filled or "}" in filled:
        raise _err(var, f"has a placeholder other than {placeholder or '(none allowed)'}: "
                   f"{_shown(value)}", "remove the braces or use the documented placeholder")
    parts = urlsplit(filled)
    if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", filled):
        raise _err(var, f"not an http(s) URL: {_shown(value)}", "use e.g. https://host/path")
    if parts.username is not None or parts.password is not None:
        raise _err(var, "carries credentials (user:password@); value not shown",
                   "remove them: the canary sends its key as a bearer token")
    if parts.query or parts.fragment or filled.endswith(("?", "#")):
        raise _err(var, f"has a query or fragment: {_shown(value)}",
                   "use a base URL; the canary appends the paths")
    try:
        parts.port  # noqa: B018 - raises for a port that is not 0..65535
    except ValueError:
        raise _err(var, f"has an invalid port: {_shown(value)}", "use a port 1-65535") from None
    if not (_HOST.match(parts.hostname) or _is_ip(parts.hostname)):
        raise _err(var, f"has an invalid host name: {_shown(value)}", "use a DNS name or IP")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _shown(value: str | None, n: int = 80) -> str:
    """A value for an error message: credentials in a URL masked, length capped."""
    text = re.sub(r"//[^/@\s]*@", "//***@", str(value))
    return repr(text if len(text) <= n else text[: n - 3] + "...")


def _num(env: Mapping[str, str], name: str, default: float) -> float:
    if name not in env:
        return default
    try:
        value = float(env[name])
    except ValueError:
        raise _err(name, f"not a number: {_shown(env[name])}", "use a plain number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise _err(name, f"not a finite number: {_shown(env[name])}", "use a plain number")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    if name not in env:
        return default
    try:
        return int(env[name])
    except ValueError:
        raise _err(name, f"not a whole number: {_shown(env[name])}", "use e.g. 3") from None


def _paths(raw: str) -> tuple[str, ...]:
    paths = tuple(p.strip().lower() for p in raw.split(",") if p.strip())
    bad = [p for p in paths if p not in WAKE_PATH_NAMES]
    if bad or not paths:
        raise _err("WAKE_PATHS", f"invalid {raw!r}",
                   f"use a comma list of {', '.join(WAKE_PATH_NAMES)}")
    return tuple(dict.fromkeys(paths))
