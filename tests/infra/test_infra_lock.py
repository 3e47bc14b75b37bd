"""The Lambda's lock file: every requirement pinned with a hash, installed with
`--require-hashes`, and the installed set held to it (real pip, offline: a local wheel)."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest

from infra.bundling import BundlingError, LocalPythonBundler
from infra.function import RUNTIME
from infra.lock_lambda import LOCK, REQUIREMENTS, pins, render

pytestmark = pytest.mark.infra


def test_lock_pins_every_requirement_at_the_version_the_requirements_name():
    locked = pins(LOCK.read_text())
    wanted = pins(REQUIREMENTS.read_text())
    assert wanted
    assert {name: locked[name][0] for name in wanted if name in locked} == \
        {name: version for name, (version, _) in wanted.items()}


def test_every_locked_distribution_has_a_sha256_hash():
    locked = pins(LOCK.read_text())
    assert locked
    assert {name for name, (_, hashes) in locked.items() if len(hashes) != 1} == set()


def test_lock_was_resolved_for_the_function_runtime_and_platform():
    header = LOCK.read_text().splitlines()[0]
    assert f"Python {RUNTIME.name.removeprefix('python')}" in header
    assert "manylinux2014_aarch64" in header


def test_render_pins_each_reported_wheel_with_its_hash_sorted_by_name():
    report = {"install": [
        {"metadata": {"name": "Typing_Extensions", "version": "4.16.0"},
         "download_info": {"archive_info": {"hashes": {"sha256": "b" * 64}}}},
        {"metadata": {"name": "anyio", "version": "4.16.0"},
         "download_info": {"archive_info": {"hashes": {"sha256": "a" * 64}}}},
    ]}
    text = render(report, "3.14", "requirements-lambda.txt")
    assert pins(text) == {"anyio": ("4.16.0", ("a" * 64,)),
                          "typing-extensions": ("4.16.0", ("b" * 64,))}
    assert text.index("anyio==") < text.index("typing-extensions==")


# -- bundling installs exactly the lock ------------------------------------------------


def _wheel(directory: Path, name: str = "tinydist", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel, so pip runs for real without an index."""
    path = directory / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}.py": b"VALUE = 1\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                         b"Tag: py3-none-any\n",
    }
    record = []
    for arcname, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{arcname},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    with zipfile.ZipFile(path, "w") as archive:
        for arcname, data in files.items():
            archive.writestr(arcname, data)
        archive.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
    return path


@pytest.fixture
def local_index(tmp_path, monkeypatch) -> Path:
    """pip sees only a directory of wheels (no network)."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    monkeypatch.setenv("PIP_CONSTRAINT", "")
    return wheels


def _bundler(tmp_path: Path, lock: str) -> LocalPythonBundler:
    (tmp_path / "requirements-lambda.lock").write_text(lock)
    return LocalPythonBundler("3.14", project_root=tmp_path, cache_dir=tmp_path / "cache")


def test_bundling_installs_the_locked_wheel_when_its_hash_matches(tmp_path, local_index):
    wheel = _wheel(local_index)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    bundler = _bundler(tmp_path, f"tinydist==1.0 \\\n    --hash=sha256:{digest}\n")
    assert bundler.installed() == ["tinydist-1.0.dist-info"]


def test_bundling_refuses_a_wheel_whose_hash_is_not_the_locked_one(tmp_path, local_index):
    _wheel(local_index)
    bundler = _bundler(tmp_path, "tinydist==1.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    with pytest.raises(BundlingError, match=r"(?i)hash"):
        bundler.dependencies()
    assert not bundler.cache_dir.joinpath(bundler.deps_key).exists()


def test_bundling_refuses_a_requirement_without_a_hash(tmp_path, local_index):
    _wheel(local_index)
    with pytest.raises(BundlingError, match=r"(?i)hash"):
        _bundler(tmp_path, "tinydist==1.0\n").dependencies()


def test_installed_distributions_must_be_exactly_the_locked_ones(tmp_path):
    bundler = _bundler(tmp_path, "tinydist==1.0 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    site = tmp_path / "site"
    (site / "tinydist-1.1.dist-info").mkdir(parents=True)
    with pytest.raises(BundlingError, match="tinydist"):
        bundler.check_installed(site)
    (site / "tinydist-1.1.dist-info").rename(site / "tinydist-1.0.dist-info")
    bundler.check_installed(site)
