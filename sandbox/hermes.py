"""Hermes: the session API. `resume-preview` wakes a session's container (models + HTTP handler).

Mounted under the global prefix `/hermes`, as production. Starts tasks with RunTask
through boto3 against the moto server, as production does against ECS; reads and
writes the tables through `sandbox.state` (moto's backend, no HTTP: see there).
"""

from __future__ import annotations

import contextlib
import hmac
import http.client
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from sandbox.aws import AwsNames, AwsResources
from sandbox.container import WAKE_PATH
from sandbox.faults import Fault
from sandbox.ground_truth import GroundTruth
from sandbox.httpserver import Handler
from sandbox.state import ConditionFailedError, Tables, now_ms
from sandbox.variations import (
    EXTRA_ROW_FIELDS,
    SERVICE_STARTED_BY,
    extra_answer_fields,
    override_names,
)

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


#: faults with no conditional claim of a stopped container before starting its task
UNGUARDED = frozenset({
    Fault.DUPLICATE_TASKS, Fault.CONCURRENT_WAKE_FAILS, Fault.ROW_KEY_MISMATCH,
    Fault.CONTAINERS_READ_ERROR,
})
START_LATER_S = 1.0  # answers_starting: how long after its answer Hermes starts the task


@dataclass(frozen=True)
class _Start:
    """One task start: the row Hermes read, the row it writes, and the override values."""

    read_key: str
    write_key: str
    client_id: str
    user_id: str
    thread_value: str  # what THREAD_ID carries: the chat thread (the sessionId: row_key_mismatch)
    session_id: str


