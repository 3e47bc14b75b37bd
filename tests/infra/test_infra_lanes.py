"""Two lanes on one function, several sessions: the rules, the per-lane alarms, the per-session
dashboard, and the alarms' timing over several sessions' samples (the offline evaluator).

Reuses the two synthesized templates: cdk.json's example (both lanes, two sessions) and the
variant (`quickScheduleMinutes: 0`: the quick lane off)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from canary.alarm_evaluation import AlarmState, Datapoint, simulate
from canary.catalogue import (
    AGGREGATE_DIMENSIONS,
    DEFAULT_NAMESPACE,
    ENVIRONMENT_DIMENSION,
    FIRST_ATTEMPT_SUCCESS,
    LANE_DIMENSION,
    SCENARIO_SUCCESS,
    SESSION_DIMENSION,
    Owner,
)
from canary.lanes import Lane
from canary.scenario import metrics_of
from infra.alarms import HEALTH_ALARM, alarm_name, lane_alarm_id, specs_for
from infra.params import CanaryParams, ParamsError
from tests.infra.test_infra_stack import _alarm_metric, _alarms_by_name, _flat, _topics

pytestmark = pytest.mark.infra


def _rules(synthesized) -> dict[str, dict[str, Any]]:
    """Lane (from the event the rule sends) -> the rule's properties."""
    found = {}
    for rule in synthesized.resources("AWS::Events::Rule").values():
        (target,) = rule["Properties"]["Targets"]
        found[json.loads(target["Input"])["lane"]] = rule["Properties"]
    return found


def _deployed(synthesized) -> dict[str, tuple[Lane, Any, dict[str, Any]]]:
    """Alarm name -> (lane, spec, the alarm's flat metric) for every per-lane alarm."""
    params, alarms = synthesized.params, _alarms_by_name(synthesized)
    return {
        alarm_name(params, spec.name, lane): (
            lane, spec, _alarm_metric(alarms[alarm_name(params, spec.name, lane)][1], spec))
        for lane in params.lanes for spec in specs_for(params, lane)
    }


# -- schedules -------------------------------------------------------------------------


def test_each_lane_has_a_rule_on_its_schedule_sending_its_lane_to_the_one_function(
    synthesized,
):
    params = synthesized.params
    function_id, _ = synthesized.only("AWS::Lambda::Function")
    rules = _rules(synthesized)
    assert sorted(rules) == ["full", "quick"]
    assert (params.schedule_minutes, params.quick_schedule_minutes) == (30, 5)
    for lane, minutes in (("full", 30), ("quick", 5)):
        (target,) = rules[lane]["Targets"]
        assert rules[lane]["ScheduleExpression"] == f"rate({minutes} minutes)", lane
        assert target["Arn"] == {"Fn::GetAtt": [function_id, "Arn"]}, lane
        assert target["RetryPolicy"] == {"MaximumRetryAttempts": 0}, lane
        assert json.loads(target["Input"]) == {"lane": lane}


def test_quick_schedule_minutes_0_leaves_only_the_full_lane(variant):
    assert variant.params.quick_schedule_minutes == 0
    assert list(_rules(variant)) == ["full"]
    names = _alarms_by_name(variant)
    assert alarm_name(variant.params, "ResumeApiSlow") in names
    assert not [n for n in names if "-quick-" in n]


def test_reserved_concurrency_must_let_both_lanes_run_at_once(example_context):
    values = dict(example_context["environments"]["example"])
    with pytest.raises(ParamsError, match=r"'reservedConcurrency' \(1\) must allow the 2 lanes"):
        CanaryParams.from_context("example", {**values, "reservedConcurrency": 1})
    assert CanaryParams.from_context(
        "example", {**values, "reservedConcurrency": 2}).reserved_concurrency == 2
    alone = CanaryParams.from_context(
        "example", {**values, "reservedConcurrency": 1, "quickScheduleMinutes": 0})
    assert list(alone.lanes) == [Lane.FULL]


# -- alarms ----------------------------------------------------------------------------


