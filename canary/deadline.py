"""One deadline per invocation, and calls that are abandoned when it passes.

A hanging dependency (the lock table, Secrets Manager, ECS, DynamoDB, an HTTP target)
must not make the canary overrun its Lambda and lose its report. Every blocking call
runs only while time remains, and the caller stops waiting for it when the time is up:
`bounded(fn, timeout_s)` runs `fn` in a daemon thread. The abandoned thread ends on its
own socket timeouts; it holds nothing the caller still needs. Stdlib only: imported by
the Lambda handler at init.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from canary.clock import Clock

T = TypeVar("T")

MAX_WAIT_S = 24 * 3600.0
"""Longest single wait (an unbounded deadline, e.g. a local call without a Lambda context)."""


class TimeUp(TimeoutError):
    """A bounded call did not finish in its time, or had no time left to start."""


@dataclass
class Deadline:
    """A monotonic end time on the injected clock. `end` may be moved (the runner moves
    the limit of its AWS calls from the steps' phase to cleanup's)."""

    clock: Clock
    end: float

    @classmethod
    def after(cls, clock: Clock, seconds: float) -> Deadline:
        return cls(clock, clock.monotonic() + max(0.0, seconds))

    def remaining(self) -> float:
        return max(0.0, self.end - self.clock.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0.0

    def share(self, cap_s: float, fraction: float = 1.0, *, floor_s: float = 0.0) -> float:
        """One call's slice: `fraction` of what remains, at most `cap_s`; at least `floor_s`
        (a busy endpoint is not a hung one) as long as that is at most half of what remains."""
        left = self.remaining()
        return max(0.0, min(cap_s, max(left * fraction, min(floor_s, left / 2)), left))


def bounded(fn: Callable[[], T], timeout_s: float, *, what: str = "call") -> T:
    """`fn()`, or TimeUp once `timeout_s` (real seconds) has passed without an answer.

    Exceptions of `fn` are re-raised in the caller. With no time left, `fn` is not
    started at all.
    """
    if timeout_s <= 0:
        raise TimeUp("not attempted: no time left")
    box: dict[str, Any] = {}
    done = threading.Event()

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread below
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=run, name=f"canary-bounded-{what}"[:60], daemon=True).start()
    if not done.wait(min(timeout_s, MAX_WAIT_S)):
        raise TimeUp(f"no answer within {timeout_s:.1f} s (abandoned)")
    if "error" in box:
        raise box["error"]
    return box["value"]
