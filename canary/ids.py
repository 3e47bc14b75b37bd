"""The synthetic session's identifiers: what the platform allows, checked in one place.

Used by the run-time config (canary/config.py) and the deploy parameters (infra/params.py),
so an id that deploys is an id that runs. Each id ends up somewhere with its own rules:
- clientId: a DNS label (the preview host is `edit.{clientId}.{domain}`), so letters,
  digits and inner hyphens;
- userId: part of the containerId and a DynamoDB key; e-mail addresses (`@`, `.`, `+`) and
  production's `*` (the observed build reads the session row with userId `*`) are allowed;
- threadId and sessionId: a URL path segment (`/session/{threadId}/`) and DynamoDB keys: no
  `/`, `?`, `#`, `%` or spaces, and never only dots (`..` would climb the path).
"""

from __future__ import annotations

import re

MAX_LEN = 100
_CLIENT = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")  # hosts are lower-cased
_USER = re.compile(r"^[A-Za-z0-9_.:@+*-]+$")
_SEGMENT = re.compile(r"^[A-Za-z0-9_.:@+-]+$")

# id kind -> (pattern, what it allows, in words)
RULES: dict[str, tuple[re.Pattern[str], str]] = {
    "client": (_CLIENT, "a DNS label: lower-case letters, digits and inner '-', at most 63 "
                        "characters"),
    "user": (_USER, "letters, digits and _ . : @ + * -"),
    "thread": (_SEGMENT, "letters, digits and _ . : @ + -, not only dots"),
    "session": (_SEGMENT, "letters, digits and _ . : @ + -, not only dots"),
}


def problem(kind: str, value: str | None) -> str | None:
    """Why `value` is not a valid id of `kind` (None when it is)."""
    pattern, allowed = RULES[kind]
    if not value:
        return "empty"
    if len(value) > MAX_LEN:
        return f"{len(value)} characters (at most {MAX_LEN})"
    if not pattern.match(value) or set(value) == {"."}:
        return f"{value!r} is not allowed: use {allowed}"
    return None


def overlap(client_id: str, thread_id: str, session_id: str) -> str | None:
    """Why the ids cannot tell the session's tasks apart (None when they can): a task is the
    session's when its override values hold the clientId and one of the other ids, so an id
    equal to the clientId would make every task of that client the canary's."""
    for name, value in (("thread id", thread_id), ("session id", session_id)):
        if value == client_id:
            return f"the {name} equals the client id {client_id!r}"
    return None
