"""Deploys anywhere: the optional deploy parameters, each shown on a synthesized template
(an environment that sets them all, next to cdk.json's example that sets none)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import aws_cdk
import pytest
from cfnlint.api import ManualArgs, lint_file

from infra.function import VPC_ENI_ACTIONS
from infra.params import CanaryParams, ParamsError

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parents[2]
SUBNETS = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
SECURITY_GROUP = "sg-0123456789abcdef0"
SECRET = "arn:aws:secretsmanager:us-west-2:111122223333:secret:hermes/internal-api-key-a1B2c3"
KMS_KEY = "arn:aws:kms:us-west-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
RUNBOOK_URL = "https://wiki.example.invalid/session-resumption-canary"
OPTIONS = {
    "reservedConcurrency": 2,
    "vpcSubnetIds": ",".join(SUBNETS),  # as `-c deploy.vpcSubnetIds=a,b` passes it
    "securityGroupIds": [SECURITY_GROUP],
    "apiKeySecretArn": SECRET,
    "apiKeySecretKmsKeyArn": KMS_KEY,
    "runbookUrl": RUNBOOK_URL,
    "account": "111122223333",
    "region": "us-west-2",
}


@pytest.fixture(scope="module")
def deployed(tmp_path_factory, example_context) -> dict[str, Any]:
    """The example environment with every deploy option set, synthesized with cdk-nag on."""
    from app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out.options")
    values = {**example_context["environments"]["example"], **OPTIONS}
    context = {**example_context, "environments": {"deploy": values}}
    build_app(outdir=str(outdir), context=context).synth()
    name = "SessionResumptionCanary-deploy"
    return {
        "outdir": outdir,
        "template_file": outdir / f"{name}.template.json",
        "template": json.loads((outdir / f"{name}.template.json").read_text()),
        "manifest": json.loads((outdir / "manifest.json").read_text())["artifacts"][name],
    }


def _resources(template: dict[str, Any], cfn_type: str) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == cfn_type]


def _function(template: dict[str, Any]) -> dict[str, Any]:
    (function,) = _resources(template, "AWS::Lambda::Function")
    return function["Properties"]


def _statements(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (role,) = _resources(template, "AWS::IAM::Role")
    return {s.get("Sid", ""): s for p in role["Properties"]["Policies"]
            for s in p["PolicyDocument"]["Statement"]}


# -- reserved concurrency --------------------------------------------------------


def test_reserved_concurrency_is_off_unless_the_environment_sets_it(synthesized, deployed):
    assert "ReservedConcurrentExecutions" not in _function(synthesized.template_json)
    assert _function(deployed["template"])["ReservedConcurrentExecutions"] == 2


# -- VPC -------------------------------------------------------------------------


def test_function_runs_in_the_subnets_and_security_groups_from_context(deployed):
    assert _function(deployed["template"])["VpcConfig"] == {
        "SubnetIds": SUBNETS, "SecurityGroupIds": [SECURITY_GROUP],
    }


def test_function_outside_a_vpc_has_no_vpc_config_and_no_network_interface_grant(synthesized):
    assert "VpcConfig" not in _function(synthesized.template_json)
    assert "VpcNetworkInterfaces" not in _statements(synthesized.template_json)


def test_vpc_function_role_may_manage_the_network_interfaces_lambda_needs(deployed):
    statement = _statements(deployed["template"])["VpcNetworkInterfaces"]
    assert sorted(statement["Action"]) == sorted(VPC_ENI_ACTIONS)
    assert all(a.startswith("ec2:") and "*" not in a for a in statement["Action"])
    assert statement["Resource"] == "*"  # ENIs and Describe* have no resource of ours yet


# -- KMS -------------------------------------------------------------------------


def test_role_may_decrypt_with_the_secret_key_only_through_secrets_manager(deployed):
    statement = _statements(deployed["template"])["DecryptApiKeySecret"]
    assert statement["Action"] == "kms:Decrypt"
    assert statement["Resource"] == KMS_KEY
    assert statement["Condition"] == {"StringEquals": {
        "kms:ViaService": "secretsmanager.us-west-2.amazonaws.com",
        "kms:EncryptionContext:SecretARN": SECRET,
    }}


def test_without_a_key_the_role_gets_no_kms_grant(synthesized):
    actions = [a for s in _statements(synthesized.template_json).values()
               for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])]
    assert not [a for a in actions if a.startswith("kms:")]


# -- runbook ---------------------------------------------------------------------


def test_every_alarm_description_links_the_configured_runbook(synthesized, deployed):
    alarms = [*_resources(deployed["template"], "AWS::CloudWatch::Alarm"),
              *_resources(deployed["template"], "AWS::CloudWatch::CompositeAlarm")]
    assert alarms
    for alarm in alarms:
        assert f"Runbook: {RUNBOOK_URL}" in alarm["Properties"]["AlarmDescription"]
    for alarm in _resources(synthesized.template_json, "AWS::CloudWatch::Alarm"):
        assert "Runbook: docs/RUNBOOK.md" in alarm["Properties"]["AlarmDescription"]


def test_dashboard_text_links_the_configured_runbook(deployed):
    (dashboard,) = _resources(deployed["template"], "AWS::CloudWatch::Dashboard")
    assert RUNBOOK_URL in json.dumps(dashboard["Properties"]["DashboardBody"])


# -- account and region ----------------------------------------------------------


def test_stack_is_pinned_to_the_configured_account_and_region(synthesized, deployed):
    assert deployed["manifest"]["environment"] == "aws://111122223333/us-west-2"
    tasks = _statements(deployed["template"])["ReadAndStopClusterTasks"]["Resource"]
    assert tasks.startswith("arn:aws:ecs:us-west-2:111122223333:task/")
    manifest = json.loads((synthesized.outdir / "manifest.json").read_text())
    example = manifest["artifacts"][synthesized.stack_name]["environment"]
    assert example == "aws://unknown-account/unknown-region"


def test_stack_keeps_its_tags_with_explicit_stack_tags(deployed):
    tags = deployed["manifest"]["properties"]["tags"]
    assert tags == {"Service": "session-resumption-canary", "CanaryEnvironment": "deploy"}


# -- checks that hold with every option set -----------------------------------------


def test_cdk_nag_reports_no_unacknowledged_finding_with_every_option(deployed):
    report = json.loads((deployed["outdir"] / "validation-report.json").read_text())
    violations = [v["ruleName"] for p in report["pluginReports"]
                  if p["pluginName"] != "Construct Annotations" for v in p.get("violations", [])]
    assert violations == []


def test_cfn_lint_finds_nothing_with_every_option(deployed):
    matches = lint_file(deployed["template_file"],
                        ManualArgs(regions=["us-west-2"], ignore_checks=["W3005"]))
    assert [str(m) for m in matches] == []


# -- feature flags ---------------------------------------------------------------


def test_cdk_json_sets_every_recommended_feature_flag_of_the_installed_aws_cdk_lib():
    tgz = next((Path(aws_cdk.__file__).parent / "_jsii").glob("aws-cdk-lib@*.jsii.tgz"))
    with tarfile.open(tgz) as archive:
        member = archive.extractfile("package/recommended-feature-flags.json")
        assert member is not None
        recommended = json.load(member)
    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    assert recommended
    assert {k: context.get(k) for k in recommended} == recommended


# -- parameters ------------------------------------------------------------------

VALID = {
    "hermesApiUrl": "https://alb.internal/hermes",
    "previewUrlTemplate": "https://edit.{clientId}.example.com/session/{threadId}/",
    "apiKeySecretArn": SECRET,
    "canaryClientId": "canary",
    "canaryUserId": "canary-user",
    "canaryThreadId": "canary-thread",
}


@pytest.mark.parametrize(("given", "missing"), [
    ({"vpcSubnetIds": SUBNETS}, "securityGroupIds"),
    ({"securityGroupIds": [SECURITY_GROUP]}, "vpcSubnetIds"),
    ({"account": "111122223333"}, "region"),
    ({"region": "us-west-2"}, "account"),
])
def test_paired_parameters_are_both_or_neither(given, missing):
    with pytest.raises(ParamsError, match=f"'{missing}' is unset but .* is set"):
        CanaryParams.from_context("staging", {**VALID, **given})


@pytest.mark.parametrize(("key", "value", "message"), [
    ("reservedConcurrency", 0, "1..10000"),
    ("vpcSubnetIds", "vpc-0123456789abcdef0", "invalid id"),
    ("securityGroupIds", "default", "invalid id"),
    ("apiKeySecretKmsKeyArn", "alias/secrets", "not a KMS key ARN"),
    ("apiKeySecretKmsKeyArn", KMS_KEY.replace("us-west-2", "eu-west-1"), "another region"),
    ("runbookUrl", "wiki/runbook", "http\\(s\\) URL"),
    ("account", "1111-2222-3333", "12-digit"),
    ("region", "west", "not a region"),
])
def test_malformed_deploy_option_is_named_with_the_problem(key, value, message):
    values = {**VALID, key: value}
    if key in ("vpcSubnetIds", "securityGroupIds"):
        values = {"vpcSubnetIds": SUBNETS, "securityGroupIds": [SECURITY_GROUP], **values}
    if key in ("account", "region"):
        values = {"account": "111122223333", "region": "us-west-2", **values}
    with pytest.raises(ParamsError, match=f"'{key}'.*{message}"):
        CanaryParams.from_context("staging", values)


def test_deploy_options_default_to_unset():
    params = CanaryParams.from_context("staging", VALID)
    assert (params.reserved_concurrency, params.vpc_subnet_ids, params.security_group_ids,
            params.api_key_secret_kms_key_arn, params.account, params.region) == \
        (None, (), (), None, None, None)
    assert params.runbook_url == "docs/RUNBOOK.md"
