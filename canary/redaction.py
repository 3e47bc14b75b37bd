"""Secrets never reach an output: `mask(text, key)`, and the log stream and filter that use it.

Defence in depth: the canary never puts the API key in a message on purpose, but a
target can echo it (raw, percent-encoded in a redirect, JSON-escaped, base64 in an
auth header), an exception can carry it, and a message cut before it was masked can
end in the key's first characters. `mask` removes every one of those forms, and any
prefix of 8 or more characters of them left at a cut. Every output uses it: the
runner (reasons, findings, measurements), the Lambda's summary, the log stream and
the log filter, the CLI's log filter.
"""

from __future__ import annotations

import base64
import functools
import html
import io
import json
import logging
import re
import sys
import traceback
from dataclasses import dataclass
from typing import Any

REDACTED = "***"
MIN_SECRET_CHARS = 4
"""Shorter values are not masked: masking them would garble ordinary text."""
MIN_PREFIX_CHARS = 8
"""A cut-off prefix of a secret at least this long (as written: 8 characters of a
percent-encoded key may hold only 6 of the key's) is masked too."""
HEAD_CHARS = 3
"""Candidate places are found by the key's first characters (in any spelling)."""

_B64_CHAR = re.compile(r"[A-Za-z0-9+/_\-]")


@dataclass(frozen=True)
class _Matcher:
    """How `key` may appear: each character in any of its encodings (`spellings[i]`, longest
    first), so one text mixing them (a JSON escape inside a repr, a percent-encoded slash in
    an otherwise raw key) is still one match; `head` finds where one may start; `cores` are
    the base64 characters only the key determines, at each of the three byte alignments
    (every base64 text that encodes it - alone, `Bearer <key>`, `user:<key>` - holds one)."""

    spellings: tuple[tuple[str, ...], ...]
    head: re.Pattern[str]
    cores: tuple[str, ...]


def _spellings(char: str) -> tuple[str, ...]:
    """`char` raw, percent-encoded (upper/lower hex, twice), JSON-escaped (`\\/`, `\\uXXXX`,
    and those again with the backslash doubled, as a repr shows them), HTML-escaped."""
    forms = {char}
    if not (char.isascii() and char.isalnum()):
        pct = "".join(f"%{b:02X}" for b in char.encode())
        forms |= {pct, pct.lower(), pct.replace("%", "%25"), pct.lower().replace("%", "%25")}
        if char == " ":
            forms.add("+")
        escapes = {json.dumps(char)[1:-1], json.dumps(char, ensure_ascii=False)[1:-1]}
        if len(char) == 1 and ord(char) < 0x10000:
            escapes |= {f"\\u{ord(char):04x}", f"\\u{ord(char):04X}"}
        if char == "/":
            escapes.add("\\/")
        forms |= escapes | {e.replace("\\", "\\\\") for e in escapes}
        forms |= {html.escape(char), f"&#{ord(char)};", f"&#x{ord(char):x};",
                  f"&#x{ord(char):X};"}
    return tuple(sorted(forms, key=len, reverse=True))


