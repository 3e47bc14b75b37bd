"""wake_preview: a cold wake through the preview URL, as a browser sees it.

The container is made cold through the orchestrator (StopTask, status stopped); the
router must answer the loading page (202/503, Retry-After, `Waking Up Edit Session`,
the threadId), then - honouring Retry-After, capped, never past the budget - 200 with
the marker. Missing Retry-After is a contract violation (the step fails; the canary
keeps polling at 1 s to still measure the wake). Making the container cold comes first, so
the wake starts `wake_offset_ms` into the step; its phases (canary/phases.py) are split for a
wake that began (a loading page), finished or not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from canary import phases, politeness
from canary.clients.base import HttpAnswer, TargetError
from canary.models import Status, StepResult
from canary.steps.base import RunContext, Step, grade, has_marker, ms, result

NAME = "wake_preview"
PAGE_TIMEOUT_S = 10.0  # one page load; the loop itself ends at the wake timeout
RETRY_AFTER_SHOWN = 100  # characters of a Retry-After value put in a reason or measurement


def _quoted(text: str) -> str:
    """Quoted without repr(): repr doubles backslashes, hiding an echoed key from masking."""
    return f"'{text}'"


def run(ctx: RunContext) -> StepResult:
    c = ctx.config
    clock = ctx.clock
    entered = clock.monotonic()
    findings: list[str] = []
    if ctx.state.get_mapping(c.thread_id) is None:
        ctx.harness.create_resumption_test_session()
    notes = ctx.harness.make_cold(c.container_id, deadline=ctx.deadline)
    if notes:
        findings.append("made the container cold: " + "; ".join(notes))

    t0, began = clock.monotonic(), clock.now()
    polled = _load_until_awake(ctx, min(ctx.deadline, t0 + c.wake_timeout_s))
    problems, m, last = polled.problems, polled.measurements, polled.last
    m["wake_offset_ms"] = ms(t0 - entered)
    findings.extend(polled.findings)
    loading_pages = m["loading_pages"]

    elapsed = ms(clock.monotonic() - t0)
    if loading_pages and not (last is not None and last.status == 200):
        # The router may still be waking the container for our last page load.
        ctx.run_state.wake_in_flight = True
    woke = last is not None and last.status == 200 and has_marker(c, last.text)
    if loading_pages == 0 and woke:
        problems.append("the cold container answered 200 at once: no loading page (was it "
                        "really cold?)")
    if woke:
        m["wake_ms"] = elapsed
    elif last is None or last.status != 404:
        problems.insert(0, f"preview did not answer 200 within {elapsed:.0f} ms (last answer "
                        f"{last.describe() if last is not None else 'none'})")
    if woke or loading_pages:  # the wake began: where its time went, finished or not
        m.update(_phases(ctx, began, elapsed if woke else None))
    if problems:
        return result(NAME, Status.FAILED, "; ".join(problems), m, findings)
    status, reason = grade(elapsed, c.wake_degraded_ms, c.wake_failed_ms,
                           f"cold wake through the preview URL ({loading_pages} loading page(s))")
    return result(NAME, status, reason, m, findings)


def _phases(ctx: RunContext, began: float, wake_ms: float | None) -> dict:
    """Where this wake's time went (canary/phases.py): no row mark here (the router alone was
    watched), so app_ready runs to the preview 200 (`wake_ms` None: it never came); the task
    is the one the row names. In the JSON and the report only: the WakePhase* metrics are the
    Hermes wake's (WakeTimeHigh's)."""
    try:
        arn = (ctx.container_row() or {}).get("taskArn")
    except TargetError:  # the wake is measured; its phases just lack their task
        arn = None
    marks = phases.Marks(requested=began, row_watched=False, ended=ctx.clock.now(),
                         preview_ok=None if wake_ms is None else began + wake_ms / 1000)
    return phases.of_wake(ctx.tasks, marks, [arn] if isinstance(arn, str) else [])


@dataclass
class _Polled:
    last: HttpAnswer | None = None
    problems: list[str] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    measurements: dict = field(default_factory=dict)


def _load_until_awake(ctx: RunContext, deadline: float) -> _Polled:
    """Load the preview as a browser would until 200 (or 404, the deadline, the request cap):
    Retry-After honoured up to the cap, never sooner than politeness.PAGE_MIN_INTERVAL_S."""
    c, clock = ctx.config, ctx.clock
    out = _Polled()
    violations = loading_pages = requests = transport_failures = 0
    retry_problem = too_long = False
    while True:
        page = ctx.preview.get(c.thread_id, timeout_s=max(0.05, min(
            PAGE_TIMEOUT_S, deadline - clock.monotonic())))
        requests += 1
        out.last = page
        wait = politeness.PAGE_MIN_INTERVAL_S
        if page.status == 200:
            ctx.note_activity()
            if not has_marker(c, page.text):
                out.problems.append(f"200 without the marker {c.marker_for()!r}")
            break
        if page.status in (202, 503):
            loading_pages += 1
            if loading_pages == 1:
                missing = [w for w in ("Waking Up Edit Session", c.thread_id)
                           if w not in page.text]
                if missing:
                    out.problems.append(f"loading page ({page.status}) lacks {missing}")
                    violations += 1
            ra = politeness.retry_after(page.headers.get("retry-after"),
                                        cap_s=c.retry_after_cap_s, now_wall=clock.now())
            shown = "missing" if ra.raw is None else ra.raw.strip()[:RETRY_AFTER_SHOWN]
            out.measurements["retry_after"] = shown
            if not ra.valid and not retry_problem:
                retry_problem = True
                out.problems.append(f"loading page ({page.status}) has no valid Retry-After "
                                    f"header ({shown if ra.raw is None else _quoted(shown)})")
                violations += 1
            if ra.too_long and not too_long:
                too_long = True
                out.findings.append(
                    f"Retry-After {shown} s is too long: over the "
                    f"cap of {c.retry_after_cap_s:g} s, so the canary waited {ra.wait_s:g} s "
                    "(a browser would wait the full time)")
            wait = ra.wait_s
        elif page.status == 404:
            out.problems.append(
                f"router answered 404 for the canary's own thread: {page.snippet()!r}")
            violations += 1
            break
        elif page.transport_failure:
            transport_failures += 1
        elif page.headers.get("retry-after") is not None:  # e.g. 429: asked to slow down
            wait = politeness.retry_after(page.headers["retry-after"],
                                          cap_s=c.retry_after_cap_s, now_wall=clock.now()).wait_s
        if requests >= politeness.PAGE_MAX_REQUESTS:
            out.problems.append(f"gave up after {requests} page loads, the most one loop may "
                                "send")
            break
        if clock.monotonic() + wait >= deadline:
            break
        clock.sleep(wait)
    out.measurements.update(loading_pages=loading_pages, requests=requests,
                            transport_failures=transport_failures,
                            contract_violations=violations)
    return out


STEP = Step(NAME, run, ("preflight",), {"PreviewWakeTime": "wake_ms"}, wake_path="preview")
