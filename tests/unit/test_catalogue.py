"""The alarm specification, checked for consistency and end to end against emitted EMF.

The end-to-end tests build RunResults, turn them into the EMF lines the Lambda
prints (`canary.metrics.emf_lines`), extract the series CloudWatch would store
(`datapoints_from_emf`) and evaluate every alarm of `ALARMS` the way CloudWatch
does (`canary.alarm_evaluation`): canary -> EMF -> alarm.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import replace

import pytest

from canary.alarm_evaluation import STATISTICS, AlarmState, datapoints_from_emf, evaluate, simulate
from canary.catalogue import (
    ALARMS,
    DEFAULT_NAMESPACE,
    ENVIRONMENT_DIMENSION,
    LANE_DIMENSION,
    METRICS,
    METRICS_BY_NAME,
    AlarmSpec,
    MissingData,
    alarm_specs,
)
from canary.metrics import emf_lines
from canary.models import RunResult, Status, StepResult

ENV = "production"
BY_NAME = {a.name: a for a in ALARMS}
PERIOD = ALARMS[0].period_seconds
# A recent period boundary (CloudWatch drops EMF older than 14 days).
T0 = (int(time.time()) // PERIOD - 48) * PERIOD
OK, ALARM = AlarmState.OK, AlarmState.ALARM


# -- consistency -------------------------------------------------------------------------


def test_metric_and_alarm_names_are_unique():
    assert len({m.name for m in METRICS}) == len(METRICS)
    assert len(BY_NAME) == len(ALARMS)


@pytest.mark.parametrize("alarm", ALARMS, ids=lambda a: a.name)
def test_every_alarm_is_evaluable_and_selects_an_emitted_series(alarm: AlarmSpec):
    assert alarm.statistic in STATISTICS
    assert 1 <= alarm.datapoints_to_alarm <= alarm.evaluation_periods
    assert alarm.period_seconds % 60 == 0
    assert alarm.period_seconds * alarm.evaluation_periods <= 86_400  # CloudWatch's limit
    if alarm.namespace is None:
        spec = METRICS_BY_NAME[alarm.metric]
        # CloudWatch matches the exact dimension set: the alarm must use the metric's.
        assert set(alarm.dimensions) == set(spec.dimensions)
        if not spec.high_resolution:
            assert alarm.period_seconds >= 60


def test_schedule_and_thresholds_parameterize_the_specification():
    specs = {a.name: a for a in alarm_specs(schedule_minutes=5, wake_threshold_ms=30_000)}
    assert {a.period_seconds for a in specs.values()} == {300}
    assert specs["WakeTimeHigh"].threshold == 30_000
    with pytest.raises(ValueError, match="schedule_minutes"):
        alarm_specs(schedule_minutes=0)


def test_count_alarms_ignore_silence_and_only_the_heartbeat_treats_it_as_breaching():
    breaching = [a.name for a in ALARMS if a.missing_data is MissingData.BREACHING]
    assert breaching == ["CanaryHeartbeat"]


# -- canary -> EMF -> alarm ---------------------------------------------------------------


def healthy_run(index: int, **metrics: float) -> RunResult:
    values = {
        "ContainerWakeTime": 22_000.0,
        "PreviewWakeTime": 25_000.0,
        "APIResponseTime": 180.0,
        "RouteLatency": 40.0,
        "AutoSleepDelay": 30_000.0,
        "DuplicateTasks": 0,
        "AutoSleepMissed": 0,
        "AutoSaveFailed": 0,
        "AuthNotEnforced": 0,
        "ContractViolations": 0,
    }
    values.update(metrics)
    return RunResult(
        run_id=f"run-{index}",
        target="sandbox",
        environment=ENV,
        started_at=T0 + index * PERIOD + 60.0,  # one scheduled run per period
        steps=[
            StepResult("preflight", Status.PASSED),
            StepResult("wake_hermes", Status.PASSED),
        ],
        metrics=values,
        duration_ms=120_000.0,
    )


def failed_run(index: int) -> RunResult:
    run = healthy_run(index)
    run.steps.append(StepResult("route", Status.FAILED, reason="502 Container unreachable"))
    del run.metrics["RouteLatency"]
    return run


def emitted(runs: list[RunResult], *, skipped: set[int] = frozenset()) -> list[str]:
    lines: list[str] = []
    for i, run in enumerate(runs):
        lines += emf_lines(run, namespace=DEFAULT_NAMESPACE, environment=ENV, skipped=i in skipped)
    return lines


def series(alarm: AlarmSpec, lines: list[str]):
    return datapoints_from_emf(
        lines,
        namespace=alarm.namespace or DEFAULT_NAMESPACE,
        metric=alarm.metric,
        dimensions={ENVIRONMENT_DIMENSION: ENV, LANE_DIMENSION: "full"},
    )


def states_after_each_run(alarm: AlarmSpec, lines: list[str], runs: int) -> list[AlarmState]:
    """The alarm's state at the end of each run's period."""
    times = [T0 + (i + 1) * PERIOD for i in range(runs)]
    return simulate(alarm, series(alarm, lines), times=times, initial_state=OK)


def state_at_end(alarm: AlarmSpec, lines: list[str], runs: int) -> AlarmState:
    return states_after_each_run(alarm, lines, runs)[-1]


def test_healthy_series_leaves_every_alarm_ok():
    lines = emitted([healthy_run(i) for i in range(6)])
    assert {a.name: state_at_end(a, lines, 6) for a in ALARMS} == {a.name: OK for a in ALARMS}


def test_slow_wake_trips_the_wake_alarm_only_after_two_of_three():
    wake = BY_NAME["WakeTimeHigh"]
    slow = wake.threshold + 10_000
    runs = [healthy_run(0), healthy_run(1), healthy_run(2, ContainerWakeTime=slow)]
    runs += [healthy_run(3), healthy_run(4, ContainerWakeTime=slow)]
    lines = emitted(runs)
    assert states_after_each_run(wake, lines, 5) == [OK, OK, OK, OK, ALARM]
    others = {a.name: state_at_end(a, lines, 5) for a in ALARMS if a is not wake}
    assert set(others.values()) == {OK}


def test_wake_at_the_threshold_is_not_breaching():
    wake = BY_NAME["WakeTimeHigh"]
    at = wake.threshold
    lines = emitted([healthy_run(i, ContainerWakeTime=at) for i in range(3)])
    assert state_at_end(wake, lines, 3) is OK


def test_missing_series_trips_the_heartbeat():
    heartbeat = BY_NAME["CanaryHeartbeat"]
    assert evaluate(heartbeat, [], at=T0 + 10 * PERIOD, current_state=OK).state is ALARM
    # Nothing else alarms on silence.
    others = {a.name: evaluate(a, [], at=T0 + 10 * PERIOD, current_state=OK).state for a in ALARMS}
    assert {n for n, s in others.items() if s is ALARM} == {"CanaryHeartbeat"}


def test_heartbeat_trips_after_exactly_two_silent_periods():
    heartbeat = BY_NAME["CanaryHeartbeat"]
    lines = emitted([healthy_run(i) for i in range(4)])  # runs 0..3, then nothing
    states = states_after_each_run(heartbeat, lines, 10)
    # FILL(m, 0) turns each silent period into a breaching 0: without it CloudWatch
    # would keep evaluating the last real datapoints of its wider evaluation range.
    assert states[:5] == [OK] * 5
    assert states[5:] == [ALARM] * 5


def test_heartbeat_without_fill_would_see_silence_late():
    heartbeat = dataclasses.replace(BY_NAME["CanaryHeartbeat"], fill_missing=None)
    lines = emitted([healthy_run(i) for i in range(4)])
    states = states_after_each_run(heartbeat, lines, 10)
    assert states.index(ALARM) == 3 + heartbeat.evaluation_periods + 2


def test_one_auto_save_failure_trips_the_data_loss_alarm_at_once():
    alarm = BY_NAME["AutoSaveFailed"]
    lines = emitted([healthy_run(0), healthy_run(1), healthy_run(2, AutoSaveFailed=1)])
    assert states_after_each_run(alarm, lines, 3) == [OK, OK, ALARM]


def test_two_failed_runs_in_a_row_trip_scenario_failed_one_does_not():
    alarm = BY_NAME["ScenarioFailed"]
    lines = emitted([healthy_run(0), failed_run(1), healthy_run(2), failed_run(3), failed_run(4)])
    assert states_after_each_run(alarm, lines, 5) == [OK, OK, OK, OK, ALARM]


def test_one_failing_session_of_three_trips_the_aggregate_alarms_others_do_not_mask_it():
    def period(i: int, *, broken: bool) -> list[RunResult]:
        runs = [replace(healthy_run(i), session=name) for name in ("eu", "us")]
        worst = failed_run(i) if broken else healthy_run(i, APIResponseTime=2_500.0)
        return [*runs, replace(worst, session="ap")]

    lines = emitted([r for i in range(3) for r in period(i, broken=i > 0)])
    assert states_after_each_run(BY_NAME["ScenarioFailed"], lines, 3) == [OK, OK, ALARM]
    lines = emitted([r for i in range(3) for r in period(i, broken=False)])
    assert states_after_each_run(BY_NAME["ResumeApiSlow"], lines, 3) == [OK, ALARM, ALARM]


def test_runs_skipped_for_the_lock_are_neither_failures_nor_silence():
    runs = [healthy_run(0), failed_run(1), failed_run(2), failed_run(3)]
    lines = emitted(runs, skipped={1, 2, 3})
    assert state_at_end(BY_NAME["ScenarioFailed"], lines, 4) is OK
    assert state_at_end(BY_NAME["CanaryHeartbeat"], lines, 4) is OK


def test_a_skipped_run_is_no_verdict_so_it_does_not_hide_failures_around_it():
    # Not a success either: the failed verdicts on both sides of it are two in a row.
    lines = emitted([healthy_run(0), failed_run(1), healthy_run(2), failed_run(3)],
                    skipped={2})
    assert state_at_end(BY_NAME["ScenarioFailed"], lines, 4) is ALARM


def test_canary_error_alarm_fires_on_a_run_that_could_not_start():
    broken = replace(healthy_run(1), steps=[], metrics={}, error="secret unreadable")
    lines = emitted([healthy_run(0), broken])
    assert states_after_each_run(BY_NAME["CanaryError"], lines, 2) == [OK, ALARM]
    assert state_at_end(BY_NAME["CanaryHeartbeat"], lines, 2) is OK


def health_after(lines: list[str], runs: int) -> bool:
    """The health composite at the end, from every alarm's state over the emitted data."""
    from canary.catalogue import health_in_alarm

    states = {a.name: state_at_end(a, lines, runs) is ALARM for a in ALARMS
              if a.namespace is None}
    return health_in_alarm(ALARMS, states)


