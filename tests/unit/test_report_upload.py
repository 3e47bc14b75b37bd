"""The Lambda writes the run's HTML report and JSON result to the report bucket (moto), logs
where, masks the key in both, and a failed upload costs neither the EMF nor the verdict."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import pytest

from canary.report_upload import prefix, report_key

REGION = "us-east-1"  # the `aws` fixture's
KEY = "upload-test-key-7c2e9b"
BUCKET = "canary-reports"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing-AbCdEf"
STARTED_AT = 1_700_000_000.0  # 2023-11-14 UTC


class Context:
    def __init__(self) -> None:
        self.aws_request_id = f"req-{uuid.uuid4().hex[:8]}"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def environ(**extra: str) -> dict[str, str]:
    return {"HERMES_API_URL": "http://hermes.test/hermes", "AWS_REGION": REGION,
            "PREVIEW_URL_TEMPLATE": "http://router.test/session/{threadId}/",
            "INTERNAL_API_KEY_SECRET_ARN": SECRET, "CANARY_CLIENT_ID": "canary",
            "CANARY_USER_ID": "u1", "CANARY_THREAD_ID": "t1", "CANARY_ENVIRONMENT": "unit",
            "REPORT_BUCKET": BUCKET,
            **extra}


@pytest.fixture
def invoke(aws):
    """One invocation as the handler wires it (moto behind every client). The key's secret
    does not exist, so the run ends before its first step: a report all the same."""
    from aws_lambda_powertools import Logger

    from canary.clock import SystemClock
    from canary.composition import Dependencies
    from canary.invocation import Invocation
    from canary.redaction import RedactingStdout, RedactSecrets

    built: list[Any] = []

    def run(env: dict[str, str]) -> tuple[dict[str, Any], str, str, Context]:
        out, logs = io.StringIO(), io.StringIO()
        stream = RedactingStdout(target=logs)
        redact = RedactSecrets(stream)
        logger = Logger(service=f"unit-{uuid.uuid4().hex[:6]}", stream=stream)
        logger.addFilter(redact)

        def dependencies(config: Any) -> Any:
            built.append(Dependencies.build(config, SystemClock()))
            return built[-1]

        invocation = Invocation(logger=logger, stream=stream, redact_filter=redact,
                                dependencies=dependencies, tracer=lambda environ: None, out=out)
        context = Context()
        return invocation(context, env), out.getvalue(), logs.getvalue(), context

    yield run
    for deps in built:
        deps.close()


@pytest.fixture
def s3(aws):
    import boto3

    client = boto3.client("s3", region_name=REGION)
    client.create_bucket(Bucket=BUCKET)
    yield client
    client.close()


def test_report_key_is_dated_under_the_environments_prefix():
    key = report_key("unit", "req-1", STARTED_AT)
    assert key == "reports/unit/2023/11/14/req-1"
    assert key.startswith(prefix("unit"))


def test_the_html_and_json_are_written_and_the_key_is_logged(invoke, s3):
    result, _, logs, context = invoke(environ())
    assert result["ok"] is False and "could not read the internal API key" in result["error"]
    day = report_key("unit", context.aws_request_id, result["started_at"])
    assert day.startswith("reports/unit/")
    assert result["report"] == f"s3://{BUCKET}/{day}.html"
    assert f"run report: s3://{BUCKET}/{day}.html" in logs
    page = s3.get_object(Bucket=BUCKET, Key=f"{day}.html")
    assert page["ContentType"].startswith("text/html")
    html = page["Body"].read().decode()
    assert context.aws_request_id in html and "could not read the internal API key" in html
    doc = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{day}.json")["Body"].read())
    assert doc["run_id"] == context.aws_request_id and doc["ok"] is False


def test_the_key_is_masked_in_both_objects(aws, s3):
    from canary.clock import SystemClock
    from canary.redaction import RedactingStdout
    from canary.report_upload import ReportSink

    stream = RedactingStdout()
    stream.add_secret(KEY)
    doc = {"ok": False, "run_id": "r1", "started_at": STARTED_AT, "steps": [
        {"name": "warm_api", "status": "failed", "duration_ms": 3.0,
         "reason": f"<b>echoed Bearer {KEY}</b>", "measurements": {}, "findings": []}]}
    ReportSink(s3, BUCKET, 60_000, 2_000).write(doc, environment="unit", timeout_s=10,
                                                clock=SystemClock(), redact=stream.redact)
    for ext in ("html", "json"):
        body = s3.get_object(Bucket=BUCKET, Key=f"reports/unit/2023/11/14/r1.{ext}"
                             )["Body"].read().decode()
        assert "echoed Bearer ***" in body, ext
        assert KEY not in body, ext


def test_a_failed_upload_is_logged_and_the_emf_and_verdict_still_reported(invoke, aws):
    result, out, logs, _ = invoke(environ(REPORT_BUCKET="no-such-bucket"))
    emf = [json.loads(line) for line in out.splitlines() if line.startswith('{"_aws"')]
    # This run could not read its key: a canary error (no verdict on the platform).
    errors = [v for d in emf if "CanaryError" in d for v in d["CanaryError"]]
    assert errors and set(errors) == {1.0}
    assert result["ok"] is False and "report" not in result
    assert "could not write the run's report to S3: NoSuchBucket" in logs


def test_without_a_report_bucket_nothing_is_written(invoke, s3):
    env = environ()
    del env["REPORT_BUCKET"]
    result, _, logs, _ = invoke(env)
    assert "report" not in result and "run report" not in logs
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_the_upload_time_limit_counts_from_before_the_page_is_rendered(s3, clock, monkeypatch):
    from canary import html_report
    from canary.deadline import TimeUp
    from canary.report_upload import ReportSink

    def slow_render(doc: Any, **kw: Any) -> str:
        clock.advance(3.0)  # a big document: rendering alone spends the upload's time
        return "<html></html>"

    monkeypatch.setattr(html_report, "render", slow_render)
    sink = ReportSink(s3, BUCKET, wake_failed_ms=60_000, api_failed_ms=2000)
    with pytest.raises(TimeUp):
        sink.write({"run_id": "r1", "started_at": STARTED_AT}, environment="unit",
                   timeout_s=2.0, clock=clock)
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0
