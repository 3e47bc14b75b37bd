"""The lean Lambda asset runs the whole scenario: the handler, invoked against the sandbox in
a fresh interpreter that sees only the asset's `canary` modules, passes every step.

Third-party packages come from the venv (the dependency cache holds the Lambda's
platform, not this machine's); the canary code comes from the asset alone, so a
module the bundle left out (one the runner or a step imports lazily, say) fails
the run. The infra tests check the module list itself without a sandbox.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_handler import create_lock_table, handler_environment

from infra.bundling import ENTRY_MODULE, LocalPythonBundler
from sandbox import Sandbox

pytestmark = pytest.mark.integration

# Invokes the handler as Lambda would; writes the summary and the canary modules loaded
# (with their files) to the path given, away from the EMF and log lines on stdout.
INVOKE = f"""
import json, sys
import {ENTRY_MODULE} as entry

class Context:
    aws_request_id = "req-lean-asset"
    def get_remaining_time_in_millis(self):
        return 120_000

result = entry.handler({{}}, Context())
loaded = {{n: m.__file__ for n, m in sys.modules.items() if n.split(".")[0] == "canary"}}
with open(sys.argv[1], "w") as out:
    json.dump({{"result": result, "loaded": loaded}}, out, default=str)
"""


@pytest.fixture(scope="module")
def asset_run(tmp_path_factory) -> tuple[Path, dict]:
    asset = tmp_path_factory.mktemp("asset")
    LocalPythonBundler("3.14").copy_modules(asset)
    report = asset.parent / "report.json"
    with Sandbox() as sb:
        create_lock_table(sb)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env.update(handler_environment(sb), PYTHONPATH=str(asset))
        env.pop("INTERNAL_API_KEY", None)
        done = subprocess.run(
            [sys.executable, "-P", "-c", INVOKE, str(report)],
            cwd=asset, env=env, capture_output=True, text=True, timeout=110,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    return asset, json.loads(report.read_text())


def test_the_handler_runs_the_scenario_to_a_pass_from_the_asset_alone(asset_run):
    _, report = asset_run
    result = report["result"]
    assert result["ok"] is True, result["summary"]
    (session,) = result["sessions"]
    assert session["steps"] and not session["cut_short"]


def test_every_canary_module_the_run_loaded_came_from_the_asset(asset_run):
    asset, report = asset_run
    loaded = report["loaded"]
    assert {"canary.runner", "canary.lock", "canary.harness"} <= set(loaded)
    assert all(Path(file).is_relative_to(asset) for file in loaded.values())
