"""How hard the canary may knock: every loop's minimum interval and request cap, and Retry-After.

Defined once so no loop floods a target whatever it answers (a router that says
`Retry-After: 0` once got 855 requests in 6 s). `harness.poll()` uses the POLL_* values,
the loading-page loop of `steps/wake_preview.py` the PAGE_* values and `retry_after()`.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass

POLL_MIN_INTERVAL_S = 0.025
"""poll(): the shortest wait between two probes of one loop (its first, back-off start)."""
POLL_MAX_PROBES = 3000
"""poll(): the most probes one loop sends (120 s at its finest 100 ms cap is 1200)."""

PAGE_MIN_INTERVAL_S = 0.5
"""A loop re-requesting a page waits at least this, whatever Retry-After says (0 included)."""
PAGE_DEFAULT_RETRY_S = 1.0
"""The wait after a loading page without a usable Retry-After."""
PAGE_MAX_REQUESTS = 300
"""The most requests one page loop sends (the default 120 s wake at the 0.5 s floor is 240)."""

_DELAY_SECONDS = re.compile(r"^[0-9]+$")  # RFC 9110 10.2.3: delay-seconds = 1*DIGIT


@dataclass(frozen=True)
class RetryAfter:
    """A Retry-After header read against a cap.

    `asked_s` is what the target asked for (None: missing or invalid), `wait_s` what the
    canary waits (capped, floored at PAGE_MIN_INTERVAL_S), `too_long` when the cap cut it.
    """

    raw: str | None
    asked_s: float | None
    wait_s: float
    too_long: bool

    @property
    def valid(self) -> bool:
        return self.asked_s is not None


def retry_after(raw: str | None, *, cap_s: float, now_wall: float) -> RetryAfter:
    """Read a Retry-After value (delay-seconds or an HTTP-date, RFC 9110) and decide the wait."""
    asked = _asked_seconds(raw, now_wall)
    if asked is None:
        return RetryAfter(raw, None, max(PAGE_DEFAULT_RETRY_S, PAGE_MIN_INTERVAL_S), False)
    wait = max(min(asked, cap_s), PAGE_MIN_INTERVAL_S)
    return RetryAfter(raw, asked, wait, asked > cap_s)


def _asked_seconds(raw: str | None, now_wall: float) -> float | None:
    if raw is None:
        return None
    value = raw.strip()
    if _DELAY_SECONDS.match(value):
        return float(min(int(value), 10**9))  # any number of digits is valid: keep it finite
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; a naive result means no zone was given
        return None
    return max(0.0, when.timestamp() - now_wall)
