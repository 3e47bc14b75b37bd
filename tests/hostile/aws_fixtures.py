"""AWS endpoint stand-ins: a real loopback HTTP server used as `endpoint_url` that hangs,
resets, answers 500, throttles, or answers an HTML page, for the calls it is told to,
and forwards every other call to a moto server (when it has one).

Calls are picked by botocore's `X-Amz-Target` header (DynamoDB `DynamoDB_20120810.*`,
Secrets Manager `secretsmanager.*`, ECS `AmazonEC2ContainerServiceV20141113.*`) and,
for DynamoDB, optionally by the `TableName` in the body: so one dependency misbehaves
while the others work. A hang waits on an Event that `close()` sets (bounded: never
more than HANG_MAX_S), so no test leaves a thread behind for long.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

DYNAMODB = "DynamoDB_20120810."
SECRETS = "secretsmanager."
ECS = "AmazonEC2ContainerServiceV20141113."
MODES = ("hang", "reset", "500", "html", "html200", "throttle")
HANG_MAX_S = 30.0
HTML_PAGE = (b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
             b"<h1>502 Bad Gateway</h1><p>The upstream server is unavailable.</p>"
             + b"<!-- padding -->" * 2048 + b"</body></html>")


@dataclass(frozen=True)
class Rule:
    """Misbehave (`mode`) for calls whose target starts with `target` (and, when `tables`
    is given, whose body names one of them)."""

    mode: str
    target: str = ""
    tables: frozenset[str] = frozenset()

    def matches(self, target: str, body: bytes) -> bool:
        if not target.startswith(self.target):
            return False
        if not self.tables:
            return True
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            return False
        return isinstance(doc, dict) and doc.get("TableName") in self.tables


class AwsStandIn:
    """The stand-in server. `misbehave(mode, target=..., tables=...)` adds a rule; calls
    that match no rule go to `upstream` (a moto server URL), or get a 500 without one."""

    def __init__(self, upstream: str | None = None) -> None:
        self.upstream = upstream
        self.rules: list[Rule] = []
        self.release = threading.Event()
        self.calls: list[str] = []  # X-Amz-Target of every call, in order
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                stand_in._handle(self)

            do_GET = do_POST

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def misbehave(self, mode: str, *, target: str = "", tables: tuple[str, ...] = ()) -> None:
        assert mode in MODES, mode
        with self._lock:
            self.rules.append(Rule(mode, target, frozenset(tables)))

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- the handler --------------------------------------------------------------------------
    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        body = h.rfile.read(int(h.headers.get("content-length") or 0))
        target = h.headers.get("x-amz-target", "")
        with self._lock:
            self.calls.append(target)
            rule = next((r for r in self.rules if r.matches(target, body)), None)
        if rule is None:
            if self.upstream:
                self._forward(h, body)
            else:
                self._answer(h, 500, "application/x-amz-json-1.1",
                             b'{"__type": "InternalFailure", "message": "no upstream"}')
            return
        getattr(self, "_" + {"500": "error500"}.get(rule.mode, rule.mode))(h)

    def _hang(self, h: BaseHTTPRequestHandler) -> None:
        self.release.wait(HANG_MAX_S)
        h.close_connection = True

    def _reset(self, h: BaseHTTPRequestHandler) -> None:
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.rfile.close()  # the file object holds a reference: the socket closes (RST) only now
        h.connection.close()
        h.close_connection = True

    def _error500(self, h: BaseHTTPRequestHandler) -> None:
        self._answer(h, 500, "application/x-amz-json-1.1",
                     b'{"__type": "InternalFailure", "message": "We encountered an internal '
                     b'error. Please try again."}')

    def _throttle(self, h: BaseHTTPRequestHandler) -> None:
        self._answer(h, 400, "application/x-amz-json-1.1",
                     b'{"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException", '
                     b'"message": "Rate exceeded"}')

    def _html(self, h: BaseHTTPRequestHandler) -> None:
        self._answer(h, 502, "text/html; charset=utf-8", HTML_PAGE)

    def _html200(self, h: BaseHTTPRequestHandler) -> None:
        self._answer(h, 200, "text/html; charset=utf-8", HTML_PAGE.replace(b"502 Bad", b"Welc"))

    @staticmethod
    def _answer(h: BaseHTTPRequestHandler, status: int, content_type: str, body: bytes) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _forward(self, h: BaseHTTPRequestHandler, body: bytes) -> None:
        host, port = self.upstream.removeprefix("http://").split(":")  # type: ignore[union-attr]
        conn = http.client.HTTPConnection(host, int(port), timeout=30)
        try:
            headers = {k: v for k, v in h.headers.items() if k.lower() != "host"}
            conn.request(h.command, h.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        h.send_response(resp.status)
        for name, value in resp.getheaders():
            if name.lower() not in ("content-length", "transfer-encoding", "connection",
                                    "server", "date"):
                h.send_header(name, value)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)


def refused_url() -> str:
    """An endpoint nothing listens on (connection refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@pytest.fixture
def aws_standin() -> Iterator[AwsStandIn]:
    """A stand-in without upstream: every call gets its rule's treatment (or a 500)."""
    stand_in = AwsStandIn()
    yield stand_in
    stand_in.close()


def boto_client(service: str, endpoint_url: str, *, raw: bool = False) -> Any:
    """A boto3 client as the canary builds it (clients/aws.py), on `endpoint_url`."""
    import boto3

    from canary.clients.aws import make_client

    session = boto3.session.Session()
    kwargs = dict(region_name="us-east-1", endpoint_url=endpoint_url,
                  aws_access_key_id="testing", aws_secret_access_key="testing")
    if raw:
        return session.client(service, **kwargs)
    return make_client(session, service, **kwargs)


# -- the Lambda path, one invocation per case (cases may run in parallel) -------------------


class FakeLambdaContext:
    """What Lambda passes as `context`: the remaining time counts down from creation."""

    def __init__(self, remaining_ms: float) -> None:
        import time
        import uuid

        self.aws_request_id = f"req-{uuid.uuid4().hex[:12]}"
        self.function_name = "session-resumption-canary"
        self.started = time.monotonic()
        self.remaining_s = remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        import time

        return int(max(0.0, self.started + self.remaining_s - time.monotonic()) * 1000)


class TimedOutput(io.TextIOBase):
    """stdout for one invocation: keeps each write with the moment it happened."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[float, str]] = []
        self._lock = threading.Lock()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        import time

        with self._lock:
            self.writes.append((time.monotonic(), text))
        return len(text)

    @property
    def text(self) -> str:
        return "".join(t for _, t in self.writes)

    def first(self, prefix: str) -> float | None:
        """When the first line starting with `prefix` was written."""
        return next((at for at, t in self.writes if t.startswith(prefix)), None)


@dataclass
class Invoked:
    result: dict[str, Any]
    context: FakeLambdaContext
    out: TimedOutput
    ended: float

    @property
    def emf(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.text.splitlines()
                if line.startswith('{"_aws"')]

    @property
    def scenario_success(self) -> list[float]:
        """The aggregate series' samples (the alarms'): one per session, not the per-session
        lines (dashboard only)."""
        return [v for doc in self.emf if "ScenarioSuccess" in doc and "Session" not in doc
                for v in doc["ScenarioSuccess"]]

    @property
    def canary_error(self) -> list[float]:
        """The aggregate series' CanaryError samples (every invocation emits them)."""
        return [v for doc in self.emf if "CanaryError" in doc and "Session" not in doc
                for v in doc["CanaryError"]]

    @property
    def emf_after_s(self) -> float:
        at = self.out.first('{"_aws"')
        assert at is not None, self.out.text
        return at - self.context.started