@functools.lru_cache(maxsize=16)
def _matcher(key: str) -> _Matcher:
    spellings = tuple(_spellings(c) for c in key)
    head = "".join("(?:" + "|".join(map(re.escape, forms)) + ")"
                   for forms in spellings[:HEAD_CHARS])
    raw = key.encode()
    cores: set[str] = set()
    for pad in range(3):
        total = pad + len(raw)
        encoded = base64.b64encode(b"\0" * pad + raw).decode().rstrip("=")
        core = encoded[(0, 2, 3)[pad]:(total // 3) * 4 + total % 3]
        if len(core) >= MIN_PREFIX_CHARS:
            cores |= {core, core.replace("+", "-").replace("/", "_")}
    return _Matcher(spellings, re.compile(head), tuple(sorted(cores, key=len, reverse=True)))


def mask(text: str, key: str | None) -> str:
    """`text` with every form of `key` (and any cut-off prefix of one) replaced by REDACTED."""
    if not text or not key or len(key) < MIN_SECRET_CHARS:
        return text
    matcher = _matcher(key)
    text = _mask_spelled(text, matcher)
    for core in matcher.cores:
        text = _mask_base64(text, core)
    return text


def _mask_spelled(text: str, matcher: _Matcher) -> str:
    """Mask each run of the key's characters (in any spelling) that is the whole key, or a
    prefix written in at least MIN_PREFIX_CHARS characters that ends at a cut: the end of
    the text or anything but a letter or digit (`...`, a quote, a space). A run that goes
    on in letters is other text that merely starts like the key, and stays."""
    pieces: list[str] = []
    done = 0
    found = matcher.head.search(text)
    while found is not None:
        start, end, count = found.start(), found.start(), 0
        for forms in matcher.spellings:
            spelled = next((f for f in forms if text.startswith(f, end)), None)
            if spelled is None:
                break
            end, count = end + len(spelled), count + 1
        at_cut = end == len(text) or not text[end].isalnum()
        if count == len(matcher.spellings) or (end - start >= MIN_PREFIX_CHARS and at_cut):
            pieces += [text[done:start], REDACTED]
            done = end
            found = matcher.head.search(text, end)
        else:
            found = matcher.head.search(text, start + 1)
    pieces.append(text[done:])
    return "".join(pieces)


def _mask_base64(text: str, core: str) -> str:
    """Mask every base64 token holding `core`, or ending in a prefix of it of at least
    MIN_PREFIX_CHARS (a cut). The whole token goes: its other characters carry key bits."""
    head = core[:MIN_PREFIX_CHARS]
    start = text.find(head)
    while start >= 0:
        length = MIN_PREFIX_CHARS
        while (length < len(core) and start + length < len(text)
               and text[start + length] == core[length]):
            length += 1
        end = start + length
        if length == len(core) or end == len(text) or not _B64_CHAR.match(text[end]):
            begin = start
            while begin > 0 and _B64_CHAR.match(text[begin - 1]):
                begin -= 1
            while end < len(text) and (_B64_CHAR.match(text[end]) or text[end] == "="):
                end += 1
            text = text[:begin] + REDACTED + text[end:]
            start = text.find(head, begin + len(REDACTED))
        else:
            start = text.find(head, start + 1)
    return text


def mask_all(text: str, secrets: frozenset[str] | set[str] | tuple[str, ...]) -> str:
    """`mask` for several secrets, longest first (one may contain another)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = mask(text, secret)
    return text


def cut(text: str, limit: int) -> str:
    """At most `limit` characters, `...` marking a cut. Mask first, then cut."""
    return text if len(text) <= limit else text[: max(0, limit - 3)] + "..."


class RedactingStdout(io.TextIOBase):
    """The log stream: writes to the *current* sys.stdout with every known secret masked.

    Resolving sys.stdout at write time keeps the logger usable under test
    capture; masking here catches a secret whatever carried it (a message, an
    exception, a traceback).
    """

    def __init__(self, target: io.TextIOBase | None = None) -> None:
        super().__init__()
        self.secrets: frozenset[str] = frozenset()
        self._target = target

    def add_secret(self, value: str | None) -> None:
        if value and len(value) >= MIN_SECRET_CHARS:
            self.secrets = self.secrets | {value}

    def forget_secrets(self) -> None:
        self.secrets = frozenset()

    def redact(self, text: str) -> str:
        return mask_all(text, self.secrets)

    def redact_data(self, value: Any) -> Any:
        """Every string in a JSON-like structure masked (keys too); other values as they are."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {self.redact_data(k): self.redact_data(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.redact_data(v) for v in value]
        return value

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        (self._target or sys.stdout).write(self.redact(text))
        return len(text)

    def flush(self) -> None:
        (self._target or sys.stdout).flush()


class RedactedError(Exception):
    """When a logged exception's text contained a secret: stands in for it, masked."""


_STANDARD_RECORD_KEYS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime",
}


class RedactSecrets(logging.Filter):
    """Masks known secrets in a log record itself (message, exception, extra fields).

    The output stream masks too; this keeps the records clean for every other
    handler (a test's capture, a future log shipper, the CLI's stderr). Records
    without a secret pass untouched.
    """

    def __init__(self, stream: RedactingStdout) -> None:
        super().__init__()
        self.stream = stream

    def filter(self, record: logging.LogRecord) -> bool:
        redact = self.stream.redact
        if not self.stream.secrets:
            return True
        message = record.getMessage()
        if (masked := redact(message)) != message:
            record.msg, record.args = masked, ()
        if record.exc_info and record.exc_info[1] is not None:
            # The whole traceback, chained causes and contexts included, masked as text.
            text = "".join(traceback.format_exception(*record.exc_info))
            if (masked := redact(text)) != text:  # kept as an exception, for JSON loggers
                record.exc_info = (RedactedError, RedactedError(masked.rstrip("\n")), None)
                record.exc_text = None
        for key, value in list(vars(record).items()):
            if key in _STANDARD_RECORD_KEYS or not isinstance(value, str | dict | list | tuple):
                continue
            dumped = json.dumps(value, default=str)
            if (masked := redact(dumped)) != dumped:
                try:
                    setattr(record, key, json.loads(masked))
                except ValueError:  # a cut escape sequence: keep the masked text itself
                    setattr(record, key, masked)
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


def unmask_loggers(prefix: str, redact_filter: RedactSecrets) -> None:
    """Take the filter off again (the CLI, after its run)."""
    for name, candidate in list(logging.Logger.manager.loggerDict.items()):
        if (name == prefix or name.startswith(prefix + ".")) and isinstance(
            candidate, logging.Logger
        ):
            candidate.removeFilter(redact_filter)
