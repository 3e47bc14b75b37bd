"""Table access shared by Hermes, the router and the edit containers.

They read and write the tables straight through moto's in-process DynamoDB
backend: the very tables the moto server serves to the canary, with moto's own
condition evaluation, under the lock the server holds for every DynamoDB request
(so a conditional write is atomic whichever path it takes). Through boto3 and the
server, each call would cost 4-8 ms of botocore, HTTP and moto's response
serializer; the backend call costs ~0.05 ms. That is what lets a resume call for
a running container answer in a few milliseconds.
"""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from typing import Any

from sandbox.aws import AwsNames


def now_ms() -> int:
    return int(time.time() * 1000)


def _plain(value: Any) -> Any:
    """DynamoDB Decimals -> int/float, recursively."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == int(value) else float(value)
    return value


def _item(item: Any) -> dict[str, Any] | None:
    """A moto Item as plain Python values (a copy: the backend's item stays the backend's)."""
    return None if item is None else _plain(item.to_regular_json())


def _typed(value: Any) -> dict[str, Any]:
    """A Python value as a DynamoDB attribute value ({"S": ...}, {"N": ...}, {"M": ...})."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int | float | Decimal):
        return {"N": str(value)}
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, dict):
        return {"M": {k: _typed(v) for k, v in value.items()}}
    if value is None:
        return {"NULL": True}
    raise TypeError(f"no DynamoDB type for {type(value).__name__}")


class ConditionFailedError(Exception):
    """When a conditional write lost (another writer got there first)."""


class Tables:
    """The three tables, through moto's DynamoDB backend for this region (see the module doc)."""

    def __init__(self, backend: Any, names: AwsNames, lock: threading.Lock) -> None:
        from moto.dynamodb.exceptions import ConditionalCheckFailed

        self._db = backend
        self._lock = lock
        self._condition_failed = ConditionalCheckFailed
        self.names = names

    # -- containers -------------------------------------------------------------------
    def get_container(self, container_id: str) -> dict[str, Any] | None:
        with self._lock:
            return _item(self._db.get_item(
                self.names.containers_table, {"containerId": {"S": container_id}}
            ))

    def update_container(
        self,
        container_id: str,
        fields: dict[str, Any],
        condition: str | None = None,
        condition_values: dict[str, Any] | None = None,
    ) -> None:
        """SET the given fields (creating the row if absent); optional condition expression."""
        names = {f"#f{i}": k for i, k in enumerate(fields)}
        values = {f":v{i}": _typed(v) for i, v in enumerate(fields.values())}
        if condition:
            names["#status"] = "status"
            values.update({k: _typed(v) for k, v in (condition_values or {}).items()})
        self._update(
            container_id,
            update_expression="SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields))),
            expression_attribute_names=names,
            expression_attribute_values=values,
            condition_expression=condition,
        )

    def touch_if_running(self, container_id: str, now: int) -> dict[str, Any] | None:
        """The hot path: SET lastActivity if status is running; the new row, or None."""
        try:
            return self._update(
                container_id,
                update_expression="",
                expression_attribute_names={},
                expression_attribute_values={},
                attribute_updates={"lastActivity": {"Value": {"N": str(now)}, "Action": "PUT"}},
                expected={"status": {"Value": {"S": "running"}, "ComparisonOperator": "EQ"}},
            )
        except ConditionFailedError:
            return None

    def claim_start(self, container_id: str, now: int) -> None:
        """stopped/absent -> starting, atomically; ConditionFailedError if someone else won."""
        self.update_container(
            container_id,
            {"status": "starting", "lastActivity": now},
            condition="attribute_not_exists(containerId) OR #status = :stopped",
            condition_values={":stopped": "stopped"},
        )

    def _update(self, container_id: str, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            try:
                item = self._db.update_item(
                    self.names.containers_table, {"containerId": {"S": container_id}}, **kwargs
                )
            except self._condition_failed as exc:
                raise ConditionFailedError(container_id) from exc
            return _item(item) or {}

    # -- thread mappings and sessions -------------------------------------------------
    def get_mapping(self, thread_id: str) -> dict[str, Any] | None:
        with self._lock:
            return _item(self._db.get_item(
                self.names.thread_mappings_table, {"threadId": {"S": thread_id}}
            ))

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        """By partition key: works whether the table has a sort key (userId) or not."""
        items = self._query(
            self.names.sessions_table, None, "sessionId", session_id, limit=1
        )
        return items[0] if items else None

    def count_active_sessions(self, container_id: str) -> int:
        """Thread mappings of this container with status `active`, through container-index."""
        return len(self._query(
            self.names.thread_mappings_table, self.names.container_index,
            "containerId", container_id,
            filter_expression="#s = :active",
            expr_names={"#s": "status"},
            expr_values={":active": {"S": "active"}},
        ))

    def _query(
        self, table: str, index: str | None, key: str, value: str, limit: int | None = None,
        **filter_args: Any,
    ) -> list[dict[str, Any]]:
        """The items whose partition key `key` equals `value`, as plain values."""
        with self._lock:
            items, _, _ = self._db.query(
                table, {"S": value}, None, [], limit, None, True, None,
                index_name=index, consistent_read=index is None,
                hash_key_conditions=[(key, {"S": value})],
                **filter_args,
            )
            return [_item(i) for i in items]  # type: ignore[misc]
