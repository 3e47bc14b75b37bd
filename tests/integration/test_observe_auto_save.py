"""Observe mode checks the auto-save of the sleep the previous run left to happen: against
the sandbox over real loopback HTTP, moto and git (the remote is a real bare repository)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from git_http_backend import http_backend

from canary.clock import SystemClock
from canary.config import CanaryConfig
from canary.models import RunResult, Status
from canary.runner import run_scenario
from sandbox import Sandbox

pytestmark = pytest.mark.integration


def observe(sb: Sandbox, **overrides: Any) -> RunResult:
    from canary.composition import open_dependencies

    config = CanaryConfig.for_sandbox(sb.info, sleep_mode="observe", **overrides)
    clock = SystemClock()
    with open_dependencies(config, clock) as deps:
        return run_scenario(config, deps, clock)


def dirty_then_sleep(p: Any, wait_for: Any) -> None:
    """Leave work in the container the first run left running; let it sleep on its own."""
    p.sb.dirty_workspace(CanaryConfig.for_sandbox(p.sb.info).container_id)
    wait_for(lambda: all(t["desiredStatus"] != "RUNNING" for t in p.tasks()), timeout=5)


@pytest.mark.parametrize(("faults", "failed"), [([], 0), (["autosave_lost"], 1)],
                         ids=["saved", "recorded-pushed-but-lost"])
def test_observe_mode_checks_the_previous_sleeps_auto_save(make_platform, wait_for, faults,
                                                            failed):
    p = make_platform(faults=faults)
    assert observe(p.sb).ok
    dirty_then_sleep(p, wait_for)
    second = observe(p.sb)
    step = second.step("auto_save")
    assert step.status is (Status.PASSED if failed == 0 else Status.FAILED), step.reason
    assert second.metrics["AutoSaveFailed"] == failed


def test_observe_mode_reads_an_http_remote_without_git_ls_remote(make_platform, wait_for,
                                                                  monkeypatch):
    """The remote over smart HTTP (git http-backend), as the Lambda reads it: no git binary."""
    from canary.clients.git_remote import GitUnavailableError

    def no_git(remote: str, timeout_s: float) -> list[str]:
        raise GitUnavailableError("no git executable on this host")

    monkeypatch.setattr("canary.steps.auto_save.git_ls_remote", no_git)
    p = make_platform()
    template = Path(p.sb.info.git_remote_template)
    assert observe(p.sb).ok
    dirty_then_sleep(p, wait_for)
    with http_backend(template.parent) as base:
        second = observe(p.sb, git_remote_url=f"{base}/{template.name}")
    step = second.step("auto_save")
    assert step.status is Status.PASSED, step.reason
    assert second.metrics["AutoSaveFailed"] == 0
