"""The orchestrator (ECS): the synthetic container's tasks, and stopping them.

A task is the synthetic container's when Hermes returned its ARN or its container
overrides name the containerId (CONTAINER_ID) - never any other task of the cluster.
"""

from __future__ import annotations

from typing import Any

from canary.clients.state import aws_call

_MAX_PAGES = 20
STOP_REASON = "session-resumption-canary"


def task_environment(task: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for co in (task.get("overrides") or {}).get("containerOverrides", []) or []:
        for pair in co.get("environment", []) or []:
            if isinstance(pair, dict) and "name" in pair:
                env[str(pair["name"])] = str(pair.get("value", ""))
    return env


def created_at(task: dict[str, Any]) -> float | None:
    """Task creation time in epoch seconds, when ECS reports one."""
    value = task.get("createdAt")
    if value is None:
        return None
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


class OrchestratorClient:
    def __init__(self, ecs: Any, cluster: str) -> None:
        self.ecs = ecs
        self.cluster = cluster

    def list_task_arns(self, desired_status: str) -> list[str]:
        arns: list[str] = []
        kwargs: dict[str, Any] = {"cluster": self.cluster, "desiredStatus": desired_status}
        with aws_call(f"ListTasks {self.cluster}"):
            for _ in range(_MAX_PAGES):
                resp = self.ecs.list_tasks(**kwargs)
                arns.extend(resp.get("taskArns", []))
                if not resp.get("nextToken"):
                    break
                kwargs["nextToken"] = resp["nextToken"]
        return arns

    def describe(self, arns: list[str]) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(arns))
        with aws_call(f"DescribeTasks {self.cluster}"):
            for i in range(0, len(unique), 100):
                resp = self.ecs.describe_tasks(cluster=self.cluster, tasks=unique[i:i + 100])
                tasks.extend(resp.get("tasks", []))
        return tasks

    def container_tasks(
        self, container_id: str, known_arns: set[str] | frozenset[str] = frozenset(),
        *, include_stopped: bool = True,
    ) -> list[dict[str, Any]]:
        """The synthetic container's tasks (running, pending and, optionally, stopped)."""
        arns = self.list_task_arns("RUNNING")
        if include_stopped:
            arns += self.list_task_arns("STOPPED")
        arns += [a for a in known_arns if a not in arns]
        if not arns:
            return []
        return [
            t for t in self.describe(arns)
            if t.get("taskArn") in known_arns
            or task_environment(t).get("CONTAINER_ID") == container_id
        ]

    def stop_own_task(self, task_arn: str, container_id: str) -> bool:
        """Stop a task only if it is not another container's (its overrides name no other
        containerId). False when it refused."""
        tasks = self.describe([task_arn])
        named = task_environment(tasks[0]).get("CONTAINER_ID") if tasks else None
        if named is not None and named != container_id:
            return False
        if tasks and tasks[0].get("lastStatus") == "STOPPED":
            return True
        self.stop_task(task_arn)
        return True

    def stop_task(self, task_arn: str, reason: str = STOP_REASON) -> None:
        with aws_call(f"StopTask {task_arn}"):
            self.ecs.stop_task(cluster=self.cluster, task=task_arn, reason=reason)
