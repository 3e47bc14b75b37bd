"""The synthetic session's ECS tasks: which are ours, from contract facts only.

A task is the session's when its container overrides' *values* name the session (the
clientId together with the sessionId, threadId or containerId, whatever the variables are
called), or when both Hermes's 201 and the session's containers row name its ARN and its
overrides name no other client. A single response naming an ARN proves nothing: a task tied by no
fact is never counted, listed as ours or stopped (it may be another customer's container).

Look-ups are bounded: the ARNs already known, then ListTasks narrowed to the task family
(configured, or learnt from a task already proven ours), at most MAX_LIST_PAGES pages per
status and MAX_DESCRIBED descriptions per scan; a listed task once found not ours is not
described again in the run (ARNs a response names are, every scan). A scan that hit a
bound says so. Polls that scan wait at least ECS_POLL_S between scans.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from canary.clients.orchestrator import OrchestratorClient, created_at, override_values

STOP_REASON = "session-resumption-canary"  # how the canary's own stops are told apart
MAX_LIST_PAGES = 10  # ListTasks pages (100 ARNs each) per desired status and family
MAX_DESCRIBED = 300  # tasks described in one scan
CLOCK_SKEW_S = 5.0  # ECS's createdAt against the canary's clock
ECS_POLL_S = 2.0  # the shortest interval between polls that scan ECS (Hermes polls it too)


@dataclass(frozen=True)
class SessionIdentity:
    """The values that name the synthetic session."""

    client_id: str
    thread_id: str
    session_id: str
    container_id: str

    def named_by(self, values: Iterable[str]) -> bool:
        found = set(values)
        return self.client_id in found and bool(
            found & {self.session_id, self.thread_id, self.container_id})


@dataclass
class Scan:
    """The session's tasks one look-up found; `complete` False when a bound cut it short."""

    tasks: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = True
    note: str = ""

    @property
    def live(self) -> list[dict[str, Any]]:
        return [t for t in self.tasks if is_live(t)]

    @property
    def arns(self) -> set[str]:
        return {t["taskArn"] for t in self.tasks}


def is_live(task: dict[str, Any]) -> bool:
    return task.get("lastStatus") != "STOPPED"


def short(arn: str) -> str:
    return arn.rsplit("/", 1)[-1][:12]


def family_of(task: dict[str, Any]) -> str | None:
    """The task definition family (…:task-definition/FAMILY:REV)."""
    arn = task.get("taskDefinitionArn") or ""
    name = arn.rsplit("/", 1)[-1]
    return name.rsplit(":", 1)[0] or None if "/" in arn else None


