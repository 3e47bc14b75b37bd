"""CanaryConfig: one frozen, typed object, validated once.

`from_env(environ)` is the only place that reads environment variables (Lambda,
`--target env`); `for_sandbox(info)` builds the sandbox profile. What each variable is,
its default and its bounds come from the settings table (canary/settings.py); a bad value
raises `ConfigError` naming the variable and how to fix it. The API key is never part of
repr/str.

Sessions and lanes: the config as read holds the deployment's synthetic sessions
(`sessions`) and the lane to run (`lane`); `run_configs()` derives one config per session,
with that session's ids as the lane uses them (the quick lane's threadId, and sessionId when
set, carry the lane's suffix, so the lanes never share a container). That derivation is
the one place: the runner, the dry run and infra's IAM keys all read it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from canary import ids, settings
from canary.lanes import Lane, lane_spec
from canary.sessions import SessionSpec
from canary.settings import (
    BY_FIELD,
    ConfigError,
    check_preview_host,
    check_url,
    parse_session_attributes,
    shown,
)

__all__ = ["TARGETS", "CanaryConfig", "ConfigError", "SessionSpec", "parse_session_attributes"]

TARGETS = ("sandbox", "env")
_IDS = ("CANARY_CLIENT_ID", "CANARY_USER_ID", "CANARY_THREAD_ID")
_d = settings.default


@dataclass(frozen=True)
class CanaryConfig:
    """Everything a run needs to know about its target. Times: *_ms milliseconds, *_s seconds.
    Defaults, bounds and meanings: canary/settings.py."""

    hermes_api_url: str
    # Preview: connect to preview_base_url, send Host = preview_host_template.format(clientId)
    # (None: the URL's own host). Path: /session/{threadId}/
    preview_base_url: str
    preview_host_template: str | None
    client_id: str
    user_id: str
    thread_id: str
    target: str = "env"
    environment: str = _d("environment")
    region: str = _d("region")
    aws_endpoint_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    api_key_secret_arn: str | None = None
    sessions_table: str = _d("sessions_table")
    thread_mappings_table: str = _d("thread_mappings_table")
    containers_table: str = _d("containers_table")
    container_index: str = _d("container_index")
    ecs_cluster: str = _d("ecs_cluster")
    ecs_service: str = _d("ecs_service")
    wake_degraded_ms: float = _d("wake_degraded_ms")
    wake_failed_ms: float = _d("wake_failed_ms")
    api_degraded_ms: float = _d("api_degraded_ms")
    api_failed_ms: float = _d("api_failed_ms")
    sleep_mode: str = _d("sleep_mode")
    idle_timeout_s: float = _d("idle_timeout_s")
    sleep_check_interval_s: float = _d("sleep_check_interval_s")
    sleep_margin_s: float = _d("sleep_margin_s")
    wake_concurrency: int = _d("wake_concurrency")
    wake_paths: tuple[str, ...] = _d("wake_paths")
    budget_s: float = _d("budget_s")
    cleanup_reserve_s: float = _d("cleanup_reserve_s")
    wake_timeout_s: float = _d("wake_timeout_s")  # measured wakes may exceed failed
    retry_after_cap_s: float = _d("retry_after_cap_s")
    connect_timeout_s: float = _d("connect_timeout_s")
    max_body_bytes: int = _d("max_body_bytes")
    warm_api_samples: int = _d("warm_api_samples")
    preview_marker: str | None = None
    git_remote_url: str | None = None
    sandbox_control_url: str | None = None
    lock_table: str | None = None
    report_bucket: str | None = None  # the Lambda writes each run's report there
    metrics_namespace: str = _d("metrics_namespace")
    # The synthetic session row: its sessionId (default canary-session-{threadId}) and extra
    # attributes a deployment needs (e.g. editBranch), as sorted (name, value) pairs.
    session_id_override: str | None = None
    session_attributes: tuple[tuple[str, Any], ...] = _d("session_attributes")
    # Narrows ECS look-ups to one task definition family (else learnt from known tasks).
    ecs_task_family: str | None = None
    synthetic_ids_explicit: bool = True
    aws_test_credentials: bool = False  # sandbox only: moto accepts any credentials
    lane: str = _d("lane")
    configured_sessions: tuple[SessionSpec, ...] = _d("configured_sessions")
    # Set on a run config (run_configs): its session's name, and that its ids are derived.
    session_name: str | None = None
    derived: bool = False

    def __post_init__(self) -> None:
        self._validate()
        if not self.derived:
            self._validate_sessions()

    def __str__(self) -> str:
        return repr(self)

    # -- derived ----------------------------------------------------------------------
    @property
    def session_label(self) -> str:
        """This session's name (the Session dimension): as configured, else its clientId."""
        return self.session_name or self.client_id

    @property
    def sessions(self) -> tuple[SessionSpec, ...]:
        """The deployment's sessions: CANARY_SESSIONS, else one from the single-session ids."""
        return self.configured_sessions or (SessionSpec(self.session_label),)

    def for_lane(self, lane: str) -> CanaryConfig:
        """The same deployment run as `lane` (its run configs carry that lane's ids)."""
        if self.derived:
            raise ValueError("for_lane() applies to the deployment's config, not a run config")
        spec = lane_spec(lane)
        budget = min(self.budget_s, spec.max_budget_s or self.budget_s)
        return self.replace(lane=spec.lane.value, budget_s=budget,
                            cleanup_reserve_s=min(self.cleanup_reserve_s, budget / 2))

    def for_session(self, spec: SessionSpec, lane: str | None = None) -> CanaryConfig:
        """One session's run config in this config's lane (or `lane`, for its ids only): its
        ids (the single-session ones where it gives none), with the lane's suffix on threadId
        and a set sessionId."""
        if self.derived:
            raise ValueError("for_session() applies to the deployment's config")
        suffix = lane_spec(lane or self.lane).id_suffix
        session_id = spec.session_id or self.session_id_override
        return self.replace(lane=lane_spec(lane or self.lane).lane.value,
            client_id=spec.client_id or self.client_id,
            user_id=spec.user_id or self.user_id,
            thread_id=(spec.thread_id or self.thread_id) + suffix,
            session_id_override=session_id + suffix if session_id else None,
            session_name=spec.name, configured_sessions=(), derived=True)

    def run_configs(self) -> tuple[CanaryConfig, ...]:
        """One run config per session, in order (a run config: itself)."""
        if self.derived:
            return (self,)
        return tuple(self.for_session(spec) for spec in self.sessions)

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

    @property
    def wait_mode_needs_s(self) -> float:
        """What the sleep step's wait mode needs left of the budget: it holds the container
        up past the sleep bound, then waits up to the bound again for it to stop."""
        return 2 * self.sleep_deadline_s + 1.0

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
            raise ConfigError("target", f"unknown target {self.target!r}",
                              f"use one of {TARGETS}")
        check_url("PREVIEW_URL_TEMPLATE / ALB_DNS_NAME", self.preview_base_url,
                  placeholder="{clientId}")
        if self.preview_host_template is not None:
            check_preview_host("PREVIEW_DOMAIN", self.preview_host_template)
        self._validate_ids()
        if not self.api_key and not self.api_key_secret_arn:
            raise ConfigError("INTERNAL_API_KEY / INTERNAL_API_KEY_SECRET_ARN", "neither is set",
                              "set the key, or the ARN of the Secrets Manager secret holding it")
        for name, setting in BY_FIELD.items():  # each field by its own rules
            value = getattr(self, name)
            if value is not None:
                settings.validate(setting, value)
        for low, low_ms, high, high_ms in (
            ("WAKE_DEGRADED_MS", self.wake_degraded_ms, "WAKE_FAILED_MS", self.wake_failed_ms),
            ("API_DEGRADED_MS", self.api_degraded_ms, "API_FAILED_MS", self.api_failed_ms),
        ):
            if low_ms > high_ms:
                raise ConfigError(low, f"{low_ms:g} must not exceed {high} ({high_ms:g})",
                                  "lower it: the degraded level must not exceed failed")
        if not self.cleanup_reserve_s < self.budget_s:
            raise ConfigError("CANARY_BUDGET_S", f"budget {self.budget_s:g} s leaves nothing "
                              f"after the cleanup reserve {self.cleanup_reserve_s:g} s",
                              "raise the budget")

    def _validate_ids(self) -> None:
        if self.target == "env" and not self.synthetic_ids_explicit:
            raise ConfigError("/".join(_IDS), "not set for a real target",
                              "set all three to the canary's own synthetic session (the canary "
                              "only ever touches that session and its container)")
        for var, kind, value in (
            ("CANARY_CLIENT_ID", "client", self.client_id),
            ("CANARY_USER_ID", "user", self.user_id),
            ("CANARY_THREAD_ID", "thread", self.thread_id),
            ("CANARY_SESSION_ID", "session", self.session_id),
        ):
            why = ids.problem(kind, value)
            if why:
                raise ConfigError(var, f"invalid id: {why}", "use an id the platform allows")
        why = ids.overlap(self.client_id, self.thread_id, self.session_id)
        if why:
            var = "CANARY_THREAD_ID" if self.thread_id == self.client_id else "CANARY_SESSION_ID"
            raise ConfigError(var, why, "use ids that differ from the client id, or the "
                              "canary would count every task of that client as its own")

    def _validate_sessions(self) -> None:
        """Every session's run config of every lane is valid, and no two (of any lane: the
        quick lane's ids carry a suffix another session's may already have) share an id of
        any kind (a thread id equal to another's session id is the same override value), nor
        does one's userId name another's session (they would wake, count and stop each
        other's tasks)."""
        seen: dict[str, tuple[str, str]] = {}  # one namespace: ownership matches any value
        runs: list[tuple[str, CanaryConfig]] = []
        for lane in Lane:
            for spec in self.sessions:
                who = f"{spec.name!r} ({lane.value} lane)"
                try:
                    run = self.for_session(spec, lane.value)
                except ConfigError as exc:
                    if not self.configured_sessions and lane.value == self.lane:
                        raise
                    raise ConfigError("CANARY_SESSIONS" if self.configured_sessions else
                                      "CANARY_THREAD_ID", f"session {who}: {exc}",
                                      "fix that session's ids") from None
                runs.append((who, run))
                for what, value in (("container", run.container_id),
                                    ("thread", run.thread_id), ("session", run.session_id)):
                    other, kind = seen.setdefault(value, (who, what))
                    if other != who:
                        same = what if kind == what else f"{kind}/{what}"
                        raise ConfigError("CANARY_SESSIONS", f"sessions {other} and {who} "
                                          f"have the same {same} id {value!r}",
                                          "give each session its own threadId (and sessionId)")
        _refuse_user_naming_another(runs)

    # -- constructors -----------------------------------------------------------------
    @classmethod
    def from_env(cls, environ: Mapping[str, str], *, target: str = "env") -> CanaryConfig:
        """The configuration of a real deployment (the variables: canary/settings.py)."""
        env = {k: v.strip() for k, v in environ.items() if isinstance(v, str) and v.strip()}
        values: dict[str, Any] = {}
        for setting in settings.SETTINGS:
            if not setting.var or not setting.field or setting.reader:
                continue  # composed below, deploy-only, or read by something else
            raw = next((env[v] for v in (setting.var, *setting.aliases) if v in env), None)
            if raw is not None:
                values[setting.field] = settings.parse(setting, raw)
            elif setting.needed:
                raise ConfigError(setting.var, "not set", setting.needed)
        base, host_template = _preview_location(env)
        given = values.get("configured_sessions") or ()
        missing = [v for v, attr in zip(_IDS, ("client_id", "user_id", "thread_id"), strict=True)
                   if not env.get(v) and not (given and all(getattr(s, attr) for s in given))]
        explicit = not missing
        if target == "env" and not explicit:
            raise ConfigError(", ".join(missing), "not set for a real target",
                              "set CANARY_CLIENT_ID, CANARY_USER_ID and CANARY_THREAD_ID (or "
                              "those ids in every CANARY_SESSIONS entry) to the canary's own "
                              "synthetic sessions (it never touches any other)")
        config = cls(target=target, preview_base_url=base, preview_host_template=host_template,
                     synthetic_ids_explicit=explicit, **settings.with_defaults(values))
        return config.for_lane(config.lane)  # the lane's own bounds (its budget) apply

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