def test_each_lane_alarm_reads_its_lanes_aggregate_series_over_its_own_period(synthesized):
    env = synthesized.params.environment
    deployed = _deployed(synthesized)
    assert {lane for lane, _, _ in deployed.values()} == {Lane.FULL, Lane.QUICK}
    for name, (lane, spec, metric) in deployed.items():
        if spec.namespace is not None:
            continue  # the function's own AWS/Lambda metrics: one series for both lanes
        assert tuple(spec.dimensions) == AGGREGATE_DIMENSIONS
        assert sorted(metric["Dimensions"], key=lambda d: d["Name"]) == sorted(
            [{"Name": ENVIRONMENT_DIMENSION, "Value": env},
             {"Name": LANE_DIMENSION, "Value": lane.value}], key=lambda d: d["Name"]), name
        assert metric["Period"] == synthesized.params.lanes[lane] * 60, name


def test_quick_lane_alarms_are_only_those_its_scenario_can_feed(synthesized):
    quick = {spec.name: spec for lane, spec, _ in _deployed(synthesized).values()
             if lane is Lane.QUICK}
    assert {"ResumeApiSlow", "ScenarioFailed", "CanaryHeartbeat", "CanaryError"} <= set(quick)
    # A warm session never cold-wakes, sleeps or auto-saves: those alarms could never fire.
    assert not {"WakeTimeHigh", "PreviewWakeTimeHigh", "AutoSaveFailed", "AutoSleepMissed",
                "CanaryLambdaErrors"} & set(quick)
    assert all(spec.metric in metrics_of(Lane.QUICK) for spec in quick.values())


def test_full_lane_alarms_keep_their_names_and_quick_ones_are_named_by_lane(synthesized):
    params = synthesized.params
    names = _alarms_by_name(synthesized)
    assert f"{params.stack_name}-ResumeApiSlow" in names
    assert f"{params.stack_name}-quick-ResumeApiSlow" in names
    assert lane_alarm_id("ResumeApiSlow", Lane.QUICK) == "quick-ResumeApiSlow"


def test_each_lane_has_its_own_heartbeat_to_the_canary_owners(synthesized):
    topics = _topics(synthesized)
    beats = {lane: (spec, metric) for lane, spec, metric in _deployed(synthesized).values()
             if spec.name == "CanaryHeartbeat"}
    assert sorted(beats) == [Lane.FULL, Lane.QUICK]
    alarms = _alarms_by_name(synthesized)
    for lane, (spec, metric) in beats.items():
        assert spec.owner is Owner.CANARY
        assert (metric["MetricName"], metric["Statistic"]) == ("CanaryError", "SampleCount")
        props = alarms[alarm_name(synthesized.params, spec.name, lane)][1]
        assert props["AlarmActions"] == [{"Ref": topics["Owners"]}]


def test_health_composite_pages_on_either_lanes_critical_alarms_and_no_canary_fault(
    synthesized,
):
    params = synthesized.params
    alarms = _alarms_by_name(synthesized)
    (composite,) = synthesized.resources("AWS::CloudWatch::CompositeAlarm").values()
    assert composite["Properties"]["AlarmName"] == alarm_name(params, HEALTH_ALARM)
    rule = _flat(composite["Properties"]["AlarmRule"])

    def arn(name: str, lane: Lane) -> str:
        return f"<{alarms[alarm_name(params, name, lane)][0]}.Arn>"

    for lane in (Lane.FULL, Lane.QUICK):
        assert arn("ResumeApiSlow", lane) in rule
        assert f'ALARM("{arn("ScenarioFailed", lane)}")' in rule, rule
        assert arn("CanaryError", lane) not in rule  # a canary fault never pages
    assert arn("CanaryHeartbeat", Lane.QUICK) not in rule


def test_first_attempt_success_is_never_alarmed(synthesized):
    # Only the final result pages; the first attempt keeps flakiness visible (graph only).
    metrics = {m["MetricName"] for _, _, m in _deployed(synthesized).values()}
    assert SCENARIO_SUCCESS.name in metrics
    assert FIRST_ATTEMPT_SUCCESS.name not in metrics


# -- the alarms' timing over several sessions (offline evaluator) -----------------------

SESSIONS = ("site-a", "site-b", "site-c")


def _runs(period_s: int, *, start: float, runs: int, value) -> list[Datapoint]:
    """Every session's sample of each scheduled run (one run per period, mid-period)."""
    return [Datapoint(start + i * period_s + period_s / 2, value(i, session))
            for i in range(runs) for session in SESSIONS]


