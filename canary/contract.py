"""The platform's names and production timings, as docs/CONTRACT.md gives them.

The defaults of the canary's config (`canary/config.py`) and of the stack's
parameters (`infra/params.py`); a deployment with other names overrides them there.
"""

SESSIONS_TABLE = "webordinary-edit-sessions"
THREAD_MAPPINGS_TABLE = "webordinary-thread-mappings"
CONTAINERS_TABLE = "webordinary-containers"
CONTAINER_INDEX = "container-index"
ECS_CLUSTER = "webordinary-edit-cluster"
ECS_SERVICE = "webordinary-edit-service"

IDLE_TIMEOUT_S = 1_200  # a container idle this long with no active session sleeps
SLEEP_CHECK_INTERVAL_S = 60  # how often its auto-sleep loop checks
