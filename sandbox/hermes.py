"""Hermes: the session API. `resume-preview` wakes a session's container (models + HTTP handler).

Mounted under the global prefix `/hermes`, as production. Starts tasks with RunTask
through boto3 against the moto server, as production does against ECS; reads and
writes the tables through `sandbox.state` (moto's backend, no HTTP: see there).
"""

from __future__ import annotations

import hmac
import http.client
import json
import re
import threading
import time
from typing import Any, Protocol

from sandbox.aws import AwsNames, AwsResources
from sandbox.container import WAKE_PATH
from sandbox.ground_truth import GroundTruth
from sandbox.httpserver import Handler
from sandbox.state import ConditionFailedError, Tables, now_ms

PREFIX = "/hermes"
RESUME_PATH = f"{PREFIX}/api/sessions/resume-preview"
HEALTH_PATH = f"{PREFIX}/health/live"


class HermesError(Exception):
    """When resume-preview must answer an error status (NestJS-shaped body)."""

    status = 500
    error = "Internal Server Error"

    def body(self) -> dict[str, Any]:
        return {"statusCode": self.status, "message": str(self), "error": self.error}


class SessionNotFoundError(HermesError):
    """When no session exists for the thread (or the body names none)."""

    status = 404
    error = "Not Found"


class ResumeFailedError(HermesError):
    """When the container could not be woken; message starts `Failed to resume session:`."""


