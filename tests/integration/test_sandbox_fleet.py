"""Sessions and lanes against the sandbox (one sandbox for the module): the quick lane keeps
its session warm and never makes a cold wake; several sessions run concurrently, each in
its own container, each reported."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from canary.clock import SystemClock
from canary.composition import open_dependencies
from canary.config import CanaryConfig
from canary.metrics import emf_documents
from canary.models import FleetResult, Status
from canary.runner import run_fleet
from canary.sessions import SessionSpec

pytestmark = pytest.mark.integration


def fleet_against(p: Any, **overrides: Any) -> FleetResult:
    config = CanaryConfig.for_sandbox(p.info, **overrides)
    clock = SystemClock()
    with open_dependencies(config, clock) as deps:
        return run_fleet(config, deps, clock)


def not_passed(run: Any) -> list[tuple[str, str, str]]:
    return [(s.name, s.status.value, s.reason) for s in run.steps
            if s.status is not Status.PASSED]


def test_quick_lane_makes_no_cold_wake_and_leaves_its_session_warm_for_the_next(platform):
    first = fleet_against(platform, lane="quick")
    (run,) = first.sessions
    assert first.ok, not_passed(run)
    assert [s.name for s in run.steps] == [
        "preflight", "warm_up", "route", "warm_api", "hermes_not_found", "router_not_found",
        "websocket", "auth", "cleanup"]
    assert run.thread_id.endswith("-quick")  # never the full lane's container
    assert not {"ContainerWakeTime", "PreviewWakeTime", "AutoSleepMissed"} & set(run.metrics)
    assert run.metrics["APIResponseTime"] >= 0
    container = CanaryConfig.for_sandbox(platform.info, lane="quick").run_configs()[0]
    assert platform.status(container.container_id) in ("running", "idle")
    assert len([t for t in platform.tasks(container.container_id)
                if t["desiredStatus"] == "RUNNING"]) == 1

    second = fleet_against(platform, lane="quick")
    (again,) = second.sessions
    assert second.ok, not_passed(again)
    assert again.step("warm_up").measurements["found"] == "running"
    assert again.step("preflight").measurements["initial_status"] in ("running", "idle")


def test_three_sessions_run_concurrently_each_in_its_own_container(platform):
    sessions = tuple(SessionSpec(f"s{i}", thread_id=f"fleet-thread-{i}") for i in (1, 2, 3))
    started = time.monotonic()
    fleet = fleet_against(platform, configured_sessions=sessions, sleep_mode="force")
    took = time.monotonic() - started
    assert fleet.ok, [(r.session, not_passed(r)) for r in fleet.sessions]
    doc = json.loads(json.dumps(fleet.to_dict()))
    assert [s["name"] for s in doc["sessions"]] == ["s1", "s2", "s3"]
    assert len({s["thread_id"] for s in doc["sessions"]}) == 3
    assert all(s["ok"] and s["steps"] for s in doc["sessions"])
    waits = [r.duration_ms / 1000 for r in fleet.sessions]
    assert took < sum(waits)  # concurrently, not one after another
    per_session = {d["Session"] for d in emf_documents(fleet, environment="sandbox")
                   if "Session" in d}
    assert per_session == {"s1", "s2", "s3"}


def test_retire_stops_the_quick_lanes_warm_tasks_and_mappings_and_nothing_else(
        platform, monkeypatch):
    from canary.cli import main
    from canary.retire import retire_lane

    sessions = tuple(SessionSpec(f"r{i}", thread_id=f"retire-thread-{i}") for i in (1, 2))
    overrides: dict[str, Any] = {"lane": "quick", "configured_sessions": sessions}
    warm = fleet_against(platform, **overrides)
    assert warm.ok, [(r.session, not_passed(r)) for r in warm.sessions]
    config = CanaryConfig.for_sandbox(platform.info, **overrides)
    runs = config.run_configs()
    assert all(any(t["desiredStatus"] == "RUNNING" for t in platform.tasks(c.container_id))
               for c in runs)
    foreign = {t["taskArn"] for t in platform.foreign_tasks() if t["lastStatus"] != "STOPPED"}
    clock = SystemClock()
    with open_dependencies(config, clock) as deps:
        retired = retire_lane(config, deps, clock, lane="quick", budget_s=60)
    assert [(r.session, r.ok) for r in retired] == [("r1", True), ("r2", True)], retired
    for c in runs:
        assert not [t for t in platform.tasks(c.container_id) if t["lastStatus"] != "STOPPED"]
        assert platform.status(c.container_id) == "stopped"
        assert "Item" not in platform.ddb.get_item(
            TableName=platform.info.thread_mappings_table,
            Key={"threadId": {"S": c.thread_id}})
    assert foreign <= {t["taskArn"] for t in platform.foreign_tasks()
                       if t["lastStatus"] != "STOPPED"}  # only the canary's own tasks

    # The command: the same from environment variables; nothing left, so it has nothing to do.
    i = platform.info
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    environ = {
        "AWS_REGION": i.region, "AWS_ENDPOINT_URL": i.aws_endpoint_url,
        "HERMES_API_URL": i.hermes_url, "ALB_DNS_NAME": i.router_url,
        "PREVIEW_DOMAIN": i.preview_host_template.split("{clientId}.", 1)[1],
        "INTERNAL_API_KEY_SECRET_ARN": i.secret_arn, "SESSIONS_TABLE": i.sessions_table,
        "THREAD_MAPPINGS_TABLE": i.thread_mappings_table,
        "CONTAINERS_TABLE": i.containers_table, "CONTAINER_INDEX_NAME": i.container_index,
        "ECS_CLUSTER": i.cluster, "ECS_SERVICE": i.service, "CANARY_CLIENT_ID": "canary",
        "CANARY_USER_ID": "canary", "CANARY_THREAD_ID": "canary-thread",
        "CANARY_SESSIONS": json.dumps([s.to_json() for s in sessions]),
    }
    import io

    out = io.StringIO()
    assert main(["retire", "--lane", "quick", "--json"], environ=environ, stdout=out) == 0
    doc = json.loads(out.getvalue())
    assert [(s["session"], s["ok"]) for s in doc["sessions"]] == [("r1", True), ("r2", True)]


def test_a_run_writes_deletes_and_stops_only_what_its_dry_run_plan_lists(platform):
    """The dry run's plan against a real run: every DynamoDB key the run wrote or deleted and
    every task it stopped (seen on its own boto3 clients) is one the plan names."""
    from canary.dry_run import plan

    config = CanaryConfig.for_sandbox(platform.info, thread_id="footprint-thread")
    (session,) = plan(config)["sessions"]
    allowed = {t["table"]: (t["key"], set(t["keys"])) for t in session["tables"]}
    own = session["canary_table"]
    if own:
        allowed[own["table"]] = (own["key"], {own["memory_item"], own["lambda_lock_item"]})
    writes: list[tuple[str, str, str]] = []  # (operation, table, partition key value)
    stops: list[dict[str, Any]] = []

    def on_dynamodb(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in ("PutItem", "UpdateItem", "DeleteItem"):
            item = params.get("Item") or params.get("Key") or {}
            key, _keys = allowed.get(params["TableName"], ("?", set()))
            writes.append((model.name, params["TableName"], item.get(key, {}).get("S", "?")))

    def on_stop(params: dict[str, Any], **_: Any) -> None:
        stops.append(dict(params))

    clock = SystemClock()
    with open_dependencies(config, clock) as deps:
        deps.dynamodb.meta.events.register("before-parameter-build.dynamodb", on_dynamodb)
        deps.ecs.meta.events.register("before-parameter-build.ecs.StopTask", on_stop)
        fleet = run_fleet(config, deps, clock)
    (run,) = fleet.sessions
    assert fleet.ok, not_passed(run)
    assert {op for op, _, _ in writes} >= {"PutItem", "DeleteItem"}  # the hooks saw the run
    assert [w for w in writes if w[2] not in allowed.get(w[1], ("", set()))[1]] == []
    assert stops, "a wait-mode run stops the task it woke (cleanup)"
    ecs = session["ecs"]
    assert {(s["cluster"], s["reason"]) for s in stops} == {(ecs["cluster"], ecs["stop_reason"])}
    mine = {t["taskArn"] for t in platform.tasks(session["container_id"])}
    assert {s["task"] for s in stops} <= mine
