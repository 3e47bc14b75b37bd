"""Fixtures shared by every suite (keep this small)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


def _wait_for(predicate: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll until the predicate returns something truthy (returned), or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"condition not met within {timeout:g} s: {predicate}")
        time.sleep(interval)


@pytest.fixture
def wait_for() -> Callable[..., Any]:
    """Bounded polling (deadline + short interval); never a fixed sleep."""
    return _wait_for