class Hermes:
    """resume-preview logic; all waits are capped and end early when the sandbox stops."""

    def __init__(
        self,
        tables: Tables,
        ecs: Any,
        names: AwsNames,
        resources: AwsResources,
        truth: GroundTruth,
        faults: frozenset[str],
        api_key: str,
        wake_timeout_s: float,
        starting_timeout_s: float,
        poll_interval_s: float = 0.02,
    ) -> None:
        self.tables = tables
        self.ecs = ecs
        self.names = names
        self.resources = resources
        self.truth = truth
        self.faults = faults
        self._api_key = api_key
        self.wake_timeout_s = wake_timeout_s
        self.starting_timeout_s = starting_timeout_s
        self.poll_interval_s = poll_interval_s
        self.stopping = threading.Event()

    def authorized(self, header: str | None) -> bool:
        if "auth_not_enforced" in self.faults:
            return True
        expected = f"Bearer {self._api_key}"
        return header is not None and hmac.compare_digest(header.encode(), expected.encode())

    # -- resume-preview -----------------------------------------------------------------
    def resume_preview(self, body: dict[str, Any]) -> dict[str, Any]:
        thread_id = body.get("chatThreadId")
        session = self._find_session(thread_id)
        session_id = session["sessionId"]
        container_id = session.get("containerId") or (
            f"{session.get('clientId') or body.get('clientId')}-{thread_id}-{session.get('userId')}"
        )
        try:
            row = self._resume(container_id, session, str(thread_id))
        except HermesError:
            raise
        except Exception as exc:
            raise ResumeFailedError(f"Failed to resume session: {exc}") from exc
        answer = {
            "sessionId": session_id,
            "containerId": container_id,
            "containerIp": row.get("containerIp"),
            "status": row.get("status"),
            "taskArn": row.get("taskArn"),
        }
        return {k: v for k, v in answer.items() if v not in (None, "")}

    def _find_session(self, thread_id: Any) -> dict[str, Any]:
        """thread-mappings (threadId) -> sessionId -> sessions (by partition key)."""
        shown = "undefined" if thread_id is None else thread_id  # as NestJS renders a missing id
        unknown = SessionNotFoundError(f"Session for thread {shown} not found")
        if not isinstance(thread_id, str) or not thread_id:
            raise unknown
        mapping = self.tables.get_mapping(thread_id)
        if mapping is None or not mapping.get("sessionId"):
            raise unknown
        session = self.tables.get_session(str(mapping["sessionId"]))
        if session is None:
            raise unknown
        if not session.get("containerId") and mapping.get("containerId"):
            session["containerId"] = mapping["containerId"]
        return session

    def _resume(self, container_id: str, session: dict[str, Any], thread_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.starting_timeout_s
        while True:
            row = self.tables.touch_if_running(container_id, now_ms())
            if row is not None:  # running: lastActivity updated, answer at once
                if "slow_resume" in self.faults:
                    self.stopping.wait(1.0)
                return row
            row = self.tables.get_container(container_id)
            status = (row or {}).get("status", "stopped")
            if status == "running":
                continue  # became running since the conditional write: touch it
            if status == "idle":  # up but quiet: wake signal, mark it running, answer at once
                _signal_wake(row or {})
                try:
                    self.tables.update_container(
                        container_id, {"status": "running", "lastActivity": now_ms()},
                        condition="#status = :idle", condition_values={":idle": "idle"},
                    )
                except ConditionFailedError:
                    continue  # it changed meanwhile (running again, or stopping): look again
                return {**(row or {}), "status": "running"}
            if status == "stopped":
                if "duplicate_tasks" not in self.faults:  # the fault: no guard at all
                    try:
                        self.tables.claim_start(container_id, now_ms())
                    except ConditionFailedError:
                        continue  # another call is starting it: poll as `starting`
                return self._start_task(container_id, session, thread_id)
            # starting (another call owns the wake) or stopping (auto-save in progress): poll
            if time.monotonic() >= deadline:
                return row or {}
            if self.stopping.wait(self.poll_interval_s):
                raise ResumeFailedError("Failed to resume session: Hermes is shutting down")

    def _start_task(
        self, container_id: str, session: dict[str, Any], thread_id: str
    ) -> dict[str, Any]:
        self.truth.record(container_id, "wake_requested")
        client_id, user_id = self._ids(container_id, session, thread_id)
        try:
            resp = self.ecs.run_task(
                cluster=self.names.cluster,
                taskDefinition=self.resources.task_definition_arn,
                launchType="FARGATE",
                count=1,
                startedBy="hermes",
                networkConfiguration={"awsvpcConfiguration": {
                    "subnets": [self.resources.subnet_id],
                    "securityGroups": [self.resources.security_group_id],
                    "assignPublicIp": "DISABLED",
                }},
                overrides={"containerOverrides": [{
                    "name": self.names.container_name,
                    "environment": [
                        {"name": "CONTAINER_ID", "value": container_id},
                        {"name": "CLIENT_ID", "value": client_id},
                        {"name": "THREAD_ID", "value": thread_id},
                        {"name": "USER_ID", "value": user_id},
                    ],
                }]},
            )
            if not resp.get("tasks"):
                raise ResumeFailedError(
                    f"Failed to resume session: RunTask started no task: {resp.get('failures')}"
                )
            task_arn = resp["tasks"][0]["taskArn"]
            task = self._wait_task_running(task_arn)
            row = self.tables.get_container(container_id) or {}
            fields = {
                "taskArn": task_arn,
                "containerIp": row.get("containerIp") or _task_ip(task),
                "status": "running",
                "lastStarted": now_ms(),
            }
            self.tables.update_container(container_id, fields)
            return {**row, **fields}
        except Exception:
            self.tables.update_container(container_id, {"status": "stopped", "stoppedAt": now_ms()})
            raise

    def _wait_task_running(self, task_arn: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.wake_timeout_s
        while True:
            tasks = self.ecs.describe_tasks(cluster=self.names.cluster, tasks=[task_arn])["tasks"]
            task = tasks[0] if tasks else {}
            status = task.get("lastStatus")
            if status == "RUNNING":
                return task
            if status == "STOPPED":
                raise ResumeFailedError(
                    f"Failed to resume session: task {task_arn} stopped: "
                    f"{task.get('stoppedReason') or 'unknown reason'}"
                )
            if time.monotonic() >= deadline:
                raise ResumeFailedError(
                    f"Failed to resume session: task {task_arn} not running after "
                    f"{self.wake_timeout_s:g} s (last status {status})"
                )
            if self.stopping.wait(self.poll_interval_s):
                raise ResumeFailedError("Failed to resume session: Hermes is shutting down")

    @staticmethod
    def _ids(container_id: str, session: dict[str, Any], thread_id: str) -> tuple[str, str]:
        client_id = session.get("clientId") or container_id.split("-", 1)[0]
        user_id = session.get("userId") or container_id.rsplit("-", 1)[-1]
        return str(client_id), str(user_id)


def _signal_wake(row: dict[str, Any]) -> None:
    """Tell an idle container there is activity (production sends it a message).

    Best effort, as a message would be: an unreachable container is the router's to report.
    A row without `containerPort` was not written by a sandbox container: nobody to tell.
    """
    if not row.get("containerPort"):
        return
    conn = http.client.HTTPConnection(
        str(row.get("containerIp") or "127.0.0.1"), int(row["containerPort"]), timeout=1.0
    )
    try:
        conn.request("POST", WAKE_PATH, headers={"Connection": "close"})
        conn.getresponse().read()
    except OSError:
        pass
    finally:
        conn.close()


def _task_ip(task: dict[str, Any]) -> str | None:
    for att in task.get("attachments", []):
        for d in att.get("details", []):
            if d.get("name") == "privateIPv4Address":
                return d.get("value")
    return None


# -- HTTP ---------------------------------------------------------------------------------
class Control(Protocol):
    """Sandbox-only operations exposed under /_sandbox (never part of the contract)."""

    def dirty_workspace(self, container_id: str) -> str: ...

    def events(self, container_id: str) -> list[tuple[str, float]]: ...


class HermesApp:
    def __init__(self, hermes: Hermes, control: Control) -> None:
        self.hermes = hermes
        self.control = control


_CONTROL = re.compile(r"^/_sandbox/containers/([^/]+)/(dirty|events)$")


class HermesHandler(Handler):
    @property
    def app(self) -> HermesApp:
        return self.server.app  # type: ignore[attr-defined,no-any-return]

    def _not_route(self) -> None:
        self.send_json(404, {
            "statusCode": 404,
            "message": f"Cannot {self.command} {self.path}",
            "error": "Not Found",
        })

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == HEALTH_PATH:
            self.send_json(200, {"status": "ok"})
            return
        m = _CONTROL.match(path)
        if m and m.group(2) == "events":
            events = self.app.control.events(m.group(1))
            self.send_json(200, {
                "containerId": m.group(1),
                "events": [{"event": e, "at": t} for e, t in events],
            })
            return
        self._not_route()

    def do_POST(self) -> None:
        raw = self.read_body()
        path = self.path.split("?", 1)[0]
        m = _CONTROL.match(path)
        if m and m.group(2) == "dirty":
            try:
                changed = self.app.control.dirty_workspace(m.group(1))
            except KeyError as exc:
                self.send_json(404, {"message": str(exc.args[0])})
                return
            self.send_json(200, {"containerId": m.group(1), "changed": changed})
            return
        if path != RESUME_PATH:
            self._not_route()
            return
        hermes = self.app.hermes
        if not hermes.authorized(self.headers.get("Authorization")):
            self.send_json(401, {"statusCode": 401, "message": "Unauthorized"})
            return
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError as exc:
            self.send_json(400, {"statusCode": 400, "message": f"Invalid JSON body: {exc}",
                                 "error": "Bad Request"})
            return
        if not isinstance(body, dict):
            body = {}
        try:
            answer = hermes.resume_preview(body)
        except SessionNotFoundError as exc:
            if "wrong_unknown_status" in hermes.faults:
                self.send_json(500, {"statusCode": 500, "message": "Internal server error"})
            else:
                self.send_json(404, exc.body())
            return
        except HermesError as exc:
            self.send_json(exc.status, exc.body())
            return
        except Exception as exc:
            self.send_json(500, {"statusCode": 500,
                                 "message": f"Failed to resume session: {type(exc).__name__}"})
            return
        self.send_json(201, answer)
