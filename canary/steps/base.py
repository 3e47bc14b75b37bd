"""What the steps share: the RunContext and small verdict helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from canary.clients.hermes import HermesClient, ResumeAnswer
from canary.clients.orchestrator import OrchestratorClient
from canary.clients.preview import PreviewClient
from canary.clients.state import StateClient
from canary.clock import Clock
from canary.harness import Harness, poll
from canary.memory import RunMemory
from canary.models import Measurement, Status, StepResult
from canary.tasks import SessionTasks, is_live, short

# resume-preview failures the contract allows (500 'Failed to resume session', gateway
# errors) or that point at the canary's own key (401/403); 0 is no answer at all.
NOT_VIOLATIONS = (0, 401, 403, 500, 502, 503, 504)


def violates_contract(status: int) -> bool:
    """A failed resume-preview answer whose status the contract does not allow."""
    return status not in NOT_VIOLATIONS


@dataclass
class RunContext:
    """One run's shared state. `deadline` (monotonic) is the current step's; `shared` carries
    what earlier steps learned (task ARNs, the wake's start, mappings to remove, ...)."""

    config: Any  # CanaryConfig
    clock: Clock
    harness: Harness
    api_key: Any  # ApiKeyProvider
    run_id: str
    tasks: SessionTasks
    memory: RunMemory | None = None  # the canary's own table, when it has one
    deadline: float = 0.0
    git_ls_remote: Callable[[str, float], list[str]] | None = None
    shared: dict[str, Any] = field(default_factory=dict)

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
        self.shared["last_activity"] = self.clock.monotonic()
        self.shared["last_activity_wall"] = self.clock.now()

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
                    self.shared["accepted_starting_at"] = self.clock.now()
        return ans

    def container_row(self, container_id: str | None = None) -> dict[str, Any] | None:
        """The containers row (the session's by default); its taskArn is noted as a fact."""
        cid = container_id or self.config.container_id
        row = self.state.get_container(cid)
        if cid == self.config.container_id:
            self.tasks.note_row(row)
        return row

    def add_success(self, kind: str, value_ms: float) -> None:
        self.shared.setdefault(kind, []).append(value_ms)


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
    if ctx.shared.get("container_down"):
        return result(name, Status.SKIPPED,
                      "skipped: wake_hermes failed (neither the containers table nor ECS showed "
                      "the container running)")
    return None


def running_answer_problem(ctx: RunContext, ans: ResumeAnswer) -> str | None:
    """A 201 that says `running` must be true: the row it names says running (or idle) and
    the task it names, if any, is the session's and RUNNING. Returns the contradiction."""
    if ans.status != 201 or ans.container_status != "running":
        return None
    cid = ans.field("containerId") or ctx.config.container_id
    row = ctx.container_row(cid) or {}
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


def session_up(ctx: RunContext) -> bool:
    """The synthetic container is up: its row says running/idle, or ECS runs a task of it."""
    row = ctx.container_row() or {}
    if row.get("status") in ("running", "idle"):
        return True
    return any(t.get("lastStatus") == "RUNNING" for t in ctx.tasks.scan().tasks if is_live(t))


def require_running(ctx: RunContext, name: str) -> StepResult | None:
    """None once the synthetic container is running; else the step's result: skipped when
    the wake already failed, failed when it cannot be brought up."""
    skipped = skip_if_container_down(ctx, name)
    if skipped is not None:
        return skipped
    why = ensure_running(ctx)
    return result(name, Status.FAILED, why) if why else None


def ensure_running(ctx: RunContext) -> str | None:
    """Make sure the synthetic container is running (unmeasured resume-preview if not).
    Returns None when it is, else why not."""
    c = ctx.config
    if session_up(ctx):
        return None
    ans = ctx.resume(timeout_s=ctx.timeout(c.wake_timeout_s))
    if ans.status == 201 and ans.container_status == "running" and not running_answer_problem(
            ctx, ans):
        return None
    if ans.status == 201:
        res = poll(ctx.clock, lambda: session_up(ctx), bool,
                   deadline=min(ctx.deadline, ctx.clock.monotonic() + c.wake_timeout_s))
        if res.ok:
            return None
    return f"the container is not running and resume-preview did not wake it: {ans.describe()}"
