"""Secrets never reach an output: a masking log stream and a masking log filter.

Defence in depth for the Lambda: the canary never puts the API key in a message on
purpose, but a target can echo it, and an exception can carry it. The stream
masks whatever is written (messages, exceptions, tracebacks); the filter cleans
the records themselves for every other handler (a test's capture, a log shipper).
"""

from __future__ import annotations

import io
import json
import logging
import sys

REDACTED = "***"


class RedactingStdout(io.TextIOBase):
    """The log stream: writes to the *current* sys.stdout with every known secret masked.

    Resolving sys.stdout at write time keeps the logger usable under test
    capture; masking here catches a secret whatever carried it (a message, an
    exception, a traceback).
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: frozenset[str] = frozenset()

    def add_secret(self, value: str | None) -> None:
        if value and len(value) >= 4:  # masking shorter strings would garble ordinary text
            self.secrets = self.secrets | {value}

    def forget_secrets(self) -> None:
        self.secrets = frozenset()

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, REDACTED)
        return text

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        sys.stdout.write(self.redact(text))
        return len(text)

    def flush(self) -> None:
        sys.stdout.flush()


class RedactedError(Exception):
    """When a logged exception's text contained a secret: stands in for it, masked."""


_STANDARD_RECORD_KEYS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime",
}


class RedactSecrets(logging.Filter):
    """Masks known secrets in a log record itself (message, exception, extra fields).

    The output stream masks too; this keeps the records clean for every other
    handler (a test's capture, a future log shipper). Records without a secret
    pass untouched.
    """

    def __init__(self, stream: RedactingStdout) -> None:
        super().__init__()
        self.stream = stream

    def filter(self, record: logging.LogRecord) -> bool:
        _stream = self.stream
        secrets = _stream.secrets
        if not secrets:
            return True
        message = record.getMessage()
        if any(s in message for s in secrets):
            record.msg, record.args = _stream.redact(message), ()
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            text = f"{type(exc).__name__}: {exc}"
            if any(s in text for s in secrets):
                record.exc_info = (RedactedError, RedactedError(_stream.redact(text)),
                                   record.exc_info[2])
                record.exc_text = None
        for key, value in list(vars(record).items()):
            if key in _STANDARD_RECORD_KEYS or not isinstance(value, str | dict | list | tuple):
                continue
            dumped = json.dumps(value, default=str)
            if any(s in dumped for s in secrets):
                setattr(record, key, json.loads(_stream.redact(dumped)))
        return True


def mask_loggers(prefix: str, redact_filter: RedactSecrets) -> None:
    """Put the masking filter on every `prefix`.* logger (a parent's filter does not see
    its children's records). Idempotent; run once the scenario's modules are imported."""
    for name, candidate in list(logging.Logger.manager.loggerDict.items()):
        ours = name == prefix or name.startswith(prefix + ".")
        if ours and isinstance(candidate, logging.Logger) and (
            redact_filter not in candidate.filters
        ):
            candidate.addFilter(redact_filter)
