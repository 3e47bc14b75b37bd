"""Fixtures of test_http_targets.py: hostile loopback servers (`serve`) and moto (`aws`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hostile_http import REGION, Behaviour, RawServer


@pytest.fixture
def serve() -> Iterator[Callable[[Behaviour], RawServer]]:
    """serve(behaviour) -> a started RawServer, stopped after the test."""
    servers: list[RawServer] = []

    def start(behave: Behaviour) -> RawServer:
        servers.append(RawServer(behave))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


# -- AWS: moto in-process, the platform's tables and cluster ------------------------------
@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": REGION}.items():
        monkeypatch.setenv(k, v)
    import boto3
    from moto import mock_aws

    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        ecs = boto3.client("ecs", region_name=REGION)
        _tables(ddb)
        ecs.create_cluster(clusterName="webordinary-edit-cluster")
        yield {"ddb": ddb, "ecs": ecs}


def _tables(ddb: Any) -> None:
    def table(name: str, key: str, **extra: Any) -> None:
        attrs = [{"AttributeName": key, "AttributeType": "S"}, *extra.pop("attrs", [])]
        ddb.create_table(TableName=name, KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
                         AttributeDefinitions=attrs, BillingMode="PAY_PER_REQUEST", **extra)

    table("webordinary-edit-sessions", "sessionId")
    table("webordinary-containers", "containerId")
    table("webordinary-thread-mappings", "threadId",
          attrs=[{"AttributeName": "containerId", "AttributeType": "S"}],
          GlobalSecondaryIndexes=[{
              "IndexName": "container-index",
              "KeySchema": [{"AttributeName": "containerId", "KeyType": "HASH"}],
              "Projection": {"ProjectionType": "ALL"}}])
