"""The fault registry: every way the sandbox can be told to misbehave, by name.

Each fault is a real failure mode of the production platform (or of a plausible
regression in it), switched on when the sandbox starts. The canary's tests refer
to these names, so they are stable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

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
    "row_key_mismatch": (
        "as observed in production: tasks are told THREAD_ID=sessionId and register (and Hermes "
        "writes) under the sessionId row; the row Hermes reads stays absent, so every resume "
        "starts a new task and answers running"
    ),
    "always_running": (
        "every 201 says running; a cold resume answers right after RunTask without waiting "
        "(row starting, task PENDING), the task then boots normally"
    ),
    "containers_read_error": (
        "Hermes's read of the containers table fails and counts as stopped: every resume starts "
        "a new task, even for a running container"
    ),
    "concurrent_wake_fails": (
        "no guard against concurrent starts (each starts a task) and every wake that overlapped "
        "another answers 500 'Failed to resume session: ...'; the tasks keep running"
    ),
    "foreign_task_arn": (
        "the 201's taskArn names a foreign task (another customer's), not the session's task"
    ),
    "answers_starting": (
        "a cold resume answers 201 starting at once and starts the task ~1 s later in the "
        "background (the row is written as usual when it is up)"
    ),
}


class UnknownFaultError(ValueError):
    """When a fault name is not in the registry."""


def validate(names: Iterable[str]) -> frozenset[str]:
    """Return the names as a set, or raise naming the bad ones and listing the valid ones."""
    return validate_names(names, FAULTS, "fault", UnknownFaultError)


def validate_names(
    names: Iterable[str], registry: Mapping[str, str], kind: str, error: type[ValueError]
) -> frozenset[str]:
    """The names as a set, or `error` naming the unknown ones and listing the registry."""
    wanted = list(names)
    unknown = [n for n in wanted if n not in registry]
    if unknown:
        raise error(
            f"unknown {kind}(s): {', '.join(sorted(unknown))}; valid {kind}s: "
            f"{', '.join(sorted(registry))}"
        )
    return frozenset(wanted)