def invoke_lambda(environ: dict[str, str], remaining_ms: float) -> Invoked:
    """One Lambda invocation (canary.invocation.Invocation, as canary.handler wires it) with
    its own logger and stdout, so several can run at once in one process."""
    import time
    import uuid

    from aws_lambda_powertools import Logger

    from canary.clock import SystemClock
    from canary.composition import Dependencies
    from canary.invocation import Invocation
    from canary.redaction import RedactingStdout, RedactSecrets

    out = TimedOutput()
    stream = RedactingStdout(target=out)
    redact = RedactSecrets(stream)
    logger = Logger(service=f"hostile-{uuid.uuid4().hex[:8]}", stream=stream)
    logger.addFilter(redact)
    built: list[Any] = []

    def dependencies(config: Any) -> Any:
        built.append(Dependencies.build(config, SystemClock()))
        return built[-1]

    invocation = Invocation(logger=logger, stream=stream, redact_filter=redact,
                            dependencies=dependencies, tracer=lambda environ: None, out=out)
    context = FakeLambdaContext(remaining_ms)
    try:
        result = invocation(context, environ)
    finally:
        for deps in built:
            deps.close()
    return Invoked(result, context, out, time.monotonic())


def lambda_environment(sb: Any, aws_endpoint_url: str, **overrides: str) -> dict[str, str]:
    """The Lambda's environment (infra/function.py names) for the sandbox, AWS through
    `aws_endpoint_url` (a stand-in in front of the sandbox's moto server)."""
    import uuid

    from canary.config import CanaryConfig

    info = sb.info
    profile = CanaryConfig.for_sandbox(info)
    env = {
        "CANARY_ENVIRONMENT": "hostile", "AWS_REGION": info.region,
        "AWS_ENDPOINT_URL": aws_endpoint_url, "HERMES_API_URL": info.hermes_url,
        "ALB_DNS_NAME": info.router_url,
        "PREVIEW_DOMAIN": info.preview_host_template.split("edit.{clientId}.", 1)[1],
        "INTERNAL_API_KEY_SECRET_ARN": info.secret_arn,
        "SESSIONS_TABLE": info.sessions_table, "THREAD_MAPPINGS_TABLE": info.thread_mappings_table,
        "CONTAINERS_TABLE": info.containers_table, "CONTAINER_INDEX_NAME": info.container_index,
        "ECS_CLUSTER": info.cluster, "ECS_SERVICE": info.service,
        "CANARY_CLIENT_ID": "canary", "CANARY_USER_ID": "canary",
        "CANARY_THREAD_ID": f"hostile-{uuid.uuid4().hex[:8]}",
        "WAKE_DEGRADED_MS": str(profile.wake_degraded_ms),
        "WAKE_FAILED_MS": str(profile.wake_failed_ms),
        "API_DEGRADED_MS": str(profile.api_degraded_ms),
        "API_FAILED_MS": str(profile.api_failed_ms),
        "SLEEP_MODE": "observe", "IDLE_TIMEOUT_S": str(profile.idle_timeout_s),
        "SLEEP_CHECK_INTERVAL_S": str(profile.sleep_check_interval_s),
        "CANARY_BUDGET_S": str(profile.budget_s), "WAKE_TIMEOUT_S": str(profile.wake_timeout_s),
        "PREVIEW_MARKER": info.preview_marker_template,
        "SANDBOX_CONTROL_URL": info.control_url,
    }
    env.update(overrides)
    return env


def create_lock_table(sb: Any, name: str) -> None:
    ddb = sb.client("dynamodb")
    try:
        ddb.create_table(
            TableName=name, KeySchema=[{"AttributeName": "lockId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "lockId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    finally:
        ddb.close()
