"""How honest the canary's measurements are: its wake times against the sandbox's ground truth.

Goals (not pass/fail tests):
- ContainerWakeTime within 100 ms of the ground truth (from the canary's first
  request until the container served its first preview, by the sandbox's own
  event log): the canary polls at <= 100 ms, so it sees the wake that late at most;
- a healthy scenario run in under 10 s against the sandbox.
Run: `python -m bench bench_canary` (several consecutive runs on one sandbox, as
the scheduled Lambda does against one synthetic session).
"""

from __future__ import annotations

import statistics
import time

RUNS = 3
RESOLUTION_GOAL_MS = 100.0
RUN_GOAL_S = 10.0


def _truth_ms(events: list[tuple[str, float]], started_at: float) -> float | None:
    """Ground truth of a Hermes wake that the canary began at `started_at` (epoch s): until
    the container served its first preview after a task was asked for."""
    requested = next(
        (at for name, at in events if name == "wake_requested" and at >= started_at), None
    )
    if requested is None:
        return None
    served = next(
        (at for name, at in events if name == "first_preview_served" and at >= requested), None
    )
    return None if served is None else (served - started_at) * 1000


def main() -> int:
    from canary.clock import SystemClock
    from canary.composition import open_dependencies
    from canary.config import CanaryConfig
    from canary.runner import run_scenario
    from sandbox import Sandbox

    errors, durations, failures = [], [], 0
    with Sandbox() as sb:
        config = CanaryConfig.for_sandbox(sb.info)
        clock = SystemClock()
        with open_dependencies(config, clock) as deps:
            for i in range(RUNS):
                t0 = time.perf_counter()
                run = run_scenario(config, deps, clock)
                durations.append(time.perf_counter() - t0)
                failures += not run.ok
                wake = run.step("wake_hermes").measurements
                truth = None
                if "wake_ms" in wake:
                    truth = _truth_ms(sb.events(config.container_id), wake["started_at"])
                if truth is None:
                    print(f"run {i}: no wake measured ({run.step('wake_hermes').reason})")
                    continue
                errors.append(wake["wake_ms"] - truth)
                print(
                    f"run {i}: ok={run.ok} wake {wake['wake_ms']:.0f} ms, truth {truth:.0f} ms, "
                    f"error {wake['wake_ms'] - truth:+.0f} ms, poll interval "
                    f"{wake.get('poll_interval_ms')} ms, run {durations[-1]:.1f} s"
                )
    worst = max((abs(e) for e in errors), default=float("inf"))
    print(f"wake error: median {statistics.median(errors) if errors else float('nan'):+.0f} ms, "
          f"worst {worst:.0f} ms (goal <= {RESOLUTION_GOAL_MS:.0f} ms)")
    print(f"run time: median {statistics.median(durations):.1f} s (goal < {RUN_GOAL_S:.0f} s); "
          f"failed runs: {failures}")
    return int(worst > RESOLUTION_GOAL_MS or max(durations) >= RUN_GOAL_S or failures > 0)
