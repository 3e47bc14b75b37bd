"""The three tables: containers, thread mappings (with container-index), edit sessions.

Works with both sessions key schemas (sessionId, or sessionId + userId): rows are
written with both attributes and read by partition key. AWS failures raise
TargetError with the operation and error code.
"""

from __future__ import annotations

from typing import Any

from canary.clients.aws import aws_call  # re-exported: orchestrator.py imports it from here

_MAX_PAGES = 20


def _ser(value: Any) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    return TypeSerializer().serialize(value)


def _item(raw: dict[str, Any] | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    from boto3.dynamodb.types import TypeDeserializer

    de = TypeDeserializer()
    return {k: _plain(de.deserialize(v)) for k, v in raw.items()}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if type(value).__name__ == "Decimal":
        return int(value) if value == int(value) else float(value)
    return value


class StateClient:
    def __init__(self, dynamodb: Any, config: Any) -> None:
        self.ddb = dynamodb
        self.containers_table = config.containers_table
        self.mappings_table = config.thread_mappings_table
        self.sessions_table = config.sessions_table
        self.container_index = config.container_index

    # -- containers -------------------------------------------------------------------
    def get_container(self, container_id: str) -> dict[str, Any] | None:
        with aws_call(f"GetItem {self.containers_table}"):
            resp = self.ddb.get_item(
                TableName=self.containers_table, Key={"containerId": {"S": container_id}},
                ConsistentRead=True,
            )
        return _item(resp.get("Item"))

    def update_container(self, container_id: str, fields: dict[str, Any]) -> None:
        names = {f"#f{i}": k for i, k in enumerate(fields)}
        values = {f":v{i}": _ser(v) for i, v in enumerate(fields.values())}
        expr = "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(fields)))
        with aws_call(f"UpdateItem {self.containers_table}"):
            self.ddb.update_item(
                TableName=self.containers_table, Key={"containerId": {"S": container_id}},
                UpdateExpression=expr, ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )

    # -- thread mappings --------------------------------------------------------------
    def get_mapping(self, thread_id: str) -> dict[str, Any] | None:
        with aws_call(f"GetItem {self.mappings_table}"):
            resp = self.ddb.get_item(
                TableName=self.mappings_table, Key={"threadId": {"S": thread_id}},
                ConsistentRead=True,
            )
        return _item(resp.get("Item"))

    def put_mapping(self, item: dict[str, Any]) -> None:
        with aws_call(f"PutItem {self.mappings_table}"):
            self.ddb.put_item(
                TableName=self.mappings_table, Item={k: _ser(v) for k, v in item.items()}
            )

    def delete_mapping(self, thread_id: str) -> None:
        with aws_call(f"DeleteItem {self.mappings_table}"):
            self.ddb.delete_item(
                TableName=self.mappings_table, Key={"threadId": {"S": thread_id}}
            )

    def mappings_for_container(self, container_id: str) -> list[dict[str, Any]]:
        """Every mapping of the container, through the container-index GSI."""
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {
            "TableName": self.mappings_table, "IndexName": self.container_index,
            "KeyConditionExpression": "containerId = :c",
            "ExpressionAttributeValues": {":c": {"S": container_id}},
        }
        with aws_call(f"Query {self.mappings_table}/{self.container_index}"):
            for _ in range(_MAX_PAGES):
                resp = self.ddb.query(**kwargs)
                items.extend(_item(i) or {} for i in resp.get("Items", []))
                if not resp.get("LastEvaluatedKey"):
                    break
                kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]
        return items

    # -- sessions ---------------------------------------------------------------------
    def put_session(self, item: dict[str, Any]) -> None:
        with aws_call(f"PutItem {self.sessions_table}"):
            self.ddb.put_item(
                TableName=self.sessions_table, Item={k: _ser(v) for k, v in item.items()}
            )

    def get_session(self, session_id: str) -> dict[str, Any] | None:
        with aws_call(f"Query {self.sessions_table}"):
            resp = self.ddb.query(
                TableName=self.sessions_table, KeyConditionExpression="sessionId = :s",
                ExpressionAttributeValues={":s": {"S": session_id}}, ConsistentRead=True,
                Limit=1,
            )
        items = resp.get("Items") or []
        return _item(items[0]) if items else None
