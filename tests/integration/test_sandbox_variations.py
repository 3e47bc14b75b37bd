"""Each variation (what the contract leaves open) has the shape it describes, and the platform
still works under it: the container boots, registers and serves."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sandbox import VARIATIONS, Sandbox

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def _wake_and_serve(p):
    """Cold-wake a fresh session, check the container registered and serves: (session, 201)."""
    s = p.seed()
    r = p.resume(s.body)
    assert r.status_code == 201 and r.json()["status"] == "running"
    assert p.status(s.container_id) == "running"
    assert p.preview(s.client_id, s.thread_id).status_code == 200
    return s, r.json()


def test_registry_has_the_named_variations_with_descriptions():
    assert {"renamed_overrides", "sparse_answers", "extra_fields", "service_tasks"} <= set(
        VARIATIONS)
    assert all(d.strip() and "\n" not in d for d in VARIATIONS.values())


def test_cli_lists_variations_one_per_line():
    out = subprocess.run([sys.executable, "-m", "sandbox", "--list-variations"], cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=30).stdout
    assert out.strip().splitlines() == [f"{n}\t{d}" for n, d in VARIATIONS.items()]


def test_cli_unknown_variation_exits_2_listing_valid_names():
    proc = subprocess.run([sys.executable, "-m", "sandbox", "--variation", "nope"], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "nope" in proc.stderr and "sparse_answers" in proc.stderr


def test_unknown_variation_is_named():
    with pytest.raises(ValueError, match="nope"):
        Sandbox(variations=["nope"])


def test_info_lists_the_variations(make_platform):
    p = make_platform(variations=["sparse_answers", "extra_fields"])
    assert p.info.variations == ("extra_fields", "sparse_answers")
    assert p.info.to_dict()["variations"] == ["extra_fields", "sparse_answers"]


def test_renamed_overrides_carry_the_same_values_under_other_names(make_platform, task_env):
    p = make_platform(variations=["renamed_overrides"])
    s, body = _wake_and_serve(p)
    (task,) = p.tasks(s.container_id)
    env = task_env(task)
    assert (env["SITE"], env["OWNER"], env["CHAT_THREAD"], env["EDIT_SESSION"]) == (
        s.client_id, s.user_id, s.thread_id, s.session_id)
    assert env["GIT_REPO"]
    assert not {"CLIENT_ID", "USER_ID", "THREAD_ID", "SESSION_ID"} & set(env)
    assert p.container(s.container_id)["taskArn"] == body["taskArn"] == task["taskArn"]


def test_renamed_overrides_also_name_the_foreign_tasks_other_session(make_platform, task_env):
    p = make_platform(variations=["renamed_overrides"])
    envs = [task_env(t) for t in p.foreign_tasks()]
    assert {e.get("SITE") for e in envs} == {None, "othersite"}


def test_sparse_answers_leave_out_every_optional_field(make_platform):
    p = make_platform(variations=["sparse_answers"])
    s, body = _wake_and_serve(p)
    assert set(body) == {"containerId", "status"}
    assert body["containerId"] == s.container_id
    row = p.container(s.container_id)
    assert "containerIp" not in row
    assert row["taskArn"] == p.tasks(s.container_id)[0]["taskArn"]


def test_extra_fields_in_answers_rows_and_task_overrides(make_platform, task_env):
    p = make_platform(variations=["extra_fields"])
    s, body = _wake_and_serve(p)
    contract = {"sessionId", "containerId", "containerIp", "status", "taskArn"}
    assert contract < set(body)
    assert {"region", "meta"} <= set(body) - contract
    assert {"hostName", "meta"} <= set(p.container(s.container_id))
    (task,) = p.tasks(s.container_id)
    env = task_env(task)
    assert env["CLIENT_ID"] == s.client_id and "LOG_LEVEL" in env


def test_service_tasks_carry_an_unrelated_started_by(make_platform):
    p = make_platform(variations=["service_tasks"])
    s, body = _wake_and_serve(p)
    (task,) = p.tasks(s.container_id)
    assert task["startedBy"].startswith("ecs-svc/")
    assert task["taskArn"] == body["taskArn"]
