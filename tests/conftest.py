"""Fixtures shared by every suite (keep this small)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Coverage's floor (pyproject: [tool.coverage.report] fail_under) judges the whole suite
    only: a run of some tests (paths, -k, -m) still reports coverage but never fails on it,
    unless --cov-fail-under asks for it."""
    cov = config.pluginmanager.get_plugin("_cov")
    whole = (config.args_source is pytest.Config.ArgsSource.TESTPATHS
             and not config.option.keyword and not config.option.markexpr)
    asked = any(str(a).startswith("--cov-fail-under") for a in config.invocation_params.args)
    if cov is not None and not whole and not asked:
        cov.options.cov_fail_under = None


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


def _stays(predicate: Callable[[], Any], seconds: float, interval: float = 0.05) -> bool:
    """True if the predicate holds at every check for `seconds` (a bounded negative check)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not predicate():
            return False
        time.sleep(interval)
    return True


@pytest.fixture
def stays() -> Callable[..., bool]:
    """A bounded check that something does NOT happen for a while (a negative wait_for)."""
    return _stays
