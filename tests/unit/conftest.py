"""Unit fixtures for the canary core: a fake clock, moto (mock_aws) tables and cluster, and an
httpx.MockTransport standing in for Hermes and the router."""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

REGION = "us-east-1"
HERMES = "http://hermes.test/hermes"
ROUTER = "http://router.test"
KEY = "unit-test-key-4f9a1c"


class FakeClock:
    """Time that moves only when something sleeps (or a test advances it).

    `at(t, fn)` runs fn when the monotonic time reaches t: how tests make the platform
    change state "while" the canary polls.
    """

    def __init__(self, wall: float = 1_700_000_000.0) -> None:
        self._t = 0.0
        self._wall = wall
        self._lock = threading.RLock()
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self._wall + self._t

    def monotonic(self) -> float:
        return 1000.0 + self._t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._t += max(0.0, seconds)
            due = []
            while self._events and self._events[0][0] <= self.monotonic():
                due.append(heapq.heappop(self._events)[2])
        for fn in due:
            fn()

    def at(self, offset: float, fn: Callable[[], None]) -> None:
        """Run fn once the clock has moved `offset` seconds past now."""
        with self._lock:
            heapq.heappush(self._events, (self.monotonic() + offset, next(self._seq), fn))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """moto's mock_aws with the platform's three tables, cluster and task definition."""
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(k, v)
    import boto3
    from moto import mock_aws
    from moto.moto_api import state_manager

    # Tasks keep their status until stopped (moto otherwise advances it on every read).
    state_manager.set_transition(model_name="ecs::task",
                                 transition={"progression": "manual", "times": 10**9})
    try:
        with mock_aws():
            ddb = boto3.client("dynamodb", region_name=REGION)
            ecs = boto3.client("ecs", region_name=REGION)
            create_tables(ddb)
            ecs.create_cluster(clusterName="webordinary-edit-cluster")
            td = ecs.register_task_definition(
                family="edit", containerDefinitions=[{
                    "name": "claude-code-container", "image": "x", "memory": 512}],
            )["taskDefinition"]["taskDefinitionArn"]
            yield {"ddb": ddb, "ecs": ecs, "task_definition": td}
    finally:
        state_manager.unset_transition(model_name="ecs::task")


