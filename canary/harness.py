"""The seed's integration-test harness, in Python, over the clients.

The nine helpers of the seed (`setContainerStatus` ... `getActiveSessionCount`) plus the
bounded, adaptive polling every wait uses: start at ~25 ms, back off to a cap (250 ms by
default), never sleep past the deadline. Used by the steps and usable from tests.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from canary import politeness
from canary.clients.base import HttpAnswer
from canary.clients.hermes import HermesClient, ResumeAnswer
from canary.clients.orchestrator import OrchestratorClient
from canary.clients.preview import PreviewClient
from canary.clients.state import StateClient
from canary.clock import Clock
from canary.tasks import SessionTasks

T = TypeVar("T")

POLL_START_S = 0.025
POLL_CAP_S = 0.25
POLL_FACTOR = 1.5


@dataclass
class PollResult:
    """What a bounded poll saw: the value that satisfied it (None if it never did)."""

    value: Any
    last: Any
    polls: int
    elapsed_s: float
    max_interval_s: float

    @property
    def ok(self) -> bool:
        return self.value is not None


def poll(
    clock: Clock,
    probe: Callable[[], T],
    done: Callable[[T], bool],
    *,
    deadline: float,
    start_s: float = POLL_START_S,
    cap_s: float = POLL_CAP_S,
    stop: Callable[[], bool] | None = None,
) -> PollResult:
    """Call `probe` until `done(value)`, the monotonic `deadline`, or `stop()` says give up.
    Never faster than politeness.POLL_MIN_INTERVAL_S, never more than POLL_MAX_PROBES probes."""
    began = clock.monotonic()
    interval = max(start_s, politeness.POLL_MIN_INTERVAL_S)
    cap_s = max(cap_s, interval)
    polls = 0
    max_interval = 0.0
    last: Any = None
    while True:
        last = probe()
        polls += 1
        if done(last):
            return PollResult(last, last, polls, clock.monotonic() - began, max_interval)
        now = clock.monotonic()
        if (now >= deadline or polls >= politeness.POLL_MAX_PROBES
                or (stop is not None and stop())):
            return PollResult(None, last, polls, now - began, max_interval)
        wait = min(interval, deadline - now)
        max_interval = max(max_interval, wait)
        clock.sleep(wait)
        interval = min(interval * POLL_FACTOR, cap_s)


@dataclass(frozen=True)
class SessionFixture:
    session_id: str
    client_id: str
    user_id: str
    thread_id: str
    container_id: str


class Harness:
    """The seed's helpers. All waits take a monotonic deadline from the caller."""

    def __init__(
        self,
        config: Any,
        clock: Clock,
        hermes: HermesClient,
        preview: PreviewClient,
        state: StateClient,
        orchestrator: OrchestratorClient,
        tasks: SessionTasks,
    ) -> None:
        self.config = config
        self.clock = clock
        self.hermes = hermes
        self.preview = preview
        self.state = state
        self.orchestrator = orchestrator
        self.tasks = tasks

    # -- container state ------------------------------------------------------------------
    def set_container_status(
        self, container_id: str, status: str, additional: dict[str, Any] | None = None
    ) -> None:
        fields: dict[str, Any] = {"status": status, **(additional or {})}
        if status == "stopped" and "stoppedAt" not in fields:
            fields["stoppedAt"] = int(self.clock.now() * 1000)
        self.state.update_container(container_id, fields)

    def get_container_status(self, container_id: str) -> dict[str, Any] | None:
        """The container's row (status, lastActivity, ...), or None when it has none."""
        return self.state.get_container(container_id)

    def wait_for_container_status(
        self,
        container_id: str,
        target: str | tuple[str, ...],
        *,
        deadline: float,
        cap_s: float = POLL_CAP_S,
        stop: Callable[[], bool] | None = None,
    ) -> PollResult:
        wanted = (target,) if isinstance(target, str) else target
        return poll(
            self.clock, lambda: self.state.get_container(container_id),
            lambda row: bool(row) and row.get("status") in wanted,
            deadline=deadline, cap_s=cap_s, stop=stop,
        )

    # -- fixtures ---------------------------------------------------------------------------
    def create_resumption_test_session(
        self,
        client_id: str | None = None,
        user_id: str | None = None,
        thread_id: str | None = None,
        session_id: str | None = None,
        ttl_s: int = 7 * 24 * 3600,
    ) -> SessionFixture:
        """The synthetic session row and its active thread mapping (idempotent: put)."""
        c = self.config
        client_id = client_id or c.client_id
        user_id = user_id or c.user_id
        thread_id = thread_id or c.thread_id
        session_id = session_id or c.session_id
        container_id = f"{client_id}-{thread_id}-{user_id}"
        now = self.clock.now()
        url, _ = c.preview_request(thread_id, client_id=client_id)
        self.state.put_session({
            **c.session_row_extras(),
            "sessionId": session_id, "userId": user_id, "clientId": client_id,
            "threadId": thread_id, "containerId": container_id, "status": "active",
            "previewUrl": url, "lastActivity": int(now * 1000), "createdAt": int(now * 1000),
            "ttl": int(now) + ttl_s, "synthetic": True,
        })
        self.create_thread_mapping(session_id, thread_id, container_id)
        return SessionFixture(session_id, client_id, user_id, thread_id, container_id)

    def create_thread_mapping(
        self, session_id: str, thread_id: str, container_id: str, status: str = "active"
    ) -> None:
        now = int(self.clock.now() * 1000)
        self.state.put_mapping({
            "threadId": thread_id, "sessionId": session_id, "containerId": container_id,
            "status": status, "createdAt": now, "lastActivity": now, "synthetic": True,
        })

    def get_active_session_count(self, container_id: str) -> int:
        """Mappings of the container with status `active` (production counts every mapping)."""
        return sum(
            1 for m in self.state.mappings_for_container(container_id)
            if m.get("status") == "active"
        )

    # -- HTTP ---------------------------------------------------------------------------------
    def test_hermes_session_resumption(
        self, thread_id: str, client_id: str, *, timeout_s: float, auth: bool = True
    ) -> ResumeAnswer:
        return self.hermes.resume_preview(thread_id, client_id, timeout_s=timeout_s, auth=auth)

    def test_alb_session_routing(
        self,
        thread_id: str,
        client_id: str,
        *,
        timeout_s: float,
        path: str = "",
        headers: dict[str, str] | None = None,
    ) -> HttpAnswer:
        return self.preview.get(
            thread_id, path, timeout_s=timeout_s, client_id=client_id, headers=headers
        )

    def simulate_container_auto_sleep(self, container_id: str) -> None:
        """What the container's auto-sleep writes (stopping, then stopped), without a container.
        For tests of the readers; the canary itself observes real sleeps."""
        now = int(self.clock.now() * 1000)
        self.set_container_status(container_id, "stopping", {"stoppedAt": now})
        self.set_container_status(container_id, "stopped", {"stoppedAt": now})

    # -- orchestrator ---------------------------------------------------------------------------
    def make_cold(self, container_id: str, *, deadline: float) -> list[str]:
        """Stop the session's live tasks through ECS (only tasks proven ours), wait for
        STOPPED, mark the row stopped. Returns what it did, for the step's findings."""
        notes: list[str] = []
        scan = self.tasks.scan()
        if not scan.complete:
            notes.append(f"task look-up incomplete: {scan.note}")
        live = scan.live
        for t in live:
            done = self.tasks.stop(t["taskArn"])
            if done:
                notes.append(done)
        if live:
            arns = sorted(t["taskArn"] for t in live)
            res = poll(
                self.clock,
                lambda: self.orchestrator.describe(arns),
                lambda tasks: all(t.get("lastStatus") == "STOPPED" for t in tasks),
                deadline=deadline,
            )
            if not res.ok:
                notes.append("tasks not yet STOPPED at the deadline")
        row = self.state.get_container(container_id)
        if row is not None and row.get("status") != "stopped":
            notes.append(f"set status stopped (was {row.get('status')})")
            self.set_container_status(container_id, "stopped")
        return notes
