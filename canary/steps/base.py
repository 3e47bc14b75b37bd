"""What the steps share: the RunContext and small verdict helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from canary.clients.hermes import HermesClient, ResumeAnswer
from canary.clients.orchestrator import OrchestratorClient, epoch
from canary.clients.preview import PreviewClient
from canary.clients.state import StateClient
from canary.clock import Clock
from canary.harness import Harness, poll
from canary.lanes import Lane
from canary.memory import RunMemory
from canary.models import Measurement, Status, StepResult
from canary.tasks import ECS_POLL_S, SessionTasks, is_live, short

# resume-preview failures the contract allows (500 'Failed to resume session', gateway
# errors) or that point at the canary's own key (401/403); 0 is no answer at all.
NOT_VIOLATIONS = (0, 401, 403, 500, 502, 503, 504)


ALL_LANES: frozenset[Lane] = frozenset(Lane)
"""For a check both lanes run (the full cycle keeps every step; the quick lane its checks)."""


def violates_contract(status: int) -> bool:
    """A failed resume-preview answer whose status the contract does not allow."""
    return status not in NOT_VIOLATIONS


@dataclass
class RunState:
    """What a step learns that later steps (and cleanup) need: the protocol between steps.
    Each field has one writer, named beside it; everyone else only reads it."""

    preflight_done: bool = False  # preflight: fixtures exist (cleanup removes them)
    known_task_arns: set[str] = field(default_factory=set)  # preflight: tasks before the wake
    previous_sleep: dict[str, Any] | None = None  # preflight (observe): the last run's verdict
    previous_auto_save: Any = None  # preflight (observe): the row's lastAutoSave as it found it
    wake_started_wall: float | None = None  # wake_hermes: epoch s its calls began
    container_down: bool = False  # wake_hermes: neither the row nor ECS showed it up
    accepted_starting_at: float | None = None  # RunContext.resume: last 201 `starting` (epoch)
    last_activity: float | None = None  # RunContext.note_activity (monotonic)
    last_activity_wall: float | None = None  # RunContext.note_activity (epoch s)
    wake_in_flight: bool = False  # wake_preview: the router may still be waking it
    leave_running: bool = False  # sleep (observe): cleanup keeps one task
    extra_mappings: list[str] = field(default_factory=list)  # sleep (wait): held sessions
    dirtied_at_ms: int | None = None  # sleep (wait): when the workspace was dirtied
    slept: bool = False  # sleep (wait): it was watched falling asleep

    def update(self, **fields: Any) -> None:
        """Set several fields at once (tests arrange a state this way); unknown names fail."""
        for name, value in fields.items():
            if not hasattr(self, name):
                raise AttributeError(f"RunState has no field {name!r}")
            setattr(self, name, value)


@dataclass
class RunContext:
    """One run's context: config, clock, clients, the session's tasks, the canary's memory,
    `deadline` (monotonic: the current step's) and `run_state` (what earlier steps learned)."""

    config: Any  # CanaryConfig
    clock: Clock
    harness: Harness
    api_key: Any  # ApiKeyProvider
    run_id: str
    tasks: SessionTasks
    memory: RunMemory | None = None  # the canary's own table, when it has one
    deadline: float = 0.0
    git_ls_remote: Callable[[str, float], list[str]] | None = None
    run_state: RunState = field(default_factory=RunState)

    @property
    def hermes(self) -> HermesClient:
        return self.harness.hermes

    @property
    def preview(self) -> PreviewClient:
        return self.harness.preview

    @property
    def state(self) -> StateClient:
        return self.harness.state

    @property
    def orchestrator(self) -> OrchestratorClient:
        return self.harness.orchestrator

    def remaining(self) -> float:
        return max(0.0, self.deadline - self.clock.monotonic())

    def timeout(self, cap_s: float) -> float:
        """A request timeout: at most cap_s, never past the step's deadline."""
        return max(0.05, min(cap_s, self.remaining()))

    def note_activity(self) -> None:
        """The canary just made the container active (a preview page or a resume call)."""
        self.run_state.last_activity = self.clock.monotonic()
        self.run_state.last_activity_wall = self.clock.now()

    def resume(self, *, timeout_s: float, auth: bool = True,
               thread_id: str | None = None) -> ResumeAnswer:
        """resume-preview for the synthetic session (or `thread_id`); the ARN a 201 names is
        noted as a fact about the session's tasks (to be checked, never trusted alone)."""
        c = self.config
        ans = self.hermes.resume_preview(thread_id or c.thread_id, c.client_id,
                                         timeout_s=timeout_s, auth=auth)
        if thread_id is None:
            self.note_activity()
            if ans.status == 201:
                self.tasks.note_answer(ans.field("taskArn"))
                if ans.container_status == "starting":  # a task may start late
                    self.run_state.accepted_starting_at = self.clock.now()
        return ans

    def container_row(self) -> dict[str, Any] | None:
        """The session's containers row; its taskArn is noted as a fact about its tasks."""
        row = self.state.get_container(self.config.container_id)
        self.tasks.note_row(row)
        return row


@dataclass(frozen=True)
class Step:
    """One step, declared once (in its module, as `STEP`): its name, what it needs, what it
    measures. The scenario (canary/scenario.py) is a list of these; the run order, the step
    names, metric collection and the dashboard's per-step widgets all derive from it.

    `measures` maps catalogue metric -> measurement key; a later step that measured the same
    metric wins (sleep's verdict over preflight's, in observe mode). `wake_path`: the step
    runs only when that wake path is configured (WAKE_PATHS). `lanes`: the lanes whose
    scenario includes it (default: the full cycle only). `retry_on_transport`: in a lane that
    retries (the quick lane), a failure on a transport error (reset, timeout, refused) is
    retried once; never for a cold wake (a retry would find the container warm)."""

    name: str
    run: Callable[[RunContext], StepResult]
    depends: tuple[str, ...] = ()
    measures: dict[str, str] = field(default_factory=dict)
    wake_path: str | None = None
    lanes: frozenset[Lane] = frozenset({Lane.FULL})
    retry_on_transport: bool = False


def grade(value_ms: float, degraded_ms: float, failed_ms: float, what: str
          ) -> tuple[Status, str]:
    if value_ms > failed_ms:
        return (Status.FAILED,
                f"{what} {value_ms:.0f} ms, over the failed threshold {failed_ms:g} ms")
    if value_ms > degraded_ms:
        return (Status.DEGRADED,
                f"{what} {value_ms:.0f} ms, over the degraded threshold {degraded_ms:g} ms")
    return Status.PASSED, f"{what} {value_ms:.0f} ms"


def result(name: str, status: Status, reason: str, measurements: dict[str, Measurement] | None
           = None, findings: list[str] | None = None) -> StepResult:
    return StepResult(name=name, status=status, reason=reason,
                      measurements=dict(measurements or {}), findings=list(findings or []))


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def has_marker(config: Any, text: str, container_id: str | None = None) -> bool:
    marker = config.marker_for(container_id)
    return marker is None or marker in text


def skip_if_container_down(ctx: RunContext, name: str) -> StepResult | None:
    """A skipped result when wake_hermes ran and neither the table nor ECS ever showed the
    container up, else None."""
    if ctx.run_state.container_down:
        return result(name, Status.SKIPPED,
                      "skipped: the container was not up after wake_hermes (no running row, no "
                      "RUNNING task of the session)")
    return None


def running_answer_problem(ctx: RunContext, ans: ResumeAnswer) -> str | None:
    """A 201 that says `running` must be true: the row it names says running (or idle) and
    the task it names, if any, is the session's and RUNNING. Returns the contradiction."""
    if ans.status != 201 or ans.container_status != "running":
        return None
    cid = ctx.config.container_id
    named = ans.field("containerId")
    if named and named != cid:  # the canary reads (and may read) only its own row
        return f"201 named container {named}, not the session's {cid}"
    row = ctx.container_row() or {}
    if row.get("status") not in ("running", "idle"):
        return (f"201 said running but the containers row {cid} says "
                f"{row.get('status') or 'nothing (no row)'}")
    arn = ans.field("taskArn")
    if arn:
        ours, foreign = ctx.tasks.describe_owned([arn])
        if foreign:
            return f"201 named task {short(arn)}, which no contract fact ties to the session"
        if ours and ours[0].get("lastStatus") != "RUNNING":
            return (f"201 said running but ECS says task {short(arn)} is "
                    f"{ours[0].get('lastStatus')}")
        return None
    live = ctx.tasks.scan().live  # no ARN named: ask ECS about the session's tasks
    if live and not any(t.get("lastStatus") == "RUNNING" for t in live):
        states = sorted({str(t.get("lastStatus")) for t in live})
        return f"201 said running but ECS has no RUNNING task of the session ({', '.join(states)})"
    return None  # none of the session's tasks identifiable: the row is all there is


def session_up(ctx: RunContext) -> bool:
    """The synthetic container exists: its row says running/idle, or ECS runs a task of it
    (which may still be starting: see `app_ready`)."""
    if row_ready(ctx):
        return True
    return any(t.get("lastStatus") == "RUNNING" for t in ctx.tasks.scan().tasks if is_live(t))


READY_STATUSES = ("running", "idle")  # the row's statuses the app itself writes once it serves
FIRST_WAIT_S = 0.25
"""The first pause between readiness checks (then backing off to ECS_POLL_S)."""
APP_GRACE_S = 15.0
"""A task RUNNING that reports no health (no container health check: UNKNOWN or absent)
counts as serving this long after ECS's startedAt: its app's boot, which ECS cannot see."""
APP_WAIT_S = 60.0
"""How long a task already running is waited for to prove its app serves (a health check's
interval is 30 s by default) before the checks run anyway and judge what answers."""


def row_ready(ctx: RunContext) -> bool:
    return (ctx.container_row() or {}).get("status") in READY_STATUSES


def app_ready(ctx: RunContext) -> bool:
    """The app serves: its row says so (the app registers that itself), or ECS says a task of
    it is RUNNING and HEALTHY (the contract's "RUNNING and healthy", what Hermes waits for), or
    RUNNING without health reports for APP_GRACE_S. RUNNING alone is not enough: a task runs
    before its app is up. Never a preview request: to the router, a GET for a container that
    is not running is a wake request, and each would start a task."""
    if row_ready(ctx):
        return True
    now = ctx.clock.now()
    return any(_serving(t, now) for t in ctx.tasks.scan().tasks if is_live(t))


def _serving(task: dict[str, Any], now: float) -> bool:
    if task.get("lastStatus") != "RUNNING":
        return False
    health = task.get("healthStatus")
    if health == "HEALTHY":
        return True
    started = epoch(task.get("startedAt"))
    return health in (None, "UNKNOWN") and started is not None and now - started >= APP_GRACE_S


def require_running(ctx: RunContext, name: str) -> StepResult | None:
    """None once the synthetic container is running; else the step's result: skipped when
    the wake already failed, failed when it cannot be brought up."""
    skipped = skip_if_container_down(ctx, name)
    if skipped is not None:
        return skipped
    why = ensure_running(ctx)
    return result(name, Status.FAILED, why) if why else None


def ensure_running(ctx: RunContext) -> str | None:
    """Make sure the synthetic container runs and, as far as the platform shows it, its app
    serves: an unmeasured resume-preview when nothing runs, then a bounded, polite wait for
    the app (`app_ready`). A task that runs but never proves its app serves is judged by the
    check itself after the wait. None to go on, else why not."""
    c = ctx.config
    if row_ready(ctx):
        return None
    limit_s = APP_WAIT_S
    if not session_up(ctx):
        ans = ctx.resume(timeout_s=ctx.timeout(c.wake_timeout_s))
        if ans.status != 201:
            return ("the container is not running and resume-preview did not wake it: "
                    f"{ans.describe()}")
        limit_s = c.wake_timeout_s
    ready = poll(ctx.clock, lambda: app_ready(ctx), bool, start_s=FIRST_WAIT_S,
                 cap_s=ECS_POLL_S, deadline=min(ctx.deadline, ctx.clock.monotonic() + limit_s))
    if ready.ok or session_up(ctx):
        return None
    return (f"container {c.container_id} is not running: no running row and no RUNNING task "
            f"of the session within {limit_s:g} s ({ready.polls} checks)")
