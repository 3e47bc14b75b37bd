"""What a run may touch in the platform's tables: the actions per table and the partition
keys, derived once from the config.

IAM's grants (infra/function.py: the actions, and `dynamodb:LeadingKeys` from
`table_keys`) and the dry run (canary/dry_run.py) read this module, so what the role allows
and what `--dry-run` says a run touches cannot drift apart. Stdlib only (the CDK app and the
Lambda import it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from canary.lanes import DEFAULT_LANE, parse_lane
from canary.steps.sleep import STEP as SLEEP_STEP
from canary.steps.sleep import keepalive_thread

WAIT_MODE = "wait"  # the only sleep mode that writes the keep-alive mapping (steps/sleep.py)

# Exactly what canary/ calls on each table (tests/infra/test_infra_iam.py reads the source).
CONTAINERS_ACTIONS = ("dynamodb:GetItem", "dynamodb:UpdateItem")
MAPPINGS_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem")
CONTAINER_INDEX_ACTIONS = ("dynamodb:Query",)
SESSIONS_ACTIONS = ("dynamodb:PutItem", "dynamodb:Query")
LOCK_TABLE_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem")


def table_keys(config: Any, *, any_sleep_mode: bool = True) -> dict[str, tuple[str, ...]]:
    """The partition keys the canary may touch, per platform table (and the container index):
    its own container row, its thread's mapping and, in a lane that runs the sleep step, the
    keep-alive mapping wait mode writes, its session row. IAM grants the keep-alive whatever
    the mode (`any_sleep_mode`); the dry run (what this run touches) only in wait mode."""
    mappings = (config.thread_id,)
    sleeps = parse_lane(getattr(config, "lane", DEFAULT_LANE)) in SLEEP_STEP.lanes
    if sleeps and (any_sleep_mode or config.sleep_mode == WAIT_MODE):
        mappings += (keepalive_thread(config.thread_id),)
    return {
        "containers": (config.container_id,),
        "mappings": mappings,
        "container_index": (config.container_id,),  # the index's partition key
        "sessions": (config.session_id,),
    }


@dataclass(frozen=True)
class TableUse:
    """One table (or index) a run touches: its name, the partition key attribute, the IAM
    actions the canary calls there and the key values it uses."""

    role: str
    name: str
    key_attribute: str
    actions: tuple[str, ...]
    keys: tuple[str, ...]


def table_uses(config: Any) -> list[TableUse]:
    """Every platform table (and the container index) with what this run does there."""
    keys = table_keys(config, any_sleep_mode=False)
    index = f"{config.thread_mappings_table}/index/{config.container_index}"
    return [
        TableUse("containers", config.containers_table, "containerId", CONTAINERS_ACTIONS,
                 keys["containers"]),
        TableUse("mappings", config.thread_mappings_table, "threadId", MAPPINGS_ACTIONS,
                 keys["mappings"]),
        TableUse("container_index", index, "containerId", CONTAINER_INDEX_ACTIONS,
                 keys["container_index"]),
        TableUse("sessions", config.sessions_table, "sessionId", SESSIONS_ACTIONS,
                 keys["sessions"]),
    ]
