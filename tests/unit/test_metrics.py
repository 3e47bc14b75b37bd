"""RunResult -> EMF lines: structure, dimensions, units and values from the catalogue."""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import replace

import pytest

import canary.metrics as metrics_module
from canary.catalogue import DEFAULT_NAMESPACE, METRICS_BY_NAME
from canary.metrics import emf_documents, emf_lines, record_run
from canary.models import FleetResult, RunResult, Status, StepResult

STARTED = float(int(time.time()) - 3600)  # recent: CloudWatch drops EMF older than 14 days


def run(**overrides) -> RunResult:
    base = RunResult(
        run_id="run-1",
        target="sandbox",
        environment="test",
        started_at=STARTED,
        steps=[
            StepResult("preflight", Status.PASSED, 10.0),
            StepResult("wake_hermes", Status.DEGRADED, 50_000.0),
            StepResult("route", Status.PASSED, 20.0),
            StepResult("auto_save", Status.SKIPPED, reason="no lastAutoSave in production"),
        ],
        metrics={
            "ContainerWakeTime": 50_000.0,
            "RouteLatency": 12.5,
            "DuplicateTasks": 0,
            "AuthNotEnforced": True,
        },
        duration_ms=61_000.0,
    )
    return replace(base, **overrides)


def assert_valid_emf(doc: dict) -> None:
    """The EMF specification's required shape, and every metric as the catalogue defines it."""
    meta = doc["_aws"]
    assert isinstance(meta["Timestamp"], int)
    assert len(meta["CloudWatchMetrics"]) == 1
    directive = meta["CloudWatchMetrics"][0]
    assert isinstance(directive["Namespace"], str) and directive["Namespace"]
    for dimension_set in directive["Dimensions"]:
        for name in dimension_set:
            assert isinstance(doc[name], str) and doc[name]
    for definition in directive["Metrics"]:
        spec = METRICS_BY_NAME[definition["Name"]]
        assert definition["Unit"] == spec.unit.value
        assert [set(d) for d in directive["Dimensions"]] in (
            [set(spec.dimensions)], [set(spec.session_dimensions or ())])
        assert ("StorageResolution" in definition) == spec.high_resolution
        values = doc[definition["Name"]]
        assert values and all(isinstance(v, float) and math.isfinite(v) for v in values)


def values_of(doc: dict) -> dict[str, float]:
    names = [m["Name"] for m in doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]]
    return {name: doc[name][0] for name in names}


def test_healthy_run_emits_run_line_and_one_step_line_per_executed_step():
    docs = emf_documents(run(), environment="test")
    for doc in docs:
        assert_valid_emf(doc)
    assert values_of(docs[0]) == {
        "ContainerWakeTime": 50_000.0,
        "RouteLatency": 12.5,
        "DuplicateTasks": 0.0,
        "AuthNotEnforced": 1.0,
        "ScenarioDuration": 61_000.0,
        "ScenarioSuccess": 1.0,
        "FirstAttemptSuccess": 1.0,
        "CanaryError": 0.0,
        "RunSkipped": 0.0,
    }
    steps = {doc["Step"]: values_of(doc)["StepSuccess"] for doc in docs[1:]}
    assert steps == {"preflight": 1.0, "wake_hermes": 1.0, "route": 1.0}  # skipped: nothing


def test_run_line_has_only_the_environment_and_lane_dimensions_even_with_a_service_name(
        monkeypatch):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "session-resumption-canary")
    doc = emf_documents(run(), environment="prod")[0]
    assert doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Environment", "Lane"]]
    assert (doc["Environment"], doc["Lane"]) == ("prod", "full")
    assert "service" not in doc


def test_step_lines_carry_environment_lane_and_step():
    doc = emf_documents(run(lane="quick"), environment="prod")[1]
    assert doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Environment", "Lane", "Step"]]
    assert (doc["Environment"], doc["Lane"], doc["Step"]) == ("prod", "quick", "preflight")


def test_failed_step_gives_step_success_0_and_scenario_success_0():
    failed = run(
        steps=[StepResult("preflight", Status.PASSED), StepResult("wake_hermes", Status.FAILED)]
    )
    docs = emf_documents(failed, environment="test")
    assert values_of(docs[0])["ScenarioSuccess"] == 0.0
    assert {d["Step"]: values_of(d)["StepSuccess"] for d in docs[1:]} == {
        "preflight": 1.0,
        "wake_hermes": 0.0,
    }


