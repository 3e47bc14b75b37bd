"""wake_preview: a cold wake through the preview URL, as a browser sees it.

The container is made cold through the orchestrator (StopTask, status stopped); the
router must answer the loading page (202/503, Retry-After, `Waking Up Edit Session`,
the threadId), then - honouring Retry-After, capped, never past the budget - 200 with
the marker. Missing Retry-After is a contract violation (the step fails; the canary
keeps polling at 1 s to still measure the wake).
"""

from __future__ import annotations

from canary.models import Status, StepResult
from canary.steps.base import RunContext, grade, has_marker, ms, result

NAME = "wake_preview"
DEFAULT_RETRY_S = 1.0
OTHER_STATUS_RETRY_S = 0.25


def run(ctx: RunContext) -> StepResult:
    c = ctx.config
    clock = ctx.clock
    if "preview" not in c.wake_paths:
        return result(NAME, Status.SKIPPED, "skipped: 'preview' not in WAKE_PATHS")
    findings: list[str] = []
    if ctx.state.get_mapping(c.thread_id) is None:
        ctx.harness.create_resumption_test_session()
    notes = ctx.harness.make_cold(c.container_id, deadline=ctx.deadline)
    if notes:
        findings.append("made the container cold: " + "; ".join(notes))
    ctx.shared.setdefault("known_task_arns", set()).update(
        t["taskArn"] for t in ctx.orchestrator.container_tasks(c.container_id)
        if t.get("taskArn"))

    t0 = clock.monotonic()
    deadline = min(ctx.deadline, t0 + c.wake_timeout_s)
    problems: list[str] = []
    violations = 0
    m: dict = {}
    loading_pages = 0
    last = None
    while True:
        page = ctx.preview.get(c.thread_id, timeout_s=max(0.05, min(10.0,
                                                                    deadline - clock.monotonic())))
        last = page
        if page.status == 200:
            ctx.note_activity()
            if not has_marker(c, page.text):
                problems.append(f"200 without the marker {c.marker_for()!r}")
            break
        if page.status in (202, 503):
            loading_pages += 1
            wait = DEFAULT_RETRY_S
            if loading_pages == 1:
                missing = [w for w in ("Waking Up Edit Session", c.thread_id)
                           if w not in page.text]
                if missing:
                    problems.append(f"loading page ({page.status}) lacks {missing}")
                    violations += 1
            retry = page.headers.get("retry-after")
            parsed = _seconds(retry)
            if parsed is None:
                if "retry_after" not in m:
                    problems.append(f"loading page ({page.status}) has no valid Retry-After "
                                    f"header ({retry!r})")
                    violations += 1
                m["retry_after"] = retry or "missing"
            else:
                m["retry_after"] = retry
                wait = min(parsed, c.retry_after_cap_s)
        elif page.status == 404:
            problems.append(f"router answered 404 for the canary's own thread: {page.snippet()!r}")
            violations += 1
            break
        else:
            wait = OTHER_STATUS_RETRY_S
        now = clock.monotonic()
        if now + wait >= deadline:
            break
        clock.sleep(wait)

    elapsed = ms(clock.monotonic() - t0)
    if loading_pages and not (last is not None and last.status == 200):
        # The router may still be waking the container for our last page load.
        ctx.shared["wake_in_flight"] = True
    m["loading_pages"] = loading_pages
    m["contract_violations"] = violations
    woke = last is not None and last.status == 200 and has_marker(c, last.text)
    if loading_pages == 0 and woke:
        problems.append("the cold container answered 200 at once: no loading page (was it "
                        "really cold?)")
    if woke:
        m["wake_ms"] = elapsed
        ctx.add_success("wakes_ms", elapsed)
    elif last is None or last.status != 404:
        problems.insert(0, f"preview did not answer 200 within {elapsed:.0f} ms (last answer "
                        f"{last.describe() if last is not None else 'none'})")
    if problems:
        return result(NAME, Status.FAILED, "; ".join(problems)[:900], m, findings)
    status, reason = grade(elapsed, c.wake_degraded_ms, c.wake_failed_ms,
                           f"cold wake through the preview URL ({loading_pages} loading page(s))")
    return result(NAME, status, reason, m, findings)


def _seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # an HTTP-date is allowed by RFC 9110 but not used by the router
    return seconds if 0 <= seconds < 86400 else None
