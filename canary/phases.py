"""Where a cold wake's time goes: its phases, from ECS's task timestamps and the canary's marks.

One wake is a line of points, each read on one of two clocks:

    request sent [canary] -> createdAt [ECS] -> pullStartedAt [ECS] -> pullStoppedAt [ECS]
    -> startedAt [ECS] -> row running [canary] -> preview 200 [canary]

and its phases are the gaps between neighbours (what each means, and what to check when it
is the slow one, is PHASES below and docs/RUNBOOK.md's WakeTimeHigh entry). A wake through
the preview URL has no row mark: its app_ready runs to the preview 200 (so it includes the
loading page's Retry-After waits) and it has no preview phase. Hermes's answer is a mark,
not a boundary: Hermes answers when the task is up, or at once with `starting`, so it may
fall in any phase; the steps report it beside the phases (API_ANSWERED, ms after the request).

The contract promises none of ECS's timestamps, so a phase is *not measured* (no value, no
metric) when a boundary is missing or a same-clock gap is negative (out of order). A phase
across the two clocks (scheduling, app_ready) says so; the clocks may disagree by up to
CLOCK_SKEW_S, so a gap negative by less counts as 0 and one negative by more is not
measured; it is never negative. A task created before the wake's first request (beyond the
allowance) is not this wake's task: none of its phases is measured. When every phase is
measured they add up to the wake time (skew moves time between the cross-clock phases only).

A wake that never finished (a timeout, a failure) still has the phases its task's timestamps
allow, the later ones not measured: they are shown (JSON, report, HTML) under their
`unfinished_key`, never as metrics - a latency is emitted only from a measured wake.
`split` is pure (tests check its arithmetic); `of_wake` finds the wake's task for the steps;
`read` gives the phases back from a step's measurements to every renderer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from canary import catalogue as cat
from canary.clients.base import TargetError
from canary.clients.orchestrator import epoch
from canary.tasks import CLOCK_SKEW_S, SessionTasks, short

CANARY, ECS = "canary", "ECS"
TASK_FIELDS = {  # point -> DescribeTasks field
    "created": "createdAt", "pull_started": "pullStartedAt", "pull_stopped": "pullStoppedAt",
    "started": "startedAt",
}
NOT_REACHED = {  # the canary's own later points -> why a wake has none
    "row_running": "the containers row never said running",
    "preview_ok": "the preview never answered 200",
}
API_ANSWERED = "api_answered_ms"
"""A wake's mark beside its phases: ms after the first request until Hermes's first 201."""


@dataclass(frozen=True)
class PhaseSpec:
    """One phase: the points it spans, its metric, and what it means."""

    name: str
    start: str
    end: str
    metric: cat.MetricSpec
    meaning: str

    @property
    def title(self) -> str:
        """Its name for people (`image pull`)."""
        return self.name.replace("_", " ")

    @property
    def cross_clock(self) -> bool:
        """It spans the canary's and ECS's clocks (whichever end the wake has)."""
        return (self.start in TASK_FIELDS) != (self.end in TASK_FIELDS)

    @property
    def key(self) -> str:
        """Its measurement key in a measured wake's JSON (the metric's source)."""
        return f"phase_{self.name}_ms"

    @property
    def unfinished_key(self) -> str:
        """Its measurement key when the wake never finished (shown, never a metric)."""
        return f"unfinished_phase_{self.name}_ms"

    @property
    def at_key(self) -> str:
        """Where it starts: ms after the wake's first request (on its start point's clock)."""
        return f"phase_{self.name}_at_ms"

    @property
    def why_not_key(self) -> str:
        """Why it was not measured."""
        return f"phase_{self.name}_not_measured"


_SPANS: dict[str, tuple[str, str, str, str]] = {  # metric -> name, start, end, meaning
    cat.WAKE_PHASE_SCHEDULING.name: ("scheduling", "requested", "created",
                                     "Hermes read the tables and called RunTask; ECS accepted it"),
    cat.WAKE_PHASE_PROVISIONING.name: ("provisioning", "created", "pull_started",
                                       "Fargate capacity and the task's network interface"),
    cat.WAKE_PHASE_IMAGE_PULL.name: ("image_pull", "pull_started", "pull_stopped",
                                     "the container image pulled from the registry"),
    cat.WAKE_PHASE_CONTAINER_START.name: (
        "container_start", "pull_stopped", "started",
        "the container runtime started the essential container"),
    cat.WAKE_PHASE_APP_READY.name: ("app_ready", "started", "row_running",
                                    "the app booted and registered itself running"),
    cat.WAKE_PHASE_PREVIEW.name: ("preview", "row_running", "preview_ok",
                                  "the router reached the container and it served the preview"),
}
PHASES: tuple[PhaseSpec, ...] = tuple(
    PhaseSpec(*_SPANS[m.name][:3], m, _SPANS[m.name][3]) for m in cat.WAKE_PHASES)
"""In the catalogue's wake order (catalogue.WAKE_PHASES: the metrics and the dashboard)."""
MEASURES: dict[str, str] = {p.metric.name: p.key for p in PHASES}
"""catalogue metric -> measurement key, for the wake step's `measures`."""


