"""The runbook has an entry for every alarm the catalogue specifies, each with what an on-call
engineer needs first: three checks with a Logs Insights query, how to silence it, the report."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import pytest

from canary.catalogue import alarm_specs

RUNBOOK = Path(__file__).resolve().parents[2] / "docs" / "RUNBOOK.md"
SECTION = "## Alarm by alarm"
ALARMS = sorted({s.name for s in alarm_specs()})


def entries() -> dict[str, str]:
    """Alarm name -> its entry (the text under `### name` in the per-alarm section)."""
    text = RUNBOOK.read_text()
    assert SECTION in text, f"{RUNBOOK.name} has no '{SECTION}' section"
    section = re.split(r"\n## ", text.split(SECTION, 1)[1], maxsplit=1)[0]
    parts = re.split(r"^### (\S+)\s*$", section, flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    return re.sub(r"[^a-z0-9 _-]", "", heading.strip().lower()).replace(" ", "-")


def test_every_alarm_has_an_entry_and_every_entry_an_alarm():
    assert sorted(entries()) == ALARMS


@pytest.mark.parametrize("alarm", ALARMS)
def test_each_entry_gives_three_checks_with_a_logs_insights_query(alarm):
    entry = entries()[alarm]
    for n in (1, 2, 3):
        assert re.search(rf"^{n}\. ", entry, re.MULTILINE), f"{alarm}: no check {n}"
    queries = re.findall(r"```\n(.*?)```", entry, re.DOTALL)
    assert any(re.search(r"\b(fields|filter|stats)\b", q) for q in queries), alarm


@pytest.mark.parametrize("alarm", ALARMS)
def test_each_entry_says_how_to_silence_it_and_where_the_report_is(alarm):
    entry = entries()[alarm]
    assert "Silence:" in entry and "Report:" in entry, alarm


def test_the_runbook_s_own_anchors_lead_to_its_headings():
    text = RUNBOOK.read_text()
    anchors = {slug(h) for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}
    missing = sorted(set(re.findall(r"\]\(#([^)]+)\)", text)) - anchors)
    assert missing == []


# -- the queries name fields the Lambda's lines have ------------------------------------------

STEPS_DIR = RUNBOOK.parents[1] / "canary" / "steps"
QUERY_START = re.compile(r"^\|?\s*(fields|filter|stats)\b")
NOT_FIELDS = {"fields", "filter", "stats", "sort", "limit", "by", "as", "desc", "asc", "like",
              "in", "and", "or", "not", "display", "parse"}


def queries() -> list[str]:
    """Every Logs Insights query of the runbook: fenced blocks and inline code spans that
    start like one (`fields`, `filter`, `stats`, or a `| filter` to add)."""
    text = RUNBOOK.read_text()
    fenced = re.findall(r"```[a-z]*\n(.*?)```", text, re.DOTALL)
    inline = re.findall(r"`([^`]+)`", re.sub(r"```.*?```", "", text, flags=re.DOTALL))
    return [q for q in fenced + inline if QUERY_START.match(q.strip())]


def fields_of(query: str) -> set[str]:
    """The log fields a query names: not Logs Insights' own (`@...`), words, functions,
    string and regex literals, or the names `as` gives to results."""
    q = re.sub(r'"[^"]*"', "", query)
    q = re.sub(r"like\s+/(?:[^/\\]|\\.)*/", "like", q)
    q = re.sub(r"\bas\s+\w+", "", q)
    q = re.sub(r"\b\w+\s*\(", "(", q)  # function names; their arguments stay
    names = re.findall(r"(?<![\w@.])[A-Za-z_][\w.]*", q)
    return {n for n in names if n not in NOT_FIELDS}


def measurement_keys() -> set[str]:
    """The measurement names the steps can write: the string keys they subscript or put in
    dict literals, their declared metric sources, and the wake phases' keys."""
    from canary import phases
    from canary.scenario import ORDER

    keys: set[str] = set()
    for path in STEPS_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Subscript):
                candidates = [node.slice]
            elif isinstance(node, ast.Dict):
                candidates = [k for k in node.keys if k is not None]
            else:
                continue
            keys |= {c.value for c in candidates
                     if isinstance(c, ast.Constant) and isinstance(c.value, str)}
    keys |= {source for step in ORDER for source in step.measures.values()}
    keys |= {k for p in phases.PHASES for k in (p.key, p.unfinished_key, p.at_key)}
    keys.add(phases.API_ANSWERED)
    return keys


