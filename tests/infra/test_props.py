"""Typed props for new resources: CDK's own structs (``s3.BucketProps``, ``cognito.UserPoolProps``) or mappings."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import assertions
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_s3 as s3

from tests.infra.support import ENV
from truthloop.cdk._common import access_logs_bucket, encryption_key, secure_bucket, struct_values


@pytest.mark.parametrize(
    ("props", "expected"),
    [
        (None, {}),
        ({"versioned": False}, {"versioned": False}),
        (s3.BucketProps(versioned=False, bucket_name="my-data"), {"versioned": False, "bucket_name": "my-data"}),
        (cognito.UserPoolProps(user_pool_name="workers"), {"user_pool_name": "workers"}),
    ],
)
def test_struct_values_keeps_what_was_given(props: object, expected: dict[str, object]) -> None:
    assert struct_values(props) == expected


def test_typed_bucket_props_apply_but_cannot_switch_off_security() -> None:
    # GIVEN bucket props that add a lifecycle rule and try to drop SSL-only and encryption
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    key = encryption_key(stack, "Key", description="test")
    props = s3.BucketProps(
        lifecycle_rules=[s3.LifecycleRule(id="short-lived", expiration=cdk.Duration.days(7))],
        enforce_ssl=False,
        encryption=s3.BucketEncryption.UNENCRYPTED,
    )
    # WHEN the secure bucket is built with them
    secure_bucket(stack, "Data", key=key, access_logs=access_logs_bucket(stack, "Logs"), overrides=props)
    tpl = assertions.Template.from_stack(stack)
    # THEN the rule is there, and the bucket is still KMS-encrypted and refuses plain HTTP
    buckets = tpl.find_resources("AWS::S3::Bucket")
    (data,) = [b["Properties"] for k, b in buckets.items() if k.startswith("Data")]
    assert data["LifecycleConfiguration"]["Rules"][0]["Id"] == "short-lived"
    encryption = data["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert encryption["SSEAlgorithm"] == "aws:kms"
    policies = json.dumps(tpl.find_resources("AWS::S3::BucketPolicy"))
    assert '"aws:SecureTransport": "false"' in policies
