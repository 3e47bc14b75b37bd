"""Ground truth: when each lifecycle event of each container really happened.

The canary measures the platform from outside; tests compare its measurements with
these times (epoch seconds, recorded by the sandbox part that caused the event).
"""

from __future__ import annotations

import threading
import time

EVENTS = (
    "wake_requested",
    "task_started",
    "registered_running",
    "first_preview_served",
    "marked_idle",  # running -> idle (no activity for the idle mark)
    "idle_detected",  # idle for the idle timeout: the sleep loop counts sessions
    "stopping",
    "pushed",
    "stopped",
    "stop_task",  # StopTask was called for the container's task (stopCode UserInitiated)
    "task_exited",  # the task stopped because its container exited by itself
)


class GroundTruth:
    """A thread-safe log of (event, epoch seconds) per containerId."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: dict[str, list[tuple[str, float]]] = {}

    def record(self, container_id: str, event: str, at: float | None = None) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown ground-truth event {event!r}; known: {', '.join(EVENTS)}")
        with self._lock:
            self._events.setdefault(container_id, []).append(
                (event, time.time() if at is None else at)
            )

    def events(self, container_id: str) -> list[tuple[str, float]]:
        with self._lock:
            return list(self._events.get(container_id, ()))

    def as_json(self, container_id: str) -> list[dict[str, object]]:
        return [{"event": e, "at": t} for e, t in self.events(container_id)]
