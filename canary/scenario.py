"""The scenario: the steps in their order. Everything else derives from this list: the run
order, STEP_NAMES (JSON, EMF's Step dimension, the dashboard's per-step widgets) and which
step's measurement feeds which catalogue metric (`Step.measures`).

The order matters: wake_preview makes the container cold again itself, then `sleep` puts
the preview-woken container to sleep, and `auto_save` checks what it saved. No masking:
concurrency counts whatever the wake started and auth probes without a container, whatever
the wake's outcome; route and warm_api need the container up (the table or ECS says so).

Lanes (canary/lanes.py): each step declares the lanes it runs in (`Step.lanes`);
`Scenario.for_lane(lane)` keeps those, in this order. The full lane is today's scenario
unchanged; the quick lane is preflight (its own), warm_up, the checks of a warm container,
and cleanup. `metrics_of(lane)`: what a lane can emit, derived the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from canary.catalogue import RUN_LEVEL
from canary.lanes import LANES, Lane, parse_lane
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
    warm_up,
    websocket,
)
from canary.steps.base import Step


@dataclass(frozen=True)
class Scenario:
    """Ordered steps and the cleanup that always runs after them, for one lane."""

    steps: tuple[Step, ...]
    cleanup: Step
    lane: Lane = Lane.FULL

    @property
    def retries(self) -> bool:
        """A check failing on a transport error is retried once (the quick lane)."""
        return LANES[self.lane].retries

    @classmethod
    def for_lane(cls, lane: Lane | str) -> Scenario:
        """The lane's scenario: every declared step that runs in the lane, in order."""
        return SCENARIO_BY_LANE[parse_lane(lane)]

    @property
    def names(self) -> tuple[str, ...]:
        return (*(s.name for s in self.steps), self.cleanup.name)

    @property
    def all_steps(self) -> tuple[Step, ...]:
        return (*self.steps, self.cleanup)


ORDER: tuple[Step, ...] = (
    preflight.STEP, preflight.QUICK_STEP, wake_hermes.STEP, concurrency.STEP, warm_up.STEP,
    route.STEP, warm_api.STEP, hermes_not_found.STEP, router_not_found.STEP, websocket.STEP,
    auth.STEP, wake_preview.STEP, sleep.STEP, auto_save.STEP,
)
"""Every step of every lane, in run order (each lane keeps the ones it declares)."""


def _lane_scenario(lane: Lane) -> Scenario:
    return Scenario(steps=tuple(s for s in ORDER if lane in s.lanes), cleanup=cleanup.STEP,
                    lane=lane)


SCENARIO_BY_LANE: dict[Lane, Scenario] = {lane: _lane_scenario(lane) for lane in Lane}
SCENARIO = SCENARIO_BY_LANE[Lane.FULL]
STEP_NAMES: tuple[str, ...] = SCENARIO.names
"""The full lane's steps (JSON, EMF's Step dimension)."""


def metrics_of(lane: Lane | str) -> frozenset[str]:
    """The catalogue metrics a lane can emit: those a step of the lane measures, plus the
    run-level ones (catalogue.RUN_LEVEL: ScenarioSuccess, ContractViolations...). Infra
    creates only the alarms a lane can feed."""
    return frozenset(m for s in Scenario.for_lane(lane).all_steps for m in s.measures
                     ) | RUN_LEVEL
