"""The Sandbox context manager: every part started on 127.0.0.1, stopped without leftovers."""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.faults import validate
from sandbox.variations import validate as validate_variations

_ACTIVE = threading.Lock()  # moto's state is process-global: one Sandbox per process at a time


class SandboxError(RuntimeError):
    """When the sandbox cannot start (e.g. another one is running in this process)."""


class SandboxConfigError(SandboxError, ValueError):
    """When a Sandbox option is invalid; the message names the option and what is wrong."""


@dataclass(frozen=True)
class SandboxInfo:
    """Everything a client needs to reach the sandbox (never the API key itself)."""

    hermes_url: str
    router_url: str
    preview_host_template: str
    aws_endpoint_url: str
    region: str
    sessions_table: str
    thread_mappings_table: str
    containers_table: str
    container_index: str
    sessions_key_schema: str
    cluster: str
    service: str
    task_definition: str
    secret_name: str
    secret_arn: str
    control_url: str
    git_remote_template: str
    preview_marker_template: str
    idle_timeout_s: float
    idle_mark_s: float
    check_interval_s: float
    boot_delay_s: float
    faults: tuple[str, ...]
    variations: tuple[str, ...]
    canary_table: str  # stands for the canary's own table (lockId, TTL expiresAt)
    foreign_task_arns: tuple[str, ...]  # sandbox-only ground truth: never the canary's to stop

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        for name in ("faults", "variations", "foreign_task_arns"):
            d[name] = list(d[name])
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=False)


def _positive(name: str, value: float) -> float:
    if not isinstance(value, int | float) or value <= 0:
        raise SandboxConfigError(f"{name} must be a positive number of seconds, got {value!r}")
    return float(value)


