"""Built-in GT Lambda and task-UI ARNs."""

from __future__ import annotations

import pytest

from truthloop import arns
from truthloop.exceptions import UnsupportedRegionError, UnsupportedTaskTypeError


@pytest.mark.parametrize("region", sorted(arns.BUILTIN_LAMBDA_ACCOUNTS))
@pytest.mark.parametrize("task_type", ["BoundingBox", "TextMultiClass", "NamedEntityRecognition", "PassThrough"])
def test_pre_and_acs_arns_share_suffix_and_account(region: str, task_type: str) -> None:
    pre = arns.pre_annotation_lambda_arn(task_type, region)
    acs = arns.consolidation_lambda_arn(task_type, region)
    account = arns.BUILTIN_LAMBDA_ACCOUNTS[region]
    assert pre == f"arn:aws:lambda:{region}:{account}:function:PRE-{task_type}"
    assert acs == pre.replace(":function:PRE-", ":function:ACS-")
    parsed = arns.parse_builtin_lambda_arn(acs)
    assert parsed == arns.BuiltinLambda(kind="ACS", task_type=task_type, region=region)


def test_documented_example_arn() -> None:
    assert arns.pre_annotation_lambda_arn("BoundingBox", "us-east-1") == (
        "arn:aws:lambda:us-east-1:432418664414:function:PRE-BoundingBox"
    )


def test_unsupported_region_lists_supported_ones() -> None:
    with pytest.raises(UnsupportedRegionError) as info:
        arns.pre_annotation_lambda_arn("BoundingBox", "sa-east-1")
    assert "us-east-1" in str(info.value)
    assert "sa-east-1" in str(info.value)
    assert "eu-west-1" in info.value.supported


def test_unsupported_task_type_lists_supported_ones() -> None:
    with pytest.raises(UnsupportedTaskTypeError) as info:
        arns.consolidation_lambda_arn("Boxes", "us-east-1")
    assert "BoundingBox" in str(info.value)


def test_human_task_ui_arn() -> None:
    assert arns.human_task_ui_arn("NamedEntityRecognition", "eu-west-1") == (
        "arn:aws:sagemaker:eu-west-1:394669845002:human-task-ui/NamedEntityRecognition"
    )
    with pytest.raises(UnsupportedTaskTypeError):
        arns.human_task_ui_arn("BoundingBox", "eu-west-1")


@pytest.mark.parametrize(
    "arn",
    [
        "arn:aws:lambda:us-east-1:111122223333:function:PRE-BoundingBox",  # wrong account
        "arn:aws:lambda:us-east-1:432418664414:function:sagemaker-pre",
        "not-an-arn",
    ],
)
def test_non_builtin_arns_are_not_recognised(arn: str) -> None:
    assert arns.parse_builtin_lambda_arn(arn) is None


@pytest.mark.parametrize(
    ("region", "partition"),
    [("us-east-1", "aws"), ("eu-west-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")],
)
def test_the_partition_of_a_region_is_botocore_s(region: str, partition: str) -> None:
    # WHEN an ARN is made in the region
    made = arns.arn("sagemaker", region, "111122223333", "workteam/private-crowd/t")
    # THEN it names the region's partition
    assert arns.partition_for_region(region) == partition
    assert made == f"arn:{partition}:sagemaker:{region}:111122223333:workteam/private-crowd/t"


def test_a_region_botocore_does_not_know_is_taken_to_be_in_aws() -> None:
    assert arns.partition_for_region("local-1") == "aws"


#: a region of each partition whose endpoints differ or not: the China partition's DNS suffix is amazonaws.com.cn
PARTITION_REGIONS = [
    ("us-east-1", "amazonaws.com"),
    ("cn-north-1", "amazonaws.com.cn"),
    ("us-gov-west-1", "amazonaws.com"),
]


@pytest.mark.parametrize(("region", "suffix"), PARTITION_REGIONS)
def test_the_dns_suffix_is_the_regions_partitions(region: str, suffix: str) -> None:
    # WHEN the suffix and a user pool's issuer are made for a region
    # THEN they name the endpoints of the region's partition, as botocore's endpoint data has them
    assert arns.dns_suffix_for_region(region) == suffix
    assert arns.cognito_issuer(region, f"{region}_Pool") == f"https://cognito-idp.{region}.{suffix}/{region}_Pool"


def test_a_region_botocore_does_not_know_is_in_the_aws_partition() -> None:
    assert arns.dns_suffix_for_region("local") == "amazonaws.com"
