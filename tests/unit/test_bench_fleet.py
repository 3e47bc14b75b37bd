"""The fleet benchmark's pure parts: the cost arithmetic and the detection time it derives
from an alarm-evaluator run over EMF placed on a lane's schedule."""

from __future__ import annotations

import json

import pytest

from bench.fleet_costs import (
    HOURS_PER_MONTH,
    PRICES,
    TaskSize,
    container_hours,
    lambda_usd,
    lane_cost,
    runs_per_month,
)
from bench.fleet_detection import Run, detections, first, stamped
from canary.catalogue import DEFAULT_NAMESPACE, alarm_specs

DIMS = {"Environment": "bench", "Lane": "quick"}


def _emf(api_ms: float, success: int = 1) -> tuple[str, ...]:
    """One run's aggregate EMF line, as canary.metrics writes it (timestamp set later)."""
    doc = {"_aws": {"Timestamp": 0, "CloudWatchMetrics": [{
        "Namespace": DEFAULT_NAMESPACE, "Dimensions": [["Environment", "Lane"]],
        "Metrics": [{"Name": "APIResponseTime", "Unit": "Milliseconds"},
                    {"Name": "ScenarioSuccess", "Unit": "Count"}]}]},
        **DIMS, "APIResponseTime": api_ms, "ScenarioSuccess": success}
    return (json.dumps(doc),)


def _spec(name: str, minutes: int):
    return next(s for s in alarm_specs(schedule_minutes=minutes, api_threshold_ms=2000)
                if s.name == name)


def test_a_lane_that_keeps_its_container_warm_pays_for_it_all_month():
    assert container_hours(keeps_warm=True, schedule_minutes=5, run_s=3,
                           idle_timeout_s=1200, check_interval_s=60) == HOURS_PER_MONTH


def test_a_cold_lane_pays_from_the_wake_until_the_auto_sleep_each_run():
    hours = container_hours(keeps_warm=False, schedule_minutes=30, run_s=40,
                            idle_timeout_s=1200, check_interval_s=60)
    assert hours == pytest.approx(runs_per_month(30) * 1300 / 3600)


def test_a_cold_container_is_never_billed_past_its_period():
    hours = container_hours(keeps_warm=False, schedule_minutes=10, run_s=40,
                            idle_timeout_s=1200, check_interval_s=60)
    assert hours == pytest.approx(HOURS_PER_MONTH)


def test_lambda_cost_is_gb_seconds_at_the_memory_plus_requests():
    usd = lambda_usd(1000, 2.0, 512, "arm64")
    assert usd == pytest.approx(1000 * 2.0 * 0.5 * PRICES.lambda_gb_s["arm64"]
                                + 1000 * PRICES.lambda_request)


def test_lane_cost_scales_containers_with_sessions_but_not_the_invocation():
    one, ten = (lane_cost(lane="quick", schedule_minutes=5, sessions=n, run_s=2.0,
                          memory_mb=512, arch="arm64", keeps_warm=True, idle_timeout_s=1200,
                          check_interval_s=60, task=TaskSize(1, 2, "x86_64"))
                for n in (1, 10))
    assert ten.fargate_usd == pytest.approx(10 * one.fargate_usd)
    assert ten.lambda_usd == pytest.approx(one.lambda_usd)
    assert one.fargate_usd == pytest.approx(
        HOURS_PER_MONTH * (PRICES.fargate_vcpu_h["x86_64"] + 2 * PRICES.fargate_gb_h["x86_64"]))


def test_synthetics_fee_is_per_run_at_the_lane_schedule():
    cost = lane_cost(lane="full", schedule_minutes=30, sessions=1, run_s=5, memory_mb=512,
                     arch="arm64", keeps_warm=False, idle_timeout_s=1200, check_interval_s=60)
    assert cost.synthetics_usd == pytest.approx(runs_per_month(30) * PRICES.synthetics_run)


def test_stamped_sets_the_emf_timestamp_and_keeps_other_lines():
    out = stamped(["a log line", *_emf(5)], 1_800_000_123.5)
    assert out[0] == "a log line"
    assert json.loads(out[1])["_aws"]["Timestamp"] == 1_800_000_123_500


@pytest.mark.parametrize(("minutes", "expected"), [(5, 10.0), (30, 60.0)])
def test_a_slow_api_is_detected_after_two_breaching_periods(minutes, expected):
    runs = [Run(_emf(100), 3.0)] * 2 + [Run(_emf(2500), 6.0)] * 3
    found = detections([_spec("ResumeApiSlow", minutes)], runs, healthy=2,
                       namespace=DEFAULT_NAMESPACE, dimensions=DIMS)
    assert found[0].minutes == expected


def test_healthy_runs_raise_no_alarm():
    runs = [Run(_emf(100), 3.0)] * 5
    found = detections([_spec("ResumeApiSlow", 5), _spec("ScenarioFailed", 5)], runs,
                       healthy=2, namespace=DEFAULT_NAMESPACE, dimensions=DIMS)
    assert first(found) is None


def test_the_first_alarm_to_fire_is_reported():
    runs = [Run(_emf(100), 3.0)] * 2 + [Run(_emf(2500, success=0), 6.0)] * 3
    specs = [_spec("ResumeApiSlow", 5), _spec("ScenarioFailed", 5)]
    found = detections(specs, runs, healthy=2, namespace=DEFAULT_NAMESPACE, dimensions=DIMS)
    best = first(found)
    assert best is not None and best.minutes == min(d.minutes for d in found if d.minutes)