@dataclass(frozen=True)
class Marks:
    """The canary's own marks of one wake, epoch seconds on its clock. `preview_ok` None: the
    wake never finished (`ended`: when the canary stopped waiting); `row_running` None: not
    reached, or not watched at all (`row_watched` False: a wake through the preview URL)."""

    requested: float
    preview_ok: float | None = None
    row_running: float | None = None
    row_watched: bool = True
    ended: float | None = None

    @property
    def finished(self) -> bool:
        return self.preview_ok is not None


@dataclass(frozen=True)
class Phase:
    name: str
    ms: float | None  # None: not measured
    cross_clock: bool
    why_not: str = ""
    at_ms: float | None = None  # where it starts, ms after the first request


def _points(marks: Marks, task: Mapping[str, Any] | None) -> dict[str, tuple[float | None, str]]:
    points: dict[str, tuple[float | None, str]] = {
        "requested": (marks.requested, CANARY), "preview_ok": (marks.preview_ok, CANARY),
        "row_running": (marks.row_running, CANARY),
    }
    for point, fieldname in TASK_FIELDS.items():
        points[point] = (epoch((task or {}).get(fieldname)), ECS)
    return points


def split(marks: Marks, task: Mapping[str, Any] | None, *, skew_s: float = CLOCK_SKEW_S,
          no_task: str = "no task of this wake identified") -> list[Phase]:
    """The wake's phases in order; each not measured when its timestamps do not allow it
    (`no_task`: why, when there is no task)."""
    points = _points(marks, task)
    foreign = _not_this_wake(marks, task, points["created"][0], skew_s)
    phases: list[Phase] = []
    for spec in PHASES:
        start, end = spec.start, spec.end
        if not marks.row_watched and end == "row_running":
            end = "preview_ok"  # no row mark: the app is ready when the preview answers
        elif not marks.row_watched and start == "row_running":
            continue  # no row mark, no preview phase
        (a, clock_a), (b, clock_b) = points[start], points[end]
        phase = _phase(spec.name, a, b, clock_a != clock_b, start, end, skew_s,
                       foreign if ECS in (clock_a, clock_b) else "",
                       no_task if task is None else "")
        at = None if phase.ms is None or a is None else round((a - marks.requested) * 1000, 1)
        phases.append(Phase(phase.name, phase.ms, phase.cross_clock, phase.why_not, at))
    return phases


def _not_this_wake(marks: Marks, task: Mapping[str, Any] | None, created: float | None,
                   skew_s: float) -> str:
    """Why the task cannot be this wake's (created outside the wake, beyond the allowance)."""
    if task is None or created is None:
        return ""
    name = f"task {short(str(task.get('taskArn', '')))}"
    ended = marks.preview_ok if marks.preview_ok is not None else marks.ended
    if created < marks.requested - skew_s:
        return (f"{name} was created {marks.requested - created:.1f} s before the wake began: "
                "not this wake's task")
    if ended is not None and created > ended + skew_s:
        return (f"{name} was created {created - ended:.1f} s after the wake ended: "
                "not this wake's task")
    return ""


def _phase(name: str, a: float | None, b: float | None, cross: bool, start: str, end: str,
           skew_s: float, foreign: str, no_task: str) -> Phase:
    if foreign:
        return Phase(name, None, cross, foreign)
    if a is None or b is None:
        return Phase(name, None, cross, _missing(((start, a), (end, b)), no_task))
    gap = b - a
    if gap >= 0:
        return Phase(name, round(gap * 1000, 1), cross)
    if cross and -gap <= skew_s:
        return Phase(name, 0.0, cross)  # the clocks disagree a little: never negative
    allowance = f" by more than the {skew_s:g} s clock allowance" if cross else ""
    return Phase(name, None, cross, f"out of order: {TASK_FIELDS.get(end, end)} "
                 f"{-gap:.1f} s before {TASK_FIELDS.get(start, start)}{allowance}")


