"""One lane's runs in a process of their own, as the Lambda runs them: the benchmark's worker.

`python -m bench.fleet_worker` reads a job on stdin, `{"info": <the sandbox's JSON line>,
"lane": "full"|"quick", "sessions": N, "runs": R}`, runs the lane R times with N sessions
(`run_fleet`, the Lambda's path) over one set of clients, and prints one JSON line per run:
wall and CPU seconds, the resident memory before and at its highest during the run and
the process's peak (what Lambda reports as Max Memory Used), every
session's verdict, the HTTP / DynamoDB / ECS calls counted on the real clients (an httpx
event hook, botocore's `before-call` event) and the run's EMF lines. A process of its own, so
the peak memory is the canary's alone, not the sandbox's.
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time
from collections import Counter
from types import SimpleNamespace
from typing import Any


class CallCounter:
    """Counts the calls the run makes through its real clients, by service and operation."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def attach(self, deps: Any) -> None:
        hooks = deps.http.event_hooks
        deps.http.event_hooks = {**hooks, "request": [*hooks.get("request", []), self._http]}
        for service, client in (("dynamodb", deps.dynamodb), ("ecs", deps.ecs)):
            client.meta.events.register(f"before-call.{service}", self._aws(service))

    def _count(self, key: str) -> None:
        with self._lock:
            self.calls[key] += 1

    def _http(self, request: Any) -> None:
        self._count("http")
        self._count(f"http {request.method}")

    def _aws(self, service: str) -> Any:
        def counted(model: Any = None, **_: Any) -> None:
            self._count(service)
            self._count(f"{service} {getattr(model, 'name', '?')}")
        return counted

    def take(self) -> dict[str, int]:
        with self._lock:
            out, self.calls = dict(self.calls), Counter()
        return out


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _rss_mb() -> float:
    """The process's resident memory now (Linux)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


class RssSampler:
    """The highest resident memory while a run goes (the process's ru_maxrss is set by the
    imports, before any run): sampled every SAMPLE_S in a thread, until stopped."""

    SAMPLE_S = 0.02

    def __init__(self) -> None:
        self.peak_mb = _rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.SAMPLE_S):
            self.peak_mb = max(self.peak_mb, _rss_mb())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(1.0)
        self.peak_mb = max(self.peak_mb, _rss_mb())


def main() -> int:
    from canary.cli import sandbox_fleet
    from canary.clock import SystemClock
    from canary.composition import open_dependencies
    from canary.config import CanaryConfig
    from canary.metrics import emf_lines
    from canary.runner import run_fleet

    job = json.loads(sys.stdin.read())
    info = SimpleNamespace(**job["info"])
    config = CanaryConfig.for_sandbox(info, **sandbox_fleet(job["lane"], job["sessions"]))
    clock, counter = SystemClock(), CallCounter()
    with open_dependencies(config, clock) as deps:
        counter.attach(deps)
        deps.api_key.get()  # the invocation reads the key before the run, once
        counter.take()
        idle_mb = _rss_mb()
        for _ in range(int(job["runs"])):
            cpu0, t0 = _cpu_s(), time.perf_counter()
            with RssSampler() as rss:
                fleet = run_fleet(config, deps, clock)
            wall, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
            lines = emf_lines(fleet, namespace=config.metrics_namespace,
                              environment=config.environment)
            print(json.dumps({
                "wall_s": wall, "cpu_s": cpu, "run_peak_mb": rss.peak_mb,
                "process_peak_mb": _peak_mb(), "idle_mb": idle_mb,
                "ok": fleet.ok, "sessions": len(fleet.sessions),
                "sessions_ok": sum(s.ok for s in fleet.sessions),
                "failed": sorted({f"{s.session}:{st.name}" for s in fleet.sessions
                                  for st in s.steps if st.status.value == "failed"}),
                "reasons": sorted({f"{st.name}: {st.reason[:90]}" for s in fleet.sessions
                                   for st in s.steps if st.status.value == "failed"}),
                "api_ms": max((s.metrics.get("APIResponseTime", 0) for s in fleet.sessions),
                              default=0),
                "calls": counter.take(), "emf": lines,
                "environment": config.environment, "namespace": config.metrics_namespace,
            }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
