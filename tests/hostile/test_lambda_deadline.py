"""One deadline per invocation: whichever dependency hangs (the lock table, Secrets Manager,
ECS, the platform's DynamoDB tables, Hermes), the Lambda prints its EMF (with
ScenarioSuccess) and its summary before its remaining time less a margin, and the CLI
ends within its budget + 1 s.

AWS goes through a stand-in in front of the sandbox's moto server that hangs the chosen
calls only; Hermes is the sandbox's, or a server that never answers. The cases run once,
in parallel, in a module fixture (each with its own session, lock table and output); the
tests below check one behaviour each over every case.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from aws_fixtures import (
    DYNAMODB,
    ECS,
    SECRETS,
    AwsStandIn,
    FakeLambdaContext,
    Invoked,
    TimedOutput,
    create_lock_table,
    invoke_lambda,
    lambda_environment,
)

from sandbox import Sandbox

pytestmark = pytest.mark.integration

REMAINING_MS = 8_000
MARGIN_S = min(5.0, REMAINING_MS / 1000 * 0.2)  # what canary.invocation keeps back
CLI_BUDGET_S = 6.0


@dataclass(frozen=True)
class Case:
    hang: Callable[[AwsStandIn, Any, str], None]  # (stand-in, sandbox, lock table)
    reason: str  # a regex the summary must match
    hermes_hangs: bool = False


def _platform_tables(sb: Any) -> tuple[str, ...]:
    info = sb.info
    return (info.sessions_table, info.thread_mappings_table, info.containers_table)


CASES: dict[str, Case] = {
    "lock-table": Case(
        lambda s, sb, lock: s.misbehave("hang", target=DYNAMODB, tables=(lock,)),
        r"^canary could not run: could not take the run lock in table hostile-lock-\S+: "
        r"no answer within"),
    "secrets-manager": Case(
        lambda s, sb, lock: s.misbehave("hang", target=SECRETS),
        r"^canary could not run: could not read the internal API key: cannot read the API key "
        r"from secret arn:\S+: no answer within"),
    "ecs": Case(
        lambda s, sb, lock: s.misbehave("hang", target=ECS),
        r"(ListTasks|DescribeTasks|StopTask) [^;]*: no answer within"),
    "dynamodb-platform-tables": Case(
        lambda s, sb, lock: s.misbehave("hang", target=DYNAMODB, tables=_platform_tables(sb)),
        r"(GetItem|PutItem|Query|UpdateItem|DeleteItem) [^;]*: no answer within"),
    "hermes-http": Case(lambda s, sb, lock: None, r"resume-preview", hermes_hangs=True),
    # Not only hangs: the other failure shapes on the Lambda path report too.
    "secrets-manager-500": Case(
        lambda s, sb, lock: s.misbehave("500", target=SECRETS),
        r"^canary could not run: could not read the internal API key: cannot read the API key "
        r"from secret arn:\S+: .*AWS server error HTTP 500"),
    "secrets-manager-reset": Case(
        lambda s, sb, lock: s.misbehave("reset", target=SECRETS),
        r"^canary could not run: could not read the internal API key: .*connection closed or "
        r"reset before an answer"),
    "lock-table-html": Case(
        lambda s, sb, lock: s.misbehave("html", target=DYNAMODB, tables=(lock,)),
        r"^canary could not run: could not take the run lock in table hostile-lock-\S+: "
        r".*text/html"),
    "ecs-500": Case(
        lambda s, sb, lock: s.misbehave("500", target=ECS),
        r"(ListTasks|DescribeTasks|StopTask) [^;]*: AWS server error HTTP 500"),
}
HANDLER_CASE = "ecs-through-the-handler"


@dataclass
class CliRun:
    code: int
    out: str
    err: str
    seconds: float


@dataclass
class Runs:
    lambdas: dict[str, Invoked]
    cli: CliRun
    key: str


@pytest.fixture(scope="module")
def runs() -> Iterator[Runs]:
    stand_ins: list[AwsStandIn] = []
    with contextlib.ExitStack() as stack:
        sb = stack.enter_context(Sandbox())
        patch = stack.enter_context(pytest.MonkeyPatch.context())
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        stack.callback(lambda: [s.close() for s in stand_ins])

        def stand_in(upstream: str | None) -> AwsStandIn:
            stand_ins.append(AwsStandIn(upstream))
            return stand_ins[-1]

        def environment(name: str, case: Case) -> dict[str, str]:
            aws = stand_in(sb.info.aws_endpoint_url)
            lock = f"hostile-lock-{name}"
            create_lock_table(sb, lock)
            case.hang(aws, sb, lock)
            env = lambda_environment(sb, aws.url, LOCK_TABLE=lock)
            if case.hermes_hangs:
                hermes = stand_in(None)
                hermes.misbehave("hang")
                env["HERMES_API_URL"] = hermes.url + "/hermes"
            return env

        jobs: dict[str, Callable[[], Any]] = {
            name: partial(invoke_lambda, environment(name, case), REMAINING_MS)
            for name, case in CASES.items()
        }
        handler_env = environment(HANDLER_CASE, CASES["ecs"])
        cli_env = environment("cli", CASES["ecs"])
        cli_env.pop("LOCK_TABLE")
        cli_env["CANARY_BUDGET_S"] = str(CLI_BUDGET_S)
        jobs[HANDLER_CASE] = lambda: _through_the_handler(handler_env, patch)
        with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
            futures = {name: pool.submit(job) for name, job in jobs.items()}
            done = {name: future.result(timeout=60) for name, future in futures.items()}
        cli = _cli(cli_env)  # alone: its wall time is the assertion, not the machine's load
        yield Runs(lambdas=done, cli=cli, key=sb.api_key)


def _through_the_handler(environ: dict[str, str], patch: pytest.MonkeyPatch) -> Invoked:
    """The real entry point (module-level logger and warm clients), stdout redirected."""
    import canary.handler as lambda_handler

    for name, value in environ.items():
        patch.setenv(name, value)
    out = TimedOutput()
    context = FakeLambdaContext(REMAINING_MS)
    lambda_handler.reset_warm_state()
    try:
        with contextlib.redirect_stdout(out):
            result = lambda_handler.handler({}, context)
    finally:
        lambda_handler.reset_warm_state()
    return Invoked(result, context, out, time.monotonic())


def _cli(environ: dict[str, str]) -> CliRun:
    from canary.cli import main

    out, err = io.StringIO(), io.StringIO()
    began = time.monotonic()
    code = main(["run", "--target", "env", "--json", "--quiet"], environ=environ,
                stdout=out, stderr=err)
    return CliRun(code, out.getvalue(), err.getvalue(), time.monotonic() - began)


LAMBDA_CASES = [*CASES, HANDLER_CASE]


@pytest.mark.parametrize("case", LAMBDA_CASES)
def test_the_emf_is_printed_before_the_remaining_time_less_the_margin(runs, case):
    invoked = runs.lambdas[case]
    assert invoked.emf_after_s < REMAINING_MS / 1000 - MARGIN_S / 2, invoked.result["summary"]


CANARY_OWN = {"lock-table", "secrets-manager", "secrets-manager-500", "secrets-manager-reset",
              "lock-table-html"}
"""The canary's own parts: their faults are CanaryError (its owners), no verdict on the
platform (no ScenarioSuccess); the platform's hangs are a failed verdict."""


