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


_dynamodb_lock = threading.Lock()


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
        # sandbox would start duplicate tasks. Only DynamoDB: the ECS hooks
        # (sandbox/fargate.py) write to DynamoDB from inside a StopTask call.
        target = self.headers.get("X-Amz-Target", "")
        with _dynamodb_lock if target.startswith("DynamoDB_") else contextlib.nullcontext():
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
        # No task needs an AMI; loading moto's default AMIs costs ~0.5 s of start-up.
        os.environ.setdefault("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
        import moto.backends  # heavy: imported only when started
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


_session_lock = threading.Lock()
_session: Any = None


def client(service: str, endpoint_url: str, region: str, validate: bool = True) -> Any:
    """A boto3 client for the moto server (explicit fake credentials; os.environ untouched).

    The sandbox's own hot-path clients skip parameter validation (~0.3 ms a call).
    """
    global _session
    with _session_lock:  # one session: service models load once per process, not per client
        if _session is None:
            _session = boto3.session.Session()
        return _session.client(
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


def create_resources(
    endpoint_url: str, names: AwsNames, sessions_key_schema: str, api_key: str | None = None
) -> tuple[AwsResources, str]:
    """Create tables, VPC, ECS cluster/service/task definition and the API-key secret."""
    region = names.region
    ddb = client("dynamodb", endpoint_url, region)
    ecs = client("ecs", endpoint_url, region)
    sm = client("secretsmanager", endpoint_url, region)
    try:
        _tables(ddb, names, sessions_key_schema)
        subnet, sg = _default_network(region)
        ecs.create_cluster(clusterName=names.cluster)
        task_def = ecs.register_task_definition(
            family=names.task_family,
            networkMode="awsvpc",
            requiresCompatibilities=["FARGATE"],
            cpu="1024",
            memory="2048",
            containerDefinitions=[{
                "name": names.container_name,
                "image": "webordinary/claude-code-container:sandbox",
                "memory": 2048,  # moto's RunTask needs container-level memory
                "essential": True,
                "portMappings": [{"containerPort": 8080, "protocol": "tcp"}],
            }],
        )["taskDefinition"]["taskDefinitionArn"]
        ecs.create_service(
            cluster=names.cluster,
            serviceName=names.service,
            taskDefinition=task_def,
            desiredCount=0,
            launchType="FARGATE",
            networkConfiguration={"awsvpcConfiguration": {
                "subnets": [subnet], "securityGroups": [sg], "assignPublicIp": "DISABLED",
            }},
        )
        key = api_key or secrets.token_urlsafe(32)
        secret_arn = sm.create_secret(Name=names.secret_name, SecretString=key)["ARN"]
    finally:
        for c in (ddb, ecs, sm):
            c.close()
    return AwsResources(endpoint_url, task_def, secret_arn, subnet, sg), key


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
    ddb.create_table(
        TableName=names.sessions_table, KeySchema=key, AttributeDefinitions=attrs,
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.create_table(
        TableName=names.thread_mappings_table,
        KeySchema=[{"AttributeName": "threadId", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "threadId", "AttributeType": "S"},
            {"AttributeName": "containerId", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[{
            "IndexName": names.container_index,
            "KeySchema": [{"AttributeName": "containerId", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.create_table(
        TableName=names.containers_table,
        KeySchema=[{"AttributeName": "containerId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "containerId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )


def _default_network(region: str) -> tuple[str, str]:
    """A subnet and security group of moto's default VPC (DNS hostnames on, as tasks need).

    Read from the in-process backend: an EC2 client costs more start-up time than
    the whole rest of the sandbox.
    """
    from moto.ec2.models import ec2_backends

    ec2 = ec2_backends[ACCOUNT_ID][region]
    vpc = next(v for v in ec2.vpcs.values() if v.is_default)
    if not vpc.enable_dns_hostnames:
        raise RuntimeError("moto's default VPC lacks EnableDnsHostnames; tasks would fail")
    subnet = next(s for s in ec2.describe_subnets() if s.vpc_id == vpc.id)
    sg = next(g for g in ec2.describe_security_groups() if g.vpc_id == vpc.id)
    return subnet.id, sg.id
