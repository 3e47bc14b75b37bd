"""The report upload is bounded: an S3 endpoint that accepts the connection and never answers
costs the invocation its upload's time limit, no more (a real loopback server as S3)."""

from __future__ import annotations

import time

import boto3
import pytest
from hostile_http import REGION

from canary.clock import SystemClock
from canary.composition import report_client
from canary.deadline import TimeUp
from canary.report_upload import ReportSink

LIMIT_S = 1.0
SLACK_S = 0.5  # thread start and join latency on a busy 2-core machine


def silent(conn, request, server) -> bool:
    server.wait(30)  # never answers; ends when the server stops
    return False


def test_a_hanging_s3_upload_is_abandoned_at_its_limit(serve, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    server = serve(silent)
    client = report_client(boto3.session.Session(), region_name=REGION,
                           endpoint_url=server.url)
    sink = ReportSink(client, "canary-reports", 60_000, 2_000)
    started = time.monotonic()
    with pytest.raises(TimeUp, match="no answer within"):
        sink.write({"run_id": "r1", "started_at": 0.0, "steps": []}, environment="unit",
                   timeout_s=LIMIT_S, clock=SystemClock())
    assert time.monotonic() - started < LIMIT_S + SLACK_S
    client.close()
