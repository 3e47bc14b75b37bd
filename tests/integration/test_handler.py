"""The Lambda handler against the sandbox: EMF in every path, the lock, no secret in output.

The handler is invoked as Lambda would call it (`handler(event, context)` with a
fake context), configured through the environment exactly as infra/ sets it,
with AWS through the sandbox's moto server (AWS_ENDPOINT_URL). Everything the
invocation prints is captured and parsed: EMF lines (validated against the EMF
structure and the catalogue) and JSON log lines.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

import canary.handler as lambda_handler
import canary.runner
from canary import invocation
from canary.alarm_evaluation import AlarmState, datapoints_from_emf, simulate
from canary.catalogue import (
    DEFAULT_NAMESPACE,
    ENVIRONMENT_DIMENSION,
    LANE_DIMENSION,
    METRICS_BY_NAME,
    alarm_specs,
)
from canary.config import CanaryConfig
from canary.models import RunResult, Status, StepResult
from sandbox import Sandbox

pytestmark = pytest.mark.integration

LOCK_TABLE = "canary-lock"
ENVIRONMENT = "sandbox-test"
FUNCTION = "session-resumption-canary"


# -- the fake Lambda context and the captured invocation ------------------------------------


@dataclass
class FakeLambdaContext:
    """What Lambda passes as `context` (the attributes the handler may read)."""

    remaining_ms: float = 120_000
    function_name: str = FUNCTION
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: f"req-{uuid.uuid4().hex[:12]}")
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:123456789012:function:{FUNCTION}"
    log_group_name: str = f"/aws/lambda/{FUNCTION}"
    log_stream_name: str = "2026/11/24/[$LATEST]0123456789abcdef"

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.remaining_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return int(max(0.0, self._deadline - time.monotonic()) * 1000)


@dataclass
class Invocation:
    result: dict[str, Any]
    context: FakeLambdaContext
    out: str
    err: str
    records: list[logging.LogRecord]
    seconds: float

    @property
    def emf(self) -> list[dict[str, Any]]:
        return [doc for doc in self._json_lines() if "_aws" in doc]

    @property
    def logs(self) -> list[dict[str, Any]]:
        return [doc for doc in self._json_lines() if "_aws" not in doc]

    @property
    def emf_lines(self) -> list[str]:
        return [line for line in self.out.splitlines() if line.startswith('{"_aws"')]

    def _json_lines(self) -> list[dict[str, Any]]:
        docs = []
        for line in self.out.splitlines():
            if line.strip():
                docs.append(json.loads(line))  # every stdout line is JSON (EMF or a log)
        return docs

    @property
    def run_metrics(self) -> dict[str, float]:
        """The values of the aggregate EMF line (Environment + Lane; one session)."""
        (doc,) = [d for d in self.emf if _dimension_sets(d) == [["Environment", "Lane"]]]
        return {m["Name"]: doc[m["Name"]][0] for m in _directive(doc)["Metrics"]}

    @property
    def step_success(self) -> dict[str, float]:
        return {
            d["Step"]: d["StepSuccess"][0]
            for d in self.emf
            if _dimension_sets(d) == [["Environment", "Lane", "Step"]]
        }

    def summary_line(self) -> dict[str, Any]:
        lines = [d for d in self.logs if d.get("message") == self.result["summary"]]
        assert len(lines) == 1, self.logs
        return lines[0]

    def everything(self) -> str:
        """All a run printed or logged, for the secret scan."""
        parts = [self.out, self.err, json.dumps(self.result, default=str)]
        for record in self.records:
            parts.append(record.getMessage())
            parts.append(json.dumps({k: str(v) for k, v in vars(record).items()}))
            if record.exc_info and record.exc_info[1] is not None:
                parts.append(logging.Formatter().formatException(record.exc_info))
        return "\n".join(parts)


def only_session(doc: dict[str, Any]) -> dict[str, Any]:
    """The one session's entry of a result document (a deployment with one session)."""
    (session,) = doc["sessions"]
    return session


def _directive(doc: dict[str, Any]) -> dict[str, Any]:
    return doc["_aws"]["CloudWatchMetrics"][0]


def _dimension_sets(doc: dict[str, Any]) -> list[list[str]]:
    return _directive(doc)["Dimensions"]