class SessionTasks:
    """What a run knows of its session's tasks. Thread-safe: wake calls note ARNs in parallel."""

    def __init__(self, orchestrator: OrchestratorClient, identity: SessionIdentity,
                 *, family: str | None = None) -> None:
        self.orchestrator = orchestrator
        self.identity = identity
        self._lock = threading.Lock()
        self.answered: set[str] = set()  # ARNs Hermes's 201s named
        self.recorded: set[str] = set()  # ARNs the session's containers row named
        self.families: set[str] = {family} if family else set()
        self.configured_family = family
        self._others: set[str] = set()  # ARNs described once and found not ours
        self._described: dict[str, dict[str, Any]] = {}  # ours, as last described

    # -- facts ------------------------------------------------------------------------
    def note_answer(self, arn: str | None) -> None:
        if arn:
            with self._lock:
                self.answered.add(arn)

    def note_row(self, row: dict[str, Any] | None) -> None:
        arn = (row or {}).get("taskArn")
        if isinstance(arn, str) and arn:
            with self._lock:
                self.recorded.add(arn)

    def tie(self, task: dict[str, Any]) -> str | None:
        """Why the task is the session's (None: it is not, as far as the facts go)."""
        values = override_values(task)
        if self.identity.named_by(values):
            return "its overrides name the session"
        arn = task.get("taskArn")
        with self._lock:
            both = arn in self.answered and arn in self.recorded
        # Two facts agree, and the overrides name no other client (none, or this one).
        if both and (not values or self.identity.client_id in values):
            return "Hermes's 201 and the containers row both name it"
        return None

    # -- look-ups ---------------------------------------------------------------------
    def describe_owned(self, arns: Iterable[str]) -> tuple[list[dict[str, Any]], set[str]]:
        """(the given tasks that are ours, the given ARNs that are not)."""
        wanted = sorted(set(arns))
        described = self.orchestrator.describe(wanted) if wanted else []
        ours = [t for t in described if self.tie(t)]
        self._learn(ours)
        with self._lock:
            self._described.update({t["taskArn"]: t for t in ours})
        # A listed task found not ours is not described again in this run: only a 201 and the
        # row together could still make it ours, and those ARNs are described every scan.
        with self._lock:
            self._others.update({t["taskArn"] for t in described} - {t["taskArn"] for t in ours})
        return ours, set(wanted) - {t["taskArn"] for t in ours}

    def scan(self, *, include_stopped: bool = False, created_since: float | None = None) -> Scan:
        """The session's tasks: running and pending (and recently stopped, if asked), created
        at or after `created_since` (epoch seconds) when given. Raises TargetError."""
        with self._lock:
            known = self.answered | self.recorded
        ours, _ = self.describe_owned(known)
        statuses = ("RUNNING", "STOPPED") if include_stopped else ("RUNNING",)
        with self._lock:
            families: list[str | None] = [*sorted(self.families)] or [None]
        listed: list[str] = []
        complete, note = True, ""
        for status in statuses:
            for fam in families:
                arns, truncated = self.orchestrator.list_task_arns(
                    status, family=fam, max_pages=MAX_LIST_PAGES)
                listed += arns
                if truncated:
                    complete = False
                    note = (f"more than {MAX_LIST_PAGES * 100} {status} tasks in "
                            f"{'family ' + fam if fam else 'the cluster'}; "
                            "set ECS_TASK_FAMILY to narrow the look-up")
        with self._lock:
            skip = {t["taskArn"] for t in ours} | self._others
        fresh = [a for a in dict.fromkeys(listed) if a not in skip]
        if len(fresh) > MAX_DESCRIBED:
            complete = False
            note = f"{len(fresh)} tasks to look at, more than {MAX_DESCRIBED}; " + (
                "set ECS_TASK_FAMILY to narrow the look-up")
            fresh = fresh[:MAX_DESCRIBED]  # the next scan goes on: the others are remembered
        more, _ = self.describe_owned(fresh)
        tasks = list({t["taskArn"]: t for t in ours + more}.values())
        if created_since is not None:
            tasks = [t for t in tasks if (made := created_at(t)) is None
                     or made >= created_since - CLOCK_SKEW_S]
        return Scan(tasks, complete, note)

    def started(self, arn: str) -> dict[str, Any] | None:
        """The task if it is ours, as described once it started (its timestamps up to
        startedAt are final then): the run's last description when it had started, else
        one DescribeTasks. None when it is not ours. Raises TargetError."""
        with self._lock:
            known = self._described.get(arn)
        if known is not None and known.get("startedAt") is not None:
            return known
        ours, _ = self.describe_owned([arn])
        return ours[0] if ours else None

    def stop(self, arn: str) -> str | None:
        """Stop the task if it is ours and live. Returns what was done, None if refused."""
        ours, _ = self.describe_owned([arn])
        if not ours:
            return None
        if not is_live(ours[0]) or ours[0].get("desiredStatus") == "STOPPED":
            return f"task {short(arn)} already stopping"
        self.orchestrator.stop_task(arn, reason=STOP_REASON)
        return f"stopped task {short(arn)} (was {ours[0].get('lastStatus')})"

    def _learn(self, ours: list[dict[str, Any]]) -> None:
        if self.configured_family:
            return  # the deployment said which family: never widen it
        for t in ours:
            fam = family_of(t)
            if fam:
                with self._lock:
                    self.families.add(fam)
