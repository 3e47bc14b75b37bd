"""Cold start: how long importing the Lambda handler takes, what it drags in, and the asset.

Goal (not a pass/fail test): `import canary.handler` under 250 ms on this machine,
with no boto3/httpx client built and none of sandbox, moto, aws_cdk,
aws_xray_sdk imported. Run: `python -m bench bench_cold_start`.

Also prints the Lambda asset as synth builds it (infra/bundling.py): its size
beside the whole `canary/` package it used to copy, the modules it leaves out,
and the handler's import time from the asset with no bytecode, as Lambda runs
it (the asset holds no .pyc and /var/task is read-only, so every cold start
compiles the modules it imports).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

GOAL_MS = 250.0
FORBIDDEN = ("sandbox", "moto", "aws_cdk", "aws_xray_sdk", "boto3", "httpx")
REPEATS = 5
ROOT = Path(__file__).resolve().parent.parent


def _wall_ms() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import canary.handler"], check=True)
    return (time.perf_counter() - start) * 1000


def _baseline_ms() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return (time.perf_counter() - start) * 1000


def _importtime(asset: Path | None = None) -> tuple[float, list[tuple[float, str]]]:
    """`-X importtime` of the handler: from the repository, or from `asset` alone with no
    bytecode written or read from a cache (a fresh copy has none)."""
    command, env = [sys.executable, "-X", "importtime", "-c", "import canary.handler"], None
    if asset is not None:
        command.insert(1, "-P")
        env = {**os.environ, "PYTHONPATH": str(asset), "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run(
        command, check=True, capture_output=True, text=True, env=env, cwd=asset or ROOT,
    ).stderr
    rows = []
    for line in out.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
        if match:
            rows.append((int(match.group(2)) / 1000, match.group(3), match.group(4)))
    total = next(ms for ms, _, name in rows if name == "canary.handler")
    top = sorted(((ms, name) for ms, indent, name in rows if len(indent) <= 3), reverse=True)
    return total, top[:8]


def _loaded_forbidden() -> list[str]:
    code = (
        "import sys, canary.handler; "
        f"print(','.join(m for m in {FORBIDDEN!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    return [m for m in out.strip().split(",") if m]


def _size(directory: Path) -> tuple[int, int, int]:
    """(files, bytes, bytes zipped) of a directory, as the asset is uploaded."""
    files = [p for p in directory.rglob("*") if p.is_file()]
    with tempfile.TemporaryFile() as archive:
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for path in files:
                zipped.write(path, path.relative_to(directory))
        return len(files), sum(p.stat().st_size for p in files), archive.tell()


def _assets(work: Path) -> tuple[Path, Path] | None:
    """The asset as synth builds it (deps installed into the cache on first use), and the
    same with the whole `canary/` package, as it was before it was cut to the handler's."""
    from infra.bundling import BundlingError, LocalPythonBundler
    from infra.function import RUNTIME

    asset = work / "asset"
    asset.mkdir()
    try:
        LocalPythonBundler(RUNTIME.name.removeprefix("python")).try_bundle(str(asset))
    except BundlingError as exc:
        print(f"asset: not built ({exc})")
        return None
    whole = work / "whole-package"
    shutil.copytree(asset, whole, ignore=shutil.ignore_patterns("canary"))
    shutil.copytree(ROOT / "canary", whole / "canary",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    left_out = sorted(
        str(p.relative_to(whole / "canary")) for p in (whole / "canary").rglob("*")
        if p.is_file() and not (asset / p.relative_to(whole)).exists()
    )
    for label, directory in (("asset", asset), ("  whole package", whole)):
        files, size, zipped = _size(directory)
        code = _size(directory / "canary")
        print(f"{label:<22} {files} files, {size / 1e6:.2f} MB ({zipped / 1e6:.2f} MB zipped); "
              f"canary: {code[0]} files, {code[1] / 1e3:.0f} kB")
    print(f"  left out             {', '.join(left_out)}")
    return asset, whole


def main() -> int:
    baseline = statistics.median(_baseline_ms() for _ in range(REPEATS))
    wall = statistics.median(_wall_ms() for _ in range(REPEATS))
    total, top = _importtime()
    forbidden = _loaded_forbidden()
    print(f"interpreter start      {baseline:7.1f} ms (median of {REPEATS})")
    print(f"start + import handler {wall:7.1f} ms -> import ~{wall - baseline:.1f} ms")
    print(f"-X importtime total    {total:7.1f} ms (goal < {GOAL_MS:.0f} ms)")
    for ms, name in top:
        print(f"    {ms:7.1f} ms  {name}")
    print(f"heavy modules imported: {', '.join(forbidden) or 'none'}")
    with tempfile.TemporaryDirectory(prefix="bench-asset-") as work:
        assets = _assets(Path(work))
        for label, directory in zip(("the asset", "whole package"), assets or (), strict=True):
            ms = statistics.median(_importtime(directory)[0] for _ in range(REPEATS))
            print(f"-X importtime from {label}, no bytecode (as Lambda): {ms:.1f} ms "
                  f"(median of {REPEATS})")
    return 0 if total < GOAL_MS and not forbidden else 1


if __name__ == "__main__":
    sys.exit(main())