def test_latencies_only_for_successful_measurements():
    measured = run(
        metrics={
            "ContainerWakeTime": None,
            "PreviewWakeTime": float("nan"),
            "APIResponseTime": -1.0,
            "RouteLatency": "timeout",
            "AutoSaveFailed": 1,
        }
    )
    names = set(values_of(emf_documents(measured, environment="test")[0]))
    assert not names & {"ContainerWakeTime", "PreviewWakeTime", "APIResponseTime", "RouteLatency"}
    assert "AutoSaveFailed" in names


def test_canary_error_run_reports_canary_error_and_no_verdict_or_duration():
    broken = run(steps=[], metrics={}, error="invalid configuration: HERMES_API_URL is required")
    docs = emf_documents(broken, environment="test")
    assert len(docs) == 1
    assert values_of(docs[0]) == {"CanaryError": 1.0, "RunSkipped": 0.0}


def test_skipped_run_is_no_verdict_and_emits_no_measurements():
    docs = emf_documents(run(), environment="test", skipped=True)
    assert values_of(docs[0]) == {"CanaryError": 0.0, "RunSkipped": 1.0}


def test_namespace_is_configurable_and_defaults_to_the_catalogue_one():
    assert emf_documents(run(), environment="t")[0]["_aws"]["CloudWatchMetrics"][0][
        "Namespace"
    ] == (DEFAULT_NAMESPACE)
    doc = emf_documents(run(), environment="t", namespace="Custom/NS")[0]
    assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Custom/NS"


def test_timestamp_is_the_run_start_in_milliseconds():
    doc = emf_documents(run(), environment="t")[0]
    assert doc["_aws"]["Timestamp"] == int(STARTED * 1000)


def test_high_resolution_metrics_get_storage_resolution_1(monkeypatch):
    catalogue = dict(METRICS_BY_NAME)
    catalogue["ContainerWakeTime"] = replace(catalogue["ContainerWakeTime"], high_resolution=True)
    monkeypatch.setattr(metrics_module, "METRICS_BY_NAME", catalogue)
    definitions = emf_documents(run(), environment="t")[0]["_aws"]["CloudWatchMetrics"][0][
        "Metrics"
    ]
    by_name = {d["Name"]: d for d in definitions}
    assert by_name["ContainerWakeTime"]["StorageResolution"] == 1
    assert "StorageResolution" not in by_name["RouteLatency"]


def test_names_outside_the_catalogue_are_not_emitted(caplog):
    odd = run(metrics={"MadeUpMetric": 1.0, "ScenarioSuccess": 1.0, "DuplicateTasks": 2})
    with caplog.at_level(logging.WARNING):
        names = set(values_of(emf_documents(odd, environment="t")[0]))
    assert "MadeUpMetric" not in names and names >= {"DuplicateTasks"}
    assert "MadeUpMetric" in caplog.text
    # ScenarioSuccess is derived from the steps, never taken from run.metrics.
    assert "'ScenarioSuccess' is not a run metric" in caplog.text


def test_emf_lines_are_compact_json_of_the_documents():
    lines = emf_lines(run(), environment="t")
    assert [json.loads(line) for line in lines] == emf_documents(run(), environment="t")
    assert all("\n" not in line and ", " not in line for line in lines)


def test_record_run_prints_the_lines_to_stdout(capsys):
    lines = record_run(run(), environment="t")
    assert capsys.readouterr().out.splitlines() == lines


def test_empty_environment_is_refused():
    with pytest.raises(ValueError, match="Environment"):
        emf_documents(run(), environment="")


def test_run_cut_short_by_its_time_budget_is_not_a_success():
    short = run(
        steps=[
            StepResult("preflight", Status.PASSED),
            StepResult(
                "wake_hermes", Status.SKIPPED, reason="skipped: time budget of 2 s exhausted"
            ),
            StepResult("route", Status.SKIPPED, reason="skipped: wake_hermes skipped"),
        ],
        metrics={},
        cut_short=["wake_hermes"],
    )
    assert not short.ok  # no step failed, but a run cut short is not ok...
    docs = emf_documents(short, environment="t")
    assert values_of(docs[0])["ScenarioSuccess"] == 0.0  # ...but the scenario did not run
    assert values_of(docs[0])["CanaryError"] == 0.0
    assert {d["Step"] for d in docs[1:]} == {"preflight"}


def test_steps_skipped_for_other_reasons_do_not_fail_the_run():
    fine = run(
        steps=[
            StepResult("preflight", Status.PASSED),
            StepResult("auto_save", Status.SKIPPED, reason="no lastAutoSave in production"),
        ]
    )
    assert values_of(emf_documents(fine, environment="t")[0])["ScenarioSuccess"] == 1.0


