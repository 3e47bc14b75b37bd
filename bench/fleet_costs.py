"""What each lane costs a month: the one place the benchmark's prices live, and the arithmetic.

Prices: AWS's public on-demand prices for us-east-1 as assumed on `PRICES.as_of` (no free
tier, no Savings Plans); check them on the AWS pricing pages before quoting elsewhere. The
synthetic containers' size is not in the contract: `TASK` is a stated assumption.
Used by bench/bench_fleet.py (which supplies the measured durations) and its unit test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HOURS_PER_MONTH = 730.0  # AWS's pricing month
LAMBDA_MB_PER_VCPU = 1769  # Lambda gives one full vCPU at 1,769 MB, CPU in proportion below


@dataclass(frozen=True)
class Prices:
    """Public on-demand prices (USD) of one region on one date."""

    region: str
    as_of: str
    lambda_gb_s: dict[str, float]  # architecture (arm64 | x86_64) -> per GB-second
    lambda_request: float  # per request
    fargate_vcpu_h: dict[str, float]  # architecture -> per vCPU-hour (Linux)
    fargate_gb_h: dict[str, float]  # architecture -> per GB-hour (Linux)
    synthetics_run: float  # CloudWatch Synthetics, per canary run


PRICES = Prices(
    region="us-east-1",
    as_of="2026-12-01",
    lambda_gb_s={"arm64": 0.0000133334, "x86_64": 0.0000166667},
    lambda_request=0.20 / 1_000_000,
    fargate_vcpu_h={"x86_64": 0.04048, "arm64": 0.03238},
    fargate_gb_h={"x86_64": 0.004445, "arm64": 0.00356},
    synthetics_run=0.0012,
)


@dataclass(frozen=True)
class TaskSize:
    """One synthetic edit container's Fargate size (an assumption: the contract names none)."""

    vcpu: float = 1.0
    memory_gb: float = 2.0
    arch: str = "x86_64"


TASK = TaskSize()


@dataclass(frozen=True)
class LaneCost:
    """One lane's month for a deployment of `sessions` synthetic sessions."""

    lane: str
    schedule_minutes: int
    sessions: int
    run_s: float
    runs: float
    lambda_usd: float  # GB-seconds and requests
    container_hours: float  # all sessions together
    fargate_usd: float
    synthetics_usd: float  # Synthetics' per-run fee for the same runs (one canary a lane)

    @property
    def canary_usd(self) -> float:
        """What the canary itself adds: its Lambda (the containers are the platform's)."""
        return self.lambda_usd

    @property
    def total_usd(self) -> float:
        return self.lambda_usd + self.fargate_usd


def runs_per_month(schedule_minutes: int) -> float:
    if schedule_minutes < 1:
        raise ValueError(f"schedule_minutes must be >= 1, got {schedule_minutes}")
    return HOURS_PER_MONTH * 60 / schedule_minutes


def lambda_usd(runs: float, run_s: float, memory_mb: int, arch: str,
               prices: Prices = PRICES) -> float:
    """GB-seconds (billed per ms) at the configured memory, plus the requests."""
    gb_s = runs * math.ceil(run_s * 1000) / 1000 * memory_mb / 1024
    return gb_s * prices.lambda_gb_s[arch] + runs * prices.lambda_request


def container_hours(*, keeps_warm: bool, schedule_minutes: int, run_s: float,
                    idle_timeout_s: float, check_interval_s: float) -> float:
    """One session's container-hours a month. A lane that keeps its container warm: all month.
    Otherwise each run's container is up from the cold wake until the platform's auto-sleep
    stops it (the run, then the idle timeout and up to one check interval; Fargate's
    one-minute minimum), never longer than the period."""
    if keeps_warm:
        return HOURS_PER_MONTH
    period_s = schedule_minutes * 60
    up_s = min(period_s, max(60.0, run_s + idle_timeout_s + check_interval_s))
    return runs_per_month(schedule_minutes) * up_s / 3600


def lane_cost(*, lane: str, schedule_minutes: int, sessions: int, run_s: float,
              memory_mb: int, arch: str, keeps_warm: bool, idle_timeout_s: float,
              check_interval_s: float, task: TaskSize = TASK,
              prices: Prices = PRICES) -> LaneCost:
    """One lane's monthly cost: one invocation a period holding every session."""
    runs = runs_per_month(schedule_minutes)
    hours = sessions * container_hours(
        keeps_warm=keeps_warm, schedule_minutes=schedule_minutes, run_s=run_s,
        idle_timeout_s=idle_timeout_s, check_interval_s=check_interval_s)
    fargate = hours * (task.vcpu * prices.fargate_vcpu_h[task.arch]
                       + task.memory_gb * prices.fargate_gb_h[task.arch])
    return LaneCost(
        lane=lane, schedule_minutes=schedule_minutes, sessions=sessions, run_s=run_s,
        runs=runs, lambda_usd=lambda_usd(runs, run_s, memory_mb, arch, prices),
        container_hours=hours, fargate_usd=fargate,
        synthetics_usd=runs * prices.synthetics_run)


def cost_table(rows: list[LaneCost]) -> str:
    """The README's table (Markdown)."""
    out = ["| lane | schedule | sessions | run (s) | runs/month | Lambda | container-h | "
           "Fargate | lane total | Synthetics per-run fee instead of Lambda |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(
            f"| {r.lane} | {r.schedule_minutes} min | {r.sessions} | {r.run_s:.1f} | "
            f"{r.runs:,.0f} | ${r.lambda_usd:.2f} | {r.container_hours:,.0f} | "
            f"${r.fargate_usd:.2f} | ${r.total_usd:.2f} | ${r.synthetics_usd:.2f} |")
    return "\n".join(out)


def price_note(memory_mb: int, arch: str, task: TaskSize = TASK,
               prices: Prices = PRICES) -> str:
    """The assumptions a table rests on, in one line."""
    return (f"{prices.region} on-demand prices as of {prices.as_of}: Lambda {arch} "
            f"${prices.lambda_gb_s[arch]:.10f}/GB-s at {memory_mb} MB + "
            f"${prices.lambda_request * 1e6:.2f}/M requests; Fargate Linux/{task.arch} "
            f"${prices.fargate_vcpu_h[task.arch]}/vCPU-h + ${prices.fargate_gb_h[task.arch]}"
            f"/GB-h for an assumed {task.vcpu:g} vCPU / {task.memory_gb:g} GB task; "
            f"Synthetics ${prices.synthetics_run}/canary run; {HOURS_PER_MONTH:g} h a month")
