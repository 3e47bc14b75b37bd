"""No overlapping runs: one lock item in the canary's own DynamoDB table.

The table (infra/lock_table.py) has the key `lockId` (S) and the TTL attribute
`expiresAt` (epoch seconds). Acquiring is one conditional put that succeeds when
no item exists or the existing one has expired (a crashed run's lock is taken
over without waiting for DynamoDB's TTL sweeper, which may lag for days);
releasing is a delete conditional on still being the owner. Two concurrent
acquisitions cannot both win: DynamoDB evaluates the condition atomically. Each lane has
its own lock item (`lane_lock_id`): a quick run never waits for a full cycle.

Every call takes an optional `timeout_s`: the caller's deadline bounds it, and a call
that does not answer in time is abandoned (LockError). An acquisition whose outcome is
unknown (no answer, a reset) may still have written the item, so `release()` then tries
the owner-conditional delete anyway.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from canary.deadline import bounded

PARTITION_KEY = "lockId"
TTL_ATTRIBUTE = "expiresAt"
OWNER_ATTRIBUTE = "owner"
DEFAULT_LOCK_ID = "session-resumption-canary"


def lane_lock_id(lane: str) -> str:
    """Each lane its own lock (canary/lanes.py): the full lane keeps DEFAULT_LOCK_ID, so a
    deployment from before the lanes and one after never run at once."""
    from canary.lanes import lock_id

    return lock_id(DEFAULT_LOCK_ID, lane)


class LockError(Exception):
    """When the lock table cannot be read or written (not when the lock is held)."""


@dataclass(frozen=True)
class LockHolder:
    """Who holds the lock and until when (epoch seconds)."""

    owner: str
    expires_at: int


class RunLock:
    """The run lock. `acquire()` -> True when this run may proceed; `release()` at the end.

    `ttl_s` should cover the longest possible run (the Lambda timeout): after it
    the lock counts as stale and the next run takes it over.
    """

    def __init__(
        self,
        table_name: str,
        *,
        owner: str,
        ttl_s: float,
        lock_id: str = DEFAULT_LOCK_ID,
        client: Any = None,
        now: Callable[[], float] = time.time,
    ) -> None:
        if not table_name:
            raise ValueError("table_name must name the canary's lock table (LOCK_TABLE)")
        if not owner:
            raise ValueError("owner must identify this run (e.g. the run id)")
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be > 0 seconds, got {ttl_s}")
        self.table_name = table_name
        self.owner = owner
        self.ttl_s = ttl_s
        self.lock_id = lock_id
        self._now = now
        if client is None:
            import boto3  # only when no client is passed: boto3 is heavy to import

            client = boto3.client("dynamodb")
        self._client = client
        self.held = False
        self._maybe_held = False  # an acquisition without an answer may have succeeded

    def acquire(self, timeout_s: float | None = None) -> bool:
        """Take the lock if it is free or stale. False when another run holds it."""
        now = int(self._now())
        try:
            _call(
                self._client.put_item, timeout_s,
                TableName=self.table_name,
                Item={
                    PARTITION_KEY: {"S": self.lock_id},
                    OWNER_ATTRIBUTE: {"S": self.owner},
                    TTL_ATTRIBUTE: {"N": str(now + max(1, math.ceil(self.ttl_s)))},
                    "acquiredAt": {"N": str(now)},
                },
                ConditionExpression="attribute_not_exists(#k) OR #e <= :now",
                ExpressionAttributeNames={"#k": PARTITION_KEY, "#e": TTL_ATTRIBUTE},
                ExpressionAttributeValues={":now": {"N": str(now)}},
            )
        except Exception as exc:
            if _is_condition_failure(exc):
                return False
            self._maybe_held = not _is_refusal(exc)
            raise LockError(
                f"could not take the run lock in table {self.table_name}: {_describe(exc)}"
            ) from None
        self.held = True
        return True

    def release(self, timeout_s: float | None = None) -> bool:
        """Give the lock back. False when it was no longer ours (it expired and was taken over)."""
        if not (self.held or self._maybe_held):
            return False
        self.held = self._maybe_held = False
        try:
            _call(
                self._client.delete_item, timeout_s,
                TableName=self.table_name,
                Key={PARTITION_KEY: {"S": self.lock_id}},
                ConditionExpression="#o = :owner",
                ExpressionAttributeNames={"#o": OWNER_ATTRIBUTE},
                ExpressionAttributeValues={":owner": {"S": self.owner}},
            )
        except Exception as exc:
            if _is_condition_failure(exc):
                return False
            raise LockError(
                f"could not release the run lock in table {self.table_name}: {_describe(exc)}"
            ) from None
        return True

    def holder(self, timeout_s: float | None = None) -> LockHolder | None:
        """The current holder, for the log line of a skipped run (None when free)."""
        try:
            item = _call(
                self._client.get_item, timeout_s,
                TableName=self.table_name,
                Key={PARTITION_KEY: {"S": self.lock_id}},
                ConsistentRead=True,
            ).get("Item")
        except Exception as exc:
            raise LockError(
                f"could not read the run lock in table {self.table_name}: {_describe(exc)}"
            ) from None
        if not item:
            return None
        return LockHolder(
            owner=item.get(OWNER_ATTRIBUTE, {}).get("S", "?"),
            expires_at=int(item.get(TTL_ATTRIBUTE, {}).get("N", "0")),
        )


def _call(fn: Callable[..., Any], timeout_s: float | None, **kwargs: Any) -> Any:
    """fn(**kwargs), abandoned after `timeout_s` when one is given."""
    if timeout_s is None:
        return fn(**kwargs)
    return bounded(partial(fn, **kwargs), timeout_s, what="run-lock")


def _is_condition_failure(exc: Exception) -> bool:
    response = getattr(exc, "response", None)
    return (
        isinstance(response, dict)
        and response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"
    )


def _is_refusal(exc: Exception) -> bool:
    """DynamoDB answered with a 4xx error: the item was certainly not written (after no
    answer, a reset or a 5xx it may have been)."""
    response = getattr(exc, "response", None)
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode") if isinstance(
        response, dict) else None
    return isinstance(status, int) and 400 <= status < 500


def _describe(exc: Exception) -> str:
    from canary.clients.aws import describe_aws_error

    return describe_aws_error(exc)

