"""Where things start: each step's start in the run (`started_ms`) and, within a step, where
the interval its measure times begins (`models.offset_key`), so the HTML puts bars and target
lines where the time was spent."""

from __future__ import annotations

import httpx
import pytest

from canary.models import Status, StepResult, offset_key
from canary.runner import run_scenario
from canary.scenario import Scenario
from canary.steps import warm_api
from canary.steps.base import Step


def test_the_offset_of_a_measure_is_named_after_it():
    assert offset_key("wake_ms") == "wake_offset_ms"
    assert offset_key("response_ms") == "response_offset_ms"


def test_warm_api_says_where_its_slowest_sample_began(make_ctx, aws, h, platform, clock):
    h.put_container(aws, status="running")
    delays = iter([0.05, 0.3, 0.1])

    def hermes(req: httpx.Request) -> httpx.Response:
        clock.advance(next(delays))
        return httpx.Response(201, json={"status": "running"})

    platform.hermes = hermes
    m = warm_api.run(make_ctx(api_degraded_ms=1000, api_failed_ms=2000)).measurements
    assert m["response_ms"] == pytest.approx(300, abs=1)
    assert m["response_offset_ms"] == pytest.approx(50, abs=1)  # after the first sample


def test_the_runner_records_when_each_step_started_in_the_run(aws, clock, h):
    from canary.composition import Dependencies
    from canary.secrets import ApiKeyProvider

    def slow(name: str, seconds: float) -> Step:
        def run(ctx):
            ctx.clock.advance(seconds)
            return StepResult(name, Status.PASSED)
        return Step(name, run, ())

    scenario = Scenario((slow("a", 1.5), slow("b", 0.5)), slow("cleanup", 0.0))
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500))) as http:
        deps = Dependencies(http=http, dynamodb=aws["ddb"], ecs=aws["ecs"],
                            api_key=ApiKeyProvider(key=h.KEY, clock=clock))
        run = run_scenario(h.make_config(), deps, clock, scenario=scenario)
    assert [s.to_dict()["started_ms"] for s in run.steps] == [0.0, 1500.0, 2000.0]
