"""Every deploy example the repository ships runs: the Lambda environment it produces is
accepted by the Lambda's own config (CanaryConfig.from_env), not only by synth."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from canary.config import CanaryConfig
from infra.function import lambda_environment
from infra.params import environments_from_context

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