def create_tables(ddb: Any, sessions_schema: str = "hash") -> None:
    key = [{"AttributeName": "sessionId", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "sessionId", "AttributeType": "S"}]
    if sessions_schema == "hash_range":
        key.append({"AttributeName": "userId", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "userId", "AttributeType": "S"})
    ddb.create_table(TableName="webordinary-edit-sessions", KeySchema=key,
                     AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST")
    ddb.create_table(
        TableName="webordinary-thread-mappings",
        KeySchema=[{"AttributeName": "threadId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "threadId", "AttributeType": "S"},
                              {"AttributeName": "containerId", "AttributeType": "S"}],
        GlobalSecondaryIndexes=[{
            "IndexName": "container-index",
            "KeySchema": [{"AttributeName": "containerId", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"}}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.create_table(
        TableName="webordinary-containers",
        KeySchema=[{"AttributeName": "containerId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "containerId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


@pytest.fixture
def memory_table(aws: dict[str, Any]) -> str:
    """The canary's own table (lock and run memory), as infra/lock_table.py makes it."""
    aws["ddb"].create_table(
        TableName="canary-own", KeySchema=[{"AttributeName": "lockId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "lockId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST")
    return "canary-own"


def make_config(**overrides: Any) -> Any:
    from canary.config import CanaryConfig

    kwargs: dict[str, Any] = dict(
        target="sandbox", environment="unit", hermes_api_url=HERMES, preview_base_url=ROUTER,
        preview_host_template="edit.{clientId}.example.test", client_id="canary",
        user_id="u1", thread_id="t1", synthetic_ids_explicit=True, api_key=KEY,
        region=REGION, wake_degraded_ms=1500, wake_failed_ms=3000, api_degraded_ms=100,
        api_failed_ms=500, sleep_mode="wait", idle_timeout_s=1.0, sleep_check_interval_s=0.1,
        sleep_margin_s=0.5, budget_s=60, cleanup_reserve_s=5, wake_timeout_s=6,
        preview_marker="marker:{containerId}", git_remote_url="/remotes/{containerId}.git",
        sandbox_control_url="http://hermes.test/_sandbox",
    )
    kwargs.update(overrides)
    return CanaryConfig(**kwargs)


class Platform:
    """HTTP side of the target as a MockTransport: tests set `hermes` / `router` / `control`
    to functions (request -> httpx.Response); every request is recorded."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.hermes: Callable[[httpx.Request], httpx.Response] = lambda r: httpx.Response(500)
        self.router: Callable[[httpx.Request], httpx.Response] = lambda r: httpx.Response(500)
        self.control: Callable[[httpx.Request], httpx.Response] = (
            lambda r: httpx.Response(200, json={}))
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.requests.append(request)
        if request.url.host == "router.test":
            return self.router(request)
        if request.url.path.startswith("/_sandbox"):
            return self.control(request)
        return self.hermes(request)


@pytest.fixture
def platform() -> Platform:
    return Platform()


@pytest.fixture
def make_ctx(aws: dict[str, Any], clock: FakeClock, platform: Platform
             ) -> Iterator[Callable[..., Any]]:
    """A RunContext over MockTransport + moto + the fake clock, for one step at a time."""
    from canary.composition import Dependencies, build_context
    from canary.secrets import ApiKeyProvider

    clients: list[httpx.Client] = []

    def make(config: Any = None, *, git_ls_remote: Any = None, **overrides: Any) -> Any:
        config = config or make_config(**overrides)
        http = httpx.Client(transport=httpx.MockTransport(platform))
        clients.append(http)
        deps = Dependencies(http=http, dynamodb=aws["ddb"], ecs=aws["ecs"],
                            api_key=ApiKeyProvider(key=config.api_key, clock=clock),
                            git_ls_remote=git_ls_remote)
        ctx = build_context(config, deps, clock, "run123")
        ctx.deadline = clock.monotonic() + 50
        return ctx

    yield make
    for c in clients:
        c.close()


def container_row(aws: dict[str, Any], container_id: str = "canary-t1-u1") -> dict | None:
    from canary.clients.state import _item

    item = aws["ddb"].get_item(TableName="webordinary-containers",
                               Key={"containerId": {"S": container_id}}).get("Item")
    return _item(item)


def put_container(aws: dict[str, Any], container_id: str = "canary-t1-u1", **fields: Any
                  ) -> None:
    from canary.clients.state import _ser

    item = {"containerId": container_id, **fields}
    aws["ddb"].put_item(TableName="webordinary-containers",
                        Item={k: _ser(v) for k, v in item.items()})


# The overrides production's Hermes sets (observed): THREAD_ID and SESSION_ID hold the sessionId.
SESSION_ENV = {"CLIENT_ID": "canary", "USER_ID": "u1", "THREAD_ID": "canary-session-t1",
               "SESSION_ID": "canary-session-t1", "REPO_URL": "https://git.test/site.git"}
FOREIGN_ENV = {"CLIENT_ID": "othersite", "USER_ID": "u9", "THREAD_ID": "other-session",
               "SESSION_ID": "other-session"}


def run_task(aws: dict[str, Any], env: dict[str, str] | None = None) -> str:
    """A task started as production's Hermes starts them (RunTask, no startedBy); `env` the
    override values (default: naming the unit session; {} for a task without overrides)."""
    env = SESSION_ENV if env is None else env
    kwargs: dict[str, Any] = {}
    if env:
        kwargs["overrides"] = {"containerOverrides": [{
            "name": "claude-code-container",
            "environment": [{"name": k, "value": v} for k, v in env.items()]}]}
    resp = aws["ecs"].run_task(
        cluster="webordinary-edit-cluster", taskDefinition=aws["task_definition"], count=1,
        launchType="FARGATE", **kwargs)
    return resp["tasks"][0]["taskArn"]


@pytest.fixture
def h() -> Any:
    """The helpers above, as a fixture (tests/unit is not a package, so tests cannot import
    this module by name)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        REGION=REGION, HERMES=HERMES, ROUTER=ROUTER, KEY=KEY, make_config=make_config,
        create_tables=create_tables, container_row=container_row, put_container=put_container,
        run_task=run_task, FakeClock=FakeClock, SESSION_ENV=SESSION_ENV,
        FOREIGN_ENV=FOREIGN_ENV,
    )
