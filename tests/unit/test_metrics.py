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
from canary.models import RunResult, Status, StepResult

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
        assert [set(d) for d in directive["Dimensions"]] == [set(spec.dimensions)]
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
        "CanaryError": 0.0,
        "RunSkipped": 0.0,
    }
    steps = {doc["Step"]: values_of(doc)["StepSuccess"] for doc in docs[1:]}
    assert steps == {"preflight": 1.0, "wake_hermes": 1.0, "route": 1.0}  # skipped: nothing


def test_run_line_has_only_the_environment_dimension_even_with_a_service_name(monkeypatch):
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "session-resumption-canary")
    doc = emf_documents(run(), environment="prod")[0]
    assert doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Environment"]]
    assert doc["Environment"] == "prod"
    assert "service" not in doc


def test_step_lines_carry_environment_and_step():
    doc = emf_documents(run(), environment="prod")[1]
    assert doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Environment", "Step"]]
    assert (doc["Environment"], doc["Step"]) == ("prod", "preflight")


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


def test_canary_error_run_reports_failure_and_no_duration():
    broken = run(steps=[], metrics={}, error="invalid configuration: HERMES_API_URL is required")
    docs = emf_documents(broken, environment="test")
    assert len(docs) == 1
    assert values_of(docs[0]) == {"ScenarioSuccess": 0.0, "CanaryError": 1.0, "RunSkipped": 0.0}


def test_skipped_run_is_success_and_emits_no_measurements():
    docs = emf_documents(run(), environment="test", skipped=True)
    assert values_of(docs[0]) == {"ScenarioSuccess": 1.0, "CanaryError": 0.0, "RunSkipped": 1.0}


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