def assert_valid_emf(
    doc: dict[str, Any], namespace: str = DEFAULT_NAMESPACE, environment: str = ENVIRONMENT
) -> None:
    meta = doc["_aws"]
    assert isinstance(meta["Timestamp"], int) and meta["Timestamp"] > 0
    (directive,) = meta["CloudWatchMetrics"]
    assert directive["Namespace"] == namespace
    assert directive["Dimensions"] and all(directive["Dimensions"])
    for dimension_set in directive["Dimensions"]:
        for name in dimension_set:
            assert isinstance(doc[name], str) and doc[name]
    assert directive["Metrics"]
    for definition in directive["Metrics"]:
        spec = METRICS_BY_NAME[definition["Name"]]
        assert definition["Unit"] == spec.unit.value
        assert [set(d) for d in directive["Dimensions"]] in (
            [set(spec.dimensions)], [set(spec.session_dimensions or ())])
        values = doc[definition["Name"]]
        assert isinstance(values, list) and values
        assert all(isinstance(v, int | float) for v in values)
    assert doc[ENVIRONMENT_DIMENSION] == environment


# -- fixtures ------------------------------------------------------------------------------


def handler_environment(sb: Sandbox) -> dict[str, str]:
    """The Lambda's environment (infra/function.py names) for the sandbox, with the
    sandbox's threshold profile (CanaryConfig.for_sandbox)."""
    info = sb.info
    profile = CanaryConfig.for_sandbox(info)
    domain = info.preview_host_template.split("edit.{clientId}.", 1)[1]
    return {
        "CANARY_ENVIRONMENT": ENVIRONMENT,
        "AWS_REGION": info.region,
        "AWS_DEFAULT_REGION": info.region,
        "AWS_ENDPOINT_URL": info.aws_endpoint_url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "HERMES_API_URL": info.hermes_url,
        "ALB_DNS_NAME": info.router_url,
        "PREVIEW_DOMAIN": domain,
        "INTERNAL_API_KEY_SECRET_ARN": info.secret_arn,
        "SESSIONS_TABLE": info.sessions_table,
        "THREAD_MAPPINGS_TABLE": info.thread_mappings_table,
        "CONTAINERS_TABLE": info.containers_table,
        "CONTAINER_INDEX_NAME": info.container_index,
        "ECS_CLUSTER": info.cluster,
        "ECS_SERVICE": info.service,
        "CANARY_CLIENT_ID": "canary",
        "CANARY_USER_ID": "canary",
        "CANARY_THREAD_ID": f"canary-{uuid.uuid4().hex[:8]}",
        "WAKE_DEGRADED_MS": str(profile.wake_degraded_ms),
        "WAKE_FAILED_MS": str(profile.wake_failed_ms),
        "API_DEGRADED_MS": str(profile.api_degraded_ms),
        "API_FAILED_MS": str(profile.api_failed_ms),
        "SLEEP_MODE": profile.sleep_mode,
        "IDLE_TIMEOUT_S": str(profile.idle_timeout_s),
        "SLEEP_CHECK_INTERVAL_S": str(profile.sleep_check_interval_s),
        "SLEEP_MARGIN_S": str(profile.sleep_margin_s),
        "CANARY_BUDGET_S": str(profile.budget_s),
        "CLEANUP_RESERVE_S": str(profile.cleanup_reserve_s),
        "WAKE_TIMEOUT_S": str(profile.wake_timeout_s),
        "PREVIEW_MARKER": info.preview_marker_template,
        "GIT_REMOTE_URL": info.git_remote_template,
        "SANDBOX_CONTROL_URL": info.control_url,
        "LOCK_TABLE": LOCK_TABLE,
        "POWERTOOLS_METRICS_NAMESPACE": DEFAULT_NAMESPACE,
        "POWERTOOLS_SERVICE_NAME": FUNCTION,
    }


