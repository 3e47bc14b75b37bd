"""An edit container: a real HTTP server on its own loopback port, with auto-sleep and auto-save.

Behaves like production's claude-code-container: registers itself in the
containers table when booted, serves the preview from its git working copy, records
activity (table writes throttled), marks itself `idle` after a quiet spell and
`running` again on the next activity, and sleeps when idle with no active session,
auto-saving its work to git first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.faults import Fault
from sandbox.ground_truth import GroundTruth
from sandbox.httpserver import Handler, HttpServer
from sandbox.state import Tables, now_ms
from sandbox.variations import EXTRA_ROW_FIELDS, PRODUCTION_NAMES, OverrideNames
from sandbox.workspace import WorkingCopy


@dataclass(frozen=True)
class ContainerEnv:
    """What a task's container overrides tell the container, and the row it registers under.

    As production: the overrides carry the clientId, userId, threadId, sessionId and the
    repository, never the containerId; the container derives it as
    `{clientId}-{threadId}-{userId}` (the contract's containerId).
    """

    client_id: str
    thread_id: str
    user_id: str
    session_id: str = ""
    repo_url: str = ""
    row_key: str = ""  # the containers row it registers under; "" = the derived containerId

    @property
    def container_id(self) -> str:
        return self.row_key or f"{self.client_id}-{self.thread_id}-{self.user_id}"

    @classmethod
    def from_overrides(
        cls,
        overrides: dict[str, Any] | None,
        names: OverrideNames = PRODUCTION_NAMES,
        key_by_session: bool = False,
    ) -> ContainerEnv:
        """Read the variables `names` names; `key_by_session`: register under the sessionId
        (the production defect behind the `row_key_mismatch` fault)."""
        values = names.read(overrides)
        required = {"client_id": names.client_id, "thread_id": names.thread_id,
                    "user_id": names.user_id}
        if key_by_session:
            required["session_id"] = names.session_id
        missing = [var for field, var in required.items() if field not in values]
        if missing:
            raise ValueError(f"task overrides lack environment {', '.join(missing)}")
        env = cls(**values)
        return dataclasses.replace(env, row_key=env.session_id) if key_by_session else env


@dataclass(frozen=True)
class Timing:
    """Production: idle mark 5 min, idle timeout 20 min, check every minute, writes 1/min."""

    idle_timeout_s: float
    check_interval_s: float
    activity_write_interval_s: float
    idle_mark_s: float


WAKE_PATH = "/_wake"  # Hermes's wake signal to an idle container (a message, in production)


class _PreviewHandler(Handler):
    def do_GET(self) -> None:
        container: EditContainer = self.server.app  # type: ignore[attr-defined]
        container.touch()
        self.send(200, container.page(), "text/html; charset=utf-8")

    do_HEAD = do_GET

    def do_POST(self) -> None:
        self.read_body()
        if self.path == WAKE_PATH:
            self.server.app.touch()  # type: ignore[attr-defined]
            self.send(204)
            return
        self.do_GET()


class EditContainer:
    def __init__(
        self,
        env: ContainerEnv,
        task_arn: str,
        tables: Tables,
        working_copy: WorkingCopy,
        truth: GroundTruth,
        timing: Timing,
        faults: frozenset[Fault],
        on_exit: Callable[[EditContainer, str], None],
        variations: frozenset[str] = frozenset(),
    ) -> None:
        self.env = env
        self.task_arn = task_arn
        self.tables = tables
        self.working_copy = working_copy
        self.truth = truth
        self.timing = timing
        self.faults = faults
        self.variations = variations
        self.on_exit = on_exit
        self._server: HttpServer | None = None
        self._dead_socket: socket.socket | None = None
        self._stop = threading.Event()
        self._loop: threading.Thread | None = None
        self._lock = threading.Lock()  # guards the activity fields and _idle
        self._status_lock = threading.Lock()  # one running <-> idle write at a time
        self._idle = False  # the row says `idle` (our write)
        self._last_activity = time.monotonic()
        self._last_written = 0.0
        self._served_first = False
        self.port = 0
        self.exited = threading.Event()

    @property
    def container_id(self) -> str:
        return self.env.container_id

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Open the port, register `running` in the containers table, start the sleep loop."""
        if Fault.UNREACHABLE_CONTAINER in self.faults:
            # A bound socket that never listens: connections are refused, the port stays ours.
            self._dead_socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._dead_socket.bind(("127.0.0.1", 0))
            self.port = self._dead_socket.getsockname()[1]
        else:
            self._server = HttpServer(_PreviewHandler, self, f"container-{self.container_id}")
            self._server.start()
            self.port = self._server.port
        self.tables.update_container(self.container_id, self._registration())
        self._last_activity = time.monotonic()
        self._last_written = self._last_activity
        self.truth.record(self.container_id, "registered_running")
        self._loop = threading.Thread(
            target=self._sleep_loop, name=f"autosleep-{self.container_id}", daemon=True
        )
        self._loop.start()

    def _registration(self) -> dict[str, Any]:
        """The row fields a booted container writes (the contract's, plus sandbox-only ones)."""
        now = now_ms()
        fields: dict[str, Any] = {
            "status": "running",
            "lastActivity": now,
            "lastStarted": now,
            "containerIp": "127.0.0.1",
            "containerPort": self.port,  # sandbox-only: production uses the task's own IP:8080
            "taskArn": self.task_arn,
            "clientId": self.env.client_id,
            "threadId": self.env.thread_id,
            "userId": self.env.user_id,
        }
        if "sparse_answers" in self.variations:
            del fields["containerIp"]  # the router falls back to 127.0.0.1:containerPort
        if "extra_fields" in self.variations:
            fields.update(EXTRA_ROW_FIELDS)
        return fields

    def kill(self, reason: str, write_state: bool) -> None:
        """Stop at once, no auto-save (the task was stopped from outside or the sandbox stops)."""
        self._stop.set()
        if self._loop is not None and self._loop is not threading.current_thread():
            self._loop.join(5)
        if not self.exited.is_set():
            if write_state:
                with contextlib.suppress(Exception):
                    self.tables.update_container(
                        self.container_id, {"status": "stopped", "stoppedAt": now_ms()}
                    )
            self._close(reason)

    def _close(self, reason: str) -> None:
        if self.exited.is_set():
            return
        self.exited.set()
        if self._server is not None:
            self._server.stop()
        if self._dead_socket is not None:
            self._dead_socket.close()
        self.on_exit(self, reason)

    # -- serving ------------------------------------------------------------------------
    def page(self) -> bytes:
        if not self._served_first:
            with self._lock:
                if not self._served_first:
                    self._served_first = True
                    self.truth.record(self.container_id, "first_preview_served")
        return self.working_copy.page()

    def touch(self) -> None:
        """Activity: reset the idle timer; back to `running` if idle; else write lastActivity
        at most once per interval."""
        now = time.monotonic()
        with self._lock:
            self._last_activity = now
            wake = self._idle
            write = wake or now - self._last_written >= self.timing.activity_write_interval_s
            if write:
                self._last_written = now
        if wake:
            self._set_running()
        elif write:
            with contextlib.suppress(Exception):
                self.tables.update_container(self.container_id, {"lastActivity": now_ms()})

    def _mark_idle(self) -> None:
        """running -> idle once no activity for the idle mark (production: 5 min)."""
        with self._status_lock:
            with self._lock:
                if self._idle or time.monotonic() - self._last_activity < self.timing.idle_mark_s:
                    return
                self._idle = True  # a touch from now on waits for this write, then undoes it
            try:
                self.tables.update_container(
                    self.container_id, {"status": "idle"},
                    condition="#status = :running", condition_values={":running": "running"},
                )
            except Exception:  # not running (stopping, or Hermes changed it), or the write failed
                with self._lock:
                    self._idle = False
                return
        self.truth.record(self.container_id, "marked_idle")

    def _set_running(self) -> None:
        with self._status_lock:
            with self._lock:
                if not self._idle:
                    return
                self._idle = False
            with contextlib.suppress(Exception):  # no longer idle: Hermes or a stop got there first
                self.tables.update_container(
                    self.container_id, {"status": "running", "lastActivity": now_ms()},
                    condition="#status = :idle", condition_values={":idle": "idle"},
                )

    # -- auto-sleep ---------------------------------------------------------------------
    def _sleep_loop(self) -> None:
        idle_reported = False
        while not self._stop.wait(self.timing.check_interval_s):
            self._mark_idle()
            if Fault.NEVER_SLEEPS in self.faults:
                continue
            with self._lock:
                idle_for = time.monotonic() - self._last_activity
            if idle_for < self.timing.idle_timeout_s:
                idle_reported = False
                continue
            if not idle_reported:
                self.truth.record(self.container_id, "idle_detected")
                idle_reported = True
            if Fault.SLEEPS_DESPITE_SESSIONS not in self.faults:
                try:
                    active = self.tables.count_active_sessions(self.container_id)
                except Exception:
                    active = 1
                if active > 0:
                    with self._lock:  # production resets its idle timer and stays up
                        self._last_activity = time.monotonic()
                    idle_reported = False
                    continue
            self._go_to_sleep()
            return

    def _go_to_sleep(self) -> None:
        try:
            self.tables.update_container(
                self.container_id, {"status": "stopping", "stoppedAt": now_ms()}
            )
            self.truth.record(self.container_id, "stopping")
            self._auto_save()
            self.tables.update_container(self.container_id, {"status": "stopped"})
            self.truth.record(self.container_id, "stopped")
        finally:
            self._close("Essential container in task exited")

    def _auto_save(self) -> None:
        at = dt.datetime.now(dt.UTC)
        if Fault.AUTOSAVE_PUSH_FAILS in self.faults:
            self.working_copy.break_remote()
        try:
            saved = self.working_copy.auto_save(
                f"Auto-save: Container sleeping at {at.isoformat().replace('+00:00', 'Z')}",
                push=Fault.AUTOSAVE_LOST not in self.faults,
                at_ms=int(at.timestamp() * 1000),
            )
        except Exception:  # a broken working copy: nothing saved, the container still stops
            return
        if saved is None:
            return  # clean: nothing to save
        if saved.pushed:
            self.truth.record(self.container_id, "pushed")
        # autosave_lost: records pushed=true although nothing was pushed
        pushed = True if Fault.AUTOSAVE_LOST in self.faults else saved.pushed
        self.tables.update_container(self.container_id, {
            "lastAutoSave": {"at": saved.at_ms, "commit": saved.commit, "pushed": pushed},
        })
