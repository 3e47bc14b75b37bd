"""The API key never appears in any output, in any form: raw, percent-encoded (a redirect
URL), JSON-escaped (with `\\/`), HTML-escaped, base64 (alone, `Bearer <key>`, `user:<key>`),
nor as a prefix of 8 or more characters left where a text was cut.

What "any form" means is computed here independently of canary.redaction: `heads(key)` are
the first 8 key-determined characters of every encoding, and no output may contain one.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
import pytest

from canary import runner
from canary.clock import SystemClock
from canary.composition import Dependencies
from canary.models import RunResult, Status, StepResult
from canary.redaction import REDACTED, RedactingStdout, RedactSecrets, mask
from canary.scenario import Scenario
from canary.steps.base import Step

# A key whose encodings all differ from it: '/', '+' and '=' change under percent-encoding,
# '/' under JSON's optional escape, and its length puts base64 at every alignment.
KEY = "Zx9/Qm+Lk2vR8sT4uW6yA1cE3gI5=/kOp"
PREFIX_CHARS = 8


def b64_heads(secret: str) -> set[str]:
    """The first 8 characters only the key determines, in base64 of key / Bearer / user: forms."""
    heads = set()
    for before in ("", "Bearer ", ":", "user:", "ab:"):
        start = len(before) // 3 * 4 + (0, 2, 3)[len(before) % 3]
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode((before + secret).encode()).decode()
            heads.add(encoded[start:start + PREFIX_CHARS])
    return heads


def forms(secret: str) -> list[str]:
    escaped = json.dumps(secret)[1:-1]
    return [secret, quote(secret, safe=""), quote(secret), quote_plus(secret), escaped,
            escaped.replace("/", "\\/"), html.escape(secret),
            lower_hex(quote(secret, safe=""))]


def lower_hex(text: str) -> str:
    """Percent-escapes in lower case (%2f), as some encoders write them."""
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), text)


def heads(secret: str) -> set[str]:
    return {f[:PREFIX_CHARS] for f in forms(secret)} | b64_heads(secret)


def windows(secret: str, size: int = 10) -> set[str]:
    """Every `size` consecutive characters of every textual form: a part of the key left
    anywhere (after a masked prefix, say), not just at its start."""
    return {f[i:i + size] for f in forms(secret) for i in range(len(f) - size + 1)}


def leaks(text: str, secret: str = KEY) -> list[str]:
    return sorted(h for h in heads(secret) | windows(secret) if h in text)


def test_the_scan_itself_finds_each_form():
    samples = [*forms(KEY), base64.b64encode(f"Bearer {KEY}".encode()).decode(),
               base64.urlsafe_b64encode(f"user:{KEY}".encode()).decode()]
    assert all(leaks(f"x {s} y") for s in samples)


# -- mask() -----------------------------------------------------------------------------------


def encodings(secret: str) -> dict[str, str]:
    b = secret.encode()
    return {
        "raw": secret,
        "quote": quote(secret, safe=""),
        "quote-lower-hex": lower_hex(quote(secret, safe="")),
        "quote-keeping-slash": quote(secret),
        "quote_plus": quote_plus(secret),
        "double-quoted": quote(quote(secret, safe=""), safe=""),
        "json": json.dumps(secret)[1:-1],
        "json-escaped-slash": json.dumps(secret)[1:-1].replace("/", "\\/"),
        "html": html.escape(secret),
        "base64": base64.b64encode(b).decode(),
        "base64-urlsafe": base64.urlsafe_b64encode(b).decode(),
        "basic-auth": base64.b64encode(b"canary:" + b).decode(),
        "bearer-base64": base64.b64encode(b"Bearer " + b).decode(),
        "colon-base64-urlsafe": base64.urlsafe_b64encode(b":" + b).decode(),
    }


@pytest.mark.parametrize("form", sorted(encodings(KEY)))
def test_every_encoding_of_the_key_is_masked(form):
    value = encodings(KEY)[form]
    text = f"Location: https://evil.test/cb?next={value}&x=1 and {{\"k\": \"{value}\"}}"
    masked = mask(text, KEY)
    assert leaks(masked) == []
    assert REDACTED in masked and masked.startswith("Location: https://evil.test/cb?next=")


@pytest.mark.parametrize("form", ["raw", "quote", "json-escaped-slash", "base64"])
@pytest.mark.parametrize("after", ["", "...", "'", '"', "\u2026", " (truncated)"])
@pytest.mark.parametrize("kept", [PREFIX_CHARS, 12, 16])
def test_a_prefix_left_at_a_cut_is_masked(form, after, kept):
    value = encodings(KEY)[form]
    masked = mask(f"HTTP 500 'Failed to resume: Bearer {value[:kept]}{after}", KEY)
    assert leaks(masked) == [] and value[:kept] not in masked


def test_a_json_escaped_key_shown_through_a_repr_is_masked_whole():
    escaped = json.dumps(KEY)[1:-1].replace("/", "\\/")
    masked = mask(f"HTTP 500 {f'Failed to resume session: token {escaped}'!r}", KEY)
    assert leaks(masked) == [] and masked.endswith("token ***'")


def test_a_key_with_only_some_characters_encoded_is_masked_whole():
    mixed = KEY.replace("/", "%2F", 1)  # a redirect that encoded the first slash only
    assert mask(f"Location: /cb?t={mixed}&next=1", KEY) == "Location: /cb?t=***&next=1"


def test_a_cut_inside_an_encoded_character_still_masks_the_prefix():
    value = quote(KEY, safe="")  # Zx9%2FQm%2BLk...
    assert leaks(mask(f"next={value[:10]}...", KEY)) == []


def test_text_that_only_resembles_the_key_is_left_alone():
    key = "webordinary-internal-7f3a9c2e11"
    text = "GetItem webordinary-containers: ok; webordinary-thread-mappings too"
    assert mask(text, key) == text


def test_masking_is_a_no_op_without_a_key_or_with_a_trivial_one():
    assert mask("abc", None) == "abc"
    assert mask("abc abc", "abc") == "abc abc"  # too short to mask without garbling text


# -- the runner: a step that returns what a hostile target echoed -----------------------------


class EchoHermes:
    """A loopback Hermes that echoes our Authorization header back in hostile ways."""

    def __init__(self) -> None:
        echo = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                token = self.headers.get("authorization", "").removeprefix("Bearer ")
                status, headers, body = echo.answer(token)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.mode = "redirect"
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hermes"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def answer(self, token: str) -> tuple[int, dict[str, str], bytes]:
        if self.mode == "redirect":
            return 302, {"Location": f"https://login.test/cb?token={quote(token, safe='')}"}, b""
        if self.mode == "json-escaped":
            body = json.dumps({"message": f"Failed to resume session: key {token}"})
            return 500, {"Content-Type": "application/json"}, body.replace("/", "\\/").encode()
        if self.mode == "base64":
            auth = base64.b64encode(f"Bearer {token}".encode()).decode()
            return 500, {"Content-Type": "text/plain"}, f"bad auth header {auth}".encode()
        # "straddle": the echo starts just before the client's snippet cut
        return 500, {"Content-Type": "text/plain"}, (("x" * 90) + token).encode()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def echo_hermes() -> Iterator[EchoHermes]:
    server = EchoHermes()
    yield server
    server.close()


def echo_step(ctx: Any) -> StepResult:
    """Reports the answer the way steps do: its description, its headers, a measurement."""
    answer = ctx.hermes.resume_preview("t1", "canary", timeout_s=ctx.timeout(5))
    location = answer.http.headers.get("location", "")
    return StepResult("echo", Status.FAILED, reason=f"resume-preview: {answer.describe()}",
                      findings=[f"redirected to {location}"] if location else [],
                      measurements={"location": location, "body": answer.http.snippet(200)})


def run_echo(monkeypatch, echo_hermes: EchoHermes) -> RunResult:
    from canary.config import CanaryConfig
    from canary.secrets import ApiKeyProvider

    scenario = Scenario((Step("echo", echo_step),),
                        Step("cleanup", lambda ctx: StepResult("cleanup", Status.PASSED)))
    config = CanaryConfig(
        target="sandbox", environment="hostile", hermes_api_url=echo_hermes.url,
        preview_base_url="http://127.0.0.1:9", preview_host_template="edit.{clientId}.test",
        client_id="canary", user_id="u1", thread_id="t1", synthetic_ids_explicit=True,
        api_key=KEY, region="us-east-1", sleep_mode="observe", budget_s=20,
        cleanup_reserve_s=2,
    )
    with httpx.Client() as http:
        deps = Dependencies(http=http, dynamodb=None, ecs=None,
                                   api_key=ApiKeyProvider(key=KEY, clock=SystemClock()))
        return runner.run_scenario(config, deps, SystemClock(), scenario=scenario)


@pytest.mark.parametrize("mode", ["redirect", "json-escaped", "base64", "straddle"])
def test_an_echoed_key_reaches_no_output_of_a_run(monkeypatch, echo_hermes, mode):
    from canary.metrics import emf_lines
    from canary.report import full_report

    echo_hermes.mode = mode
    run = run_echo(monkeypatch, echo_hermes)
    step = run.step("echo")
    assert step is not None and step.failed
    assert "resume-preview" in step.reason  # the step did report the answer
    outputs = [json.dumps(run.to_dict()), full_report(run, io.StringIO()),
               *emf_lines(run, environment="hostile")]
    assert leaks("\n".join(outputs)) == []


# -- the log stream and the log filter -------------------------------------------------------


def test_logs_mask_every_form_in_messages_extras_and_exceptions():
    out = io.StringIO()
    stream = RedactingStdout(target=out)
    stream.add_secret(KEY)
    records: list[logging.LogRecord] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger = logging.getLogger("canary.hostile-test")
    logger.propagate = False
    handler = logging.StreamHandler(stream)
    capture = Capture()
    redact = RedactSecrets(stream)
    for h in (handler, capture):
        logger.addHandler(h)
    logger.addFilter(redact)
    try:
        for value in encodings(KEY).values():
            logger.warning("target said %s", value, extra={"answer": {"body": value}})
            try:
                raise RuntimeError(f"upstream echoed {value[:20]}")
            except RuntimeError:
                logger.exception("step raised")
    finally:
        for h in (handler, capture):
            logger.removeHandler(h)
        logger.removeFilter(redact)
    captured = [r.getMessage() + json.dumps(getattr(r, "answer", {}))
                + logging.Formatter().formatException(r.exc_info) if r.exc_info else
                r.getMessage() + json.dumps(getattr(r, "answer", {})) for r in records]
    assert len(records) == 2 * len(encodings(KEY))
    assert leaks(out.getvalue()) == []
    assert leaks("\n".join(captured)) == []


def test_a_key_in_a_chained_exception_is_masked_in_the_record_itself():
    stream = RedactingStdout(target=io.StringIO())
    stream.add_secret(KEY)
    out = io.StringIO()
    handler = logging.StreamHandler(out)  # a plain handler: only the filter stands between
    handler.addFilter(RedactSecrets(stream))
    logger = logging.getLogger("canary.hostile-chain")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        try:
            try:
                raise ValueError(f"upstream said Bearer {KEY}")
            except ValueError as cause:
                raise RuntimeError("wrapped") from cause
        except RuntimeError:
            logger.exception("step raised")
    finally:
        logger.removeHandler(handler)
    text = out.getvalue()
    assert "wrapped" in text and "upstream said Bearer" in text  # the traceback is kept
    assert leaks(text) == []
