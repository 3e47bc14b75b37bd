"""The fault registry: every way the sandbox can be told to misbehave, by name.

Each fault is a real failure mode of the production platform (or of a plausible
regression in it), switched on when the sandbox starts. The canary's tests refer
to these names, so they are stable.
"""

from __future__ import annotations

from collections.abc import Iterable

#: name -> one-line description
FAULTS: dict[str, str] = {
    "slow_wake": (
        "containers boot for 4 s (or the configured boot delay if longer): a cold wake "
        "takes longer than the sandbox wake threshold"
    ),
    "wake_fails": (
        "the woken task dies while booting and never registers; Hermes answers "
        "500 'Failed to resume session: ...'"
    ),
    "slow_resume": "resume-preview for a running container takes ~1 s (far over the API threshold)",
    "duplicate_tasks": (
        "no conditional write on the containers table: concurrent wakes each start a task"
    ),
    "auth_not_enforced": "Hermes accepts calls without the bearer key",
    "router_no_wake": (
        "the router shows the loading page but never asks Hermes to wake the container"
    ),
    "no_retry_after": "the router's loading page has no Retry-After header",
    "wrong_unknown_status": "Hermes answers 500 instead of 404 for an unknown thread",
    "websocket_not_refused": "the router answers 200 to WebSocket upgrade requests instead of 502",
    "never_sleeps": "the auto-sleep loop never stops an idle container",
    "sleeps_despite_sessions": "the auto-sleep loop ignores the active-session count",
    "autosave_lost": (
        "auto-save commits but never pushes, yet records pushed=true "
        "(only git ls-remote reveals it)"
    ),
    "autosave_push_fails": (
        "auto-save commits but the push fails (origin unreachable); records pushed=false"
    ),
    "unreachable_container": (
        "the containers table says running but the container does not answer: "
        "router 502 Container unreachable"
    ),
    "router_unknown_ok": (
        "the router answers 200 instead of 404 (Edit Session Not Found) for an unknown thread"
    ),
}


class UnknownFaultError(ValueError):
    """When a fault name is not in the registry."""


def validate(names: Iterable[str]) -> frozenset[str]:
    """Return the names as a set, or raise naming the bad ones and listing the valid ones."""
    wanted = list(names)
    unknown = [n for n in wanted if n not in FAULTS]
    if unknown:
        raise UnknownFaultError(
            f"unknown fault(s): {', '.join(sorted(unknown))}; valid faults: "
            f"{', '.join(sorted(FAULTS))}"
        )
    return frozenset(wanted)
