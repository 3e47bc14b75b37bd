"""`python -m canary.settings_docs`: prints a table, finds stale docs, rewrites them; and the
configuration-error table it generates for TROUBLESHOOTING.md."""

from __future__ import annotations

import runpy
import sys

import pytest

from canary import settings_docs
from canary.settings_errors import errors, markdown


@pytest.fixture
def docs_root(tmp_path, monkeypatch):
    """A copy of the documented files with stale tables, as settings_docs.ROOT."""
    for doc, audience in settings_docs.DOCS.items():
        path = tmp_path / doc
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"intro\n{settings_docs.BEGIN.format(audience)}\n| stale |\n"
                        f"{settings_docs.END}\noutro\n")
    monkeypatch.setattr(settings_docs, "ROOT", tmp_path)
    return tmp_path


def test_check_names_each_stale_doc_and_exits_1(docs_root, capsys):
    assert settings_docs.main(["--check"]) == 1
    err = capsys.readouterr().err
    for doc in settings_docs.DOCS:
        assert f"{doc}: its settings table is not the generated one" in err


def test_write_regenerates_every_table_then_check_passes(docs_root):
    assert settings_docs.main(["--write"]) == 0
    assert settings_docs.main(["--check"]) == 0
    text = (docs_root / "docs/TROUBLESHOOTING.md").read_text()
    assert settings_docs.section(text, "errors") == markdown()


def test_an_unknown_argument_prints_the_usage_and_exits_2(capsys):
    assert settings_docs.main(["everything"]) == 2
    assert "usage: python -m canary.settings_docs" in capsys.readouterr().err


def test_one_table_is_printed_on_request(capsys):
    assert settings_docs.main(["errors"]) == 0
    assert capsys.readouterr().out == markdown()


def test_the_error_table_has_each_required_variable_unset_and_each_cross_rule():
    shown = dict(errors())
    assert shown["`HERMES_API_URL` unset"].startswith("HERMES_API_URL: not set")
    assert any(m.startswith("WAKE_DEGRADED_MS:") and "must not exceed WAKE_FAILED_MS" in m
               for m in shown.values())
    assert any(m.startswith("PREVIEW_DOMAIN: is required with ALB_DNS_NAME")
               for m in shown.values())


def test_the_error_table_never_shows_a_key_it_tried():
    (key_error,) = [m for m in dict(errors()).values() if m.startswith("INTERNAL_API_KEY:")]
    assert "value not shown" in key_error and "not valid!" not in key_error


def test_python_m_canary_exits_with_the_cli_s_code(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["canary"])  # no command: a usage error
    with pytest.raises(SystemExit) as exit_:
        runpy.run_module("canary", run_name="__main__")
    assert exit_.value.code == 2
