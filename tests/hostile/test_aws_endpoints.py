"""AWS endpoints that hang, reset, answer 500, throttle or answer an HTML page: every shape
is a clear reason, bounded in time, never a traceback, never called a configuration error.

The endpoints are real loopback HTTP servers (aws_fixtures.AwsStandIn) used as
`endpoint_url`, with boto3 clients built the way the canary builds them.
"""

from __future__ import annotations

import gc
import io
import json
import threading
import time
import tracemalloc

import pytest
from aws_fixtures import SECRETS, AwsStandIn, aws_standin, boto_client, refused_url

from canary.clients.aws import BoundedClient
from canary.clients.base import TargetError
from canary.clients.orchestrator import OrchestratorClient
from canary.clients.state import StateClient
from canary.clock import SystemClock
from canary.deadline import Deadline
from canary.lock import LockError, RunLock
from canary.secrets import ApiKeyProvider, SecretError

__all__ = ["aws_standin"]  # the fixture, imported for pytest

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:canary-key-AbCdEf"
CALL_S = 1.0  # how long a hanging call is waited for, in these tests
ANSWER_S = 5.0  # the limit for the others: a throttled call's retry backs off up to 2 s
SLACK_S = 0.5  # thread start and join latency on a busy 2-core machine

# mode -> what the reason must say (the same words wherever the call came from)
REASONS = {
    "hang": "no answer within",
    "reset": "connection closed or reset before an answer",
    "500": "AWS server error HTTP 500: InternalFailure",
    "html": "HTTP 502 with a text/html page, not an AWS answer",
    "html200": "HTTP 200 answer with a text/html body, not AWS JSON",
    "throttle": "throttled: ThrottlingException",
    "refused": "could not connect to the endpoint",
}


def limit(mode: str) -> float:
    return CALL_S if mode == "hang" else ANSWER_S


def endpoint(stand_in: AwsStandIn, mode: str) -> str:
    if mode == "refused":
        return refused_url()
    stand_in.misbehave(mode)
    return stand_in.url


def config(**overrides):
    from types import SimpleNamespace

    names = dict(containers_table="webordinary-containers",
                 thread_mappings_table="webordinary-thread-mappings",
                 sessions_table="webordinary-edit-sessions", container_index="container-index")
    return SimpleNamespace(**{**names, **overrides})


@pytest.mark.parametrize("mode", sorted(REASONS))
def test_a_dynamodb_failure_is_a_target_error_naming_the_call_and_what_went_wrong(
    aws_standin, mode
):
    ddb = BoundedClient(boto_client("dynamodb", endpoint(aws_standin, mode)),
                        Deadline.after(SystemClock(), limit(mode)))
    began = time.monotonic()
    with pytest.raises(TargetError) as caught:
        StateClient(ddb, config()).get_container("c1")
    assert time.monotonic() - began < limit(mode) + SLACK_S
    message = str(caught.value)
    assert message.startswith("GetItem webordinary-containers: ")
    assert REASONS[mode] in message
    assert "\n" not in message and len(message) < 400


@pytest.mark.parametrize("mode", sorted(REASONS))
def test_an_ecs_failure_is_a_target_error_naming_the_call_and_what_went_wrong(
    aws_standin, mode
):
    ecs = BoundedClient(boto_client("ecs", endpoint(aws_standin, mode)),
                        Deadline.after(SystemClock(), limit(mode)))
    with pytest.raises(TargetError) as caught:
        OrchestratorClient(ecs, "webordinary-edit-cluster").list_task_arns("RUNNING")
    assert str(caught.value).startswith("ListTasks webordinary-edit-cluster: ")
    assert REASONS[mode] in str(caught.value)


@pytest.mark.parametrize("mode", sorted(REASONS))
def test_a_failed_secret_read_is_named_and_not_called_a_configuration_error(aws_standin, mode):
    provider = ApiKeyProvider(secret_arn=ARN, clock=SystemClock(),
                              client=boto_client("secretsmanager", endpoint(aws_standin, mode)))
    began = time.monotonic()
    with pytest.raises(SecretError) as caught:
        provider.get(timeout_s=limit(mode))
    assert time.monotonic() - began < limit(mode) + SLACK_S
    assert str(caught.value).startswith(f"cannot read the API key from secret {ARN}: ")
    assert REASONS[mode] in str(caught.value)
    assert caught.value.configuration is False
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize("mode", sorted(REASONS))
def test_a_lock_table_failure_is_a_lock_error_with_the_reason(aws_standin, mode):
    lock = RunLock("canary-lock", owner="run-1", ttl_s=60,
                   client=boto_client("dynamodb", endpoint(aws_standin, mode)))
    began = time.monotonic()
    with pytest.raises(LockError) as caught:
        lock.acquire(timeout_s=limit(mode))
    assert time.monotonic() - began < limit(mode) + SLACK_S
    assert str(caught.value).startswith("could not take the run lock in table canary-lock: ")
    assert REASONS[mode] in str(caught.value)


