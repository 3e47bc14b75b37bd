"""Sandbox timing goals (not pass/fail tests).

Goals on this machine:
- a Sandbox starts in < 2 s once moto is imported (a fresh process also pays a
  one-off ~1.5-2.5 s for importing moto + its EC2 models, which ECS needs);
- resume-preview for a running container answers in < 20 ms (p50, keep-alive client);
- a preview request forwarded by the router to a running container: < 20 ms (p50).
Run: `python -m bench bench_sandbox`.

Measured here (2 cores, others working): cold CLI start 2.4-2.6 s, warm start
0.10-0.13 s, resume p50 17-19 ms (p95 ~21 ms), router p50 12-16 ms. The floor
is moto: resume-preview needs three DynamoDB calls (mapping, session, conditional
lastActivity update), each ~3.5-5 ms of boto3 + moto work in this process.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

START_GOAL_S = 2.0
RESUME_GOAL_MS = 20.0
ROUTE_GOAL_MS = 20.0
N = 100


def _cold_cli_start_s() -> float:
    """`python -m sandbox` until its JSON line: interpreter + imports + start."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "sandbox"], stdout=subprocess.PIPE, text=True)
    try:
        json.loads(proc.stdout.readline())
        return time.perf_counter() - t0
    finally:
        proc.terminate()
        proc.wait(15)
        proc.stdout.close()


def _percentiles(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> int:
    import httpx

    from sandbox import Sandbox

    cold = _cold_cli_start_s()
    with Sandbox():  # imports moto once
        pass
    starts = []
    for _ in range(3):
        t0 = time.perf_counter()
        sb = Sandbox().start()
        starts.append(time.perf_counter() - t0)
        sb.stop()
    warm = statistics.median(starts)

    with Sandbox(idle_timeout_s=600) as sb, httpx.Client() as http:
        i = sb.info
        ddb = sb.client("dynamodb")
        ddb.put_item(TableName=i.sessions_table, Item={
            "sessionId": {"S": "s1"}, "userId": {"S": "u1"}, "clientId": {"S": "acme"},
            "containerId": {"S": "acme-t1-u1"}, "status": {"S": "active"}})
        ddb.put_item(TableName=i.thread_mappings_table, Item={
            "threadId": {"S": "t1"}, "sessionId": {"S": "s1"},
            "containerId": {"S": "acme-t1-u1"}, "status": {"S": "active"}})
        ddb.close()
        url = f"{i.hermes_url}/api/sessions/resume-preview"
        auth = {"Authorization": f"Bearer {sb.api_key}"}
        t0 = time.perf_counter()
        assert http.post(url, json={"chatThreadId": "t1"}, headers=auth).status_code == 201
        cold_wake = time.perf_counter() - t0
        resume = []
        for _ in range(N):
            t0 = time.perf_counter()
            http.post(url, json={"chatThreadId": "t1"}, headers=auth)
            resume.append((time.perf_counter() - t0) * 1000)
        route = []
        host = {"Host": i.preview_host_template.format(clientId="acme")}
        for _ in range(N):
            t0 = time.perf_counter()
            http.get(f"{i.router_url}/session/t1/", headers=host)
            route.append((time.perf_counter() - t0) * 1000)

    r50, r95 = _percentiles(resume)
    p50, p95 = _percentiles(route)
    print(f"cold CLI start (new process)  {cold:6.2f} s   (includes the one-off moto import)")
    print(f"warm Sandbox start            {warm:6.2f} s   (goal < {START_GOAL_S:g} s)")
    print(f"cold wake via Hermes          {cold_wake:6.2f} s   (boot delay 0.3 s)")
    print(f"resume-preview, running       p50 {r50:5.1f} ms  p95 {r95:5.1f} ms"
          f"  (goal p50 < {RESUME_GOAL_MS:g} ms)")
    print(f"router -> running container   p50 {p50:5.1f} ms  p95 {p95:5.1f} ms"
          f"  (goal p50 < {ROUTE_GOAL_MS:g} ms)")
    ok = warm < START_GOAL_S and r50 < RESUME_GOAL_MS and p50 < ROUTE_GOAL_MS
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
