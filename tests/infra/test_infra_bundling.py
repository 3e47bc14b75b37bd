"""Local bundling: cache key, pruning and the asset layout, without touching the network;
the real asset: only the modules the handler can import, and they import from it alone."""

from __future__ import annotations

import json
import modulefinder
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infra.bundling import ENTRY_MODULE, PLATFORM, PROJECT_ROOT, LocalPythonBundler, _prune

pytestmark = pytest.mark.infra

HANDLER_SOURCE = "def handler(event, context):\n    from canary.steps import wake\n"
NOT_IN_THE_LAMBDA = ("cli.py", "__main__.py", "alarm_evaluation.py")


LOCK = "httpx==0.28.1 \\\n    --hash=sha256:" + "0" * 64 + "\n"


def _project(tmp_path: Path, requirements: str = LOCK) -> Path:
    root = tmp_path / "project"
    (root / "canary" / "steps").mkdir(parents=True)
    (root / "canary" / "__init__.py").write_text("")
    (root / "canary" / "steps" / "__init__.py").write_text("")
    (root / "canary" / "handler.py").write_text(HANDLER_SOURCE)
    (root / "canary" / "steps" / "wake.py").write_text("")
    (root / "canary" / "cli.py").write_text("import canary.handler\n")
    (root / "canary" / "README.md").write_text("")
    (root / "canary" / "__pycache__").mkdir()
    (root / "canary" / "__pycache__" / "handler.cpython-314.pyc").write_bytes(b"x")
    (root / "sandbox").mkdir()
    (root / "sandbox" / "server.py").write_text("")
    (root / "requirements-lambda.lock").write_text(requirements)
    return root


def _bundler(root: Path, version: str = "3.14") -> LocalPythonBundler:
    return LocalPythonBundler(version, project_root=root, cache_dir=root / ".build" / "deps")


def _cached(bundler: LocalPythonBundler) -> Path:
    """A dependency cache as pip would leave it (so no pip, no network)."""
    cached = bundler.cache_dir / bundler.deps_key
    (cached / "httpx").mkdir(parents=True)
    (cached / "httpx" / "__init__.py").write_text("")
    for dist in ("httpx-0.28.1.dist-info", "anyio-4.16.0.dist-info"):
        (cached / dist).mkdir()
        (cached / dist / "METADATA").write_text("")
    return cached


def test_cache_key_changes_with_the_lock_and_python_version(tmp_path):
    root = _project(tmp_path)
    key = _bundler(root).deps_key
    assert _bundler(root, "3.13").deps_key != key
    (root / "requirements-lambda.lock").write_text(LOCK.replace("0" * 64, "1" * 64))
    assert _bundler(root).deps_key != key
    assert PLATFORM == "manylinux2014_aarch64"


def test_asset_hash_changes_with_the_canary_code_but_not_its_caches(tmp_path):
    root = _project(tmp_path)
    _cached(_bundler(root))
    before = _bundler(root).asset_hash()
    (root / "canary" / "__pycache__" / "other.pyc").write_bytes(b"y")
    assert _bundler(root).asset_hash() == before
    (root / "canary" / "steps" / "wake.py").write_text("# changed\n")
    assert _bundler(root).asset_hash() != before


def test_asset_hash_ignores_modules_the_lambda_never_imports(tmp_path):
    root = _project(tmp_path)
    _cached(_bundler(root))
    before = _bundler(root).asset_hash()
    (root / "canary" / "cli.py").write_text("import canary.handler  # changed\n")
    assert _bundler(root).asset_hash() == before


def test_asset_hash_changes_with_the_installed_dependency_versions(tmp_path):
    root = _project(tmp_path)
    cached = _cached(_bundler(root))
    before = _bundler(root).asset_hash()
    (cached / "anyio-4.16.0.dist-info").rename(cached / "anyio-4.17.0.dist-info")
    assert _bundler(root).asset_hash() != before


