"""The report bucket: private, encrypted, TLS only, expiring after reportRetentionDays; the
Lambda may only put objects under its environment's prefix and is told the bucket's name."""

from __future__ import annotations

from typing import Any

import pytest

from canary.report_upload import prefix
from infra.params import CanaryParams, ParamsError

pytestmark = pytest.mark.infra


def bucket(synthesized) -> tuple[str, dict[str, Any]]:
    logical_id, resource = synthesized.only("AWS::S3::Bucket")
    return logical_id, resource["Properties"]


def test_the_bucket_is_encrypted_and_blocks_all_public_access(synthesized):
    _, props = bucket(synthesized)
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True}
    assert "VersioningConfiguration" not in props


def test_the_bucket_refuses_requests_without_tls(synthesized):
    logical_id, _ = bucket(synthesized)
    (policy,) = synthesized.resources("AWS::S3::BucketPolicy").values()
    assert policy["Properties"]["Bucket"] == {"Ref": logical_id}
    (deny,) = [s for s in policy["Properties"]["PolicyDocument"]["Statement"]
               if s["Effect"] == "Deny"]
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_reports_expire_after_the_retention_days_of_the_context(synthesized):
    _, props = bucket(synthesized)
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["Status"] == "Enabled"
    assert rule["ExpirationInDays"] == synthesized.params.report_retention_days == 30


def test_the_lambda_may_only_put_objects_under_its_environments_prefix(synthesized):
    logical_id, _ = bucket(synthesized)
    _, role = synthesized.only("AWS::IAM::Role")
    statements = [s for p in role["Properties"]["Policies"]
                  for s in p["PolicyDocument"]["Statement"] if "s3" in str(s["Action"])]
    (grant,) = statements
    assert grant["Action"] == "s3:PutObject" and grant["Effect"] == "Allow"
    assert grant["Resource"] == {"Fn::Join": ["", [
        {"Fn::GetAtt": [logical_id, "Arn"]},
        f"/{prefix(synthesized.params.environment)}*"]]}


def test_the_lambda_is_told_the_bucket_and_the_stack_outputs_it(synthesized):
    logical_id, _ = bucket(synthesized)
    (function,) = synthesized.resources("AWS::Lambda::Function").values()
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["REPORT_BUCKET"] == {"Ref": logical_id}
    assert synthesized.template_json["Outputs"]["ReportBucketName"]["Value"] == {
        "Ref": logical_id}


@pytest.mark.parametrize("days", [0, 3651, "soon"])
def test_a_bad_retention_is_refused_naming_the_parameter(example_context, days):
    (name, values), = example_context["environments"].items()
    with pytest.raises(ParamsError, match="'reportRetentionDays'"):
        CanaryParams.from_context(name, {**values, "reportRetentionDays": days})
