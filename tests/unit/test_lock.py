"""The run lock: conditional put with expiry, owner-conditional release, stale takeover."""

from __future__ import annotations

import threading

import boto3
import pytest
from moto import mock_aws

from canary.lock import LockError, LockHolder, RunLock

TABLE = "canary-lock"


@pytest.fixture
def dynamodb(monkeypatch):
    _make_moto_conditional_writes_atomic(monkeypatch)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "lockId", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "lockId", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


def _make_moto_conditional_writes_atomic(monkeypatch) -> None:
    """DynamoDB evaluates a condition and writes atomically; moto 5.2 does not.

    moto checks the condition and then stores the item without any lock, so two
    threads can both pass `attribute_not_exists` (seen: 2 winners in ~1 of 5 runs).
    Serializing moto's write operations restores DynamoDB's documented behaviour,
    so the concurrency test checks our lock, not moto's emulation.
    """
    from moto.dynamodb.models import DynamoDBBackend

    atomic = threading.Lock()
    for name in ("put_item", "delete_item", "update_item"):
        original = getattr(DynamoDBBackend, name)

        def serialized(self, *args, _original=original, **kwargs):
            with atomic:
                return _original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, serialized)


class FakeNow:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def lock(client, owner: str, now=None, ttl_s: float = 900) -> RunLock:
    return RunLock(TABLE, owner=owner, ttl_s=ttl_s, client=client, now=now or FakeNow())


def test_first_acquire_wins_and_writes_owner_and_expiry(dynamodb):
    now = FakeNow()
    assert lock(dynamodb, "run-1", now).acquire() is True
    item = dynamodb.get_item(TableName=TABLE, Key={"lockId": {"S": "session-resumption-canary"}})[
        "Item"
    ]
    assert item["owner"] == {"S": "run-1"}
    assert int(item["expiresAt"]["N"]) == int(now.t) + 900


def test_second_acquire_while_held_is_refused_and_names_the_holder(dynamodb):
    now = FakeNow()
    assert lock(dynamodb, "run-1", now).acquire()
    second = lock(dynamodb, "run-2", now)
    assert second.acquire() is False
    assert second.holder() == LockHolder("run-1", int(now.t) + 900)


def test_release_frees_the_lock_for_the_next_run(dynamodb):
    first = lock(dynamodb, "run-1")
    assert first.acquire()
    assert first.release() is True
    assert lock(dynamodb, "run-2").holder() is None
    assert lock(dynamodb, "run-2").acquire() is True


def test_stale_lock_is_taken_over_after_expiry(dynamodb):
    now = FakeNow()
    crashed = lock(dynamodb, "crashed-run", now, ttl_s=60)
    assert crashed.acquire()
    now.t += 59
    assert lock(dynamodb, "run-2", now).acquire() is False
    now.t += 1  # expiresAt reached: stale
    assert lock(dynamodb, "run-3", now).acquire() is True


def test_release_by_a_run_whose_lock_was_taken_over_leaves_the_new_owner_alone(dynamodb):
    now = FakeNow()
    slow = lock(dynamodb, "slow-run", now, ttl_s=60)
    assert slow.acquire()
    now.t += 120
    assert lock(dynamodb, "run-2", now).acquire()
    assert slow.release() is False
    assert lock(dynamodb, "run-2").holder().owner == "run-2"


def test_release_without_acquire_does_nothing(dynamodb):
    assert lock(dynamodb, "run-1").acquire()
    assert lock(dynamodb, "run-2").release() is False
    assert lock(dynamodb, "run-3").holder().owner == "run-1"


def test_concurrent_acquisitions_exactly_one_wins(dynamodb):
    contenders = 8
    barrier = threading.Barrier(contenders)
    results: dict[str, bool] = {}

    def contend(owner: str) -> None:
        # One client per thread, as separate Lambda containers would have.
        client = boto3.client("dynamodb", region_name="us-east-1")
        run_lock = RunLock(TABLE, owner=owner, ttl_s=900, client=client)
        barrier.wait(timeout=10)
        results[owner] = run_lock.acquire()

    threads = [threading.Thread(target=contend, args=(f"run-{i}",)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(results) == contenders
    winners = [owner for owner, won in results.items() if won]
    assert len(winners) == 1
    assert lock(dynamodb, "observer").holder().owner == winners[0]


def test_missing_table_is_a_lock_error_not_a_skip(dynamodb):
    run_lock = RunLock("no-such-table", owner="run-1", ttl_s=60, client=dynamodb)
    with pytest.raises(LockError, match=r"no-such-table.*ResourceNotFoundException"):
        run_lock.acquire()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"table_name": "", "owner": "o", "ttl_s": 1}, "LOCK_TABLE"),
        ({"table_name": "t", "owner": "", "ttl_s": 1}, "owner"),
        ({"table_name": "t", "owner": "o", "ttl_s": 0}, "ttl_s"),
    ],
)
def test_invalid_arguments_say_what_is_wrong(kwargs, message):
    table_name = kwargs.pop("table_name")
    with pytest.raises(ValueError, match=message):
        RunLock(table_name, client=object(), **kwargs)
