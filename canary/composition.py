"""The composition root: every client a run talks through is built here, once, for the
CLI, the Lambda handler, the benchmarks and the tests alike.

`Dependencies` holds the long-lived clients (one httpx client, boto3 DynamoDB and ECS, the
API key provider), built by `Dependencies.build(config, clock)` or `open_dependencies`.
`build_context` composes one run's clients (Hermes, router, tables, ECS, the session's
tasks, the canary's memory) into the RunContext the steps receive.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from canary.clients.base import TransportTally
from canary.clients.hermes import HermesClient
from canary.clients.orchestrator import OrchestratorClient
from canary.clients.preview import PreviewClient
from canary.clients.state import StateClient
from canary.clock import Clock
from canary.config import CanaryConfig, ConfigError
from canary.harness import Harness
from canary.memory import RunMemory
from canary.secrets import ApiKeyProvider
from canary.steps.base import RunContext
from canary.tasks import SessionIdentity, SessionTasks


@dataclass
class Dependencies:
    """What a run talks through, created by the caller (CLI or Lambda handler) and reused.

    `http` is one httpx.Client for the whole run (thread-safe; the canary passes explicit
    timeouts and never follows redirects). `dynamodb` and `ecs` are boto3 clients.
    `git_ls_remote(remote, timeout_s) -> [sha, ...]` replaces the `git` subprocess in tests.
    `s3` (a boto3 client, only when REPORT_BUCKET is set) writes the run's report.
    """

    http: httpx.Client
    dynamodb: Any
    ecs: Any
    api_key: ApiKeyProvider
    git_ls_remote: Callable[[str, float], list[str]] | None = None
    s3: Any = None

    @classmethod
    def build(cls, config: CanaryConfig, clock: Clock) -> Dependencies:
        """The real clients for `config`: one httpx client, boto3 DynamoDB and ECS clients
        with short timeouts and one retry (clients/aws.py; the run's deadline bounds each
        call on top), and the API key provider (Secrets Manager only when the key is not
        given)."""
        import boto3

        from canary.clients.aws import make_client
        from canary.clients.transport import http_client

        kwargs: dict[str, Any] = {"region_name": config.region}
        if config.aws_endpoint_url:
            kwargs["endpoint_url"] = config.aws_endpoint_url
        if config.aws_test_credentials:
            kwargs.update(aws_access_key_id="testing", aws_secret_access_key="testing")
        session = boto3.session.Session()
        secrets = (make_client(session, "secretsmanager", **kwargs)
                   if config.api_key_secret_arn and not config.api_key else None)
        return cls(
            # Sessions run concurrently over this one client: each may hold a few (the
            # concurrent wake calls plus a page), so the pool grows with their number.
            http=http_client(max_connections=max(32, 8 * len(config.sessions)),
                             max_keepalive_connections=16),
            dynamodb=make_client(session, "dynamodb", **kwargs),
            ecs=make_client(session, "ecs", **kwargs),
            api_key=ApiKeyProvider(key=config.api_key, secret_arn=config.api_key_secret_arn,
                                   clock=clock, client=secrets),
            s3=report_client(session, **kwargs) if config.report_bucket else None,
        )

    def close(self) -> None:
        self.http.close()
        self.dynamodb.close()
        self.ecs.close()
        self.api_key.close()
        if self.s3 is not None:
            self.s3.close()


def report_client(session: Any, **kwargs: Any) -> Any:
    """S3 for the run's report: the short timeouts and one retry of the other AWS clients
    (S3 answers XML, so not make_client's JSON-only check)."""
    from canary import USER_AGENT
    from canary.clients.aws import client_config

    return session.client("s3", config=client_config(USER_AGENT), **kwargs)


@contextlib.contextmanager
def open_dependencies(config: CanaryConfig, clock: Clock) -> Iterator[Any]:
    """One httpx client and boto3 clients for one run, closed afterwards."""
    from botocore.exceptions import BotoCoreError

    try:
        deps = Dependencies.build(config, clock)
    except BotoCoreError as exc:  # e.g. AWS_PROFILE names no profile: a setting, not a bug
        raise ConfigError(f"AWS client setup: {exc}; check AWS_PROFILE, AWS_REGION and "
                          "AWS_ENDPOINT_URL") from None
    try:
        yield deps
    finally:
        deps.close()


def build_context(config: CanaryConfig, deps: Dependencies, clock: Clock, run_id: str
                  ) -> RunContext:
    def key() -> str:  # read once a run (preflight): never a Secrets Manager call mid-wake
        return deps.api_key.peek() or deps.api_key.get()

    tally = TransportTally()  # one per run: the runner's retries read it
    hermes = HermesClient(deps.http, config.hermes_api_url, key, clock, run_id,
                          connect_timeout_s=config.connect_timeout_s,
                          max_body_bytes=config.max_body_bytes, tally=tally)
    preview = PreviewClient(deps.http, config, clock, run_id, tally=tally)
    state = StateClient(deps.dynamodb, config)
    orchestrator = OrchestratorClient(deps.ecs, config.ecs_cluster)
    identity = SessionIdentity(config.client_id, config.thread_id, config.session_id,
                               config.container_id)
    tasks = SessionTasks(orchestrator, identity, family=config.ecs_task_family)
    harness = Harness(config, clock, hermes, preview, state, orchestrator, tasks)
    memory = (RunMemory(deps.dynamodb, config.lock_table, config.container_id)
              if config.lock_table else None)
    return RunContext(config=config, clock=clock, harness=harness, api_key=deps.api_key,
                      run_id=run_id, tasks=tasks, memory=memory,
                      git_ls_remote=deps.git_ls_remote)
