"""The report bucket: each run's HTML report and JSON result (canary/report_upload.py).

Private and short-lived: S3-managed encryption, every public access blocked, TLS only,
bucket-owner objects (no ACLs), no versions, objects expired after `reportRetentionDays`.
The Lambda may only put objects under its environment's prefix (infra/function.py).
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_s3 as s3
from constructs import Construct

ACCESS_LOGS_WAIVER = (
    "The bucket holds the canary's own run reports (synthetic data, no customer content), "
    "written only by the canary's role and expired after reportRetentionDays; a second "
    "bucket for access logs would itself need logging. Audit reads with CloudTrail data "
    "events if ever needed (docs/RUNBOOK.md, 'Where is the run's report')."
)


class ReportBucket(Construct):
    """The bucket; kept on stack deletion (CloudFormation cannot delete a non-empty bucket;
    its objects expire by themselves)."""

    def __init__(self, scope: Construct, construct_id: str, *, retention_days: int) -> None:
        super().__init__(scope, construct_id)
        self.retention_days = retention_days
        self.bucket = s3.Bucket(
            self, "Bucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            versioned=False,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(
                id="ExpireRunReports", enabled=True,
                expiration=Duration.days(retention_days),
                abort_incomplete_multipart_upload_after=Duration.days(1),
            )],
            removal_policy=RemovalPolicy.RETAIN,
        )
        Validations.of(self.bucket).acknowledge(
            Acknowledgment(id="AwsSolutions-S1", reason=ACCESS_LOGS_WAIVER),
        )