def _refuse_user_naming_another(runs: list[tuple[str, CanaryConfig]]) -> None:
    """A session's tasks are found by their override values (canary/tasks.py: the clientId
    with the threadId, sessionId or containerId): a session whose userId is another's thread,
    session or container id under the same client puts that value into its own tasks'
    overrides, so the other session would count, and stop, them as its own."""
    for who, run in runs:
        for other_who, other in runs:
            if other is run or other.client_id != run.client_id:
                continue
            names = {other.thread_id, other.session_id, other.container_id}
            if run.user_id in names:
                raise ConfigError("CANARY_SESSIONS", f"session {who}'s userId {run.user_id!r} "
                                  f"is session {other_who}'s thread/session id under the same "
                                  f"client {run.client_id!r}: its tasks would count as that "
                                  "session's", "give each session a userId that is none of "
                                  "the other sessions' ids")


def _preview_location(env: Mapping[str, str]) -> tuple[str, str | None]:
    """(preview base URL, Host template or None) from PREVIEW_URL_TEMPLATE, or from
    ALB_DNS_NAME with PREVIEW_DOMAIN."""
    if "PREVIEW_URL_TEMPLATE" in env:
        template = env["PREVIEW_URL_TEMPLATE"]
        base, sep, rest = template.partition("/session/")
        if not sep or rest.rstrip("/") != "{threadId}":
            raise ConfigError("PREVIEW_URL_TEMPLATE", f"does not end in /session/{{threadId}}/: "
                              f"{shown(template)}", "e.g. https://edit.{clientId}.example.com/"
                              "session/{threadId}/ (the contract's path; {clientId} is the only "
                              "other placeholder)")
        return base, None
    if "ALB_DNS_NAME" in env:
        if "PREVIEW_DOMAIN" not in env:
            raise ConfigError("PREVIEW_DOMAIN", "is required with ALB_DNS_NAME",
                              "set the preview domain (the part after edit.{clientId}.), or set "
                              "PREVIEW_URL_TEMPLATE instead")
        alb = env["ALB_DNS_NAME"]
        base = alb if "://" in alb else f"https://{alb}"
        return base, f"edit.{{clientId}}.{env['PREVIEW_DOMAIN']}"
    if "PREVIEW_DOMAIN" in env:
        raise ConfigError("ALB_DNS_NAME", "is required with PREVIEW_DOMAIN",
                          "set the ALB's DNS name, or PREVIEW_URL_TEMPLATE instead")
    raise ConfigError("PREVIEW_URL_TEMPLATE", "not set (nor ALB_DNS_NAME and PREVIEW_DOMAIN)",
                      "set PREVIEW_URL_TEMPLATE=https://edit.{clientId}.example.com/session/"
                      "{threadId}/, or ALB_DNS_NAME and PREVIEW_DOMAIN")