def create_lock_table(sb: Sandbox) -> None:
    ddb = sb.client("dynamodb")
    try:
        ddb.create_table(
            TableName=LOCK_TABLE,
            KeySchema=[{"AttributeName": "lockId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "lockId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    finally:
        ddb.close()


class Lambda:
    """Invokes the handler with a fresh fake context and captures what it prints."""

    def __init__(self, sb: Sandbox, capsys: pytest.CaptureFixture[str]) -> None:
        self.sb = sb
        self.capsys = capsys
        self.invocations: list[Invocation] = []

    def __call__(self, remaining_ms: float = 120_000, event: Any = None) -> Invocation:
        context = FakeLambdaContext(remaining_ms=remaining_ms)
        records: list[logging.LogRecord] = []
        capture = _RecordCapture(records)
        loggers = _canary_loggers()
        for logger in loggers:
            logger.addHandler(capture)
        self.capsys.readouterr()  # drop anything printed before
        began = time.monotonic()
        try:
            result = lambda_handler.handler(event or {}, context)
        finally:
            for logger in loggers:
                logger.removeHandler(capture)
        seconds = time.monotonic() - began
        out, err = self.capsys.readouterr()
        invocation = Invocation(result, context, out, err, records, seconds)
        self.invocations.append(invocation)
        # Every invocation, every path: CanaryError (the heartbeat counts it), and never the
        # API key. ScenarioSuccess only when the run is a verdict on the platform.
        assert "CanaryError" in invocation.run_metrics
        assert ("ScenarioSuccess" in invocation.run_metrics) is (
            invocation.run_metrics["CanaryError"] == 0.0
            and invocation.run_metrics["RunSkipped"] == 0.0)
        text = invocation.everything()
        leaks = [text[max(0, i - 200) : i + 60] for i in [text.find(self.sb.api_key)] if i >= 0]
        assert not leaks
        for doc in invocation.emf:
            assert_valid_emf(doc, environment=os.environ["CANARY_ENVIRONMENT"])
        return invocation


class _RecordCapture(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _canary_loggers() -> list[logging.Logger]:
    """The handler's Powertools logger and every canary.* logger (records, not just output)."""
    names = [lambda_handler.logger.name] + [
        name
        for name in logging.Logger.manager.loggerDict
        if name == "canary" or name.startswith("canary.")
    ]
    return [logging.getLogger(name) for name in dict.fromkeys(names)]


@pytest.fixture(scope="class")
def sandbox(request) -> Iterator[Sandbox]:
    faults = getattr(request.cls, "faults", ())
    with Sandbox(faults=faults) as sb:
        create_lock_table(sb)
        yield sb


@pytest.fixture
def invoke(sandbox: Sandbox, monkeypatch, capsys) -> Iterator[Callable[..., Invocation]]:
    for name, value in handler_environment(sandbox).items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("INTERNAL_API_KEY", raising=False)
    monkeypatch.delenv("CANARY_TRACING", raising=False)
    lambda_handler.reset_warm_state()
    yield Lambda(sandbox, capsys)
    lambda_handler.reset_warm_state()


def lock_item(sb: Sandbox) -> dict[str, Any] | None:
    ddb = sb.client("dynamodb")
    try:
        return ddb.get_item(
            TableName=LOCK_TABLE,
            Key={"lockId": {"S": "session-resumption-canary"}},
            ConsistentRead=True,
        ).get("Item")
    finally:
        ddb.close()


# -- a healthy platform ----------------------------------------------------------------------


class TestHealthyPlatform:
    def test_healthy_run_emits_the_measured_values(self, invoke, sandbox):
        inv = invoke()
        metrics = inv.run_metrics
        assert inv.result["ok"] is True
        assert metrics["ScenarioSuccess"] == 1.0
        assert metrics["CanaryError"] == 0.0 and metrics["RunSkipped"] == 0.0
        run = only_session(inv.result)
        wake = next(s for s in run["steps"] if s["name"] == "wake_hermes")
        assert metrics["ContainerWakeTime"] == pytest.approx(wake["measurements"]["wake_ms"])
        assert metrics["ContainerWakeTime"] == pytest.approx(run["metrics"]["ContainerWakeTime"])
        assert metrics["ScenarioDuration"] == pytest.approx(run["duration_ms"])
        for name, value in run["metrics"].items():
            assert metrics[name] == pytest.approx(value)
        executed = {s["name"] for s in run["steps"] if s["status"] != "skipped"}
        assert set(inv.step_success) == executed
        assert set(inv.step_success.values()) == {1.0}
        assert lock_item(sandbox) is None  # released
        cloudwatch = sandbox.client("cloudwatch")
        try:  # EMF on stdout only: no PutMetricData call reached AWS
            assert cloudwatch.list_metrics()["Metrics"] == []
        finally:
            cloudwatch.close()

    def test_logs_are_json_with_the_run_id_and_the_synthetic_session(self, invoke):
        inv = invoke()
        summary = inv.summary_line()
        assert summary["level"] == "INFO"
        assert summary["message"].startswith("scenario passed in ")
        assert summary["service"]  # POWERTOOLS_SERVICE_NAME as Lambda sets it before import
        for line in inv.logs:
            assert line["correlation_id"] == inv.context.aws_request_id
        assert summary["clientId"] == "canary" and summary["userId"] == "canary"
        assert summary["threadId"].startswith("canary-")
        assert summary["containerId"] == f"canary-{summary['threadId']}-canary"
        step_lines = [line for line in inv.logs
                      if line["message"].startswith("session canary: step ")]
        assert len(step_lines) == len(only_session(inv.result)["steps"])
        assert inv.result["run_id"] == inv.context.aws_request_id

    def test_clients_are_built_once_per_warm_container(self, invoke, monkeypatch):
        first = invoke()
        deps = lambda_handler._warm.deps
        assert deps is not None and first.run_metrics["ScenarioSuccess"] == 1.0
        seen: list[Any] = []
        stub_scenario(monkeypatch, seen)
        invoke()
        # The same httpx/boto3 clients and the same key provider (its TTL cache) again.
        assert seen == [deps] and lambda_handler._warm.deps is deps
        lambda_handler.reset_warm_state()
        assert lambda_handler._warm.deps is None
        assert deps.http.is_closed

    def test_consecutive_runs_against_the_same_session_pass(self, invoke):
        assert invoke().run_metrics["ScenarioSuccess"] == 1.0
        second = invoke()
        assert second.run_metrics["ScenarioSuccess"] == 1.0, second.result["summary"]

    def test_invalid_config_reports_failure_and_names_the_variable(self, invoke, monkeypatch):
        monkeypatch.delenv("HERMES_API_URL")
        inv = invoke()
        assert inv.run_metrics == {"CanaryError": 1.0, "RunSkipped": 0.0}
        assert inv.step_success == {}
        line = inv.summary_line()
        assert line["level"] == "ERROR"
        assert line["message"].startswith("canary could not run: invalid configuration: ")
        assert "HERMES_API_URL" in line["message"]
        assert inv.seconds < 2

    def test_bad_number_in_config_is_reported_not_raised(self, invoke, monkeypatch):
        monkeypatch.setenv("WAKE_FAILED_MS", "sixty seconds")
        inv = invoke()
        assert inv.run_metrics["CanaryError"] == 1.0
        assert "WAKE_FAILED_MS" in inv.result["summary"]

    def test_unreadable_secret_reports_failure_and_names_the_secret(
        self, invoke, monkeypatch, sandbox
    ):
        missing = sandbox.info.secret_arn.rsplit(":", 1)[0] + ":no-such-secret-AbCdEf"
        monkeypatch.setenv("INTERNAL_API_KEY_SECRET_ARN", missing)
        calls = spy_on_run_scenario(monkeypatch)
        inv = invoke()
        assert inv.run_metrics == {"CanaryError": 1.0, "RunSkipped": 0.0}
        message = inv.summary_line()["message"]
        assert message.startswith("canary could not run: could not read the internal API key")
        assert missing in message and "ResourceNotFoundException" in message
        assert calls == []
        assert lock_item(sandbox) is None  # the lock taken for this run was given back

    def test_exception_in_the_canary_is_reported_and_masked(self, invoke, monkeypatch, sandbox):
        key = sandbox.api_key

        def explode(*args: Any, **kwargs: Any) -> Any:
            raise RuntimeError(f"upstream rejected Authorization: Bearer {key}")

        monkeypatch.setattr(canary.runner, "run_scenario", explode)
        inv = invoke()  # the Lambda helper asserts the key appears nowhere
        assert inv.run_metrics == {"CanaryError": 1.0, "RunSkipped": 0.0}
        message = inv.summary_line()["message"]
        assert (
            message == "canary could not run: canary bug: RuntimeError: upstream rejected "
            "Authorization: Bearer ***"
        )
        traceback_lines = [line for line in inv.logs if line["message"] == "the scenario raised"]
        assert traceback_lines and "RuntimeError" in traceback_lines[0]["exception"]

    def test_a_step_leaking_the_key_in_its_error_is_masked_everywhere(
        self, invoke, monkeypatch, sandbox
    ):
        key = sandbox.api_key
        from dataclasses import replace

        from canary.lanes import Lane
        from canary.scenario import SCENARIO, SCENARIO_BY_LANE

        def leaky(ctx: Any) -> Any:
            raise ValueError(f"debug dump: key={ctx.api_key.get()}")

        steps = tuple(replace(s, run=leaky) if s.name == "websocket" else s
                      for s in SCENARIO.steps)
        monkeypatch.setitem(SCENARIO_BY_LANE, Lane.FULL, replace(SCENARIO, steps=steps))
        inv = invoke()  # the Lambda helper asserts the key appears nowhere
        assert "ScenarioSuccess" not in inv.run_metrics  # the canary's fault: no verdict
        assert inv.run_metrics["CanaryError"] == 1.0
        assert inv.step_success["websocket"] == 0.0
        assert "key=***" in inv.result["summary"]
        assert any("key=***" in r.getMessage() or "key=***" in str(vars(r)) for r in inv.records)
        assert key not in inv.everything()

    def test_api_key_from_the_environment_for_local_runs(self, invoke, monkeypatch, sandbox):
        monkeypatch.setenv("INTERNAL_API_KEY", sandbox.api_key)
        monkeypatch.delenv("INTERNAL_API_KEY_SECRET_ARN")
        seen: list[Any] = []
        stub_scenario(monkeypatch, seen)
        inv = invoke()  # the Lambda helper asserts the key appears nowhere
        assert inv.run_metrics["ScenarioSuccess"] == 1.0
        assert seen[0].api_key.get() == sandbox.api_key

    def test_unusable_lock_table_is_a_canary_error(self, invoke, monkeypatch):
        monkeypatch.setenv("LOCK_TABLE", "no-such-lock-table")
        calls = spy_on_run_scenario(monkeypatch)
        inv = invoke()
        assert inv.run_metrics == {"CanaryError": 1.0, "RunSkipped": 0.0}
        message = inv.summary_line()["message"]
        assert "no-such-lock-table" in message and "ResourceNotFoundException" in message
        assert calls == []

    def test_lambda_time_too_short_to_start_is_reported(self, invoke, monkeypatch):
        calls = spy_on_run_scenario(monkeypatch)
        inv = invoke(remaining_ms=300)
        assert inv.run_metrics == {"CanaryError": 1.0, "RunSkipped": 0.0}
        assert "not started: only 0.3 s of Lambda time left" in inv.summary_line()["message"]
        assert calls == []

    def test_budget_from_the_lambda_context_ends_the_run_early_and_still_reports(
        self, invoke, monkeypatch
    ):
        calls = spy_on_run_scenario(monkeypatch)
        inv = invoke(remaining_ms=2_500)
        # The run was given the remaining time minus the safety margin (2.0 s), not the
        # config's 60 s, less what taking the lock and reading the key took and the slice
        # kept for giving the lock back.
        assert len(calls) == 1 and 0.2 < calls[0] < 2.0 * (1 - invocation.LOCK_CALL_FRACTION)
        assert inv.run_metrics["ScenarioSuccess"] == 0.0
        assert inv.run_metrics["CanaryError"] == 0.0
        statuses = {s["name"]: s["status"] for s in only_session(inv.result)["steps"]}
        assert statuses["cleanup"] == "passed"  # cleanup always runs
        # The sleep check alone needs ~2 s in the sandbox: the run cannot have completed.
        # Steps still running at the deadline fail; those not started are skipped for it.
        assert statuses["sleep"] != "passed"
        assert inv.result["summary"].startswith(("scenario failed", "scenario incomplete"))
        assert inv.result["duration_ms"] <= calls[0] * 1000 + 300  # cleanup within the budget
        assert inv.seconds < 2.5  # reported before Lambda's time ran out

    def test_the_schedules_quick_event_runs_the_quick_lane_under_its_own_lock(
            self, invoke, sandbox):
        ddb = sandbox.client("dynamodb")
        full_lock = {"lockId": {"S": "session-resumption-canary"}}
        ddb.put_item(TableName=LOCK_TABLE, Item={
            **full_lock, "owner": {"S": "req-full"},
            "expiresAt": {"N": str(int(time.time()) + 600)}})
        try:
            inv = invoke(event={"lane": "quick"})  # a full cycle holds its lane's lock
        finally:
            ddb.delete_item(TableName=LOCK_TABLE, Key=full_lock)
            ddb.close()
        assert inv.result["lane"] == "quick" and inv.result["ok"] is True
        assert inv.run_metrics["RunSkipped"] == 0.0
        assert {d["Lane"] for d in inv.emf} == {"quick"}
        steps = [s["name"] for s in only_session(inv.result)["steps"]]
        assert "warm_up" in steps and "wake_hermes" not in steps

    def test_lock_held_by_another_run_skips_without_failing(self, invoke, monkeypatch, sandbox):
        ddb = sandbox.client("dynamodb")
        expires = int(time.time()) + 600
        ddb.put_item(
            TableName=LOCK_TABLE,
            Item={
                "lockId": {"S": "session-resumption-canary"},
                "owner": {"S": "req-other"},
                "expiresAt": {"N": str(expires)},
            },
        )
        calls = spy_on_run_scenario(monkeypatch)
        try:
            inv = invoke()
        finally:
            ddb.delete_item(
                TableName=LOCK_TABLE, Key={"lockId": {"S": "session-resumption-canary"}}
            )
            ddb.close()
        assert calls == []
        assert inv.run_metrics == {"CanaryError": 0.0, "RunSkipped": 1.0}
        assert inv.step_success == {}
        line = inv.summary_line()
        assert line["level"] == "INFO"
        assert line["message"].startswith("skipped: another run holds the lock (run req-other")
        assert inv.result["ok"] is True and inv.result["skipped"] is True
        assert inv.seconds < 2

    def test_stale_lock_of_a_crashed_run_is_taken_over(self, invoke, monkeypatch, sandbox):
        ddb = sandbox.client("dynamodb")
        ddb.put_item(
            TableName=LOCK_TABLE,
            Item={
                "lockId": {"S": "session-resumption-canary"},
                "owner": {"S": "req-crashed"},
                "expiresAt": {"N": str(int(time.time()) - 5)},
            },
        )
        ddb.close()
        seen: list[Any] = []
        stub_scenario(monkeypatch, seen)
        inv = invoke()
        assert len(seen) == 1  # the scenario ran
        assert inv.run_metrics["RunSkipped"] == 0.0
        assert inv.run_metrics["ScenarioSuccess"] == 1.0
        assert lock_item(sandbox) is None

    def test_overlapping_invocations_never_both_run_the_scenario(
        self, invoke, monkeypatch, sandbox
    ):
        first_running = threading.Event()
        release_first = threading.Event()
        started: list[str] = []
        real = canary.runner.run_scenario

        def gated(config: Any, deps: Any, clock: Any, **kwargs: Any) -> Any:
            started.append(kwargs["run_id"])
            if len(started) == 1:
                first_running.set()
                assert release_first.wait(timeout=30)
            return real(config, deps, clock, **kwargs)

        monkeypatch.setattr(canary.runner, "run_scenario", gated)
        results: dict[str, Any] = {}

        def first() -> None:
            results["first"] = lambda_handler.handler({}, FakeLambdaContext(remaining_ms=120_000))

        thread = threading.Thread(target=first)
        thread.start()
        try:
            assert first_running.wait(timeout=30)
            second = invoke()  # while the first run holds the lock
        finally:
            release_first.set()
            thread.join(timeout=60)
        assert not thread.is_alive()
        assert len(started) == 1
        assert second.run_metrics["RunSkipped"] == 1.0
        assert "ScenarioSuccess" not in second.run_metrics  # a skip is no verdict
        assert started[0] in second.result["summary"]  # names the run holding the lock
        assert results["first"]["ok"] is True and results["first"]["skipped"] is False
        assert lock_item(sandbox) is None

    def test_no_tracer_is_built_when_tracing_is_off(self, invoke, monkeypatch):
        assert lambda_handler._tracer({}) is None
        assert (
            lambda_handler._tracer({"CANARY_TRACING": "true", "POWERTOOLS_TRACE_DISABLED": "true"})
            is None
        )
        stub_scenario(monkeypatch)
        invoke()
        assert lambda_handler._warm.tracer is None


def run_from_dict(doc: dict[str, Any]) -> RunResult:
    """The one session's RunResult back from the result document (the CLI's --json output)."""
    session = only_session(doc)
    return RunResult(
        run_id=doc["run_id"],
        target=doc["target"],
        environment=doc["environment"],
        started_at=session["started_at"],
        duration_ms=session["duration_ms"],
        error=session["error"],
        metrics=dict(session["metrics"]),
        lane=doc["lane"],
        session=session["name"],
        client_id=session["client_id"],
        thread_id=session["thread_id"],
        steps=[
            StepResult(
                s["name"],
                Status(s["status"]),
                s["duration_ms"],
                s["reason"],
                dict(s["measurements"]),
                list(s["findings"]),
                s["attempts"],
            )
            for s in session["steps"]
        ],
    )


class TestLocalParity:
    def test_cli_emf_lines_are_the_lines_the_lambda_prints(self, invoke, monkeypatch):
        # `python -m canary run --emf` against its own sandbox, in its own process.
        cli = subprocess.run(
            [sys.executable, "-m", "canary", "run", "--emf", "--json", "--quiet"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert cli.returncode == 0, cli.stderr[-2000:]
        doc = json.loads(cli.stdout)
        run = run_from_dict(doc)
        # The handler, given that very run, prints the very same lines.
        monkeypatch.setenv("CANARY_ENVIRONMENT", run.environment)
        monkeypatch.setattr(canary.runner, "run_scenario", lambda *a, **k: run)
        inv = invoke()
        assert inv.emf_lines == doc["emf"]
        assert inv.run_metrics["ScenarioSuccess"] == 1.0


def spy_on_run_scenario(monkeypatch) -> list[float]:
    """Record the budget of every real run_scenario call (the run still happens)."""
    calls: list[float] = []
    real = canary.runner.run_scenario

    def spy(config: Any, deps: Any, clock: Any, **kwargs: Any) -> Any:
        calls.append(kwargs["deadline_s"])
        return real(config, deps, clock, **kwargs)

    monkeypatch.setattr(canary.runner, "run_scenario", spy)
    return calls


def stub_scenario(monkeypatch, seen: list[Any] | None = None) -> None:
    """A passing one-step run, for tests about the handler's plumbing only."""

    def passing(config: Any, deps: Any, clock: Any, **kwargs: Any) -> RunResult:
        if seen is not None:
            seen.append(deps)
        return RunResult(
            run_id=kwargs["run_id"],
            target=config.target,
            environment=config.environment,
            started_at=clock.now(),
            steps=[StepResult("preflight", Status.PASSED)],
            duration_ms=1.0,
        )

    monkeypatch.setattr(canary.runner, "run_scenario", passing)


# -- a slow platform: the chain canary -> EMF -> alarm ----------------------------------------


class TestSlowWake:
    faults = ("slow_wake",)

    def test_slow_wake_fails_the_step_and_trips_the_wake_alarm_after_two_of_three(
        self, invoke, sandbox
    ):
        inv = invoke()
        metrics = inv.run_metrics
        wake = next(s for s in only_session(inv.result)["steps"] if s["name"] == "wake_hermes")
        assert wake["status"] == "failed"
        assert inv.step_success["wake_hermes"] == 0.0
        assert metrics["ScenarioSuccess"] == 0.0 and metrics["CanaryError"] == 0.0
        threshold = float(handler_environment(sandbox)["WAKE_FAILED_MS"])
        assert metrics["ContainerWakeTime"] == pytest.approx(wake["measurements"]["wake_ms"])
        assert metrics["ContainerWakeTime"] > threshold
        assert "wake_hermes" in inv.summary_line()["message"]

        # The same EMF lines, observed in consecutive periods, through the alarm rules
        # (the sandbox's wake threshold in place of production's 60 s).
        specs = {a.name: a for a in alarm_specs(wake_threshold_ms=threshold)}
        period = specs["WakeTimeHigh"].period_seconds
        start = (int(time.time()) // period - 10) * period
        lines = []
        for i in range(2):
            for line in inv.emf_lines:
                doc = json.loads(line)
                doc["_aws"]["Timestamp"] = (start + i * period + 30) * 1000
                lines.append(json.dumps(doc))
        times = [start + (i + 1) * period for i in range(2)]
        dims = {ENVIRONMENT_DIMENSION: ENVIRONMENT, LANE_DIMENSION: "full"}

        def states(name: str) -> list[AlarmState]:
            spec = specs[name]
            points = datapoints_from_emf(
                lines, namespace=DEFAULT_NAMESPACE, metric=spec.metric, dimensions=dims
            )
            return simulate(spec, points, times=times, initial_state=AlarmState.OK)

        assert states("WakeTimeHigh") == [AlarmState.OK, AlarmState.ALARM]
        assert states("ScenarioFailed") == [AlarmState.OK, AlarmState.ALARM]
        assert states("CanaryHeartbeat") == [AlarmState.OK, AlarmState.OK]
        assert states("CanaryError") == [AlarmState.OK, AlarmState.OK]