def flatten(doc: Any, prefix: str = "") -> set[str]:
    """The field names Logs Insights gives a JSON line (nested keys and list items dotted)."""
    if isinstance(doc, dict):
        items: Any = doc.items()
    elif isinstance(doc, list):
        items = ((str(i), v) for i, v in enumerate(doc))
    else:
        return {prefix}
    out: set[str] = set()
    for key, value in items:
        out |= flatten(value, f"{prefix}{key}.") if isinstance(value, dict | list) and value \
            else {f"{prefix}{key}"}
    return out


@pytest.fixture
def lambda_lines(aws, monkeypatch, capsys) -> list[set[str]]:
    """The flattened fields of each line one real invocation writes (the handler's logger,
    its EMF lines, its summary): the real Invocation and runner, over stand-in steps that
    measure every key the steps can write, so only the step bodies are not the real ones."""
    import httpx

    from canary import handler, runner
    from canary.clock import SystemClock
    from canary.composition import Dependencies
    from canary.invocation import Invocation
    from canary.models import Status, StepResult
    from canary.scenario import SCENARIO, Scenario
    from canary.secrets import ApiKeyProvider
    from canary.steps.base import Step

    measured = dict.fromkeys(measurement_keys(), 1)

    def stand_in(step: Step) -> Step:
        def run(ctx: Any) -> StepResult:
            return StepResult(step.name, Status.DEGRADED, reason="why",
                              measurements=dict(measured), findings=["a finding"])
        return Step(step.name, run, (), dict(step.measures), step.wake_path)

    scenario = Scenario(tuple(stand_in(s) for s in SCENARIO.steps), stand_in(SCENARIO.cleanup))
    real_run_fleet = runner.run_fleet
    monkeypatch.setattr(runner, "run_fleet",
                        lambda *a, **kw: real_run_fleet(*a, **kw, scenario=scenario))
    env = {"AWS_REGION": "us-east-1", "HERMES_API_URL": "https://hermes.test",
           "PREVIEW_URL_TEMPLATE": "https://edit.{clientId}.test/session/{threadId}/",
           "INTERNAL_API_KEY": "k-123456789", "CANARY_CLIENT_ID": "canaryclient",
           "CANARY_USER_ID": "canaryuser", "CANARY_THREAD_ID": "canary-thread"}
    with httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(500))) as http:
        deps = Dependencies(http=http, dynamodb=aws["ddb"], ecs=aws["ecs"],
                            api_key=ApiKeyProvider(key=env["INTERNAL_API_KEY"],
                                                   clock=SystemClock()))
        Invocation(logger=handler.logger, stream=handler._stream,
                   redact_filter=handler._redact_filter, dependencies=lambda config: deps,
                   tracer=lambda environ: None)(None, env)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()
             if line.startswith("{")]
    assert any("step" in line for line in lines) and any("_aws" in line for line in lines)
    return [flatten(line) for line in lines]


def test_every_field_a_query_names_is_in_one_line_the_lambda_writes(lambda_lines):
    """A query over fields no single line has (a step's `status` at the top level, `lane` on a
    metric line) finds nothing: each query's fields must all be in one step, summary or EMF
    line."""
    missing = {}
    for query in queries():
        wanted = fields_of(query)
        if not any(wanted <= line for line in lambda_lines):
            best = max(lambda_lines, key=lambda line: len(wanted & line))
            missing[" ".join(query.split())[:80]] = sorted(wanted - best)
    assert missing == {}, json.dumps(missing, indent=1)
