"""Time, injected: the scenario never reads the system clock directly (tests use a fake)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """`now()` wall seconds since the epoch; `monotonic()` for durations; `sleep(s)`."""

    def now(self) -> float: ...

    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)
