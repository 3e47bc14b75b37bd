"""The canary's lanes: the one place their facts live. Stdlib only (the Lambda and the CDK
app import it).

Public names (code against these):
- `Lane`: `Lane.FULL` ("full": the cold-wake cycle on the long schedule) and `Lane.QUICK`
  ("quick": a session kept warm, checked on a short schedule; no cold wake, no sleep).
- `LaneSpec`: `lane`, `schedule_minutes` (the default schedule; the alarms' period),
  `description`, `lock_suffix` (appended to the run lock's id; "" for full, so today's lock
  id is kept), `id_suffix` (appended to the threadId, and the sessionId when configured, so
  the lanes never touch the same container; "" for full), `retries` (a check failing on a
  transport error is retried once: quick only).
- `LANES: dict[Lane, LaneSpec]`, `DEFAULT_LANE` (full), `lane_spec(lane)`, `parse_lane(text)`
  (ValueError naming the choices).
- `lock_id(base, lane)`: the run lock's id of a lane.
- `LaneSpec.max_budget_s` (quick: a run ends well inside its period) and
  `min_schedule_minutes` (the shortest period such a run fits).
- `RETRY_PAUSE_S`: the pause before a quick-lane retry.

Derived elsewhere from these: `Step.lanes` (canary/steps/base.py, default full only);
`Scenario.for_lane(lane)`, `SCENARIO_BY_LANE` and `metrics_of(lane)` (canary/scenario.py);
`CanaryConfig.lane`, `CanaryConfig.for_lane(lane)`, `CanaryConfig.for_session(spec)`,
`CanaryConfig.sessions` and `CanaryConfig.run_configs()` (canary/config.py); the `Lane` and
`Session` dimensions and `FirstAttemptSuccess` (canary/catalogue.py: `LANE_DIMENSION`,
`SESSION_DIMENSION`, `FIRST_ATTEMPT_SUCCESS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Lane(StrEnum):
    FULL = "full"
    QUICK = "quick"


@dataclass(frozen=True)
class LaneSpec:
    """One lane's facts: its default schedule, what it is for, how its lock and ids differ."""

    lane: Lane
    schedule_minutes: int
    description: str
    lock_suffix: str
    id_suffix: str
    retries: bool
    max_budget_s: float | None = None
    """The longest a run of this lane may take (None: CANARY_BUDGET_S alone). A quick run
    must end well inside its short period: one that hung for the full lane's budget would
    hold the lane's lock while the next runs skip (and a skip is no verdict)."""

    @property
    def min_schedule_minutes(self) -> int:
        """The shortest period that fits one run of at most `max_budget_s` and a minute's
        slack for the Lambda's start and the report."""
        return -(-int((self.max_budget_s or 0) + 60) // 60)


LANES: dict[Lane, LaneSpec] = {
    Lane.FULL: LaneSpec(
        Lane.FULL, 30,
        "the full cycle: cold wake through Hermes and the preview URL, routing, the API, "
        "sleep and auto-save",
        lock_suffix="", id_suffix="", retries=False),
    Lane.QUICK: LaneSpec(
        Lane.QUICK, 5,
        "the quick lane: a session kept warm; the resume API for a running container, "
        "routing, the two 404s, WebSocket and auth (no cold wake, no sleep)",
        lock_suffix="#quick", id_suffix="-quick", retries=True, max_budget_s=120.0),
}
DEFAULT_LANE = Lane.FULL
RETRY_PAUSE_S = 2.0
"""How long a quick-lane check waits before its one retry after a transport failure."""


def parse_lane(text: str) -> Lane:
    """A lane from its name (case-insensitive); ValueError naming the choices."""
    try:
        return Lane(str(text).strip().lower())
    except ValueError:
        raise ValueError(f"unknown lane {text!r}: use one of "
                         f"{', '.join(lane.value for lane in Lane)}") from None


def lane_spec(lane: Lane | str) -> LaneSpec:
    return LANES[parse_lane(lane)]


def lock_id(base: str, lane: Lane | str) -> str:
    """The run lock's id of a lane: the full lane keeps `base` (backward compatible)."""
    return base + lane_spec(lane).lock_suffix