class Sandbox:
    """The local platform. `with Sandbox(faults=[...]) as sb:` starts it; leaving stops it.

    Timing defaults are seconds where production has minutes, so a whole lifecycle
    takes about a second. Only one Sandbox may run in a process at a time.
    """

    def __init__(
        self,
        faults: Iterable[str] = (),
        *,
        variations: Iterable[str] = (),
        idle_timeout_s: float = 1.0,
        idle_mark_s: float | None = None,
        check_interval_s: float = 0.1,
        boot_delay_s: float = 0.3,
        activity_write_interval_s: float = 0.25,
        wake_timeout_s: float = 15.0,
        starting_timeout_s: float = 15.0,
        retry_after_s: int = 1,
        sessions_key_schema: str = "hash",
        region: str = "us-east-1",
        preview_domain: str = "sandbox.test",
    ) -> None:
        self.faults = validate(faults)
        self.variations = validate_variations(variations)
        self.idle_timeout_s = _positive("idle_timeout_s", idle_timeout_s)
        # production: idle after 5 min, asleep after 20; the same proportion by default
        self.idle_mark_s = self.idle_timeout_s / 4
        if idle_mark_s is not None:
            self.idle_mark_s = _positive("idle_mark_s", idle_mark_s)
        self.check_interval_s = _positive("check_interval_s", check_interval_s)
        if boot_delay_s < 0:
            raise SandboxConfigError(f"boot_delay_s must be >= 0 seconds, got {boot_delay_s!r}")
        self.boot_delay_s = float(boot_delay_s)
        self.activity_write_interval_s = _positive(
            "activity_write_interval_s", activity_write_interval_s
        )
        self.wake_timeout_s = _positive("wake_timeout_s", wake_timeout_s)
        self.starting_timeout_s = _positive("starting_timeout_s", starting_timeout_s)
        if not isinstance(retry_after_s, int) or retry_after_s < 1:
            raise SandboxConfigError(
                f"retry_after_s must be a whole number >= 1, got {retry_after_s!r}"
            )
        self.retry_after_s = retry_after_s
        if sessions_key_schema not in ("hash", "hash_range"):
            raise SandboxConfigError(
                "sessions_key_schema must be 'hash' (sessionId) or 'hash_range' "
                f"(sessionId + userId), got {sessions_key_schema!r}"
            )
        self.sessions_key_schema = sessions_key_schema
        self.region = region
        self.preview_domain = preview_domain
        self._info: SandboxInfo | None = None
        self._api_key = ""
        self._parts: list[Any] = []
        self._owns_lock = False

    # -- public API -----------------------------------------------------------------------
    @property
    def info(self) -> SandboxInfo:
        if self._info is None:
            raise SandboxError("the sandbox is not running: use `with Sandbox() as sb:` or start()")
        return self._info

    @property
    def api_key(self) -> str:
        """The internal API key (also in Secrets Manager at info.secret_arn). Never log it."""
        self.info  # noqa: B018 - raises when not running
        return self._api_key

    def events(self, container_id: str) -> list[tuple[str, float]]:
        """Ground truth: [(event, epoch_seconds), ...] in the order they happened."""
        return self._truth.events(container_id)

    def dirty_workspace(self, container_id: str) -> str:
        """Sandbox-only: leave an uncommitted change in the running container's working copy.

        Raises KeyError when no container for this id is running.
        """
        container = self._fargate.running(container_id)
        if container is None:
            raise KeyError(f"no running container {container_id}")
        return str(container.working_copy.make_dirty())

    def client(self, service: str) -> Any:
        """A boto3 client for the sandbox's moto server (the caller closes it)."""
        from sandbox.aws import client

        return client(service, self.info.aws_endpoint_url, self.region)

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Sandbox:
        if not _ACTIVE.acquire(blocking=False):
            raise SandboxError(
                "another Sandbox is running in this process (moto's state is process-global); "
                "stop it first"
            )
        self._owns_lock = True
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        from sandbox.aws import (
            DYNAMODB_LOCK,
            AwsNames,
            MotoServer,
            backend,
            client,
            create_resources,
        )
        from sandbox.container import Timing
        from sandbox.fargate import Fargate
        from sandbox.foreign import start_foreign_tasks
        from sandbox.ground_truth import GroundTruth
        from sandbox.hermes import PREFIX, Hermes, HermesApp, HermesHandler
        from sandbox.httpserver import HttpServer
        from sandbox.router import Router, RouterHandler
        from sandbox.state import Tables
        from sandbox.workspace import Workspaces

        names = AwsNames(region=self.region)
        self._tmp = Path(tempfile.mkdtemp(prefix="webordinary-sandbox-"))
        self._parts.append(lambda: shutil.rmtree(self._tmp, ignore_errors=True))

        moto = MotoServer().start()
        self._parts.append(moto.stop)
        resources, self._api_key = create_resources(moto.url, names, self.sessions_key_schema)

        ecs = client("ecs", moto.url, self.region, validate=False)
        self._parts.append(ecs.close)
        tables = Tables(backend("dynamodb", self.region), names, DYNAMODB_LOCK)
        self._truth = GroundTruth()
        workspaces = Workspaces(self._tmp)

        fargate = Fargate(
            self.region, names.cluster, tables, workspaces, self._truth,
            Timing(self.idle_timeout_s, self.check_interval_s, self.activity_write_interval_s,
                   self.idle_mark_s),
            self.boot_delay_s, self.faults, self.variations,
        )
        fargate.install()
        self._fargate = fargate
        self._parts.append(fargate.shutdown)
        foreign = start_foreign_tasks(fargate, names, resources, fargate.override_names)

        hermes = Hermes(
            tables, ecs, names, resources, self._truth, self.faults, self._api_key,
            self.wake_timeout_s, self.starting_timeout_s,
            variations=self.variations, foreign_task_arns=foreign,
            repo_url_template=workspaces.remote_template,
        )
        hermes_server = HttpServer(HermesHandler, HermesApp(hermes, self), "hermes").start()
        self._parts.append(hermes_server.stop)

        router = Router(
            tables, hermes_server.url + PREFIX, self._api_key, self.faults, self.retry_after_s,
            forward_timeout_s=5.0, wake_call_timeout_s=self.wake_timeout_s + 5,
        )
        router_server = HttpServer(RouterHandler, router, "router").start()
        self._parts.append(lambda: router.join(5))
        self._parts.append(router_server.stop)
        self._parts.append(lambda: hermes.join(5))  # background starts (answers_starting)
        self._parts.append(hermes.stopping.set)  # runs first: ends every Hermes wait

        self._info = SandboxInfo(
            hermes_url=hermes_server.url + PREFIX,
            router_url=router_server.url,
            preview_host_template=f"edit.{{clientId}}.{self.preview_domain}",
            aws_endpoint_url=moto.url,
            region=self.region,
            sessions_table=names.sessions_table,
            thread_mappings_table=names.thread_mappings_table,
            containers_table=names.containers_table,
            container_index=names.container_index,
            sessions_key_schema=self.sessions_key_schema,
            cluster=names.cluster,
            service=names.service,
            task_definition=resources.task_definition_arn,
            secret_name=names.secret_name,
            secret_arn=resources.secret_arn,
            control_url=hermes_server.url + "/_sandbox",
            git_remote_template=workspaces.remote_template,
            preview_marker_template="webordinary-preview:{containerId}",
            idle_timeout_s=self.idle_timeout_s,
            idle_mark_s=self.idle_mark_s,
            check_interval_s=self.check_interval_s,
            boot_delay_s=fargate.boot_delay_s,
            faults=tuple(sorted(str(f) for f in self.faults)),
            variations=tuple(sorted(self.variations)),
            canary_table=names.canary_table,
            foreign_task_arns=foreign,
        )

    def stop(self) -> None:
        """Stop every part in reverse order; safe to call twice."""
        self._info = None
        errors: list[BaseException] = []
        while self._parts:
            step = self._parts.pop()
            try:
                step()
            except Exception as exc:
                errors.append(exc)
        if self._owns_lock:
            self._owns_lock = False
            _ACTIVE.release()
        if errors:
            raise errors[0]
