"""The fleet's figures (issue 14): sessions side by side, calls, the limit of one invocation,
how fast each lane's alarms see a slow API, and what each lane costs.

Goal (not a pass/fail test): a sandbox run of the full lane with 10 sessions takes at most
1.5x the wall time of a run with 1 (median of `RATIO_RUNS` runs each).
Also printed: HTTP, DynamoDB and ECS calls per session (counted on the real clients); wall
time, CPU and peak memory for N = 1, 10, 20... sessions and the largest N that fits the
deployed budget and the Lambda's memory; minutes until each lane's alarms go to ALARM with
the sandbox's `slow_resume` fault; the monthly cost of each lane (bench/fleet_costs.py).
Run: `python -m bench bench_fleet` (about 5 minutes on 2 cores). Everything on 127.0.0.1:
the sandbox runs in a process of its own (`python -m sandbox`), each measurement's canary in
another (bench/fleet_worker.py), so a process's peak memory is the canary's alone.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.fleet_costs import LAMBDA_MB_PER_VCPU, cost_table, lane_cost, price_note
from bench.fleet_detection import Run, detections, first

ROOT = Path(__file__).resolve().parent.parent
RATIO_RUNS = 3
RATIO_GOAL = 1.5
SCALE = (1, 10, 20, 30, 40, 50)  # bounded by canary.sessions.MAX_SESSIONS
SCALE_WALL_CAP_S = 60.0  # stop growing N once a run takes this long on this machine
MEMORY_HEADROOM = 0.2  # keep a fifth of the Lambda's memory free
FAULT = "slow_resume"  # resume-preview for a running container ~1 s (sandbox threshold 500 ms)
HEALTHY_RUNS, FAULTY_RUNS = 2, 3
SANDBOX_START_S = 30.0
WORKER_TIMEOUT_S = 600.0


class SandboxProcess:
    """`python -m sandbox` in a process of its own: its JSON line, then stopped on exit."""

    def __init__(self, *faults: str) -> None:
        args = [a for f in faults for a in ("--fault", f)]
        # The sandbox threads' tracebacks; closed in __exit__.
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115
        self.proc = subprocess.Popen([sys.executable, "-m", "sandbox", *args], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)

    def cpu_s(self) -> float:
        """CPU seconds the sandbox process has used (Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tracebacks(self) -> int:
        """How many tracebacks the sandbox's threads printed so far (overload shows here)."""
        self.log.seek(0)
        return self.log.read().count("Traceback")

    def __enter__(self) -> SandboxProcess:
        deadline = time.monotonic() + SANDBOX_START_S
        line = ""
        while not line and time.monotonic() < deadline and self.proc.poll() is None:
            line = self.proc.stdout.readline() if self.proc.stdout else ""
        if not line:
            self.__exit__()
            raise RuntimeError("the sandbox did not start (no JSON line)")
        self.info = json.loads(line)
        return self

    def __exit__(self, *_: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self.log.close()


def work(sb: SandboxProcess, lane: str, sessions: int, runs: int) -> list[dict[str, Any]]:
    """R runs of `lane` with N sessions in a fresh worker process: one dict per run, each
    with the sandbox's CPU seconds and tracebacks over the worker's runs (shared alike)."""
    job = json.dumps({"info": sb.info, "lane": lane, "sessions": sessions, "runs": runs})
    cpu0, tb0 = sb.cpu_s(), sb.tracebacks()
    done = subprocess.run([sys.executable, "-m", "bench.fleet_worker"], input=job, cwd=ROOT,
                          capture_output=True, text=True, timeout=WORKER_TIMEOUT_S,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if done.returncode != 0:
        raise RuntimeError(f"worker failed ({lane}, {sessions}): {done.stderr[-2000:]}")
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    for row in rows:
        row["sandbox_cpu_s"] = (sb.cpu_s() - cpu0) / max(1, len(rows))
        row["sandbox_tracebacks"] = sb.tracebacks() - tb0
    return rows


def deployment() -> Any:
    """The deployed defaults: CanaryParams from cdk.json's example with only what a
    deployment must set, so memory, budget, schedules and sleep timings are the defaults."""
    from infra.params import KEYS, REQUIRED, CanaryParams

    example = json.loads((ROOT / "cdk.json").read_text())["context"]["environments"]["example"]
    given = {k: v for k, v in example.items()
             if KEYS.get(k) in REQUIRED or k == "previewUrlTemplate"}
    return CanaryParams.from_context("bench", given)


def lane_specs(params: Any, info: dict[str, Any]) -> dict[str, tuple[Any, ...]]:
    """Each lane's alarms as infra builds them (`infra.alarms.specs_for`), with the sandbox
    profile's thresholds (its seconds are production's minutes; schedules stay deployed)."""
    from types import SimpleNamespace

    from canary.config import CanaryConfig
    from canary.lanes import Lane
    from infra.alarms import specs_for

    sandbox = CanaryConfig.for_sandbox(SimpleNamespace(**info))
    scaled = dataclasses.replace(params, **{f: getattr(sandbox, f) for f in (
        "wake_degraded_ms", "wake_failed_ms", "api_degraded_ms", "api_failed_ms")})
    return {lane.value: specs_for(scaled, lane) for lane in Lane}


def median(rows: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def per_session_calls(rows: list[dict[str, Any]], sessions: int) -> dict[str, float]:
    keys = sorted({k for r in rows for k in r["calls"]})
    return {k: statistics.mean(r["calls"].get(k, 0) for r in rows) / sessions for k in keys}


def print_calls(label: str, calls: dict[str, float]) -> None:
    main = ", ".join(f"{k} {calls.get(k, 0):.1f}" for k in ("http", "dynamodb", "ecs"))
    detail = ", ".join(f"{k} {v:.1f}" for k, v in calls.items() if " " in k)
    print(f"calls per session, {label}: {main}  ({detail})")


def scale(sb: SandboxProcess, ratio_rows: dict[int, list[dict[str, Any]]]
          ) -> list[tuple[int, dict[str, Any]]]:
    """N = 1, 10, 20... sessions of the full lane (one fresh process each); stops growing
    once a run takes SCALE_WALL_CAP_S. Sessions failing at large N are the sandbox's
    saturation (it shares the machine's cores): the reasons are printed."""
    points = []
    for n in SCALE:
        rows = ratio_rows.get(n) or work(sb, "full", n, 1)
        point = {"wall_s": median(rows, "wall_s"), "cpu_s": median(rows, "cpu_s"),
                 "run_peak_mb": max(r["run_peak_mb"] for r in rows),
                 "process_peak_mb": max(r["process_peak_mb"] for r in rows),
                 "idle_mb": rows[0]["idle_mb"], "sandbox_cpu_s": median(rows, "sandbox_cpu_s"),
                 "tracebacks": rows[0]["sandbox_tracebacks"],
                 "sessions_ok": min(r["sessions_ok"] for r in rows),
                 "api_ms": max(r["api_ms"] for r in rows),
                 "reasons": sorted({f for r in rows for f in r["reasons"]})}
        points.append((n, point))
        print(f"N={n:>3}: wall {point['wall_s']:5.1f} s, canary CPU {point['cpu_s']:4.1f} s, "
              f"sandbox CPU {point['sandbox_cpu_s']:5.1f} s; RSS {point['idle_mb']:.1f} MB "
              f"before, {point['run_peak_mb']:.1f} MB at most during the run (process peak "
              f"{point['process_peak_mb']:.1f}); sessions ok {point['sessions_ok']}/{n}; "
              f"slowest warm API {point['api_ms']:.0f} ms; sandbox tracebacks "
              f"{point['tracebacks']}", flush=True)
        for reason in point["reasons"][:4]:
            print(f"       failed {reason}")
        if point["wall_s"] >= SCALE_WALL_CAP_S:
            break
    return points


def limit(points: list[tuple[int, dict[str, Any]]], memory_mb: int, budget_s: float
          ) -> tuple[int, str]:
    """The largest N one invocation holds, from the canary's measured cost per session:
    memory (the run's peak RSS, linear in N, leaving MEMORY_HEADROOM) and CPU (the sessions'
    CPU seconds at the Lambda's CPU share of its memory within the budget; their waits
    overlap), capped by the configuration's MAX_SESSIONS. Only points where most sessions
    passed are fitted (a failing session skips steps and costs less)."""
    from canary.sessions import MAX_SESSIONS

    fit = [(n, p) for n, p in points if p["sessions_ok"] >= n / 2]
    fitted = "points where most sessions passed"
    if len(fit) < 2:
        fit, fitted = points, "every point (most sessions failed: a lower bound of the cost)"
    ns = [n for n, _ in fit]
    if len(fit) < 2:
        return min(ns[0], MAX_SESSIONS), "one point measured only"
    mem = statistics.linear_regression(ns, [p["run_peak_mb"] for _, p in fit])
    cpu = statistics.linear_regression(ns, [p["cpu_s"] for _, p in fit])
    room = memory_mb * (1 - MEMORY_HEADROOM)
    n_mem = math.floor((room - mem.intercept) / max(mem.slope, 1e-6))
    share = min(1.0, memory_mb / LAMBDA_MB_PER_VCPU)
    n_cpu = math.floor(budget_s * share / max(cpu.slope, 1e-6))
    all_ok = max((n for n, p in points if p["sessions_ok"] == n), default=0)
    why = (f"fitted over {fitted}; memory: {mem.intercept:.0f} MB + {mem.slope:.2f} "
           f"MB/session within {room:.0f} MB "
           f"-> {n_mem}; CPU: {cpu.slope:.3f} CPU-s/session at {share:.2f} vCPU within "
           f"{budget_s:g} s -> {n_cpu}; configured cap {MAX_SESSIONS}; every session passed "
           f"up to N = {all_ok} on this machine")
    return min(n_mem, n_cpu, MAX_SESSIONS), why


def detection(sb: SandboxProcess, lane: str, specs: tuple[Any, ...],
              healthy_rows: list[dict[str, Any]]) -> None:
    """The lane's runs (healthy, then with the fault) on its schedule through the evaluator."""
    faulty = work(sb, lane, 1, FAULTY_RUNS)
    runs = [Run(tuple(r["emf"]), r["wall_s"]) for r in [*healthy_rows, *faulty]]
    dims = {"Environment": faulty[0]["environment"], "Lane": lane}
    found = detections(specs, runs, healthy=len(healthy_rows),
                       namespace=faulty[0]["namespace"], dimensions=dims)
    best = first(found)
    period = specs[0].period_seconds // 60 if specs else 0
    fired = ", ".join(f"{d.alarm} {d.minutes:g} min" for d in found if d.minutes is not None)
    if best is None:
        print(f"{lane} lane ({period} min): no alarm within {FAULTY_RUNS} faulty runs")
        return
    print(f"{lane} lane ({period}-min schedule): detected in {best.minutes:g} min "
          f"({best.alarm}; worst case, fault just after a run: {best.minutes + period:g} min)"
          f"; alarms: {fired}")


def costs(params: Any, arch: str, measured: dict[tuple[str, int], float]) -> None:
    """The cost table at the measured durations, and at the ceiling (whole budget)."""
    from canary.scenario import Scenario

    def ceiling(lane: str) -> float:
        """The longest a run of the lane may take: the lane's own budget (the config derives
        it: CanaryConfig.for_lane), never past its period."""
        lane_budget = params.run_config().for_lane(lane).budget_s
        return min(params.effective_budget_s, lane_budget, params.lanes[_lane(lane)] * 60)

    for title, seconds in (
        ("measured sandbox durations", measured),
        ("ceiling: every run uses its lane's whole budget",
         {(lane, n): ceiling(lane) for lane, n in measured}),
    ):
        rows = [lane_cost(lane=lane, schedule_minutes=params.lanes[_lane(lane)], sessions=n,
                          run_s=run_s, memory_mb=params.memory_size, arch=arch,
                          keeps_warm="sleep" not in Scenario.for_lane(lane).names,
                          idle_timeout_s=params.idle_timeout_s,
                          check_interval_s=params.sleep_check_interval_s)
                for (lane, n), run_s in seconds.items()]
        print(f"\nmonthly cost, {title}:")
        print(cost_table(rows))
    print(price_note(params.memory_size, arch))


def _lane(name: str) -> Any:
    from canary.lanes import parse_lane

    return parse_lane(name)


def main() -> int:
    from infra.function import ARCHITECTURE

    params = deployment()
    arch = ARCHITECTURE.name
    print(f"deployed defaults: memorySize {params.memory_size} MB ({arch}), budget "
          f"{params.effective_budget_s:g} s, schedules "
          + ", ".join(f"{lane.value} {m} min" for lane, m in params.lanes.items()), flush=True)
    with SandboxProcess() as sb:
        full = {n: work(sb, "full", n, RATIO_RUNS) for n in (1, 10)}
        quick = {n: work(sb, "quick", n, HEALTHY_RUNS) for n in (1, 10)}
        ratio = median(full[10], "wall_s") / median(full[1], "wall_s")
        quick_ratio = median(quick[10], "wall_s") / median(quick[1], "wall_s")
        print(f"full lane: 1 session {median(full[1], 'wall_s'):.1f} s, 10 sessions "
              f"{median(full[10], 'wall_s'):.1f} s (median of {RATIO_RUNS}): ratio "
              f"{ratio:.2f} (goal <= {RATIO_GOAL:g}): {'PASS' if ratio <= RATIO_GOAL else 'MISS'}")
        print(f"quick lane: 1 session {median(quick[1], 'wall_s'):.1f} s, 10 sessions "
              f"{median(quick[10], 'wall_s'):.1f} s: ratio {quick_ratio:.2f}")
        for lane, rows in (("full", full), ("quick", quick)):
            print_calls(f"{lane} lane, 1 session", per_session_calls(rows[1], 1))
            print_calls(f"{lane} lane, 10 sessions", per_session_calls(rows[10], 10))
        points = scale(sb, full)
        n, why = limit(points, params.memory_size, params.effective_budget_s)
        print(f"one invocation holds N = {n} sessions ({why})", flush=True)
        specs = lane_specs(params, sb.info)
    print(f"\nminutes to detect `{FAULT}` ({HEALTHY_RUNS} healthy runs, then {FAULTY_RUNS} "
          "with the fault; alarms as infra builds them, the sandbox's thresholds):")
    with SandboxProcess(FAULT) as faulty:
        for lane, rows in (("full", full[1][:HEALTHY_RUNS]), ("quick", quick[1])):
            detection(faulty, lane, specs[lane], rows)
    costs(params, arch, {("full", 1): median(full[1], "wall_s"),
                         ("quick", 1): median(quick[1], "wall_s"),
                         ("full", 10): median(full[10], "wall_s"),
                         ("quick", 10): median(quick[10], "wall_s")})
    return 0 if ratio <= RATIO_GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
