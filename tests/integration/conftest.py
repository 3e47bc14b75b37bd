"""Sandbox fixtures: a started Sandbox (stopped afterwards), seeded sessions, HTTP clients."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from sandbox import Sandbox


@dataclass(frozen=True)
class Seeded:
    client_id: str
    thread_id: str
    user_id: str
    session_id: str

    @property
    def container_id(self) -> str:
        return f"{self.client_id}-{self.thread_id}-{self.user_id}"

    @property
    def body(self) -> dict[str, str]:
        return {"chatThreadId": self.thread_id, "clientId": self.client_id}


class Platform:
    """A started sandbox plus the helpers a test needs (boto3 and httpx clients, seeding)."""

    def __init__(self, sb: Sandbox) -> None:
        self.sb = sb
        self.info = sb.info
        self.ddb = sb.client("dynamodb")
        self.ecs = sb.client("ecs")
        self.http = httpx.Client(timeout=30.0)
        self.auth = {"Authorization": f"Bearer {sb.api_key}"}

    def close(self) -> None:
        self.http.close()
        self.ddb.close()
        self.ecs.close()

    # -- seeding (what the canary's preflight does) ---------------------------------------
    def seed(
        self,
        client_id: str = "acme",
        thread_id: str | None = None,
        user_id: str = "u1",
        container_id: str | None = None,
    ) -> Seeded:
        s = Seeded(client_id, thread_id or f"t{uuid.uuid4().hex[:10]}", user_id,
                   f"s{uuid.uuid4().hex[:10]}")
        cid = container_id or s.container_id
        self.ddb.put_item(TableName=self.info.sessions_table, Item={
            "sessionId": {"S": s.session_id}, "userId": {"S": user_id},
            "clientId": {"S": client_id}, "threadId": {"S": s.thread_id},
            "containerId": {"S": cid}, "status": {"S": "active"},
            "lastActivity": {"N": "0"}, "createdAt": {"N": "0"},
        })
        self.set_mapping(s.thread_id, s.session_id, cid, "active")
        return s

    def set_mapping(self, thread_id: str, session_id: str, container_id: str, status: str) -> None:
        self.ddb.put_item(TableName=self.info.thread_mappings_table, Item={
            "threadId": {"S": thread_id}, "sessionId": {"S": session_id},
            "containerId": {"S": container_id}, "status": {"S": status},
        })

    def end_session(self, s: Seeded) -> None:
        self.ddb.delete_item(TableName=self.info.thread_mappings_table,
                             Key={"threadId": {"S": s.thread_id}})

    # -- reading -----------------------------------------------------------------------------
    def container(self, container_id: str) -> dict[str, Any] | None:
        from boto3.dynamodb.types import TypeDeserializer

        item = self.ddb.get_item(TableName=self.info.containers_table,
                                 Key={"containerId": {"S": container_id}},
                                 ConsistentRead=True).get("Item")
        if item is None:
            return None
        de = TypeDeserializer()
        return {k: de.deserialize(v) for k, v in item.items()}

    def put_container(self, container_id: str, **fields: Any) -> None:
        from boto3.dynamodb.types import TypeSerializer

        ser = TypeSerializer()
        item = {"containerId": container_id, **fields}
        self.ddb.put_item(TableName=self.info.containers_table,
                          Item={k: ser.serialize(v) for k, v in item.items()})

    def status(self, container_id: str) -> str | None:
        return (self.container(container_id) or {}).get("status")

    def tasks(self, container_id: str | None = None) -> list[dict[str, Any]]:
        """The cluster's tasks but the foreign ones, running or stopped; with a containerId,
        those whose overrides name it (`{clientId}-{threadId}-{userId}`, as the container
        derives it)."""
        foreign = set(self.info.foreign_task_arns)
        tasks = [t for t in self.all_tasks() if t["taskArn"] not in foreign]
        if container_id is None:
            return tasks
        return [t for t in tasks if _derived_id(t, self.info.variations) == container_id]

    def foreign_tasks(self) -> list[dict[str, Any]]:
        """The foreign tasks (other customers'), as ECS describes them now."""
        return self.ecs.describe_tasks(cluster=self.info.cluster,
                                       tasks=list(self.info.foreign_task_arns))["tasks"]

    def all_tasks(self) -> list[dict[str, Any]]:
        """Every task of the cluster (list_tasks returns RUNNING only; add STOPPED)."""
        arns: list[str] = []
        for desired in ("RUNNING", "STOPPED"):
            listed = self.ecs.list_tasks(cluster=self.info.cluster, desiredStatus=desired)
            arns += listed["taskArns"]
        if not arns:
            return []
        return self.ecs.describe_tasks(cluster=self.info.cluster, tasks=arns)["tasks"]

    def event_names(self, container_id: str) -> list[str]:
        return [e for e, _ in self.sb.events(container_id)]

    # -- HTTP --------------------------------------------------------------------------------
    def resume(self, body: Any = None, auth: bool = True, **kwargs: Any) -> httpx.Response:
        return self.http.post(
            f"{self.info.hermes_url}/api/sessions/resume-preview",
            json=body, headers=self.auth if auth else {}, **kwargs,
        )

    def preview(self, client_id: str, thread_id: str, path: str = "",
                headers: dict[str, str] | None = None) -> httpx.Response:
        host = self.info.preview_host_template.format(clientId=client_id)
        return self.http.get(f"{self.info.router_url}/session/{thread_id}/{path}",
                             headers={"Host": host, **(headers or {})})


def _env(task: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for co in task.get("overrides", {}).get("containerOverrides", []):
        for pair in co.get("environment", []):
            env[pair["name"]] = pair["value"]
    return env


def _derived_id(task: dict[str, Any], variations: tuple[str, ...]) -> str | None:
    """The containerId a task's container derives from its overrides (None if it cannot)."""
    from sandbox.container import ContainerEnv
    from sandbox.variations import override_names

    try:
        return ContainerEnv.from_overrides(task.get("overrides"),
                                           override_names(variations)).container_id
    except ValueError:
        return None


@pytest.fixture
def task_env() -> Callable[[dict[str, Any]], dict[str, str]]:
    return _env


@pytest.fixture
def make_platform() -> Iterator[Callable[..., Platform]]:
    """Start a Sandbox with the given options (one at a time); stopped after the test."""
    started: list[tuple[Sandbox, Platform]] = []

    def make(**options: Any) -> Platform:
        sb = Sandbox(**options).start()
        p = Platform(sb)
        started.append((sb, p))
        return p

    yield make
    for sb, p in reversed(started):
        p.close()
        sb.stop()


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    """One healthy sandbox shared by a module's tests (each test seeds its own thread)."""
    with Sandbox() as sb:
        p = Platform(sb)
        try:
            yield p
        finally:
            p.close()