def test_two_failed_runs_of_the_platform_page_through_the_composite():
    assert health_after(emitted([healthy_run(0), failed_run(1), failed_run(2)]), 3) is True


def test_two_runs_the_canary_itself_could_not_do_never_page_the_platform_on_call():
    broken = [replace(healthy_run(i), steps=[], metrics={}, error="secret unreadable")
              for i in (1, 2)]
    lines = emitted([healthy_run(0), *broken])
    assert state_at_end(BY_NAME["ScenarioFailed"], lines, 3) is OK
    assert state_at_end(BY_NAME["CanaryError"], lines, 3) is ALARM  # reaches the owners
    assert state_at_end(BY_NAME["CanaryHeartbeat"], lines, 3) is OK
    assert health_after(lines, 3) is False


def test_a_fleet_that_never_reached_its_sessions_reaches_the_owners_and_never_pages():
    from canary.models import FleetResult

    def broken(i: int) -> FleetResult:  # bad config, key unreadable: nothing ran
        return FleetResult(run_id=f"r{i}", lane="full", target="env", environment=ENV,
                           started_at=T0 + i * PERIOD + 60.0, error="invalid configuration")

    lines = [line for i in range(4) for line in emf_lines(
        broken(i), namespace=DEFAULT_NAMESPACE, environment=ENV)]
    assert series(BY_NAME["ScenarioFailed"], lines) == []  # no verdict on the platform
    assert state_at_end(BY_NAME["CanaryError"], lines, 4) is ALARM
    assert state_at_end(BY_NAME["CanaryHeartbeat"], lines, 4) is OK
    assert health_after(lines, 4) is False