def test_bundle_copies_cached_dependencies_and_only_the_modules_the_handler_imports(tmp_path):
    root = _project(tmp_path)
    bundler = _bundler(root)
    _cached(bundler)
    out = tmp_path / "asset"
    out.mkdir()
    assert bundler.try_bundle(str(out), None) is True  # cache hit: no pip, no network
    assert (out / "httpx" / "__init__.py").is_file()
    assert (out / "canary" / "handler.py").is_file()
    assert (out / "canary" / "steps" / "wake.py").is_file()
    assert not (out / "sandbox").exists()
    assert not list(out.rglob("__pycache__"))
    assert sorted(p.name for p in (out / "canary").iterdir()) == ["__init__.py", "handler.py",
                                                                   "steps"]


def test_prune_drops_the_runtime_sdk_scripts_caches_and_tests(tmp_path):
    site = tmp_path / "site"
    for path in (
        "boto3/__init__.py", "botocore/__init__.py", "s3transfer/__init__.py",
        "botocore-1.44.8.dist-info/METADATA", "bin/httpx", "anyio/__pycache__/x.pyc",
        "anyio/tests/test_x.py", "anyio/__init__.py", "httpx-0.28.1.dist-info/METADATA",
    ):
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_text("")
    _prune(site)
    remaining = sorted(str(p.relative_to(site)) for p in site.rglob("*") if p.is_file())
    assert remaining == ["anyio/__init__.py", "httpx-0.28.1.dist-info/METADATA"]


# -- the real asset ------------------------------------------------------------------------


def _module_names(files: list[Path]) -> list[str]:
    return [".".join(p.with_suffix("").parts).removesuffix(".__init__") for p in files]


def test_the_real_asset_leaves_out_the_cli_and_alarm_evaluator():
    bundled = {p.relative_to("canary").as_posix() for p in LocalPythonBundler("3.14").modules()}
    assert {"handler.py", "invocation.py", "runner.py"} <= bundled
    # The Lambda writes the run's HTML report (with the seed's summary block) to S3.
    assert {"report_upload.py", "html_report.py", "report.py"} <= bundled
    assert bundled.isdisjoint(NOT_IN_THE_LAMBDA)


def test_a_bytecode_scan_finds_no_canary_module_the_asset_lacks():
    """modulefinder (stdlib, reads compiled bytecode, nested functions included) is a second,
    independent derivation of what the handler can import."""
    finder = modulefinder.ModuleFinder(path=[str(PROJECT_ROOT)])
    finder.run_script(str(PROJECT_ROOT.joinpath(*ENTRY_MODULE.split(".")).with_suffix(".py")))
    found = {name for name in finder.modules if name.split(".")[0] == "canary"}
    bundled = set(_module_names(LocalPythonBundler("3.14").modules()))
    assert "canary.runner" in found
    assert found <= bundled


def test_every_bundled_module_and_the_handler_import_from_the_asset_alone(tmp_path):
    """In a fresh interpreter that sees only the asset's `canary` (third-party packages from
    the venv: the cache holds the Lambda's platform); a module the bundle dropped fails."""
    modules = LocalPythonBundler("3.14").copy_modules(tmp_path)
    names = _module_names(modules)
    probe = (
        "import importlib, json, sys\n"
        f"for name in {[ENTRY_MODULE, *names]!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps({n: m.__file__ for n, m in sys.modules.items()"
        " if n.split('.')[0] == 'canary'}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-P", "-c", probe], cwd=tmp_path, env={**env, "PYTHONPATH": str(tmp_path)},
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(loaded) == sorted(names)
    assert all(Path(f).is_relative_to(tmp_path) for f in loaded.values())


def test_the_synthesized_function_runs_the_entry_module_from_exactly_the_bundled_modules(
    synthesized,
):
    _, function = synthesized.only("AWS::Lambda::Function")
    assert function["Properties"]["Handler"].rsplit(".", 1)[0] == ENTRY_MODULE
    asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    asset = synthesized.outdir / f"asset.{asset_hash}"
    in_asset = sorted(p.relative_to(asset) for p in (asset / "canary").rglob("*") if p.is_file())
    assert in_asset == LocalPythonBundler("3.14").modules()
    assert (PROJECT_ROOT / "canary" / "cli.py").is_file()
    assert not (asset / "canary" / "cli.py").exists()
