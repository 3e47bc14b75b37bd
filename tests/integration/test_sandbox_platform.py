"""The Sandbox itself: start-up, SandboxInfo, clean stop, CLI, sandbox-only control endpoints."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from sandbox import FAULTS, Sandbox, SandboxError, SandboxInfo

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
INFO_FIELDS = {
    "hermes_url", "router_url", "preview_host_template", "aws_endpoint_url", "region",
    "sessions_table", "thread_mappings_table", "containers_table", "container_index",
    "sessions_key_schema", "cluster", "service", "task_definition", "secret_name", "secret_arn",
    "control_url", "git_remote_template", "preview_marker_template", "idle_timeout_s",
    "idle_mark_s", "check_interval_s", "boot_delay_s", "faults", "variations", "canary_table",
    "foreign_task_arns",
}


def _port(url: str) -> int:
    return int(url.split("://", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_info_has_every_field_and_never_the_key(make_platform):
    p = make_platform()
    data = json.loads(p.info.to_json())
    assert set(data) == INFO_FIELDS
    assert p.sb.api_key not in p.info.to_json()
    assert data["hermes_url"].startswith("http://127.0.0.1:") and data["hermes_url"].endswith(
        "/hermes")
    assert data["preview_host_template"] == "edit.{clientId}.sandbox.test"
    assert data["preview_marker_template"] == "webordinary-preview:{containerId}"
    assert (data["cluster"], data["service"]) == ("webordinary-edit-cluster",
                                                  "webordinary-edit-service")
    assert (data["sessions_table"], data["thread_mappings_table"], data["containers_table"]) == (
        "webordinary-edit-sessions", "webordinary-thread-mappings", "webordinary-containers")


def test_aws_resources_exist_as_described(make_platform):
    p = make_platform()
    i = p.info
    sm = p.sb.client("secretsmanager")
    try:
        assert sm.get_secret_value(SecretId=i.secret_arn)["SecretString"] == p.sb.api_key
    finally:
        sm.close()
    mappings = p.ddb.describe_table(TableName=i.thread_mappings_table)["Table"]
    (gsi,) = mappings["GlobalSecondaryIndexes"]
    assert gsi["IndexName"] == i.container_index
    assert gsi["KeySchema"] == [{"AttributeName": "containerId", "KeyType": "HASH"}]
    containers = p.ddb.describe_table(TableName=i.containers_table)["Table"]
    assert containers["KeySchema"] == [{"AttributeName": "containerId", "KeyType": "HASH"}]
    (svc,) = p.ecs.describe_services(cluster=i.cluster, services=[i.service])["services"]
    assert svc["serviceName"] == i.service
    assert p.ecs.describe_task_definition(taskDefinition=i.task_definition)["taskDefinition"][
        "networkMode"] == "awsvpc"


def test_api_key_is_random_per_sandbox(make_platform):
    p = make_platform()
    first = p.sb.api_key
    p.close()
    p.sb.stop()
    with Sandbox() as again:
        assert again.api_key != first and len(again.api_key) >= 32


@pytest.mark.parametrize("schema", ["hash", "hash_range"])
def test_cold_wake_works_with_both_session_key_schemas(make_platform, schema):
    p = make_platform(sessions_key_schema=schema)
    table = p.ddb.describe_table(TableName=p.info.sessions_table)["Table"]
    assert [k["AttributeName"] for k in table["KeySchema"]] == (
        ["sessionId"] if schema == "hash" else ["sessionId", "userId"]
    )
    assert p.info.sessions_key_schema == schema
    s = p.seed()
    r = p.resume(s.body)
    assert r.status_code == 201
    assert r.json()["sessionId"] == s.session_id


def test_start_is_quick_once_moto_is_imported():
    with Sandbox():
        pass  # pays the one-off moto/boto3 import
    t0 = time.perf_counter()
    with Sandbox():
        elapsed = time.perf_counter() - t0
    assert elapsed < 5.0  # generous; the goal (< 2 s) is measured in bench/bench_sandbox.py


def test_stop_leaves_no_thread_and_no_port(wait_for):
    baseline = threading.active_count()
    sb = Sandbox(idle_timeout_s=30.0).start()
    info = sb.info
    with httpx.Client() as http:  # keep-alive connections open while stopping
        ddb = sb.client("dynamodb")
        ddb.put_item(TableName=info.sessions_table, Item={
            "sessionId": {"S": "s1"}, "userId": {"S": "u1"}, "clientId": {"S": "acme"},
            "containerId": {"S": "acme-t1-u1"}, "status": {"S": "active"}})
        ddb.put_item(TableName=info.thread_mappings_table, Item={
            "threadId": {"S": "t1"}, "sessionId": {"S": "s1"},
            "containerId": {"S": "acme-t1-u1"}, "status": {"S": "active"}})
        auth = {"Authorization": f"Bearer {sb.api_key}"}
        r = http.post(f"{info.hermes_url}/api/sessions/resume-preview",
                      json={"chatThreadId": "t1"}, headers=auth)
        assert r.status_code == 201
        row = ddb.get_item(TableName=info.containers_table,
                           Key={"containerId": {"S": "acme-t1-u1"}})["Item"]
        container_port = int(row["containerPort"]["N"])
        ok = http.get(f"{info.router_url}/session/t1/", headers={"Host": "edit.acme.x.test"})
        assert ok.status_code == 200
        ddb.close()
        tmp = Path(info.git_remote_template).parents[1]
        assert tmp.exists()
        sb.stop()
    ports = [_port(info.hermes_url), _port(info.router_url), _port(info.aws_endpoint_url),
             container_port]
    assert all(_refused(port) for port in ports)
    assert not tmp.exists()
    wait_for(lambda: threading.active_count() <= baseline, timeout=5)


def test_only_one_sandbox_per_process(make_platform):
    make_platform()
    with pytest.raises(SandboxError, match="another Sandbox"):
        Sandbox().start()


@pytest.mark.parametrize(("options", "named"), [
    ({"faults": ["nope"]}, "nope"),
    ({"idle_timeout_s": 0}, "idle_timeout_s"),
    ({"idle_mark_s": 0}, "idle_mark_s"),
    ({"check_interval_s": -1}, "check_interval_s"),
    ({"boot_delay_s": -0.1}, "boot_delay_s"),
    ({"sessions_key_schema": "range"}, "sessions_key_schema"),
])
def test_bad_options_are_named(options, named):
    with pytest.raises(ValueError, match=named):
        Sandbox(**options)


def test_control_endpoints_dirty_and_events(make_platform):
    p = make_platform()
    s = p.seed()
    p.resume(s.body)
    r = p.http.post(f"{p.info.control_url}/containers/{s.container_id}/dirty")
    assert r.status_code == 200
    assert Path(r.json()["changed"]).exists()
    r = p.http.get(f"{p.info.control_url}/containers/{s.container_id}/events")
    assert r.status_code == 200
    events = r.json()["events"]
    assert [e["event"] for e in events][:3] == ["wake_requested", "task_started",
                                                "registered_running"]
    assert all(isinstance(e["at"], float) for e in events)
    missing = p.http.post(f"{p.info.control_url}/containers/nobody/dirty")
    assert missing.status_code == 404


def test_dirty_workspace_of_a_stopped_container_raises(make_platform):
    p = make_platform()
    with pytest.raises(KeyError):
        p.sb.dirty_workspace("acme-none-u1")


def test_import_is_cheap():
    code = ("import sys, sandbox; heavy = [m for m in ('moto', 'boto3', 'botocore', 'httpx') "
            "if m in sys.modules]; print(heavy); assert sandbox.Sandbox and sandbox.SandboxInfo "
            "and sandbox.FAULTS")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=30).stdout
    assert out.strip() == "[]"


def test_cli_lists_faults_one_per_line():
    out = subprocess.run([sys.executable, "-m", "sandbox", "--list-faults"], cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=30).stdout
    lines = out.strip().splitlines()
    assert len(lines) == len(FAULTS) >= 13
    for line, (name, description) in zip(lines, FAULTS.items(), strict=True):
        assert line.split()[0] == name
        assert line == f"{name}\t{description}"


def test_cli_unknown_fault_exits_2_listing_valid_names():
    proc = subprocess.run([sys.executable, "-m", "sandbox", "--fault", "nope"], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "nope" in proc.stderr and "slow_wake" in proc.stderr


def test_idle_mark_defaults_to_a_quarter_of_the_idle_timeout():
    assert Sandbox(idle_timeout_s=2.0).idle_mark_s == 0.5  # production: 5 of 20 min
    assert Sandbox(idle_timeout_s=2.0, idle_mark_s=0.1).idle_mark_s == 0.1


@pytest.mark.parametrize("service", ["dynamodb", "ecs", "ec2", "secretsmanager"])
def test_region_lists_moto_gets_match_botocore(service):
    import boto3

    from sandbox.aws import _RegionLists

    session = boto3.session.Session()
    fast = _RegionLists(session)
    assert fast.get_available_partitions() == session.get_available_partitions()
    for partition in session.get_available_partitions():
        assert fast.get_available_regions(service, partition) == session.get_available_regions(
            service, partition
        )


def test_cli_prints_one_json_line_and_stops_on_sigterm():
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--fault", "slow_resume", "--idle-timeout", "2"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = proc.stdout.readline()
        assert time.perf_counter() - t0 < 10.0  # generous; the goal (< 2 s) is in bench/
        info = SandboxInfo(**{**json.loads(line), "faults": tuple(json.loads(line)["faults"])})
        assert info.faults == ("slow_resume",) and info.idle_timeout_s == 2.0
        assert httpx.get(f"{info.hermes_url}/health/live", timeout=5).status_code == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert proc.stdout.read() == ""  # exactly one line
        assert _refused(_port(info.hermes_url))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        proc.stdout.close()
        proc.stderr.close()
