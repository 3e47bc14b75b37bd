"""What one run leaves for the next, in the canary's own table (never the platform's).

In observe mode a run leaves the synthetic container running and lets it sleep on its own;
the next run judges that sleep from facts the canary did not write (how ECS says the task
ended). For that it needs to know which task it left and when it last used it: one item
in the canary's table (the lock table, `lockId` = `memory#{containerId}`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from canary.clients.base import CanaryFault, TargetError
from canary.clients.state import aws_call
from canary.lock import PARTITION_KEY, TTL_ATTRIBUTE

KEEP_S = 7 * 24 * 3600  # DynamoDB's TTL removes a memory nobody reads any more


@dataclass(frozen=True)
class LeftRunning:
    """The task a run left running and the canary's last activity on it (epoch ms)."""

    task_arn: str
    last_activity_ms: int
    left_at_ms: int
    run_id: str


@contextmanager
def own_table() -> Iterator[None]:
    """Any failure of the canary's own table is the canary's fault, whatever its shape."""
    try:
        yield
    except CanaryFault:
        raise
    except TargetError as exc:
        raise CanaryFault(f"the canary's own table: {exc}") from None


class RunMemory:
    """Get and put the one memory item. AWS failures raise TargetError."""

    def __init__(self, dynamodb: Any, table: str, container_id: str) -> None:
        self.ddb = dynamodb
        self.table = table
        self.key = {PARTITION_KEY: {"S": f"memory#{container_id}"}}

    def recall(self) -> LeftRunning | None:
        with own_table(), aws_call(f"GetItem {self.table}"):
            item = self.ddb.get_item(TableName=self.table, Key=self.key,
                                     ConsistentRead=True).get("Item")
        try:
            return LeftRunning(item["taskArn"]["S"], int(item["lastActivityMs"]["N"]),
                               int(item["leftAtMs"]["N"]), item["runId"]["S"]) if item else None
        except (KeyError, TypeError, ValueError):
            return None  # an item of another shape: nothing usable to judge

    def remember(self, left: LeftRunning | None) -> None:
        """Store what this run left running; None forgets (nothing was left)."""
        with own_table(), aws_call(f"{'PutItem' if left else 'DeleteItem'} {self.table}"):
            if left is None:
                self.ddb.delete_item(TableName=self.table, Key=self.key)
                return
            self.ddb.put_item(TableName=self.table, Item={
                **self.key,
                "taskArn": {"S": left.task_arn},
                "lastActivityMs": {"N": str(left.last_activity_ms)},
                "leftAtMs": {"N": str(left.left_at_ms)},
                "runId": {"S": left.run_id},
                TTL_ATTRIBUTE: {"N": str(left.left_at_ms // 1000 + KEEP_S)},
            })
