"""The settings table: the docs' settings tables are the ones generated from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from canary.settings_docs import BEGIN, DOCS, END, markdown, rewrite, section

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("doc", "audience"), sorted(DOCS.items()))
def test_each_doc_holds_the_generated_settings_table(doc, audience):
    table = section((ROOT / doc).read_text(), audience)
    assert table == markdown(audience), "run: python -m canary.settings_docs --write"


def test_writing_replaces_a_stale_table_and_keeps_the_rest_of_the_doc():
    text = f"intro\n{BEGIN.format('env')}\n| stale |\n{END}\noutro\n"
    written = rewrite(text, "env")
    assert section(written, "env") == markdown("env")
    assert written.startswith("intro\n") and written.endswith(f"{END}\noutro\n")


def test_the_parameters_table_lists_the_deploy_parameters_not_run_time_only_variables():
    table = markdown("context")
    assert "`hermesApiUrl`" in table and "`scheduleMinutes`" in table
    assert "SANDBOX_CONTROL_URL" not in table and "AWS_ENDPOINT_URL" not in table
