"""The orchestrator (ECS): list, describe and stop tasks, every look-up bounded."""

from __future__ import annotations

from typing import Any

from canary.clients.state import aws_call

_MAX_PAGES = 10


def override_values(task: dict[str, Any]) -> set[str]:
    """Every value of every container override's environment (names are not contract)."""
    return {str(pair.get("value", ""))
            for co in (task.get("overrides") or {}).get("containerOverrides", []) or []
            for pair in co.get("environment", []) or [] if isinstance(pair, dict)} - {""}


def epoch(value: Any) -> float | None:
    """A DescribeTasks timestamp (a datetime from boto3, or epoch seconds) as epoch seconds."""
    if value is None or isinstance(value, bool):
        return None
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def created_at(task: dict[str, Any]) -> float | None:
    """Task creation time in epoch seconds, when ECS reports one."""
    return epoch(task.get("createdAt"))


class OrchestratorClient:
    """A thin, bounded ECS client; which tasks are the session's is canary/tasks.py's job."""

    def __init__(self, ecs: Any, cluster: str) -> None:
        self.ecs = ecs
        self.cluster = cluster

    def list_task_arns(self, desired_status: str, *, family: str | None = None,
                       max_pages: int = _MAX_PAGES) -> tuple[list[str], bool]:
        """(task ARNs, truncated): at most `max_pages` pages of ListTasks."""
        arns: list[str] = []
        kwargs: dict[str, Any] = {"cluster": self.cluster, "desiredStatus": desired_status}
        if family:
            kwargs["family"] = family
        with aws_call(f"ListTasks {self.cluster}"):
            for _ in range(max_pages):
                resp = self.ecs.list_tasks(**kwargs)
                arns.extend(resp.get("taskArns", []))
                if not resp.get("nextToken"):
                    return arns, False
                kwargs["nextToken"] = resp["nextToken"]
        return arns, True

    def describe(self, arns: list[str]) -> list[dict[str, Any]]:
        tasks: list[dict[str, Any]] = []
        unique = list(dict.fromkeys(arns))
        with aws_call(f"DescribeTasks {self.cluster}"):
            for i in range(0, len(unique), 100):
                resp = self.ecs.describe_tasks(cluster=self.cluster, tasks=unique[i:i + 100])
                tasks.extend(resp.get("tasks", []))
        return tasks

    def stop_task(self, task_arn: str, reason: str) -> None:
        with aws_call(f"StopTask {task_arn}"):
            self.ecs.stop_task(cluster=self.cluster, task=task_arn, reason=reason)
