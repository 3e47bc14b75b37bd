"""What the steps share: the RunContext and small verdict helpers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from canary.clients.hermes import HermesClient
from canary.clients.orchestrator import OrchestratorClient
from canary.clients.preview import PreviewClient
from canary.clients.state import StateClient
from canary.clock import Clock
from canary.harness import Harness
from canary.models import Measurement, Status, StepResult

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
    """A skipped result when wake_hermes ran and never got the container up, else None."""
    if ctx.shared.get("container_down"):
        return result(name, Status.SKIPPED,
                      "skipped: wake_hermes failed (the container never became running)")
    return None


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
    row = ctx.state.get_container(c.container_id)
    if row and row.get("status") == "running":
        return None
    ans = ctx.hermes.resume_preview(c.thread_id, c.client_id,
                                    timeout_s=ctx.timeout(c.wake_timeout_s))
    ctx.note_activity()
    if ans.status == 201 and ans.container_status == "running":
        return None
    if ans.status == 201:
        res = ctx.harness.wait_for_container_status(
            c.container_id, "running",
            deadline=min(ctx.deadline, ctx.clock.monotonic() + c.wake_timeout_s))
        if res.ok:
            return None
    return f"the container is not running and resume-preview did not wake it: {ans.describe()}"
