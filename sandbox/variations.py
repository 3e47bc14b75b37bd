"""The variation registry: ways the platform may differ where the contract leaves it open.

A fault breaks the contract; a variation does not. A canary that keeps to the contract
passes under every variation, so each one tests that the canary relies on nothing
else (names of override variables, optional fields, unknown extra fields, startedBy, ECS's
optional task timestamps).
The shapes each variation uses live here too, so Hermes, the edit containers and the
foreign tasks agree on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from sandbox.faults import validate_names

#: name -> one-line description
VARIATIONS: dict[str, str] = {
    "renamed_overrides": (
        "the task override variables have other names (SITE, OWNER, CHAT_THREAD, EDIT_SESSION, "
        "GIT_REPO) carrying the same values; the container reads those"
    ),
    "sparse_answers": (
        "the 201 leaves out every optional field (sessionId, containerIp, taskArn) and the "
        "containers row leaves out containerIp"
    ),
    "extra_fields": (
        "unknown extra fields in every 201 and containers row, and unknown extra override "
        "variables on every task"
    ),
    "service_tasks": (
        "Hermes's tasks carry startedBy 'ecs-svc/...' (unrelated to Hermes; nothing to rely on)"
    ),
    "answers_starting": (
        "a cold resume answers 201 starting at once and starts the task ~1 s later in the "
        "background (the row is written as usual when it is up); a run that gave up before "
        "must still stop that task"
    ),
    "no_pull_times": (
        "ECS describes tasks without pullStartedAt and pullStoppedAt (they are optional, e.g. "
        "for an image already cached); createdAt and startedAt as usual"
    ),
}

SERVICE_STARTED_BY = "ecs-svc/8029431187642345891"  # service_tasks: what a service would set
EXTRA_ENVIRONMENT = (("LOG_LEVEL", "info"), ("FEATURE_FLAGS", "preview,autosave"))
EXTRA_ROW_FIELDS: dict[str, Any] = {"hostName": "ip-127-0-0-1", "meta": {"agent": "sandbox"}}


def extra_answer_fields(region: str) -> dict[str, Any]:
    """Unknown fields a 201 carries under `extra_fields`."""
    return {"region": region, "meta": {"service": "hermes", "build": "sandbox"}}


class UnknownVariationError(ValueError):
    """When a variation name is not in the registry."""


def validate(names: Iterable[str]) -> frozenset[str]:
    """Return the names as a set, or raise naming the bad ones and listing the valid ones."""
    return validate_names(names, VARIATIONS, "variation", UnknownVariationError)


@dataclass(frozen=True)
class OverrideNames:
    """The environment variable names of a task's container overrides (values are contract)."""

    client_id: str = "CLIENT_ID"
    user_id: str = "USER_ID"
    thread_id: str = "THREAD_ID"
    session_id: str = "SESSION_ID"
    repo_url: str = "REPO_URL"

    def environment(
        self, values: Mapping[str, str], extra: bool = False
    ) -> list[dict[str, str]]:
        """RunTask's `environment` list: values keyed by field (client_id, ...), in order."""
        env = [{"name": getattr(self, f.name), "value": values[f.name]}
               for f in fields(self) if f.name in values]
        if extra:
            env += [{"name": name, "value": value} for name, value in EXTRA_ENVIRONMENT]
        return env

    def read(self, overrides: Mapping[str, Any] | None) -> dict[str, str]:
        """The values by field name (client_id, ...) that a task's overrides carry."""
        env: dict[str, str] = {}
        for co in (overrides or {}).get("containerOverrides", []) or []:
            for pair in co.get("environment", []) or []:
                env[pair.get("name", "")] = pair.get("value", "")
        return {f.name: env[getattr(self, f.name)] for f in fields(self)
                if env.get(getattr(self, f.name))}


PRODUCTION_NAMES = OverrideNames()  # as the production build was observed to name them
RENAMED_NAMES = OverrideNames("SITE", "OWNER", "CHAT_THREAD", "EDIT_SESSION", "GIT_REPO")


def override_names(variations: Iterable[str]) -> OverrideNames:
    """The override variable names in use under these variations."""
    return RENAMED_NAMES if "renamed_overrides" in set(variations) else PRODUCTION_NAMES
