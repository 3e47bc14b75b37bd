"""Fargate: launches an edit container for every ECS task and owns the task's status.

moto accepts RunTask but runs nothing. The sandbox hooks the in-process moto ECS
backend: a new task is set PENDING and its container boots (after the boot
delay); the task becomes RUNNING when its container starts and HEALTHY once the app has
registered (the contract's "RUNNING and healthy", which Hermes waits for; the gap is the
wake's app_ready), and STOPPED when the container exits or dies, or on StopTask (which kills
the container).
A booting task is stamped as ECS stamps it: `createdAt`, `pullStartedAt` and
`pullStoppedAt` as the boot delay passes (provisioning, image pull, container start),
`startedAt` when the container starts (before it registers). A stopped task carries
`stoppedAt`, `stoppedReason` and a `stopCode`
(`UserInitiated`, `EssentialContainerExited`, `TaskFailedToStart`): moto's
serializer reads each response field from the model attribute of the same name in
snake case, so setting `task.stop_code` is all it takes. Foreign tasks (other
customers') are started past the hook: RUNNING at once, never booted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sandbox.aws import ECS_LOCK
from sandbox.container import ContainerEnv, EditContainer, Timing
from sandbox.faults import Fault
from sandbox.ground_truth import GroundTruth
from sandbox.state import Tables
from sandbox.variations import override_names
from sandbox.workspace import Workspaces

USER_INITIATED = "UserInitiated"
EXITED = "EssentialContainerExited"
FAILED_TO_START = "TaskFailedToStart"
# The boot delay's shares, each stamping the ECS field (moto attribute) that ends it:
# provisioning (capacity, ENI) until the pull starts, the pull, then the container start.
BOOT_PHASES: tuple[tuple[float, str], ...] = (
    (0.25, "pull_started_at"), (0.5, "pull_stopped_at"), (0.25, ""))


class Fargate:
    def __init__(
        self,
        region: str,
        cluster: str,
        tables: Tables,
        workspaces: Workspaces,
        truth: GroundTruth,
        timing: Timing,
        boot_delay_s: float,
        faults: frozenset[Fault],
        variations: frozenset[str] = frozenset(),
    ) -> None:
        from moto.ecs.models import ecs_backends  # the in-process moto server's backend

        from sandbox.aws import ACCOUNT_ID

        self._backend = ecs_backends[ACCOUNT_ID][region]
        self.cluster = cluster
        self.tables = tables
        self.workspaces = workspaces
        self.truth = truth
        self.timing = timing
        slow = Fault.SLOW_WAKE in faults
        self.boot_delay_s = max(boot_delay_s, 4.0) if slow else boot_delay_s
        self.faults = faults
        self.variations = variations
        self.override_names = override_names(variations)
        self._lock = threading.Lock()
        self._stop_lock = threading.Lock()  # a task is marked stopped once
        self._containers: dict[str, EditContainer] = {}  # taskArn -> running container
        self._boots: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._orig_run: Callable[..., Any] | None = None
        self._orig_stop: Callable[..., Any] | None = None

    # -- hooks on the moto backend ------------------------------------------------------
    def install(self) -> None:
        self._orig_run = self._backend.run_task
        self._orig_stop = self._backend.stop_task
        self._backend.run_task = self._run_task
        self._backend.stop_task = self._stop_task

    def uninstall(self) -> None:
        for name in ("run_task", "stop_task"):
            self._backend.__dict__.pop(name, None)

    def _run_task(self, *args: Any, **kwargs: Any) -> Any:
        assert self._orig_run is not None
        tasks = self._orig_run(*args, **kwargs)
        for task in tasks:
            task.created_at = time.time()  # moto records none; the canary filters tasks by it
            task.last_status = "PENDING"
            task.health_status = "UNKNOWN"  # HEALTHY once the app registered (moto: at once)
            if task.containers:
                task.containers[0].last_status = "PENDING"
            t = threading.Thread(
                target=self._boot, args=(task,), name=f"boot-{task.id[:8]}", daemon=True
            )
            with self._lock:
                self._boots = [b for b in self._boots if b.is_alive()]
                self._boots.append(t)
            t.start()
        return tasks

    def run_foreign(self, task_definition: str, overrides: dict[str, Any] | None,
                    network: dict[str, Any]) -> str:
        """Another customer's task: RUNNING at once, booting nothing; its ARN."""
        run = self._orig_run or self._backend.run_task  # past the hook: nothing boots
        (task,) = run(self.cluster, task_definition, 1, overrides, "", [], "FARGATE", network)
        task.created_at = task.started_at = time.time()
        task.last_status = "RUNNING"
        if task.containers:
            task.containers[0].last_status = "RUNNING"
        return str(task.task_arn)

    def _stop_task(self, cluster_str: str, task_str: str, reason: str) -> Any:
        assert self._orig_stop is not None
        with ECS_LOCK:  # moto's part only: the kill below may wait for the container's loop
            before = self._find(cluster_str, task_str)
            if before is not None and getattr(before, "stop_code", None):
                return before  # already stopped: as ECS, a second stop changes nothing
            task = self._orig_stop(cluster_str, task_str, reason)
        self._mark_stopped(task, reason or "Task stopped by user", USER_INITIATED)
        with self._lock:
            container = self._containers.get(task.task_arn)
        container_id = container.container_id if container else self._container_id_of(task)
        if container_id:  # also a task still booting, or a foreign one naming a session
            self.truth.record(container_id, "stop_task")
        if container is not None:
            container.kill(reason or "Task stopped by user", write_state=True)
        return task

    def _env(self, task: Any) -> ContainerEnv:
        """What the task's container reads from its overrides (ValueError if it cannot)."""
        return ContainerEnv.from_overrides(
            task.overrides, self.override_names, Fault.ROW_KEY_MISMATCH in self.faults
        )

    def _container_id_of(self, task: Any) -> str | None:
        try:
            return self._env(task).container_id
        except ValueError:
            return None

    def _find(self, cluster_str: str, task_str: str) -> Any:
        """The task StopTask would pick (moto matches the id at the end of the ARN), or None."""
        try:
            cluster = self._backend._get_cluster(cluster_str)
        except Exception:
            return None  # moto's own StopTask answers the error
        task_id = task_str.split("/")[-1]
        tasks = self._backend.tasks.get(cluster.name, {})
        return next((t for arn, t in tasks.items() if arn.endswith(task_id)), None)

    # -- task lifecycle -----------------------------------------------------------------
    def _mark_stopped(
        self, task: Any, reason: str, stop_code: str, exit_code: int | None = None
    ) -> bool:
        """STOPPED with reason, stop code and times, once; False if it was stopped already."""
        with self._stop_lock:
            if getattr(task, "stop_code", None):
                return False
            now = time.time()
            task.last_status = task.desired_status = "STOPPED"
            task.stopped_reason = reason
            task.stopping_at = task.stopped_at = task.execution_stopped_at = now
            if task.containers:
                task.containers[0].last_status = "STOPPED"
                if exit_code is not None:
                    task.containers[0].exit_code = exit_code
            task.stop_code = stop_code
        return True

    def _boot(self, task: Any) -> None:
        try:
            env = self._env(task)
        except ValueError as exc:
            self._mark_stopped(task, f"CannotStartContainerError: {exc}", FAILED_TO_START, 1)
            return
        self.truth.record(env.container_id, "task_started")
        if not self._provision_and_pull(task):
            return
        if Fault.WAKE_FAILS in self.faults:
            self._mark_stopped(
                task, "Essential container in task exited (exit code 1 while booting)", EXITED, 1
            )
            return
        # ECS: the container started, so the task is RUNNING; the app checks out its workspace
        # and registers itself running in the containers table later (the wake's app_ready).
        task.started_at = time.time()
        task.last_status = "RUNNING"
        if task.containers:
            task.containers[0].last_status = "RUNNING"
        try:
            container = self._start_container(task, env)
        except Exception as exc:
            with self._lock:
                self._containers.pop(task.task_arn, None)
            self._mark_stopped(task, f"Essential container in task exited: {exc}", EXITED, 1)
            return
        if container is None:
            return
        if task.last_status == "STOPPED":  # StopTask while it registered
            container.kill("Task stopped by user", write_state=True)
            return
        task.health_status = "HEALTHY"  # its health check passes once the app serves

    def _provision_and_pull(self, task: Any) -> bool:
        """The boot delay as ECS's phases, stamped as they pass: provisioning, then the image
        pull (`pullStartedAt`/`pullStoppedAt`, left out under `no_pull_times`), then the
        container start. False when the task was stopped (or the sandbox stops) meanwhile."""
        stamps = "no_pull_times" not in self.variations
        for share, field in BOOT_PHASES:
            if self._stopping.wait(self.boot_delay_s * share) or task.last_status == "STOPPED":
                return False
            if field and stamps:
                setattr(task, field, time.time())
        return True

    def _start_container(self, task: Any, env: ContainerEnv) -> EditContainer | None:
        """Check out the workspace and start the container (it registers); None if stopping."""
        wc = self.workspaces.checkout(env.container_id, env.client_id, env.thread_id)
        container = EditContainer(
            env, task.task_arn, self.tables, wc, self.truth, self.timing, self.faults,
            on_exit=lambda c, reason: self._exited(task, c, reason),
            variations=self.variations,
        )
        with self._lock:
            if self._stopping.is_set():
                return None
            self._containers[task.task_arn] = container
        container.start()
        return container

    def _exited(self, task: Any, container: EditContainer, reason: str) -> None:
        with self._lock:
            self._containers.pop(task.task_arn, None)
        if self._mark_stopped(task, reason, EXITED, 0) and not self._stopping.is_set():
            self.truth.record(container.container_id, "task_exited")

    # -- sandbox-facing -----------------------------------------------------------------
    def running(self, container_id: str) -> EditContainer | None:
        """The newest live container for this containerId, if any."""
        with self._lock:
            live = [c for c in self._containers.values() if c.container_id == container_id]
        return live[-1] if live else None

    def shutdown(self) -> None:
        """Sandbox stop: kill every container at once (no auto-save), join boot threads."""
        self._stopping.set()
        with self._lock:
            containers = list(self._containers.values())
            boots = list(self._boots)
        for c in containers:
            c.kill("Sandbox stopped", write_state=False)
        for b in boots:
            b.join(5)
        self.uninstall()
