"""Synth end to end: cdk-nag, cfn-lint, the Lambda asset, the CLI entry points, params errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cfnlint.api import ManualArgs, lint_file

from infra.params import ParamsError

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parents[2]
CDK_CLI = ROOT / "node_modules" / ".bin" / "cdk"
# CDK adds DependsOn on the function's role although Fn::GetAtt already orders them.
CFN_LINT_IGNORED = ["W3005"]


def _offline_env(outdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "CDK_OUTDIR": str(outdir),
        "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
        "CDK_DISABLE_CLI_TELEMETRY": "true",
    })
    env.pop("CDK_CONTEXT_JSON", None)
    return env


def test_cdk_nag_reports_no_unacknowledged_finding(synthesized):
    report = json.loads((synthesized.outdir / "validation-report.json").read_text())
    violations = [
        (v["ruleName"], c["constructPath"])
        for plugin in report["pluginReports"]
        # The report also lists construct annotations (annotationsInValidationReport):
        # warnings the stack's own tests cover, which never fail synth.
        if plugin["pluginName"] != "Construct Annotations"
        for v in plugin.get("violations", [])
        for c in v["violatingConstructs"]
    ]
    assert violations == []


def test_cdk_nag_runs_on_the_app_and_fails_synth_on_a_finding(tmp_path, example_context):
    from aws_cdk import Stack
    from aws_cdk import aws_sns as sns

    from app import build_app

    app = build_app(outdir=str(tmp_path), context=example_context)
    (stack,) = [c for c in app.node.children if isinstance(c, Stack)]
    sns.Topic(stack, "PlainTopic")  # no TLS-only policy: AwsSolutions-SNS3
    with pytest.raises(RuntimeError, match="ValidationFailed"):
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for p in report["pluginReports"] for v in p["violations"]}
    assert "AwsSolutions-SNS3" in rules


def test_cfn_lint_finds_nothing_in_the_template(synthesized):
    matches = lint_file(
        synthesized.template_file,
        ManualArgs(regions=["us-east-1", "eu-west-1"], ignore_checks=CFN_LINT_IGNORED),
    )
    assert [str(m) for m in matches] == []


def _function_asset_dir(synthesized) -> Path:
    _, function = synthesized.only("AWS::Lambda::Function")
    asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    return synthesized.outdir / f"asset.{asset_hash}"


def test_lambda_asset_holds_the_canary_and_its_runtime_dependencies(synthesized):
    asset = _function_asset_dir(synthesized)
    assert (asset / "canary" / "catalogue.py").is_file()
    for package in ("aws_lambda_powertools", "httpx", "httpcore", "anyio"):
        assert (asset / package).is_dir(), package
    arm_or_pure = list(asset.rglob("*.so"))
    assert all("x86_64" not in so.name for so in arm_or_pure)


def test_lambda_asset_leaves_out_the_sandbox_tests_dev_tools_and_runtime_sdk(synthesized):
    asset = _function_asset_dir(synthesized)
    top = {p.name for p in asset.iterdir()}
    for excluded in ("sandbox", "tests", "infra", "moto", "aws_cdk", "boto3", "botocore",
                     "cdk_nag", "pytest", ".venv", "node_modules", "bin"):
        assert excluded not in top, excluded
    assert not list(asset.rglob("__pycache__"))
    assert not list((asset / "canary").rglob("test_*.py"))


def test_missing_required_parameter_stops_the_app_naming_it(tmp_path, example_context):
    from app import build_app

    example = dict(example_context["environments"]["example"])
    del example["canaryThreadId"]
    context = {**example_context, "environments": {"example": example}}
    with pytest.raises(ParamsError, match="missing required parameter 'canaryThreadId'"):
        build_app(outdir=str(tmp_path), context=context)


def test_app_main_exits_with_the_parameter_error_instead_of_a_traceback(
    tmp_path, monkeypatch, capsys, example_context,
):
    import app

    example = dict(example_context["environments"]["example"])
    del example["apiKeySecretArn"]
    monkeypatch.setattr(
        app, "cdk_json_context", lambda: {"environments": {"example": example}},
    )
    monkeypatch.setenv("CDK_OUTDIR", str(tmp_path))
    assert app.main() == 2
    err = capsys.readouterr().err
    assert err.startswith("error: environment 'example': missing required parameter")
    assert "'apiKeySecretArn'" in err


def test_several_environments_become_separate_stacks(tmp_path, example_context):
    from aws_cdk import Stack

    from app import build_app

    example = example_context["environments"]["example"]
    context = {**example_context, "environments": {"staging": example, "production": example}}
    app = build_app(outdir=str(tmp_path), context=context)
    assert sorted(c.stack_name for c in app.node.children if isinstance(c, Stack)) == [
        "SessionResumptionCanary-production", "SessionResumptionCanary-staging",
    ]


def test_python_app_py_synthesizes_offline(tmp_path):
    done = subprocess.run(
        [sys.executable, "app.py"], cwd=ROOT, env=_offline_env(tmp_path),
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    template = json.loads((tmp_path / "SessionResumptionCanary-example.template.json").read_text())
    assert "AWS::Lambda::Function" in {r["Type"] for r in template["Resources"].values()}


@pytest.mark.skipif(
    not CDK_CLI.exists(), reason="node_modules/.bin/cdk missing: run `npm ci` (CI does)"
)
def test_npx_cdk_synth_works_offline(tmp_path):
    done = subprocess.run(
        [str(CDK_CLI), "synth", "--no-notices", "--quiet", "--output", str(tmp_path)],
        cwd=ROOT, env=_offline_env(tmp_path), capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "SessionResumptionCanary-example.template.json").is_file()