def test_a_lock_take_left_unanswered_is_given_back_in_case_it_won(aws_standin):
    aws_standin.misbehave("hang", target="DynamoDB_20120810.PutItem")
    lock = RunLock("canary-lock", owner="run-1", ttl_s=60,
                   client=boto_client("dynamodb", aws_standin.url))
    with pytest.raises(LockError):
        lock.acquire(timeout_s=0.3)
    with pytest.raises(LockError, match="could not release"):  # the stand-in answers 500
        lock.release(timeout_s=CALL_S)
    assert aws_standin.calls[-1] == "DynamoDB_20120810.DeleteItem"


def test_a_lock_take_refused_by_dynamodb_is_not_given_back(aws_standin):
    aws_standin.misbehave("throttle")
    lock = RunLock("canary-lock", owner="run-1", ttl_s=60,
                   client=boto_client("dynamodb", aws_standin.url))
    with pytest.raises(LockError):
        lock.acquire(timeout_s=ANSWER_S)
    assert lock.release(timeout_s=CALL_S) is False
    assert "DynamoDB_20120810.DeleteItem" not in aws_standin.calls


def test_no_time_left_means_the_call_is_not_made(aws_standin):
    ddb = BoundedClient(boto_client("dynamodb", aws_standin.url),
                        Deadline.after(SystemClock(), 0))
    with pytest.raises(TargetError, match="GetItem webordinary-containers: not attempted"):
        StateClient(ddb, config()).get_container("c1")
    assert aws_standin.calls == []


def test_an_html_answer_with_a_200_is_not_read_as_an_empty_table(aws_standin):
    # botocore parses the page into {} - without the check this is "no such item"
    aws_standin.misbehave("html200", target=SECRETS)
    raw = boto_client("secretsmanager", aws_standin.url, raw=True)
    assert "SecretString" not in raw.get_secret_value(SecretId=ARN)
    provider = ApiKeyProvider(secret_arn=ARN, clock=SystemClock(),
                              client=boto_client("secretsmanager", aws_standin.url))
    with pytest.raises(SecretError, match="not AWS JSON"):
        provider.get(timeout_s=CALL_S)


def test_repeated_failures_hold_neither_memory_nor_threads(aws_standin):
    """Abandoned and failed calls leave nothing behind: thread count and heap come back."""
    aws_standin.misbehave("html")  # a 35 KB page each time
    ddb = BoundedClient(boto_client("dynamodb", aws_standin.url),
                        Deadline.after(SystemClock(), 60))
    state = StateClient(ddb, config())

    def fail_a_few(n: int) -> None:
        for _ in range(n):
            with pytest.raises(TargetError):
                state.get_container("c1")

    fail_a_few(5)  # warm up: botocore loads its models once
    threads = threading.active_count()
    gc.collect()
    tracemalloc.start()
    try:
        base, _ = tracemalloc.get_traced_memory()
        fail_a_few(40)
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert current - base < 2 * 1024 * 1024
    assert peak - base < 16 * 1024 * 1024
    assert threading.active_count() <= threads + 1


@pytest.mark.parametrize("mode", ["500", "hang"])
def test_a_cli_run_whose_secret_read_fails_exits_1_naming_the_read(aws_standin, monkeypatch,
                                                                  mode):
    from canary.cli import EXIT_FAILED, main

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    environ = {
        "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint(aws_standin, mode),
        "HERMES_API_URL": "http://127.0.0.1:9/hermes",
        "PREVIEW_URL_TEMPLATE": "http://127.0.0.1:9/session/{threadId}/",
        "INTERNAL_API_KEY_SECRET_ARN": ARN, "CANARY_CLIENT_ID": "canary",
        "CANARY_USER_ID": "canary", "CANARY_THREAD_ID": "hostile-cli", "CANARY_BUDGET_S": "4",
    }
    out, err = io.StringIO(), io.StringIO()
    began = time.monotonic()
    code = main(["run", "--target", "env", "--json", "--quiet"], environ=environ, stdout=out,
                stderr=err)
    assert time.monotonic() - began < 4 + 1
    assert code == EXIT_FAILED, err.getvalue()
    assert "configuration error" not in err.getvalue()
    error = json.loads(out.getvalue())["error"]
    assert error.startswith(f"could not read the internal API key: cannot read the API key "
                            f"from secret {ARN}: ")
    assert REASONS[mode] in error