class Hermes:
    """resume-preview logic; all waits are capped and end early when the sandbox stops."""

    def __init__(
        self,
        tables: Tables,
        ecs: Any,
        names: AwsNames,
        resources: AwsResources,
        truth: GroundTruth,
        faults: frozenset[Fault],
        api_key: str,
        wake_timeout_s: float,
        starting_timeout_s: float,
        poll_interval_s: float = 0.02,
        *,
        variations: frozenset[str] = frozenset(),
        foreign_task_arns: tuple[str, ...] = (),
        repo_url_template: str = "",
    ) -> None:
        self.tables = tables
        self.ecs = ecs
        self.names = names
        self.resources = resources
        self.truth = truth
        self.faults = faults
        self.variations = variations
        self.override_names = override_names(variations)
        self.foreign_task_arns = foreign_task_arns
        self.repo_url_template = repo_url_template  # {containerId}: the workspace origin
        self._api_key = api_key
        self.wake_timeout_s = wake_timeout_s
        self.starting_timeout_s = starting_timeout_s
        self.poll_interval_s = poll_interval_s
        self.stopping = threading.Event()
        self._overlaps = _Overlaps()
        self._background: list[threading.Thread] = []
        self._background_lock = threading.Lock()

    def authorized(self, header: str | None) -> bool:
        if Fault.AUTH_NOT_ENFORCED in self.faults:
            return True
        expected = f"Bearer {self._api_key}"
        return header is not None and hmac.compare_digest(header.encode(), expected.encode())

    def join(self, timeout: float) -> None:
        """Wait for background task starts (answers_starting); call after `stopping` is set."""
        with self._background_lock:
            threads, self._background = self._background, []
        for t in threads:
            t.join(timeout)

    # -- resume-preview -----------------------------------------------------------------
    def resume_preview(self, body: dict[str, Any]) -> dict[str, Any]:
        thread_id = body.get("chatThreadId")
        session = self._find_session(thread_id)
        container_id = session.get("containerId") or (
            f"{session.get('clientId') or body.get('clientId')}-{thread_id}-{session.get('userId')}"
        )
        try:
            row = self._resume(container_id, session, str(thread_id))
        except HermesError:
            raise
        except Exception as exc:
            raise ResumeFailedError(f"Failed to resume session: {exc}") from exc
        return self._answer(str(session["sessionId"]), container_id, row)

    def _answer(self, session_id: str, container_id: str, row: dict[str, Any]) -> dict[str, Any]:
        """The 201 body: the contract's fields that have a value, as faults and variations say."""
        answer: dict[str, Any] = {
            "sessionId": session_id,
            "containerId": container_id,
            "containerIp": row.get("containerIp"),
            "status": row.get("status"),
            "taskArn": row.get("taskArn"),
        }
        if Fault.ALWAYS_RUNNING in self.faults:
            answer["status"] = "running"
        if Fault.FOREIGN_TASK_ARN in self.faults and self.foreign_task_arns:
            answer["taskArn"] = self.foreign_task_arns[-1]
        if "sparse_answers" in self.variations:
            for optional in ("sessionId", "containerIp", "taskArn"):
                answer.pop(optional)
        if "extra_fields" in self.variations:
            answer.update(extra_answer_fields(self.names.region))
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

    # -- reading the containers table (containers_read_error: every read fails) ---------
    def _touch_if_running(self, container_id: str) -> dict[str, Any] | None:
        if Fault.CONTAINERS_READ_ERROR in self.faults:
            return None
        return self.tables.touch_if_running(container_id, now_ms())

    def _read_container(self, container_id: str) -> dict[str, Any] | None:
        """The row, or None when absent or when the read fails (counted as stopped)."""
        if Fault.CONTAINERS_READ_ERROR in self.faults:
            return None
        return self.tables.get_container(container_id)

    def _resume(self, container_id: str, session: dict[str, Any], thread_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.starting_timeout_s
        while True:
            touched = self._touch_if_running(container_id)
            if touched is not None:  # running: lastActivity updated, answer at once
                if Fault.SLOW_RESUME in self.faults:
                    self.stopping.wait(1.0)
                return touched
            row = self._read_container(container_id)
            status = (row or {}).get("status", "stopped")
            answer = None
            if status == "idle":
                answer = self._wake_idle(container_id, row or {})
            elif status == "stopped":
                answer = self._wake(container_id, session, thread_id)
            elif status != "running":  # starting (another call's wake) or stopping (auto-save)
                if Fault.ALWAYS_RUNNING in self.faults:
                    return row or {}
                if self.stopping.wait(self.poll_interval_s):
                    raise ResumeFailedError("Failed to resume session: Hermes is shutting down")
            if answer is not None:
                return answer
            if time.monotonic() >= deadline:
                return row or {}
            # running since the conditional write, a conditional write lost, or still starting

    def _wake_idle(self, container_id: str, row: dict[str, Any]) -> dict[str, Any] | None:
        """Up but quiet: wake signal, mark it running; None if the row changed meanwhile."""
        _signal_wake(row)
        try:
            self.tables.update_container(
                container_id, {"status": "running", "lastActivity": now_ms()},
                condition="#status = :idle", condition_values={":idle": "idle"},
            )
        except ConditionFailedError:
            return None
        return {**row, "status": "running"}

    def _wake(
        self, container_id: str, session: dict[str, Any], thread_id: str
    ) -> dict[str, Any] | None:
        """Start a task for a stopped container; None when another call claimed the start."""
        if not self.faults & UNGUARDED:
            try:
                self.tables.claim_start(container_id, now_ms())
            except ConditionFailedError:
                return None  # another call is starting it: poll as `starting`
        self.truth.record(container_id, "wake_requested")
        start = self._plan(container_id, session, thread_id)
        if "answers_starting" in self.variations:
            self._start_in_background(start)
            return {"status": "starting"}
        if Fault.ALWAYS_RUNNING in self.faults:
            return self._start_task(start, wait=False)
        if Fault.CONCURRENT_WAKE_FAILS not in self.faults:
            return self._start_task(start)
        with self._overlaps.track(container_id) as overlapped:
            row = self._start_task(start)
        if overlapped.is_set():
            raise ResumeFailedError(
                f"Failed to resume session: gave up waiting for {container_id}: "
                "another start was under way"
            )
        return row

    def _plan(self, container_id: str, session: dict[str, Any], thread_id: str) -> _Start:
        client_id = str(session.get("clientId") or container_id.split("-", 1)[0])
        user_id = str(session.get("userId") or container_id.rsplit("-", 1)[-1])
        session_id = str(session["sessionId"])
        if Fault.ROW_KEY_MISMATCH in self.faults:  # as observed: THREAD_ID=sessionId, its row
            return _Start(container_id, session_id, client_id, user_id, session_id, session_id)
        return _Start(container_id, container_id, client_id, user_id, thread_id, session_id)

    def _start_in_background(self, start: _Start) -> None:
        t = threading.Thread(target=self._start_later, args=(start,),
                             name=f"hermes-start-{start.read_key}", daemon=True)
        with self._background_lock:
            self._background = [b for b in self._background if b.is_alive()]
            self._background.append(t)
        t.start()

    def _start_later(self, start: _Start) -> None:
        if self.stopping.wait(START_LATER_S):
            return
        with contextlib.suppress(Exception):  # the row says stopped again: nobody to answer
            self._start_task(start)

    def _start_task(self, start: _Start, wait: bool = True) -> dict[str, Any]:
        """RunTask; with `wait`, poll it to RUNNING and write the post-start fields."""
        try:
            task_arn = self._run_task(start)
            if not wait:
                return {"status": "starting", "taskArn": task_arn}
            self._wait_task_running(task_arn)
            return self._record_started(start.write_key, task_arn)
        except Exception:
            self.tables.update_container(
                start.write_key, {"status": "stopped", "stoppedAt": now_ms()}
            )
            raise

    def _run_task(self, start: _Start) -> str:
        """RunTask as production: no startedBy, overrides name the session, never its row."""
        values = {"client_id": start.client_id, "user_id": start.user_id,
                  "thread_id": start.thread_value, "session_id": start.session_id}
        if self.repo_url_template:
            values["repo_url"] = self.repo_url_template.format(containerId=start.read_key)
        kwargs: dict[str, Any] = {}
        if "service_tasks" in self.variations:
            kwargs["startedBy"] = SERVICE_STARTED_BY
        resp = self.ecs.run_task(
            cluster=self.names.cluster,
            taskDefinition=self.resources.task_definition_arn,
            launchType="FARGATE",
            count=1,
            networkConfiguration=self.resources.network_configuration(),
            overrides={"containerOverrides": [{
                "name": self.names.container_name,
                "environment": self.override_names.environment(
                    values, extra="extra_fields" in self.variations
                ),
            }]},
            **kwargs,
        )
        if not resp.get("tasks"):
            raise ResumeFailedError(
                f"Failed to resume session: RunTask started no task: {resp.get('failures')}"
            )
        return str(resp["tasks"][0]["taskArn"])

    def _record_started(self, write_key: str, task_arn: str) -> dict[str, Any]:
        """taskArn, status, lastStarted on the row; containerIp is the container's own report
        (the task's ENI address in moto is not reachable)."""
        row = self._read_container(write_key) or {}
        fields: dict[str, Any] = {"taskArn": task_arn, "status": "running",
                                  "lastStarted": now_ms()}
        if "extra_fields" in self.variations:
            fields.update(EXTRA_ROW_FIELDS)
        self.tables.update_container(write_key, fields)
        return {**row, **fields}

    def _wait_task_running(self, task_arn: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.wake_timeout_s
        while True:
            tasks = self.ecs.describe_tasks(cluster=self.names.cluster, tasks=[task_arn])["tasks"]
            task = tasks[0] if tasks else {}
            status = task.get("lastStatus")
            if status == "RUNNING" and task.get("healthStatus") == "HEALTHY":
                return task  # the contract: RUNNING and healthy
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


class _Overlaps:
    """Which wakes of one container overlapped another (the concurrent_wake_fails fault)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active: dict[str, list[threading.Event]] = {}

    @contextlib.contextmanager
    def track(self, key: str) -> Iterator[threading.Event]:
        """Set (for this wake and the others) once two wakes of `key` were in flight at once."""
        mine = threading.Event()
        with self._lock:
            others = self._active.setdefault(key, [])
            if others:
                mine.set()
                for other in others:
                    other.set()
            others.append(mine)
        try:
            yield mine
        finally:
            with self._lock:
                others.remove(mine)
                if not others and self._active.get(key) is others:
                    del self._active[key]


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
            if Fault.WRONG_UNKNOWN_STATUS in hermes.faults:
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
