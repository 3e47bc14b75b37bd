"""Local bundling: cache key, pruning and the asset layout, without touching the network."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.bundling import PLATFORM, LocalPythonBundler, _prune

pytestmark = pytest.mark.infra


def _project(tmp_path: Path, requirements: str = "httpx==0.28.1\n") -> Path:
    root = tmp_path / "project"
    (root / "canary" / "steps").mkdir(parents=True)
    (root / "canary" / "handler.py").write_text("def handler(event, context): ...\n")
    (root / "canary" / "steps" / "wake.py").write_text("")
    (root / "canary" / "__pycache__").mkdir()
    (root / "canary" / "__pycache__" / "handler.cpython-314.pyc").write_bytes(b"x")
    (root / "sandbox").mkdir()
    (root / "sandbox" / "server.py").write_text("")
    (root / "requirements-lambda.txt").write_text(requirements)
    return root


def _bundler(root: Path, version: str = "3.14") -> LocalPythonBundler:
    return LocalPythonBundler(version, project_root=root, cache_dir=root / ".build" / "deps")


def test_cache_key_changes_with_requirements_and_python_version(tmp_path):
    root = _project(tmp_path)
    key = _bundler(root).deps_key
    assert _bundler(root, "3.13").deps_key != key
    (root / "requirements-lambda.txt").write_text("httpx==0.28.0\n")
    assert _bundler(root).deps_key != key
    assert PLATFORM == "manylinux2014_aarch64"


def test_asset_hash_changes_with_the_canary_code_but_not_its_caches(tmp_path):
    root = _project(tmp_path)
    before = _bundler(root).asset_hash()
    (root / "canary" / "__pycache__" / "other.pyc").write_bytes(b"y")
    assert _bundler(root).asset_hash() == before
    (root / "canary" / "steps" / "wake.py").write_text("# changed\n")
    assert _bundler(root).asset_hash() != before


def test_bundle_copies_cached_dependencies_and_the_canary_package_only(tmp_path):
    root = _project(tmp_path)
    bundler = _bundler(root)
    cached = bundler.cache_dir / bundler.deps_key
    (cached / "httpx").mkdir(parents=True)
    (cached / "httpx" / "__init__.py").write_text("")
    out = tmp_path / "asset"
    out.mkdir()
    assert bundler.try_bundle(str(out), None) is True  # cache hit: no pip, no network
    assert (out / "httpx" / "__init__.py").is_file()
    assert (out / "canary" / "handler.py").is_file()
    assert (out / "canary" / "steps" / "wake.py").is_file()
    assert not (out / "sandbox").exists()
    assert not list(out.rglob("__pycache__"))


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
