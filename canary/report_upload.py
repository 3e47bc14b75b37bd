"""The run's report in S3: the HTML page and the JSON result, under one dated key per run.

Keys: `reports/{environment}/{yyyy}/{mm}/{dd}/{run_id}.html` and `.json` (the date is the
run's start, UTC). `prefix(environment)` is also what the Lambda's role may write under
(infra/function.py), so the key and the grant cannot drift apart. Both objects are written
from the document the invocation already masked, and the texts are masked again on the way
out; rendering, serialising and the two puts share one time limit, and a put abandoned or
refused is the caller's to log.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from canary.deadline import Deadline, bounded

KEY_PREFIX = "reports"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _segment(text: str) -> str:
    """One key segment: characters S3 and IAM patterns take as they are ('-' for others)."""
    return _UNSAFE.sub("-", text).strip(".") or "-"


def prefix(environment: str) -> str:
    """Where one environment's reports go (the role's s3:PutObject is limited to it)."""
    return f"{KEY_PREFIX}/{_segment(environment)}/"


def report_key(environment: str, run_id: str, started_at: float) -> str:
    """The key of a run's report, without its extension."""
    try:
        day = dt.datetime.fromtimestamp(started_at, dt.UTC)
    except (OverflowError, OSError, ValueError, TypeError):
        day = dt.datetime.now(dt.UTC)
    return f"{prefix(environment)}{day:%Y/%m/%d}/{_segment(run_id)}"


@dataclass(frozen=True)
class ReportSink:
    """Writes one run's report to `bucket` with `client` (boto3 S3, from the composition
    root). The HTML's target lines are the run's own thresholds."""

    client: Any
    bucket: str
    wake_failed_ms: float
    api_failed_ms: float

    @classmethod
    def of(cls, config: Any, deps: Any) -> ReportSink | None:
        """The sink a configuration asks for (REPORT_BUCKET), or None."""
        if not getattr(config, "report_bucket", None) or getattr(deps, "s3", None) is None:
            return None
        return cls(deps.s3, config.report_bucket, config.wake_failed_ms, config.api_failed_ms)

    def write(self, doc: Mapping[str, Any], *, environment: str, timeout_s: float,
              clock: Any, redact: Callable[[str], str] = str) -> str:
        """Put `{key}.html` and `{key}.json`; returns `s3://bucket/key.html`. Raises the
        AWS error, or TimeUp when `timeout_s` runs out."""
        from canary.html_report import render

        deadline = Deadline.after(clock, timeout_s)  # rendering and serialising count too
        key = report_key(environment, str(doc.get("run_id") or "run"),
                         doc.get("started_at") or 0.0)
        page = render(doc, wake_failed_ms=self.wake_failed_ms, api_failed_ms=self.api_failed_ms)
        body = json.dumps(doc, indent=2, default=str)
        for ext, text, content_type in (("json", body, "application/json"),
                                        ("html", page, "text/html; charset=utf-8")):
            data = redact(text).encode("utf-8")

            def put(ext: str = ext, data: bytes = data, content_type: str = content_type) -> Any:
                return self.client.put_object(Bucket=self.bucket, Key=f"{key}.{ext}", Body=data,
                                              ContentType=content_type)

            bounded(put, deadline.remaining(), what="PutObject")
        return f"s3://{self.bucket}/{key}.html"
