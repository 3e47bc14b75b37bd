"""Every deploy example the repository ships runs: the Lambda environment it produces is
accepted by the Lambda's own config (CanaryConfig.from_env), not only by synth."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from canary.config import CanaryConfig
from infra.function import lambda_environment
from infra.params import KEYS, PARAMETERS, CanaryParams, environments_from_context

pytestmark = pytest.mark.infra
ROOT = Path(__file__).resolve().parents[2]


def test_the_synthesized_cdk_json_example_is_accepted_by_the_lambda_config(synthesized):
    _, function = synthesized.only("AWS::Lambda::Function")
    variables = dict(function["Properties"]["Environment"]["Variables"])
    variables["LOCK_TABLE"] = "canary-lock"  # a Ref in the template
    config = CanaryConfig.from_env({**variables, "AWS_REGION": "us-east-1"})
    assert config.client_id == synthesized.params.canary_client_id
    assert config.user_id == synthesized.params.canary_user_id


def readme_examples() -> list[tuple[str, dict]]:
    """The `environments` JSON blocks in the docs, less their "..." placeholders."""
    found = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
                *sorted(ROOT.glob("*/README.md"))]:
        for block in re.findall(r"```json\n(.*?)```", doc.read_text(), re.S):
            text = block.strip()
            doc_json = json.loads(text if text.startswith("{") else "{" + text + "}")
            envs = doc_json.get("environments", {})
            for name, values in envs.items():
                if "..." not in values:
                    found.append((f"{doc.relative_to(ROOT)}:{name}", values))
    return found


@pytest.mark.parametrize(("where", "values"), readme_examples(), ids=lambda v: str(v)[:40])
def test_each_documented_example_is_accepted_by_the_lambda_config(where, values):
    (params,) = environments_from_context({"environments": {"example": values}})
    env = lambda_environment(params, "canary-lock")
    config = CanaryConfig.from_env({**env, "AWS_REGION": "us-west-2"})
    assert config.thread_id == params.canary_thread_id, where


def test_the_docs_ship_at_least_one_example():
    assert readme_examples()


# One value for every deploy parameter, as `-c` passes them (text), none of them a default.
EVERY_PARAMETER = {
    "hermesApiUrl": "https://alb.example.com/hermes",
    "previewUrlTemplate": "https://edit.{clientId}.example.com/session/{threadId}/",
    "albDnsName": "alb.example.com", "previewDomain": "example.com",
    "apiKeySecretArn": "arn:aws:secretsmanager:us-west-2:111122223333:secret:key-AbCdEf",
    "canaryClientId": "canary-site", "canaryUserId": "bot@example.com",
    "canaryThreadId": "thread-7", "canarySessionId": "session-7",
    "sessionAttributes": '{"editBranch": "thread-{threadId}"}',
    "sessionsTable": "s-table", "threadMappingsTable": "m-table", "containersTable": "c-table",
    "containerIndexName": "c-index", "ecsCluster": "cl2", "ecsService": "sv2",
    "ecsTaskFamily": "fam", "wakeDegradedMs": "40000", "wakeFailedMs": "70000",
    "apiDegradedMs": "900", "apiFailedMs": "3000", "sleepMode": "force",
    "idleTimeoutSeconds": "600", "sleepCheckIntervalSeconds": "30", "wakeConcurrency": "5",
    "budgetSeconds": "300", "previewMarker": "hello {containerId}",
    "gitRemoteUrl": "https://git.example.com/{containerId}.git", "scheduleMinutes": "20",
    "quickScheduleMinutes": "10",
    "canarySessions": '[{"name": "eu", "threadId": "thread-eu"}, '
                      '{"name": "us", "sessionId": "session-us"}]',
    "alarmEmails": "a@example.com", "memorySize": "1024", "logRetentionDays": "90",
    "pagingEndpoints": "https://pager.example.com/x", "ticketEndpoints": "t@example.com",
    "ownerEndpoints": "o@example.com", "maintenance": "true",
    "reservedConcurrency": "2", "vpcSubnetIds": "subnet-0123456789abcdef0",
    "securityGroupIds": "sg-0123456789abcdef0",
    "apiKeySecretKmsKeyArn": "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab",
    "runbookUrl": "https://wiki.example.com/canary", "account": "111122223333",
    "region": "us-west-2", "reportRetentionDays": "14",
}


def test_every_deploy_parameter_reaches_the_lambda_as_its_variable():
    assert set(KEYS) - set(EVERY_PARAMETER) == set(), "add a value for each new parameter"
    params = CanaryParams.from_context("staging", EVERY_PARAMETER)
    env = lambda_environment(params, "canary-lock")
    carried = {s.key: env.get(s.var) for s in PARAMETERS if s.var}
    assert carried == {key: EVERY_PARAMETER[key] for key in carried}
    config = CanaryConfig.from_env({**env, "AWS_REGION": "us-west-2"})
    assert (config.wake_concurrency, config.session_id) == (5, "session-7")