def _missing(ends: Iterable[tuple[str, float | None]], no_task: str) -> str:
    """Why a phase's ends are missing: no task, ECS left a field out, the wake never got
    there."""
    from_ecs = [p for p, v in ends if v is None and p in TASK_FIELDS]
    from_canary = [NOT_REACHED.get(p, f"no {p}") for p, v in ends
                   if v is None and p not in TASK_FIELDS]
    why = []
    if from_ecs:
        why.append(no_task or "no " + " or ".join(TASK_FIELDS[p] for p in from_ecs)
                   + " from ECS")
    return "; ".join(why + from_canary)


def measurements(phases: list[Phase], task_arn: str | None = None, *,
                 finished: bool = True) -> dict[str, Any]:
    """The phases as flat step measurements: each measured one's value (under `key`, or
    `unfinished_key` when the wake never finished) and start (`at_key`), each other's
    reason (`why_not_key`), and the task they were read from."""
    m: dict[str, Any] = {}
    specs = {s.name: s for s in PHASES}
    for p in phases:
        spec = specs[p.name]
        if p.ms is None:
            m[spec.why_not_key] = p.why_not[:300]
            continue
        m[spec.key if finished else spec.unfinished_key] = p.ms
        if p.at_ms is not None:
            m[spec.at_key] = p.at_ms
    if task_arn:
        m["phases_task"] = short(task_arn)
    return m


def of_wake(tasks: SessionTasks, marks: Marks, arns: Iterable[str | None]) -> dict[str, Any]:
    """The phase measurements of a wake, finished or not. Its task is the one the containers
    row (or else Hermes's 201s) named, if ours; when several are ours (concurrent calls each
    started one, as the production build was seen to), the first created, which the others
    raced: `phases_task_note` says so. Each described at most once more
    (SessionTasks.started: none when the run already saw it started). An ECS failure leaves
    the phases not measured."""
    named = [a for a in dict.fromkeys(arns) if a]
    task, chosen, found = None, None, []
    why = "no task of this wake identified (no taskArn in the row or the 201s)"
    for arn in named:
        try:
            if described := tasks.started(arn):
                found.append((arn, described))
        except TargetError as exc:
            why, found = f"ECS could not describe task {short(arn)}: {exc}"[:200], []
            break
    else:
        if found:
            chosen, task = min(found, key=lambda f: epoch(f[1].get("createdAt")) or float("inf"))
            why = ""
        elif named:
            why = (f"task {short(named[0])} is not the session's" if len(named) == 1 else
                   f"none of the {len(named)} tasks named for this wake is the session's")
    m = measurements(split(marks, task, no_task=why), chosen, finished=marks.finished)
    if len(found) > 1:
        m["phases_task_note"] = f"the first created of {len(found)} tasks started for this wake"
    return m


@dataclass(frozen=True)
class Shown:
    """One phase as a renderer reads it back from a step's measurements."""

    spec: PhaseSpec
    ms: float | None
    at_ms: float | None
    why_not: str
    unfinished: bool


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def read(measured: Mapping[str, Any]) -> list[Shown]:
    """The phases a step's measurements hold, in wake order (empty when none): the one
    reading of the keys above, for the text report and the HTML."""
    shown = []
    for spec in PHASES:
        done, partial = _number(measured.get(spec.key)), _number(measured.get(spec.unfinished_key))
        why = measured.get(spec.why_not_key)
        if done is None and partial is None and not isinstance(why, str):
            continue  # this wake has no such phase (a preview wake's preview phase)
        shown.append(Shown(spec, done if done is not None else partial,
                           _number(measured.get(spec.at_key)), why if isinstance(why, str) else "",
                           unfinished=done is None and partial is not None))
    return shown


def describe(measured: Mapping[str, Any]) -> str | None:
    """One report line from a step's measurements (None when it has no phases): each phase
    in wake order, `~` marking a phase across the two clocks, Hermes's answer, and what was
    not measured."""
    shown = read(measured)
    if not shown:
        return None
    parts = [f"{s.spec.title} {s.ms:.0f}" + ("~" if s.spec.cross_clock else "")
             for s in shown if s.ms is not None]
    line = " | ".join(parts) + " ms" if parts else "none measured"
    if any(s.spec.cross_clock for s in shown if s.ms is not None):
        line += "  (~ spans the canary's and ECS's clocks)"
    answered = _number(measured.get(API_ANSWERED))
    if answered is not None:
        line += f"; API answered at {answered:.0f} ms"
    if any(s.unfinished for s in shown):
        line += "\n    the wake did not finish: these phases are not emitted as metrics"
    missing = [f"{s.spec.name}: {s.why_not}" for s in shown if s.ms is None]
    if missing:
        line += "\n    not measured: " + "; ".join(missing)
    return line