def fleet(*sessions: RunResult, **overrides) -> FleetResult:
    fields = {"lane": sessions[0].lane if sessions else "full", **overrides}
    return FleetResult(run_id="run-1", target="sandbox", environment="test", started_at=STARTED,
                       sessions=list(sessions), **fields)


def by_dimensions(docs: list[dict]) -> dict[tuple[str, ...], list[dict]]:
    out: dict[tuple[str, ...], list[dict]] = {}
    for doc in docs:
        out.setdefault(tuple(doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]), []).append(doc)
    return out


def test_each_session_puts_its_own_sample_into_the_aggregate_series():
    broken = [StepResult("preflight", Status.PASSED), StepResult("route", Status.FAILED)]
    docs = emf_documents(fleet(run(session="eu"), run(session="us", steps=broken),
                               run(session="ap")), environment="test")
    aggregate = by_dimensions(docs)[("Environment", "Lane")]
    assert sorted(values_of(d)["ScenarioSuccess"] for d in aggregate) == [0.0, 1.0, 1.0]


def test_each_session_also_emits_its_run_metrics_with_the_session_dimension():
    docs = emf_documents(fleet(run(session="eu"), run(session="us", metrics={})),
                         environment="test")
    for doc in docs:
        assert_valid_emf(doc)
    per_session = {d["Session"]: values_of(d)
                   for d in by_dimensions(docs)[("Environment", "Lane", "Session")]}
    assert set(per_session) == {"eu", "us"}
    assert per_session["eu"]["ContainerWakeTime"] == 50_000.0
    assert "ContainerWakeTime" not in per_session["us"]
    assert "StepSuccess" not in per_session["eu"]  # per-step series stay aggregate only


def test_only_the_metrics_the_catalogue_marks_per_session_get_the_session_dimension():
    docs = emf_documents(fleet(run(session="eu"), run(session="us")), environment="test")
    marked = {m.name for m in METRICS_BY_NAME.values() if m.per_session}
    per_session = by_dimensions(docs)[("Environment", "Lane", "Session")]
    emitted = {name for d in per_session for name in values_of(d)}
    assert emitted and emitted <= marked
    assert "DuplicateTasks" in values_of(by_dimensions(docs)[("Environment", "Lane")][0])
    assert "DuplicateTasks" not in emitted  # a run metric, but no per-session widget reads it


def test_a_session_the_canary_broke_emits_canary_error_and_no_verdict_the_others_do():
    docs = emf_documents(fleet(run(session="eu", error="canary fault: git remote unreadable"),
                               run(session="us")), environment="test")
    aggregate = [values_of(d) for d in by_dimensions(docs)[("Environment", "Lane")]]
    assert [v.get("ScenarioSuccess") for v in aggregate] == [None, 1.0]
    assert [v["CanaryError"] for v in aggregate] == [1.0, 0.0]


def test_a_platform_failure_stays_a_failed_verdict_when_a_later_step_hit_a_canary_fault():
    """A git remote whose token expired (the canary's fault) must not hide a wake that failed
    on the platform in the same run: the lane still pages on it."""
    both = run(steps=[StepResult("wake_hermes", Status.FAILED, reason="over 60 s"),
                      StepResult("auto_save", Status.FAILED, reason="canary fault: remote",
                                 canary_fault=True)],
               error="canary fault: remote")
    values = values_of(emf_documents(both, environment="test")[0])
    assert (values["ScenarioSuccess"], values["CanaryError"]) == (0.0, 1.0)


def test_a_check_that_passed_only_on_its_retry_is_a_success_but_not_a_first_attempt_success():
    retried = run(steps=[StepResult("preflight", Status.PASSED),
                         StepResult("route", Status.PASSED, attempts=2)], lane="quick")
    values = values_of(emf_documents(retried, environment="t")[0])
    assert (values["ScenarioSuccess"], values["FirstAttemptSuccess"]) == (1.0, 0.0)


def test_a_fleet_that_erred_before_its_sessions_emits_canary_error_and_no_verdict():
    docs = emf_documents(fleet(error="invalid configuration: CANARY_SESSIONS: not JSON",
                               lane="quick"), environment="t")
    assert len(docs) == 1 and docs[0]["Lane"] == "quick"
    assert "ScenarioSuccess" not in values_of(docs[0])
    assert values_of(docs[0])["CanaryError"] == 1.0
