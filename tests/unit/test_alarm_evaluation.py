"""The offline alarm evaluator follows CloudWatch's documented rules.

The two tables of the CloudWatch user guide ("How alarm state is evaluated when
data is missing": 3 of 3 and 2 of 3, evaluation range 5, most recent on the
right; 0 = not breaching, X = breaching, - = missing) are reproduced row by row.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from canary.alarm_evaluation import (
    AlarmState,
    Datapoint,
    aggregate,
    datapoints_from_emf,
    evaluate,
    evaluate_values,
    period_values,
    simulate,
)
from canary.catalogue import AlarmSpec, Comparison, MissingData, Severity

OK, ALARM, INSUFFICIENT = AlarmState.OK, AlarmState.ALARM, AlarmState.INSUFFICIENT_DATA
KEEP = "keep"  # "Retain current state"
TREATMENTS = (
    MissingData.MISSING,
    MissingData.IGNORE,
    MissingData.BREACHING,
    MissingData.NOT_BREACHING,
)


def spec(m: int, n: int, missing: MissingData = MissingData.MISSING, **overrides) -> AlarmSpec:
    base = AlarmSpec(
        "Test",
        "Latency",
        "Maximum",
        10,
        Comparison.GREATER_THAN,
        60,
        n,
        m,
        missing,
        Severity.WARNING,
        "runbook",
    )
    return replace(base, **overrides)


def values(pattern: str) -> list[float | None]:
    return [{"0": 0.0, "X": 100.0, "-": None}[c] for c in pattern.split()]


# (data points, MISSING, IGNORE, BREACHING, NOT BREACHING)
THREE_OF_THREE = [
    ("0 - X - X", OK, OK, OK, OK),
    ("0 - - - -", OK, OK, OK, OK),
    ("- - - - -", INSUFFICIENT, KEEP, ALARM, OK),
    ("0 X X - X", ALARM, ALARM, ALARM, ALARM),
    ("- - X - -", ALARM, KEEP, ALARM, OK),
]
TWO_OF_THREE = [
    ("0 - X - X", ALARM, ALARM, ALARM, ALARM),
    ("0 0 X 0 X", ALARM, ALARM, ALARM, ALARM),
    ("0 - X - -", OK, OK, ALARM, OK),
    ("- - - - 0", OK, OK, ALARM, OK),
    ("- - - X -", ALARM, KEEP, ALARM, OK),
]


@pytest.mark.parametrize(("m", "table"), [(3, THREE_OF_THREE), (2, TWO_OF_THREE)])
@pytest.mark.parametrize("current", [OK, ALARM])
def test_documented_missing_data_tables(m, table, current):
    for pattern, *expected in table:
        for treatment, want in zip(TREATMENTS, expected, strict=True):
            got = evaluate_values(spec(m, 3, treatment), values(pattern), current_state=current)
            assert got.state == (current if want == KEEP else want), (pattern, treatment, got)


@pytest.mark.parametrize("current", [OK, ALARM])
@pytest.mark.parametrize("pattern", ["- - - - X", "- - - X -"])
def test_missing_with_only_a_recent_breach_is_insufficient_data(pattern, current):
    # The guide: `missing`, one breaching point younger than M and no premature alarm ->
    # INSUFFICIENT_DATA, whatever the state was (not kept, not alarmed).
    got = evaluate_values(spec(3, 3), values(pattern), current_state=current)
    assert got.state is INSUFFICIENT


@pytest.mark.parametrize("current", [OK, ALARM])
def test_ignore_with_only_a_recent_breach_keeps_the_state(current):
    got = evaluate_values(spec(3, 3, MissingData.IGNORE), values("- - - - X"),
                          current_state=current)
    assert got.state is current


def test_ignore_keeps_insufficient_data_when_nothing_arrives():
    got = evaluate_values(spec(3, 3, MissingData.IGNORE), values("- - - - -"))
    assert got.state is INSUFFICIENT


@pytest.mark.parametrize(
    ("statistic", "expected"),
    [("Maximum", 9.0), ("Minimum", 1.0), ("Sum", 15.0), ("SampleCount", 3.0), ("Average", 5.0)],
)
def test_aggregate_statistics(statistic, expected):
    assert aggregate([5.0, 1.0, 9.0], statistic) == expected


def test_aggregate_of_an_empty_period_is_missing_and_unknown_statistics_are_refused():
    assert aggregate([], "Sum") is None
    with pytest.raises(ValueError, match="p99"):
        aggregate([1.0], "p99")


def test_periods_are_aligned_and_aggregated_with_the_alarm_statistic():
    alarm = spec(1, 1, statistic="Sum", period_seconds=60)
    points = [Datapoint(120, 1), Datapoint(150, 2), Datapoint(179.9, 3), Datapoint(180, 7)]
    # at=245: complete periods end at 240 -> [60,120) [120,180) [180,240)
    assert period_values(alarm, points, at=245, periods=3) == [None, 6.0, 7.0]


def test_statistic_decides_between_two_samples_in_one_period():
    points = [Datapoint(0, 5.0), Datapoint(30, 50.0)]  # one period, one fast one slow
    assert evaluate(spec(1, 1, statistic="Maximum"), points, at=60).state is ALARM
    assert evaluate(spec(1, 1, statistic="Minimum"), points, at=60).state is OK
    assert evaluate(spec(1, 1, statistic="Average"), points, at=60).state is ALARM  # 27.5


def test_only_the_last_n_real_datapoints_count():
    # Three old breaches, then three fine periods: a 2-of-3 alarm is OK again.
    alarm = spec(2, 3)
    points = [Datapoint(60 * i, 100.0 if i < 3 else 0.0) for i in range(6)]
    assert evaluate(alarm, points, at=360).state is OK
    assert evaluate(alarm, points, at=180).state is ALARM


def test_simulate_carries_the_state_for_ignore():
    alarm = spec(1, 1, MissingData.IGNORE)
    points = [Datapoint(0, 100.0)]  # one breach, then silence
    states = simulate(alarm, points, times=[60, 120, 180, 240, 300], initial_state=OK)
    assert states == [ALARM] * 5


def test_comparisons():
    assert (
        evaluate_values(spec(1, 1, comparison=Comparison.LESS_THAN, threshold=1), [0.0]).state
        is ALARM
    )
    assert (
        evaluate_values(spec(1, 1, comparison=Comparison.LESS_THAN, threshold=1), [1.0]).state is OK
    )
    assert (
        evaluate_values(
            spec(1, 1, comparison=Comparison.GREATER_OR_EQUAL, threshold=1), [1.0]
        ).state
        is ALARM
    )


def test_invalid_alarm_shapes_are_refused():
    with pytest.raises(ValueError, match="datapoints_to_alarm"):
        evaluate_values(spec(4, 3), [None] * 5)
    with pytest.raises(ValueError, match="shorter"):
        evaluate_values(spec(2, 3), [None, None])


def test_datapoints_from_emf_select_by_namespace_name_and_exact_dimensions():
    line = (
        '{"_aws":{"Timestamp":120000,"CloudWatchMetrics":[{"Namespace":"NS",'
        '"Dimensions":[["Environment"]],"Metrics":[{"Name":"A","Unit":"Count"}]}]},'
        '"Environment":"prod","A":[1.0,2.0]}'
    )
    step_line = (
        '{"_aws":{"Timestamp":120000,"CloudWatchMetrics":[{"Namespace":"NS",'
        '"Dimensions":[["Environment","Step"]],"Metrics":[{"Name":"A","Unit":"Count"}]}]},'
        '"Environment":"prod","Step":"s","A":5}'
    )
    lines = [line, step_line, "an ordinary log line", '{"message": "json log"}']
    assert datapoints_from_emf(
        lines, namespace="NS", metric="A", dimensions={"Environment": "prod"}
    ) == [
        Datapoint(120.0, 1.0),
        Datapoint(120.0, 2.0),
    ]
    assert datapoints_from_emf(
        lines, namespace="NS", metric="A", dimensions={"Environment": "prod", "Step": "s"}
    ) == [Datapoint(120.0, 5.0)]
    assert (
        datapoints_from_emf(lines, namespace="NS", metric="A", dimensions={"Environment": "dev"})
        == []
    )
    assert (
        datapoints_from_emf(
            lines, namespace="Other", metric="A", dimensions={"Environment": "prod"}
        )
        == []
    )
