"""The fault matrix (sandbox/faults.py) is the one place a fault's facts live: the README's
table is what it prints, the sandbox's parts name only faults that exist, and a row that
could not prove a fault caught is refused when the module loads."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from sandbox.__main__ import main
from sandbox.faults import Fault, FaultSpec, MetricCheck

ROOT = Path(__file__).resolve().parents[2]
TABLE = re.compile(r"<!-- fault-matrix:[^\n]*-->\n(.*?)<!-- fault-matrix end -->", re.S)


def test_the_sandbox_readme_shows_the_table_fault_matrix_prints(capsys):
    assert main(["--fault-matrix"]) == 0
    printed = capsys.readouterr().out
    (shown,) = TABLE.findall((ROOT / "sandbox" / "README.md").read_text())
    assert shown == printed, "regenerate: python -m sandbox --fault-matrix"


def test_every_fault_the_sandbox_code_names_is_a_fault():
    named = {
        (path.name, node.attr)
        for path in (ROOT / "sandbox").glob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
        and node.value.id == "Fault" and node.attr.isupper()
    }
    assert named  # the parts do test faults by member
    assert [n for n in sorted(named) if n[1] not in Fault.__members__] == []


def test_a_metric_check_compares_as_its_operator_says():
    check = MetricCheck("ContainerWakeTime", ">", 3000)
    assert check.holds({"ContainerWakeTime": 3001})
    assert not check.holds({"ContainerWakeTime": 3000})
    assert str(check) == "ContainerWakeTime > 3000"


def test_a_metric_not_measured_does_not_show_the_fault():
    assert not MetricCheck("DuplicateTasks", ">=", 0).holds({})


@pytest.mark.parametrize("row", [
    {},  # a failure that names no failing step
    {"fails": ("sleep",), "reason": ("auto_save", "not pushed")},  # reason of a passing step
    {"fails": ("sleep",)},  # no reason words
    {"expected_ok": True, "note": "fine", "fails": ("sleep",)},  # not a failure, yet fails
    {"fails": ("sleep",), "reason": ("sleep", "x"), "metric": MetricCheck("M", "<", 1)},
])
def test_a_row_that_cannot_prove_its_fault_caught_is_refused(row):
    with pytest.raises(ValueError):
        FaultSpec(description="a fault", **row)
