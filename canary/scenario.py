"""The scenario: the steps in their order. Everything else derives from this list: the run
order, STEP_NAMES (JSON, EMF's Step dimension, the dashboard's per-step widgets) and which
step's measurement feeds which catalogue metric (`Step.measures`).

The order matters: wake_preview makes the container cold again itself, then `sleep` puts
the preview-woken container to sleep, and `auto_save` checks what it saved. No masking:
concurrency counts whatever the wake started and auth probes without a container, whatever
the wake's outcome; route and warm_api need the container up (the table or ECS says so).
"""

from __future__ import annotations

from dataclasses import dataclass

from canary.steps import (
    auth,
    auto_save,
    cleanup,
    concurrency,
    hermes_not_found,
    preflight,
    route,
    router_not_found,
    sleep,
    wake_hermes,
    wake_preview,
    warm_api,
    websocket,
)
from canary.steps.base import Step


@dataclass(frozen=True)
class Scenario:
    """Ordered steps and the cleanup that always runs after them."""

    steps: tuple[Step, ...]
    cleanup: Step

    @property
    def names(self) -> tuple[str, ...]:
        return (*(s.name for s in self.steps), self.cleanup.name)

    @property
    def all_steps(self) -> tuple[Step, ...]:
        return (*self.steps, self.cleanup)


SCENARIO = Scenario(
    steps=tuple(m.STEP for m in (
        preflight, wake_hermes, concurrency, route, warm_api, hermes_not_found,
        router_not_found, websocket, auth, wake_preview, sleep, auto_save,
    )),
    cleanup=cleanup.STEP,
)
STEP_NAMES: tuple[str, ...] = SCENARIO.names