def _first_alarm_after(spec, points: list[Datapoint], fault_at: float, until: float) -> float:
    """Seconds from the fault to the first evaluation (every minute) in ALARM."""
    times = [fault_at + 60 * k for k in range(1, int((until - fault_at) // 60) + 1)]
    states = simulate(spec, points, times=times, initial_state=AlarmState.OK)
    assert AlarmState.ALARM in states, states
    return times[states.index(AlarmState.ALARM)] - fault_at


@pytest.mark.parametrize(("alarm", "healthy", "broken"), [
    ("ResumeApiSlow", 300.0, 2500.0),  # the resume API over 2 s
    ("ScenarioFailed", 1.0, 0.0),  # routing broken: the run fails
])
def test_a_quick_lane_alarm_fires_within_two_quick_periods_when_one_session_breaks(
    synthesized, alarm, healthy, broken,
):
    params = synthesized.params
    (spec,) = [s for s in specs_for(params, Lane.QUICK) if s.name == alarm]
    period = spec.period_seconds
    assert period == params.quick_schedule_minutes * 60
    start, healthy_runs = 1_800_000_000.0, 6
    fault_at = start + healthy_runs * period
    # Only one session of three breaks: the statistic must still see it (no averaging away).
    points = _runs(period, start=start, runs=healthy_runs + 4,
                   value=lambda i, s: broken if i >= healthy_runs and s == "site-b" else healthy)
    took = _first_alarm_after(spec, points, fault_at, fault_at + 4 * period)
    assert took <= 2 * period, f"{alarm} took {took / 60:g} min"
    full = next(s for s in specs_for(params, Lane.FULL) if s.name == alarm)
    assert 2 * period < 2 * full.period_seconds  # the full lane alone: an hour at best


# -- dashboard -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def widgets(synthesized) -> list[dict[str, Any]]:
    _, resource = synthesized.only("AWS::CloudWatch::Dashboard")
    return json.loads(_flat(resource["Properties"]["DashboardBody"]))["widgets"]


def _titled(widgets, title: str) -> dict[str, Any]:
    (widget,) = [w for w in widgets if w["properties"].get("title", "").startswith(title)]
    return widget


def _dimensions(metric_row: list[Any]) -> dict[str, str]:
    """A dashboard metric row [namespace, name, dim, value, ..., {options}] -> its dims."""
    fields = [x for x in metric_row[2:] if not isinstance(x, dict)]
    return dict(zip(fields[::2], fields[1::2], strict=True))


def test_per_session_widgets_show_every_configured_session_with_the_lanes_side_by_side(
    synthesized, widgets,
):
    expected = [s["name"] for s in
                json.loads(synthesized.params.canary_sessions)]
    assert expected == ["site-a", "site-b"]
    pair = [_titled(widgets, f"{lane} lane: ScenarioSuccess per session") for lane in
            ("full", "quick")]
    assert pair[0]["y"] == pair[1]["y"] and pair[0]["x"] < pair[1]["x"]
    for lane, widget in zip(("full", "quick"), pair, strict=True):
        rows = widget["properties"]["metrics"]
        assert [_dimensions(r)[SESSION_DIMENSION] for r in rows] == expected
        assert {_dimensions(r)[LANE_DIMENSION] for r in rows} == {lane}
    quick_api = _titled(widgets, "quick lane: APIResponseTime per session")
    assert [_dimensions(r)[SESSION_DIMENSION] for r in quick_api["properties"]["metrics"]] == \
        expected


def test_the_dashboard_graphs_per_session_exactly_the_metrics_emitted_per_session(widgets):
    from canary.catalogue import METRICS

    graphed = {r[1] for w in widgets for r in w["properties"].get("metrics", [])
               if isinstance(r, list) and len(r) > 2 and r[0] == DEFAULT_NAMESPACE
               and SESSION_DIMENSION in _dimensions(r)}
    assert graphed == {m.name for m in METRICS if m.per_session}


def test_first_attempt_success_is_graphed_next_to_scenario_success_in_each_lane(widgets):
    for lane in ("full", "quick"):
        props = _titled(widgets, f"{lane} lane: success rate")["properties"]
        names = {r[1] for r in props["metrics"]
                 if isinstance(r, list) and len(r) > 1 and r[0] == DEFAULT_NAMESPACE}
        assert names == {SCENARIO_SUCCESS.name, FIRST_ATTEMPT_SUCCESS.name}, lane
