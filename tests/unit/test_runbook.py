"""The runbook has an entry for every alarm the catalogue specifies, each with what an on-call
engineer needs first: three checks with a Logs Insights query, how to silence it, the report."""

from __future__ import annotations

import re
from pathlib import Path

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
