"""The Lambda asset, built locally (no Docker): runtime deps + the canary modules it runs.

pip installs `requirements-lambda.lock` (every distribution pinned with the hash
of its manylinux aarch64 wheel, `infra/lock_lambda.py`) with `--require-hashes`
for the Lambda's Python version into `.build/lambda-deps/<key>/`, keyed by a hash
of the lock, platform and Python version, so only the first synth on a machine
downloads anything; what pip installed must be what the lock pins. Each bundle
then copies that cache and the modules of `canary/` that the handler can import
(`infra/import_closure.py`: every import statement at any depth, so the lazy
imports of the handler, runner and steps too) into the asset directory. The CLI,
the report and the alarm evaluator stay out, as does everything else of the
repository (sandbox, tests, infra).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

from infra.import_closure import package_closure
from infra.lock_lambda import normalize, pins

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PLATFORM = "manylinux2014_aarch64"
PACKAGE = "canary"
ENTRY_MODULE = "canary.handler"
"""The module of the function's handler; the asset holds what it can import."""
# The Lambda runtime ships boto3/botocore (and s3transfer); never bundle them.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")
_PRUNE_DIRS = {"__pycache__", "tests", "test"}
_BUNDLER_VERSION = "2"  # bump when the bundle layout changes


class BundlingError(RuntimeError):
    """When the Lambda's dependencies cannot be installed for the target platform."""


def _sha256(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(
        src, dst, dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(*_PRUNE_DIRS, "*.pyc", "*.pyo"),
    )


def _prune(root: Path) -> None:
    """Drop what the runtime provides or never imports."""
    for name in RUNTIME_PROVIDED:
        shutil.rmtree(root / name, ignore_errors=True)
        for info in root.glob(f"{name}-*.dist-info"):
            shutil.rmtree(info, ignore_errors=True)
    shutil.rmtree(root / "bin", ignore_errors=True)  # console scripts (httpx CLI)
    for path in sorted(root.rglob("*"), reverse=True):
        if path.is_dir() and path.name in _PRUNE_DIRS:
            shutil.rmtree(path, ignore_errors=True)
        elif path.suffix in (".pyc", ".pyo"):
            path.unlink(missing_ok=True)


@jsii.implements(ILocalBundling)
class LocalPythonBundler:
    """Bundles the canary for Lambda without Docker (CDK calls `try_bundle`)."""

    def __init__(
        self,
        python_version: str,
        *,
        project_root: Path = PROJECT_ROOT,
        cache_dir: Path | None = None,
        requirements: Path | None = None,
        entry: str = ENTRY_MODULE,
    ) -> None:
        self.python_version = python_version
        self.project_root = project_root
        self.entry = entry
        self.requirements = requirements or project_root / "requirements-lambda.lock"
        self.cache_dir = cache_dir or project_root / ".build" / "lambda-deps"

    @property
    def deps_key(self) -> str:
        return _sha256(
            self.requirements.read_bytes(), PLATFORM.encode(), self.python_version.encode(),
            _BUNDLER_VERSION.encode(),
        )[:24]

    def modules(self) -> list[Path]:
        """The package's files the Lambda can import, relative to the project root."""
        return package_closure(self.project_root, self.entry)

    def installed(self) -> list[str]:
        """The distributions in the dependency cache (`httpx-0.28.1.dist-info`...): what the
        asset actually holds, so its hash changes with them."""
        return sorted(path.name for path in self.dependencies().glob("*.dist-info"))

    def asset_hash(self) -> str:
        """Changes whenever the bundle would: deps key, the installed distributions and
        every bundled module. Installs the dependencies on first use (as bundling would)."""
        parts = [self.deps_key.encode(), *(name.encode() for name in self.installed())]
        for relative in self.modules():
            parts += [relative.as_posix().encode(), (self.project_root / relative).read_bytes()]
        return _sha256(*parts)

    def dependencies(self) -> Path:
        """The cached, pruned site-packages for the target; installed on first use."""
        target = self.cache_dir / self.deps_key
        if target.is_dir():
            return target
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.cache_dir))
        command = [
            sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-compile", "--require-hashes", "--no-deps",
            "--requirement", str(self.requirements),
            "--platform", PLATFORM, "--only-binary=:all:",
            "--python-version", self.python_version, "--implementation", "cp",
            "--target", str(staging),
        ]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=600)
            if done.returncode != 0:
                raise BundlingError(
                    f"pip could not install {self.requirements.name} for {PLATFORM} / "
                    f"Python {self.python_version} (is PyPI reachable?):\n{done.stderr[-2000:]}"
                )
            _prune(staging)
            self.check_installed(staging)
            try:
                staging.rename(target)  # atomic: a concurrent synth sees all or nothing
            except OSError:
                if not target.is_dir():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def check_installed(self, site: Path) -> None:
        """What pip installed is exactly what the lock pins (less what the runtime ships)."""
        wanted = {name: version for name, (version, _) in pins(self.requirements.read_text())
                  .items() if name not in RUNTIME_PROVIDED}
        found = {}
        for info in site.glob("*.dist-info"):
            name, _, version = info.name.removesuffix(".dist-info").rpartition("-")
            found[normalize(name)] = version
        if found != wanted:
            raise BundlingError(
                f"pip installed {sorted(found.items())} but {self.requirements.name} pins "
                f"{sorted(wanted.items())}; regenerate it: python -m infra.lock_lambda"
            )

    def try_bundle(self, output_dir: str, options: Any = None) -> bool:
        out = Path(output_dir)
        _copy_tree(self.dependencies(), out)
        self.copy_modules(out)
        return True

    def copy_modules(self, out: Path) -> list[Path]:
        """Copy the package's modules the Lambda can import into `out`; return them."""
        modules = self.modules()
        for relative in modules:
            (out / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(self.project_root / relative, out / relative)
        return modules


def canary_code(runtime: lambda_.Runtime) -> lambda_.Code:
    """The function's code asset, bundled locally for `runtime` (e.g. python3.14).

    The bundler decides the asset's content (and its hash), not the source path.
    """
    version = runtime.name.removeprefix("python")
    bundler = LocalPythonBundler(version)
    return lambda_.Code.from_asset(
        str(PROJECT_ROOT / PACKAGE),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=bundler.asset_hash(),
        bundling=BundlingOptions(
            # The API requires an image; local bundling always succeeds, so it is never pulled.
            image=DockerImage.from_registry("unused"),
            local=bundler,
        ),
    )

