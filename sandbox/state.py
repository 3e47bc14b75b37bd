"""Table access shared by Hermes, the router and the edit containers (boto3 against moto)."""

from __future__ import annotations

import time
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import ClientError

from sandbox.aws import AwsNames

_ser = TypeSerializer()
_de = TypeDeserializer()


def now_ms() -> int:
    return int(time.time() * 1000)


def _plain(value: Any) -> Any:
    """DynamoDB Decimals -> int/float, recursively."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if type(value).__name__ == "Decimal":
        return int(value) if value == int(value) else float(value)
    return value


def _item(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    return {k: _plain(_de.deserialize(v)) for k, v in raw.items()}


class ConditionFailedError(Exception):
    """When a conditional write lost (another writer got there first)."""


class Tables:
    """The three tables. One boto3 DynamoDB client (thread-safe), passed in."""

    def __init__(self, ddb: Any, names: AwsNames) -> None:
        self.ddb = ddb
        self.names = names

    # -- containers -------------------------------------------------------------------
    def get_container(self, container_id: str) -> dict[str, Any] | None:
        resp = self.ddb.get_item(
            TableName=self.names.containers_table,
            Key={"containerId": {"S": container_id}},
            ConsistentRead=True,
        )
        return _item(resp.get("Item"))

    def update_container(
        self,
        container_id: str,
        fields: dict[str, Any],
        condition: str | None = None,
        condition_values: dict[str, Any] | None = None,
    ) -> None:
        """SET the given fields (creating the row if absent); optional condition expression."""
        names = {f"#f{i}": k for i, k in enumerate(fields)}
        values = {f":v{i}": _ser.serialize(v) for i, v in enumerate(fields.values())}
        expr = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
        kwargs: dict[str, Any] = {}
        if condition:
            names["#status"] = "status"
            values.update({k: _ser.serialize(v) for k, v in (condition_values or {}).items()})
            kwargs["ConditionExpression"] = condition
        try:
            self.ddb.update_item(
                TableName=self.names.containers_table,
                Key={"containerId": {"S": container_id}},
                UpdateExpression=expr,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                **kwargs,
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                raise ConditionFailedError(container_id) from exc
            raise

    def touch_if_running(self, container_id: str, now: int) -> dict[str, Any] | None:
        """One call for the hot path: SET lastActivity if running; the new row, or None."""
        try:
            # the legacy parameters: moto evaluates them faster than expressions
            resp = self.ddb.update_item(
                TableName=self.names.containers_table,
                Key={"containerId": {"S": container_id}},
                AttributeUpdates={"lastActivity": {"Value": {"N": str(now)}, "Action": "PUT"}},
                Expected={"status": {"Value": {"S": "running"}, "ComparisonOperator": "EQ"}},
                ReturnValues="ALL_NEW",
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return None
            raise
        return _item(resp.get("Attributes"))

    def claim_start(self, container_id: str, now: int) -> None:
        """stopped/absent -> starting, atomically; ConditionFailedError if someone else won."""
        self.update_container(
            container_id,
            {"status": "starting", "lastActivity": now},
            condition="attribute_not_exists(containerId) OR #status = :stopped",
            condition_values={":stopped": "stopped"},
        )

    # -- thread mappings and sessions -------------------------------------------------
    def get_mapping(self, thread_id: str) -> dict[str, Any] | None:
        resp = self.ddb.get_item(
            TableName=self.names.thread_mappings_table,
            Key={"threadId": {"S": thread_id}},
            ConsistentRead=True,
        )
        return _item(resp.get("Item"))

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        """By partition key: works whether the table has a sort key (userId) or not."""
        resp = self.ddb.query(
            TableName=self.names.sessions_table,
            KeyConditions={
                "sessionId": {"AttributeValueList": [{"S": session_id}], "ComparisonOperator": "EQ"}
            },
            ConsistentRead=True,
            Limit=1,
        )
        items = resp.get("Items") or []
        return _item(items[0]) if items else None

    def count_active_sessions(self, container_id: str) -> int:
        """Thread mappings of this container with status `active`, through container-index."""
        count = 0
        kwargs: dict[str, Any] = {
            "TableName": self.names.thread_mappings_table,
            "IndexName": self.names.container_index,
            "KeyConditionExpression": "containerId = :c",
            "FilterExpression": "#s = :active",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {":c": {"S": container_id}, ":active": {"S": "active"}},
            "Select": "COUNT",
        }
        while True:
            resp = self.ddb.query(**kwargs)
            count += int(resp.get("Count", 0))
            if not resp.get("LastEvaluatedKey"):
                return count
            kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
