"""Run every benchmark module (`bench/bench_*.py`, each with a `main()`), or the named ones."""

from __future__ import annotations

import importlib
import pkgutil
import sys

import bench


def main(argv: list[str]) -> int:
    names = argv or sorted(
        m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")
    )
    failed = 0
    for name in names:
        module = importlib.import_module(f"bench.{name.removesuffix('.py')}")
        print(f"== {name}", flush=True)
        failed += int(module.main() or 0)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
