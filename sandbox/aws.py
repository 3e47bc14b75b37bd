"""The AWS side: a moto server on 127.0.0.1 and the platform's resources in it.

moto 5.2 quirks handled here: RunTask needs container-level `memory`; tasks in a
VPC need `EnableDnsHostnames`; a task advances a state on every read unless the
`ecs::task` transition is set to manual (the sandbox's Fargate owns task status);
`list_tasks` without a status filter also returns stopped tasks (callers filter);
scaling a service creates no tasks (Hermes starts tasks with RunTask, as production).
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import secrets
import sys
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes

import boto3
from botocore.config import Config

from sandbox.httpserver import Handler, HttpServer

ACCOUNT_ID = "123456789012"  # moto's default account
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
_NEVER = 1_000_000_000  # manual transition "times": task status never advances on reads


@dataclass(frozen=True)
class AwsNames:
    region: str = "us-east-1"
    sessions_table: str = "webordinary-edit-sessions"
    thread_mappings_table: str = "webordinary-thread-mappings"
    containers_table: str = "webordinary-containers"
    container_index: str = "container-index"
    canary_table: str = "session-resumption-canary"  # the canary's own (infra/lock_table.py)
    cluster: str = "webordinary-edit-cluster"
    service: str = "webordinary-edit-service"
    task_family: str = "webordinary-edit-task"
    container_name: str = "claude-code-container"
    secret_name: str = "webordinary/sandbox/internal-api-key"


@dataclass(frozen=True)
class AwsResources:
    endpoint_url: str
    task_definition_arn: str
    secret_arn: str
    subnet_id: str
    security_group_id: str

    def network_configuration(self) -> dict[str, Any]:
        """RunTask's awsvpc network configuration for the platform's tasks."""
        return {"awsvpcConfiguration": {
            "subnets": [self.subnet_id],
            "securityGroups": [self.security_group_id],
            "assignPublicIp": "DISABLED",
        }}


DYNAMODB_LOCK = threading.Lock()  # held for every DynamoDB call (server or in-process)
ECS_LOCK = threading.Lock()
"""Held for every ECS call but StopTask: moto's ECS models iterate the task dicts that a
concurrent RunTask grows ("dictionary changed size during iteration" with several sessions
waking at once). StopTask's hook (sandbox/fargate.py) takes it around moto's part only, never
while it kills the container (which may wait seconds for the container's loop)."""
ECS_TARGET = "AmazonEC2ContainerServiceV20141113."


class _WsgiHandler(Handler):
    """Serves moto's WSGI app with keep-alive (werkzeug's dev server closes every connection)."""

    def _wsgi(self) -> None:
        body = self.read_body()
        path, _, query = self.path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for name, value in self.headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[key] = f"{environ[key]},{value}" if key in environ else value
        started: list[Any] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            started[:] = [status, headers]
            return lambda data: None

        app = self.server.app  # type: ignore[attr-defined]
        # One DynamoDB call at a time: DynamoDB applies each call atomically (a
        # conditional put either wins or fails), moto's models do not lock. Without
        # this, two concurrent conditional writes can both succeed, and the healthy
        # sandbox would start duplicate tasks. The sandbox's own table calls
        # (sandbox/state.py) take the same lock. ECS calls take their own (ECS_LOCK).
        with _lock_for(self.headers.get("X-Amz-Target", "")):
            result = app(environ, start_response)
            try:
                data = b"".join(result)
            finally:
                if hasattr(result, "close"):
                    result.close()
        status, headers = started
        self.send_response(int(status.split(" ", 1)[0]), status.split(" ", 1)[1])
        for name, value in headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _wsgi


class _RegionLists:
    """What moto asks a boto3 Session for at import and backend creation: region lists.

    botocore loads a service's whole API model to find its endpoint prefix (EC2's
    takes ~0.2 s); for the services here the prefix is the name, so the endpoint
    resolver answers alone. Anything else falls back to the session.
    """

    def __init__(self, session: Any) -> None:
        from botocore.regions import EndpointResolver

        self._session = session
        loader = session._session.get_component("data_loader")  # caches what it loads
        self._resolver = EndpointResolver(loader.load_data("endpoints"))

    def get_available_partitions(self) -> list[str]:
        return self._session.get_available_partitions()

    def get_available_regions(
        self, service_name: str, partition_name: str = "aws", allow_non_regional: bool = False
    ) -> list[str]:
        return self._resolver.get_available_endpoints(
            service_name, partition_name, allow_non_regional
        ) or self._session.get_available_regions(service_name, partition_name, allow_non_regional)


def import_moto() -> None:
    """Import moto and the models the platform uses, minus ~1 s of data no task needs.

    A fresh `python -m sandbox` spends most of its start importing moto. Three costs
    are cut, none visible to a client: moto's default AMIs (env switch); the EC2
    instance-type catalogue and its offerings (~0.5 s of JSON, only for
    DescribeInstanceType*); and a new boto3 Session and service model per region
    list (~0.2 s each): moto's region lists come from the endpoint data of the
    sandbox's one shared session instead.
    """
    if "moto.ecs.models" in sys.modules:
        return
    from unittest import mock

    os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    import moto.utilities.utils as moto_utils
    from moto.core.base_backend import AccountSpecificBackend

    shared = _RegionLists(_boto3_session())
    real_load = moto_utils.load_resource

    def load_resource(path: str, *args: Any, **kwargs: Any) -> Any:
        if "/instance_type" in path:  # instance_types.json, instance_type_offerings/*
            return {} if path.endswith("instance_types.json") else []
        return real_load(path, *args, **kwargs)

    AccountSpecificBackend.get_session = classmethod(lambda cls: shared)  # type: ignore[method-assign,assignment]
    with (
        mock.patch.object(boto3, "Session", lambda *a, **k: shared),
        mock.patch.object(moto_utils, "load_resource", load_resource),
    ):
        import moto.dynamodb.models
        import moto.ec2.models
        import moto.ecs.models
        import moto.secretsmanager.models  # noqa: F401


class MotoServer:
    """moto's server app on 127.0.0.1 (port chosen by the OS), served by a daemon thread.

    Like moto's ThreadedMotoServer, but on the sandbox's own keep-alive server with
    Nagle disabled: werkzeug's dev server opens a connection (and a thread) per
    call, which costs more than moto's own work.
    """

    def __init__(self) -> None:
        self.url = ""
        self._server: HttpServer | None = None

    def start(self) -> MotoServer:
        import_moto()
        import moto.backends
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        # moto lists its own package directory on every request to route it; the list
        # of installed moto modules cannot change while the process runs.
        if not hasattr(moto.backends.list_of_moto_modules, "sandbox_cached"):
            modules = tuple(moto.backends.list_of_moto_modules())

            def cached() -> tuple[str, ...]:
                return modules

            cached.sandbox_cached = True  # type: ignore[attr-defined]
            moto.backends.list_of_moto_modules = cached

        app = DomainDispatcherApplication(create_backend_app)
        self._server = HttpServer(_WsgiHandler, app, "moto-server").start()
        self.url = self._server.url
        self.reset()
        self._post("/moto-api/state-manager/set-transition", {
            "model_name": "ecs::task",
            "transition": {"progression": "manual", "times": _NEVER},
        })
        return self

    def reset(self) -> None:
        """Forget every resource (moto's state is global to the process)."""
        self._post("/moto-api/reset", None)

    def stop(self) -> None:
        if self._server is None:
            return
        try:
            self.reset()
            self._post("/moto-api/state-manager/unset-transition", {"model_name": "ecs::task"})
        finally:
            self._server.stop()
            self._server = None

    def _post(self, path: str, payload: Any) -> None:
        data = json.dumps(payload).encode() if payload is not None else b""
        host, port = self.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            conn.request("POST", path, body=data, headers={"Connection": "close"})
            resp = conn.getresponse()
            resp.read()
            if resp.status >= 300:
                raise RuntimeError(f"moto server {path} answered {resp.status}")
        finally:
            conn.close()


def _lock_for(target: str) -> Any:
    """The lock a moto server request runs under (its X-Amz-Target names the service)."""
    if target.startswith("DynamoDB_"):
        return DYNAMODB_LOCK
    if target.startswith(ECS_TARGET) and target != ECS_TARGET + "StopTask":
        return ECS_LOCK
    return contextlib.nullcontext()


_session_lock = threading.Lock()
_session: Any = None


def _boto3_session() -> Any:
    """One session for the process: service models load once, not once per client."""
    global _session
    with _session_lock:
        if _session is None:
            _session = boto3.session.Session()
        return _session


def client(service: str, endpoint_url: str, region: str, validate: bool = True) -> Any:
    """A boto3 client for the moto server (explicit fake credentials; os.environ untouched).

    The sandbox's own hot-path clients skip parameter validation (~0.3 ms a call).
    """
    return _boto3_session().client(
        service,
        endpoint_url=endpoint_url,
        region_name=region,
        config=Config(
            retries={"max_attempts": 2, "mode": "standard"},
            max_pool_connections=32,
            parameter_validation=validate,
        ),
        **CREDENTIALS,
    )


def backend(service: str, region: str) -> Any:
    """moto's in-process backend of a service: the state the moto server serves."""
    import importlib

    module = importlib.import_module(f"moto.{service}.models")
    return getattr(module, f"{service}_backends")[ACCOUNT_ID][region]


def create_resources(
    endpoint_url: str, names: AwsNames, sessions_key_schema: str, api_key: str | None = None
) -> tuple[AwsResources, str]:
    """Create tables, ECS cluster/service/task definition and the API-key secret.

    Created in moto's backends directly, as a deployment would before anyone calls:
    three boto3 clients and their first calls would add ~0.4 s to the start.
    """
    region = names.region
    with DYNAMODB_LOCK:
        _tables(backend("dynamodb", region), names, sessions_key_schema)
    subnet, sg = _default_network(region)
    ecs = backend("ecs", region)
    ecs.create_cluster(names.cluster)
    task_def = ecs.register_task_definition(
        names.task_family,
        [{
            "name": names.container_name,
            "image": "webordinary/claude-code-container:sandbox",
            "memory": 2048,  # moto's RunTask needs container-level memory
            "essential": True,
            "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
        }],
        network_mode="awsvpc",
        requires_compatibilities=["FARGATE"],
        cpu="1024",
        memory="2048",
    ).arn
    ecs.create_service(
        names.cluster,
        names.service,
        0,
        task_definition_str=task_def,
        launch_type="FARGATE",
        network_configuration={"awsvpcConfiguration": {
            "subnets": [subnet], "securityGroups": [sg], "assignPublicIp": "DISABLED",
        }},
    )
    key = api_key or secrets.token_urlsafe(32)
    secret = backend("secretsmanager", region).create_secret(
        names.secret_name, key, None, None, None, None, None, [], False
    )
    return AwsResources(endpoint_url, task_def, json.loads(secret)["ARN"], subnet, sg), key


def _tables(ddb: Any, names: AwsNames, sessions_key_schema: str) -> None:
    if sessions_key_schema not in ("hash", "hash_range"):
        raise ValueError(
            f"sessions_key_schema must be 'hash' (sessionId) or 'hash_range' (sessionId + userId), "
            f"not {sessions_key_schema!r}"
        )
    key = [{"AttributeName": "sessionId", "KeyType": "HASH"}]
    attrs = [{"AttributeName": "sessionId", "AttributeType": "S"}]
    if sessions_key_schema == "hash_range":
        key.append({"AttributeName": "userId", "KeyType": "RANGE"})
        attrs.append({"AttributeName": "userId", "AttributeType": "S"})
    index = {
        "IndexName": names.container_index,
        "KeySchema": [{"AttributeName": "containerId", "KeyType": "HASH"}],
        "Projection": {"ProjectionType": "ALL"},
    }
    for table, schema, attr, indexes in (
        (names.sessions_table, key, attrs, []),
        (
            names.thread_mappings_table,
            [{"AttributeName": "threadId", "KeyType": "HASH"}],
            [
                {"AttributeName": "threadId", "AttributeType": "S"},
                {"AttributeName": "containerId", "AttributeType": "S"},
            ],
            [index],
        ),
        (
            names.containers_table,
            [{"AttributeName": "containerId", "KeyType": "HASH"}],
            [{"AttributeName": "containerId", "AttributeType": "S"}],
            [],
        ),
        (
            names.canary_table,  # the canary's lock and memory; nothing of the platform reads it
            [{"AttributeName": "lockId", "KeyType": "HASH"}],
            [{"AttributeName": "lockId", "AttributeType": "S"}],
            [],
        ),
    ):
        ddb.create_table(
            table, schema=schema, throughput=None, attr=attr, global_indexes=indexes,
            indexes=[], streams=None, billing_mode="PAY_PER_REQUEST",
            sse_specification=None, tags=[], deletion_protection_enabled=False,
            warm_throughput=None,
        )
    ddb.update_time_to_live(names.canary_table, {"Enabled": True, "AttributeName": "expiresAt"})


def _default_network(region: str) -> tuple[str, str]:
    """A subnet and security group of moto's default VPC (DNS hostnames on, as tasks need).

    Read from the in-process backend: an EC2 client costs more start-up time than
    the whole rest of the sandbox.
    """
    ec2 = backend("ec2", region)
    vpc = next(v for v in ec2.vpcs.values() if v.is_default)
    if not vpc.enable_dns_hostnames:
        raise RuntimeError("moto's default VPC lacks EnableDnsHostnames; tasks would fail")
    subnet = next(s for s in ec2.describe_subnets() if s.vpc_id == vpc.id)
    sg = next(g for g in ec2.describe_security_groups() if g.vpc_id == vpc.id)
    return subnet.id, sg.id
