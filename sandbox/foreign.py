"""Foreign tasks: other customers' containers, RUNNING in the cluster from the start.

A production cluster is shared. A canary that counts or stops tasks it cannot tie to
its own session by contract facts (the 201's taskArn, the containers row's taskArn,
override values naming the session) would count or stop these. The sandbox never
boots, touches or stops them; only a StopTask from outside does.
"""

from __future__ import annotations

from sandbox.aws import AwsNames, AwsResources
from sandbox.fargate import Fargate
from sandbox.variations import OverrideNames

#: the override values of the foreign task that belongs to another session
OTHER_SESSION = {
    "client_id": "othersite",
    "user_id": "other",
    "thread_id": "other-thread",
    "session_id": "other-session",
    "repo_url": "https://git.sandbox.invalid/othersite/site.git",
}


def start_foreign_tasks(
    fargate: Fargate, names: AwsNames, resources: AwsResources, override_names: OverrideNames
) -> tuple[str, str]:
    """Two RUNNING tasks of the platform's task definition: one without any overrides, one
    whose overrides name another client, thread and session. Their ARNs, in that order."""
    network = resources.network_configuration()
    bare = fargate.run_foreign(resources.task_definition_arn, None, network)
    other = fargate.run_foreign(resources.task_definition_arn, {"containerOverrides": [{
        "name": names.container_name,
        "environment": override_names.environment(OTHER_SESSION),
    }]}, network)
    return bare, other