@pytest.mark.parametrize("case", LAMBDA_CASES)
def test_every_hang_still_reports_a_failed_verdict_or_a_canary_error(runs, case):
    invoked = runs.lambdas[case]
    if case in CANARY_OWN:
        assert (invoked.scenario_success, invoked.canary_error) == ([], [1.0])
    else:
        assert (invoked.scenario_success, invoked.canary_error) == ([0.0], [0.0])


@pytest.mark.parametrize("case", LAMBDA_CASES)
def test_the_summary_names_what_hung(runs, case):
    summary = runs.lambdas[case].result["summary"]
    assert re.search(CASES.get(case, CASES["ecs"]).reason, summary), summary


@pytest.mark.parametrize("case", LAMBDA_CASES)
def test_no_output_of_a_hung_run_carries_the_key(runs, case):
    invoked = runs.lambdas[case]
    text = invoked.out.text + json.dumps(invoked.result)
    assert runs.key not in text and runs.key[:8] not in text


def test_a_cli_run_ends_within_its_budget_plus_a_second_while_ecs_hangs(runs):
    assert runs.cli.seconds < CLI_BUDGET_S + 1.0, runs.cli.err[-2000:]


def test_a_cli_run_with_ecs_hanging_fails_naming_the_ecs_call(runs):
    assert runs.cli.code == 1, runs.cli.err[-2000:]
    doc = json.loads(runs.cli.out)
    reasons = "; ".join(s["reason"] for session in doc["sessions"] for s in session["steps"]
                        if s["status"] == "failed")
    assert re.search(CASES["ecs"].reason, reasons), reasons
    assert "configuration error" not in runs.cli.err

