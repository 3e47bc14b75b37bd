"""The synthetic sessions of one deployment (CANARY_SESSIONS, CDK context `canarySessions`).

A JSON list of objects, each `{"name", "clientId", "threadId", "userId", "sessionId"}`;
only `name` is required: the other fields fall back to the single-session variables
(CANARY_CLIENT_ID...; canary/config.py resolves them, `CanaryConfig.for_session`). Unset,
the deployment has one session, from the single-session variables, named by its clientId.
Stdlib only: the settings table (and so the Lambda's cold path and the CDK app) reads it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from canary import ids

NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
MAX_SESSIONS = 50
"""More sessions than one invocation should hold (the benchmark measures the real limit;
past it, sessions fan out to several invocations: docs/ARCHITECTURE.md)."""
FIELDS = {"name": "name", "clientId": "client_id", "threadId": "thread_id",
          "userId": "user_id", "sessionId": "session_id"}
_KINDS = {"client_id": "client", "thread_id": "thread", "user_id": "user",
          "session_id": "session"}
EXAMPLE = ('use a JSON list like [{"name": "eu", "clientId": "canary-eu", "threadId": '
           '"canary-thread-eu"}, {"name": "us", "clientId": "canary-us", "threadId": '
           '"canary-thread-us"}]')


class SessionsError(ValueError):
    """CANARY_SESSIONS is not a valid list: `problem` and `fix` (settings wraps it in a
    ConfigError naming the variable)."""

    def __init__(self, problem: str, fix: str = EXAMPLE) -> None:
        super().__init__(f"{problem}; {fix}")
        self.problem, self.fix = problem, fix


@dataclass(frozen=True)
class SessionSpec:
    """One synthetic session as configured; None: the single-session variable's value."""

    name: str
    client_id: str | None = None
    thread_id: str | None = None
    user_id: str | None = None
    session_id: str | None = None

    def to_json(self) -> dict[str, str]:
        out = {"name": self.name}
        for key, attr in FIELDS.items():
            value = getattr(self, attr)
            if attr != "name" and value is not None:
                out[key] = value
        return out


def parse_sessions(raw: str) -> tuple[SessionSpec, ...]:
    """The list's text as SessionSpecs (SessionsError saying what is wrong)."""
    try:
        value = json.loads(raw)
    except ValueError:
        raise SessionsError("not JSON") from None
    if not isinstance(value, list) or not value:
        raise SessionsError("not a non-empty JSON list")
    specs = []
    for i, item in enumerate(value, 1):
        if not isinstance(item, dict):
            raise SessionsError(f"entry {i} is not a JSON object")
        unknown = sorted(set(item) - set(FIELDS))
        if unknown:
            raise SessionsError(f"entry {i} has unknown field(s) {', '.join(unknown)}",
                                f"use only {', '.join(FIELDS)}")
        if not all(isinstance(v, str) for v in item.values()):
            raise SessionsError(f"entry {i} has a value that is not a string",
                                "write every field as a JSON string")
        if "name" not in item:
            raise SessionsError(f"entry {i} has no name",
                                "give each session a short unique name (the metrics' Session "
                                "dimension)")
        specs.append(SessionSpec(**{FIELDS[k]: v.strip() for k, v in item.items()}))
    specs_t = tuple(specs)
    problem = sessions_problem(specs_t)
    if problem:
        raise SessionsError(*problem)
    return specs_t


def sessions_problem(specs: tuple[SessionSpec, ...]) -> tuple[str, str] | None:
    """(problem, fix) for a list that cannot run, else None: the count, each name and each
    id given (ids.py's rules); names unique."""
    if not 1 <= len(specs) <= MAX_SESSIONS:
        return (f"{len(specs)} sessions", f"configure 1 to {MAX_SESSIONS} sessions per "
                "deployment (more fan out to several invocations: docs/ARCHITECTURE.md)")
    seen: set[str] = set()
    for i, spec in enumerate(specs, 1):
        if not isinstance(spec, SessionSpec):
            return f"entry {i} is not a session", EXAMPLE
        if not NAME.match(spec.name):
            return (f"entry {i}: name {spec.name[:70]!r} is not 1-64 characters of letters, "
                    "digits, '.', '_', '-'", "use a short label, e.g. eu-west")
        if spec.name in seen:
            return (f"name {spec.name!r} is used twice",
                    "give each session its own name (the metrics' Session dimension)")
        seen.add(spec.name)
        for attr, kind in _KINDS.items():
            value = getattr(spec, attr)
            why = ids.problem(kind, value) if value is not None else None
            if why:
                return f"session {spec.name!r}: {attr}: invalid id: {why}", \
                    "use an id the platform allows"
    return None
