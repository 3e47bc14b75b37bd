"""`python -m canary run --html FILE`: a FILE that cannot be written is a usage error found
before anything starts (no sandbox, no run)."""

from __future__ import annotations

import io

import pytest

from canary.cli import EXIT_USAGE, main


def run(*argv: str) -> tuple[int, str]:
    err = io.StringIO()
    code = main(list(argv), environ={}, stdout=io.StringIO(), stderr=err)
    return code, err.getvalue()


@pytest.mark.parametrize("where", ["missing-dir/report.html", "."], ids=["no-dir", "a-dir"])
def test_an_unwritable_html_file_is_a_usage_error_before_the_run(tmp_path, monkeypatch, where):
    import sandbox

    def no_sandbox(*args, **kwargs):
        raise AssertionError("the sandbox was started")

    monkeypatch.setattr(sandbox, "Sandbox", no_sandbox)
    code, err = run("run", "--html", str(tmp_path / where))
    assert code == EXIT_USAGE
    assert "--html" in err and "cannot write the report there" in err


def test_checking_the_html_file_leaves_no_empty_file_behind(tmp_path):
    target = tmp_path / "report.html"
    code, err = run("run", "--target", "env", "--html", str(target))  # then a config error
    assert code == EXIT_USAGE and "configuration error" in err
    assert not target.exists()
