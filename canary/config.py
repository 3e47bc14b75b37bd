"""CanaryConfig: one frozen, typed object, validated once.

`from_env(environ)` is the only place that reads environment variables (Lambda,
`--target env`); `for_sandbox(info)` builds the sandbox profile. A bad value raises
`ConfigError` naming the variable and how to fix it. The API key is never part of
repr/str.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from canary import contract

SLEEP_MODES = ("wait", "observe", "force")
WAKE_PATH_NAMES = ("hermes", "preview")
TARGETS = ("sandbox", "env")

_ID = re.compile(r"^[A-Za-z0-9_.:]+$")  # no '-' in clientId: it is the containerId separator
_THREAD = re.compile(r"^[A-Za-z0-9_.:-]+$")


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
        return f"canary-session-{self.thread_id}"

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
        _url("HERMES_API_URL", self.hermes_api_url)
        _url("PREVIEW_URL_TEMPLATE / ALB_DNS_NAME",
             self.preview_base_url.replace("{clientId}", "client"))
        if self.target == "env" and not self.synthetic_ids_explicit:
            raise _err(
                "CANARY_CLIENT_ID/CANARY_USER_ID/CANARY_THREAD_ID",
                "not set for a real target",
                "set all three to the canary's own synthetic session (the canary only ever "
                "touches that session and its container)",
            )
        for var, value, pattern in (
            ("CANARY_CLIENT_ID", self.client_id, _ID),
            ("CANARY_USER_ID", self.user_id, _ID),
            ("CANARY_THREAD_ID", self.thread_id, _THREAD),
        ):
            if not value or not pattern.match(value) or len(value) > 100:
                raise _err(var, f"invalid value {value!r}",
                           f"use 1-100 characters matching {pattern.pattern}")
        if not self.api_key and not self.api_key_secret_arn:
            raise _err("INTERNAL_API_KEY / INTERNAL_API_KEY_SECRET_ARN", "neither is set",
                       "set the key, or the ARN of the Secrets Manager secret holding it")
        if self.api_key_secret_arn and not self.api_key_secret_arn.startswith("arn:"):
            raise _err("INTERNAL_API_KEY_SECRET_ARN", "not an ARN",
                       "use the secret's full ARN (arn:aws:secretsmanager:...)")
        for var, value in (
            ("WAKE_DEGRADED_MS", self.wake_degraded_ms), ("WAKE_FAILED_MS", self.wake_failed_ms),
            ("API_DEGRADED_MS", self.api_degraded_ms), ("API_FAILED_MS", self.api_failed_ms),
            ("IDLE_TIMEOUT_S", self.idle_timeout_s),
            ("SLEEP_CHECK_INTERVAL_S", self.sleep_check_interval_s),
            ("CANARY_BUDGET_S", self.budget_s), ("WAKE_TIMEOUT_S", self.wake_timeout_s),
            ("CONNECT_TIMEOUT_S", self.connect_timeout_s),
        ):
            if not value > 0:
                raise _err(var, f"must be > 0, got {value!r}", "use a positive number")
        if self.wake_degraded_ms > self.wake_failed_ms:
            raise _err("WAKE_DEGRADED_MS", f"{self.wake_degraded_ms:g} is above WAKE_FAILED_MS "
                       f"{self.wake_failed_ms:g}", "the degraded level must not exceed failed")
        if self.api_degraded_ms > self.api_failed_ms:
            raise _err("API_DEGRADED_MS", f"{self.api_degraded_ms:g} is above API_FAILED_MS "
                       f"{self.api_failed_ms:g}", "the degraded level must not exceed failed")
        if self.sleep_margin_s < 0:
            raise _err("SLEEP_MARGIN_S", f"must be >= 0, got {self.sleep_margin_s}",
                       "use a number of seconds")
        if self.sleep_mode not in SLEEP_MODES:
            raise _err("SLEEP_MODE", f"unknown mode {self.sleep_mode!r}",
                       f"use one of {', '.join(SLEEP_MODES)}")
        if not 1 <= self.wake_concurrency <= 20:
            raise _err("WAKE_CONCURRENCY", f"must be 1..20, got {self.wake_concurrency}",
                       "use a small whole number (default 3)")
        if not self.wake_paths or any(p not in WAKE_PATH_NAMES for p in self.wake_paths):
            raise _err("WAKE_PATHS", f"invalid {','.join(self.wake_paths) or '(empty)'}",
                       f"use a comma list of {', '.join(WAKE_PATH_NAMES)}")
        if not 0 <= self.cleanup_reserve_s < self.budget_s:
            raise _err("CANARY_BUDGET_S", f"budget {self.budget_s:g} s leaves nothing after the "
                       f"cleanup reserve {self.cleanup_reserve_s:g} s", "raise the budget")
        if self.max_body_bytes < 1024:
            raise _err("max_body_bytes", "too small", "use at least 1024")
        if not 1 <= self.warm_api_samples <= 10:
            raise _err("WARM_API_SAMPLES", f"must be 1..10, got {self.warm_api_samples}",
                       "use a small whole number")
        if self.sandbox_control_url:
            _url("SANDBOX_CONTROL_URL", self.sandbox_control_url)

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
            if "{threadId}" not in tmpl:
                raise _err("PREVIEW_URL_TEMPLATE", "lacks {threadId}",
                           "e.g. https://edit.{clientId}.example.com/session/{threadId}/")
            parts = urlsplit(tmpl.replace("{clientId}", "client").replace("{threadId}", "t"))
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise _err("PREVIEW_URL_TEMPLATE", f"not an http(s) URL: {tmpl!r}",
                           "e.g. https://edit.{clientId}.example.com/session/{threadId}/")
            base = tmpl.split("/session/", 1)[0]
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
        ids = [env.get(n) for n in ("CANARY_CLIENT_ID", "CANARY_USER_ID", "CANARY_THREAD_ID")]
        explicit = all(ids)
        if target == "env" and not explicit:
            missing = [n for n, v in zip(("CANARY_CLIENT_ID", "CANARY_USER_ID",
                                          "CANARY_THREAD_ID"), ids, strict=True) if not v]
            raise _err(", ".join(missing), "not set for a real target",
                       "set CANARY_CLIENT_ID, CANARY_USER_ID and CANARY_THREAD_ID to the canary's "
                       "own synthetic session (it never touches any other)")
        budget = _num(env, "CANARY_BUDGET_S", 600.0)
        wake_failed = _num(env, "WAKE_FAILED_MS", 60_000.0)
        kwargs: dict[str, Any] = dict(
            target=target,
            hermes_api_url=hermes.rstrip("/"),
            preview_base_url=base,
            preview_host_template=host_tmpl,
            client_id=ids[0] or "canary",
            user_id=ids[1] or "canary",
            thread_id=ids[2] or "canary-thread",
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
            wake_timeout_s=_num(env, "WAKE_TIMEOUT_S", max(2 * wake_failed / 1000, 1.0)),
            warm_api_samples=_int(env, "WARM_API_SAMPLES", 3),
            preview_marker=env.get("PREVIEW_MARKER"),
            git_remote_url=env.get("GIT_REMOTE_URL"),
            sandbox_control_url=env.get("SANDBOX_CONTROL_URL"),
            lock_table=env.get("LOCK_TABLE"),
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
            aws_test_credentials=True,
        )
        kwargs.update(overrides)
        return cls(**kwargs)


def _url(var: str, value: str) -> None:
    parts = urlsplit(value or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _err(var, f"not an http(s) URL: {value!r}", "use e.g. https://host/path")


def _num(env: Mapping[str, str], name: str, default: float) -> float:
    if name not in env:
        return default
    try:
        value = float(env[name])
    except ValueError:
        raise _err(name, f"not a number: {env[name]!r}", "use a plain number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise _err(name, f"not a finite number: {env[name]!r}", "use a plain number")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    if name not in env:
        return default
    try:
        return int(env[name])
    except ValueError:
        raise _err(name, f"not a whole number: {env[name]!r}", "use e.g. 3") from None


def _paths(raw: str) -> tuple[str, ...]:
    paths = tuple(p.strip().lower() for p in raw.split(",") if p.strip())
    bad = [p for p in paths if p not in WAKE_PATH_NAMES]
    if bad or not paths:
        raise _err("WAKE_PATHS", f"invalid {raw!r}",
                   f"use a comma list of {', '.join(WAKE_PATH_NAMES)}")
    return tuple(dict.fromkeys(paths))
