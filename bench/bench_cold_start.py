"""Cold start: how long importing the Lambda handler takes, and what it drags in.

Goal (not a pass/fail test): `import canary.handler` under 250 ms on this machine,
with no boto3/httpx client built and none of sandbox, moto, aws_cdk,
aws_xray_sdk imported. Run: `python -m bench bench_cold_start`.
"""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time

GOAL_MS = 250.0
FORBIDDEN = ("sandbox", "moto", "aws_cdk", "aws_xray_sdk", "boto3", "httpx")
REPEATS = 5


def _wall_ms() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import canary.handler"], check=True)
    return (time.perf_counter() - start) * 1000


def _baseline_ms() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return (time.perf_counter() - start) * 1000


def _importtime() -> tuple[float, list[tuple[float, str]]]:
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import canary.handler"],
        check=True, capture_output=True, text=True,
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
    return 0 if total < GOAL_MS and not forbidden else 1


if __name__ == "__main__":
    sys.exit(main())
