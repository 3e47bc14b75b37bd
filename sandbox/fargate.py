"""Fargate: launches an edit container for every ECS task and owns the task's status.

moto accepts RunTask but runs nothing. The sandbox hooks the in-process moto ECS
backend: a new task is set PENDING and its container boots (after the boot
delay); the task becomes RUNNING once the container has registered, and STOPPED
(with stoppedReason) when the container exits or dies. StopTask kills the container.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sandbox.container import ContainerEnv, EditContainer, Timing
from sandbox.ground_truth import GroundTruth
from sandbox.state import Tables
from sandbox.workspace import Workspaces


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
        faults: frozenset[str],
    ) -> None:
        from moto.ecs.models import ecs_backends  # the in-process moto server's backend

        from sandbox.aws import ACCOUNT_ID

        self._backend = ecs_backends[ACCOUNT_ID][region]
        self.cluster = cluster
        self.tables = tables
        self.workspaces = workspaces
        self.truth = truth
        self.timing = timing
        self.boot_delay_s = max(boot_delay_s, 4.0) if "slow_wake" in faults else boot_delay_s
        self.faults = faults
        self._lock = threading.Lock()
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

    def _stop_task(self, cluster_str: str, task_str: str, reason: str) -> Any:
        assert self._orig_stop is not None
        task = self._orig_stop(cluster_str, task_str, reason)
        with self._lock:
            container = self._containers.get(task.task_arn)
        if container is not None:
            container.kill(reason or "Task stopped by user", write_state=True)
        return task

    # -- task lifecycle -----------------------------------------------------------------
    def _set_status(
        self, task: Any, status: str, reason: str = "", exit_code: int | None = None
    ) -> None:
        if task.last_status == "STOPPED":
            return
        task.last_status = status
        if task.containers:
            task.containers[0].last_status = status
            if exit_code is not None:
                task.containers[0].exit_code = exit_code
        if status == "STOPPED":
            task.desired_status = "STOPPED"
            task.stopped_reason = reason
            task.stopped_at = time.time()

    def _boot(self, task: Any) -> None:
        try:
            env = ContainerEnv.from_overrides(task.overrides)
        except ValueError as exc:
            self._set_status(task, "STOPPED", f"CannotStartContainerError: {exc}", 1)
            return
        self.truth.record(env.container_id, "task_started")
        if self._stopping.wait(self.boot_delay_s) or task.last_status == "STOPPED":
            return
        if "wake_fails" in self.faults:
            self._set_status(
                task, "STOPPED", "Essential container in task exited (exit code 1 while booting)", 1
            )
            return
        try:
            wc = self.workspaces.checkout(env.container_id, env.client_id, env.thread_id)
            container = EditContainer(
                env, task.task_arn, self.tables, wc, self.truth, self.timing, self.faults,
                on_exit=lambda c, reason: self._exited(task, reason),
            )
            with self._lock:
                if self._stopping.is_set():
                    return
                self._containers[task.task_arn] = container
            container.start()
        except Exception as exc:
            with self._lock:
                self._containers.pop(task.task_arn, None)
            self._set_status(task, "STOPPED", f"Essential container in task exited: {exc}", 1)
            return
        self._set_status(task, "RUNNING")
        task.started_at = time.time()

    def _exited(self, task: Any, reason: str) -> None:
        with self._lock:
            self._containers.pop(task.task_arn, None)
        self._set_status(task, "STOPPED", reason, 0)

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
