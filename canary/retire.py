"""`python -m canary retire --lane quick`: stop what a lane keeps between runs.

The quick lane keeps each session's container warm (its one task and its thread mapping stay
after every run). Turning the lane off (`quickScheduleMinutes: 0`) or removing a session from
`canarySessions` leaves those behind (so retire a session while it is still configured, then
remove it): this stops, for every configured session of the lane,
the session's live tasks (only tasks proven the session's, canary/tasks.py), marks its
containers row stopped and removes the thread mapping the lane keeps. The session row is left
to its TTL (as every run leaves it). Bounded: one deadline for all sessions, and each session's
wait for STOPPED at most PER_SESSION_S.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from canary.clients.base import TargetError
from canary.clock import Clock
from canary.composition import build_context
from canary.config import CanaryConfig
from canary.deadline import Deadline
from canary.lanes import Lane

DEFAULT_BUDGET_S = 120.0
PER_SESSION_S = 30.0
"""The longest one session's tasks are waited for to reach STOPPED."""


@dataclass
class Retired:
    """What retiring one session did (`problems` empty: all of it)."""

    session: str
    container_id: str
    done: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {"session": self.session, "container_id": self.container_id, "ok": self.ok,
                "done": list(self.done), "problems": list(self.problems)}


def retire_lane(config: CanaryConfig, deps: Any, clock: Clock, *, lane: Lane | str = Lane.QUICK,
                budget_s: float = DEFAULT_BUDGET_S, run_id: str = "retire") -> list[Retired]:
    """Every configured session of `lane`: its tasks stopped, its row stopped, its mapping
    removed (only the canary's own ids: the lane's run configs)."""
    deadline = Deadline.after(clock, budget_s)
    out = []
    for cfg in config.for_lane(lane).run_configs():
        retired = Retired(cfg.session_label, cfg.container_id)
        out.append(retired)
        if deadline.remaining() <= 0:
            retired.problems.append("not retired: the time budget ran out")
            continue
        ctx = build_context(cfg, deps, clock, run_id)
        ctx.deadline = clock.monotonic() + min(PER_SESSION_S, deadline.remaining())
        try:
            retired.done += ctx.harness.make_cold(cfg.container_id, deadline=ctx.deadline)
            if ctx.state.get_mapping(cfg.thread_id) is not None:
                ctx.state.delete_mapping(cfg.thread_id)
                retired.done.append(f"removed mapping {cfg.thread_id}")
            scan = ctx.tasks.scan()
        except TargetError as exc:
            retired.problems.append(str(exc))
            continue
        if not scan.complete:
            retired.problems.append(f"could not confirm that no task of the session runs: "
                                    f"{scan.note}")
        elif scan.live:
            retired.problems.append(f"{len(scan.live)} task(s) of the session still run")
    return out


def render(results: list[Retired], lane: str) -> str:
    lines = [f"retire {lane} lane: {len(results)} session(s)"]
    for r in results:
        what = "; ".join(r.done) or "nothing left to stop"
        lines.append(f"  {r.session} ({r.container_id}): "
                     + (what if r.ok else f"FAILED: {'; '.join(r.problems)} (did: {what})"))
    return "\n".join(lines) + "\n"