def test_one_sessions_lasting_canary_error_does_not_mute_the_others_failing():
    def period(i: int) -> list[RunResult]:
        broken = replace(healthy_run(i), session="eu", error="canary fault: git remote "
                         "unreadable")
        return [broken, *(replace(failed_run(i), session=n) for n in ("us", "ap"))]

    lines = emitted([healthy_run(0), *period(1), *period(2)])
    assert state_at_end(BY_NAME["CanaryError"], lines, 3) is ALARM
    assert state_at_end(BY_NAME["ScenarioFailed"], lines, 3) is ALARM
    assert health_after(lines, 3) is True


def test_an_alarm_is_created_only_where_its_metric_can_be_emitted():
    from types import SimpleNamespace

    from canary.catalogue import METRICS_BY_NAME

    def config(**kw):
        return SimpleNamespace(**{"sleep_mode": "observe", "wake_paths": ("hermes", "preview"),
                                  **kw})

    auto_save = METRICS_BY_NAME["AutoSaveFailed"]
    assert auto_save.emitted_by(config()) and auto_save.emitted_by(config(sleep_mode="wait"))
    assert not auto_save.emitted_by(config(sleep_mode="force"))
    preview = METRICS_BY_NAME["PreviewWakeTime"]
    assert not preview.emitted_by(config(wake_paths=("hermes",)))


def test_every_metric_says_what_watches_it():
    from canary.catalogue import METRICS

    assert all(m.watched_by.strip() for m in METRICS)
