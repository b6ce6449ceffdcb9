"""Built-in Ground Truth Lambda ARNs and AWS-owned HumanTaskUi ARNs (aws-contracts.md §3).

>>> from truthloop.arns import pre_annotation_lambda_arn, consolidation_lambda_arn
>>> pre_annotation_lambda_arn("BoundingBox", "us-east-1")
'arn:aws:lambda:us-east-1:432418664414:function:PRE-BoundingBox'
>>> consolidation_lambda_arn("TextMultiClass", "eu-west-1")
'arn:aws:lambda:eu-west-1:568282634449:function:ACS-TextMultiClass'
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

from truthloop.exceptions import UnsupportedRegionError, UnsupportedTaskTypeError

__all__ = [
    "BUILTIN_LAMBDA_ACCOUNTS",
    "HUMAN_TASK_UIS",
    "HUMAN_TASK_UI_ACCOUNT",
    "TASK_TYPES",
    "BuiltinLambda",
    "arn",
    "builtin_lambda_arn",
    "cognito_issuer",
    "consolidation_lambda_arn",
    "dns_suffix_for_region",
    "human_task_ui_arn",
    "parse_builtin_lambda_arn",
    "partition_for_region",
    "pre_annotation_lambda_arn",
    "supported_regions",
]

#: AWS-owned account that hosts the built-in PRE-/ACS- Lambdas, per region (botocore 1.44 docstrings).
BUILTIN_LAMBDA_ACCOUNTS: dict[str, str] = {
    "us-east-1": "432418664414",
    "us-east-2": "266458841044",
    "us-west-2": "081040173940",
    "ca-central-1": "918755190332",
    "eu-west-1": "568282634449",
    "eu-west-2": "487402164563",
    "eu-central-1": "203001061592",
    "ap-northeast-1": "477331159723",
    "ap-northeast-2": "845288260483",
    "ap-south-1": "565803892007",
    "ap-southeast-1": "377565633583",
    "ap-southeast-2": "454466003867",
}

#: Task-type suffixes shared by ``PRE-`` and ``ACS-`` functions; every one exists in every region above.
TASK_TYPES: tuple[str, ...] = (
    "BoundingBox",
    "ImageMultiClass",
    "ImageMultiClassMultiLabel",
    "SemanticSegmentation",
    "TextMultiClass",
    "TextMultiClassMultiLabel",
    "NamedEntityRecognition",
    "VideoMultiClass",
    "VideoObjectDetection",
    "VideoObjectTracking",
    "3DPointCloudObjectDetection",
    "3DPointCloudObjectTracking",
    "3DPointCloudSemanticSegmentation",
    "VerificationBoundingBox",
    "AdjustmentBoundingBox",
    "VerificationSemanticSegmentation",
    "AdjustmentSemanticSegmentation",
    "AdjustmentVideoObjectDetection",
    "AdjustmentVideoObjectTracking",
    "Adjustment3DPointCloudObjectDetection",
    "Adjustment3DPointCloudObjectTracking",
    "Adjustment3DPointCloudSemanticSegmentation",
    "PassThrough",
)

HUMAN_TASK_UI_ACCOUNT = "394669845002"
#: AWS-owned task UIs (use with ``UiConfig.HumanTaskUiArn``); all other task types take a template file.
HUMAN_TASK_UIS: tuple[str, ...] = (
    "NamedEntityRecognition",
    "PointCloudObjectDetection",
    "PointCloudObjectTracking",
    "PointCloudSemanticSegmentation",
    "VideoObjectDetection",
    "VideoObjectTracking",
)

Kind = Literal["PRE", "ACS"]


@functools.lru_cache(maxsize=64)
def partition_for_region(region: str) -> str:
    """The ARN partition of ``region`` as botocore's endpoint data names it: ``aws``, ``aws-cn`` (``cn-north-1``),
    ``aws-us-gov`` (``us-gov-west-1``), ``aws-iso``, … A name botocore does not know (an emulator's own, such as
    ``local``) is taken to be in ``aws``.

    >>> [partition_for_region(r) for r in ("us-east-1", "cn-north-1", "us-gov-west-1")]
    ['aws', 'aws-cn', 'aws-us-gov']
    """
    import botocore.session
    from botocore.exceptions import UnknownRegionError

    try:
        return str(botocore.session.get_session().get_partition_for_region(region))
    except UnknownRegionError:
        return "aws"


@functools.lru_cache(maxsize=1)
def _dns_suffixes() -> dict[str, str]:
    """Each partition's DNS suffix, from botocore's endpoint data (``partitions[].dnsSuffix``)."""
    from botocore.loaders import create_loader

    data = create_loader().load_data("endpoints")
    return {str(p["partition"]): str(p["dnsSuffix"]) for p in data["partitions"]}


@functools.lru_cache(maxsize=64)
def dns_suffix_for_region(region: str) -> str:
    """The DNS suffix of AWS endpoints in ``region``'s partition: ``amazonaws.com``, ``amazonaws.com.cn`` in China.

    >>> [dns_suffix_for_region(r) for r in ("us-east-1", "cn-north-1", "us-gov-west-1")]
    ['amazonaws.com', 'amazonaws.com.cn', 'amazonaws.com']
    """
    return _dns_suffixes().get(partition_for_region(region), "amazonaws.com")


def cognito_issuer(region: str, user_pool_id: str) -> str:
    """A Cognito user pool's issuer (its tokens' ``iss``, the workforce's identity provider; its JWKS is under it).

    >>> cognito_issuer("cn-north-1", "cn-north-1_Pool")
    'https://cognito-idp.cn-north-1.amazonaws.com.cn/cn-north-1_Pool'
    """
    return f"https://cognito-idp.{region}.{dns_suffix_for_region(region)}/{user_pool_id}"


def arn(service: str, region: str, account: str, resource: str) -> str:
    """``arn:<partition of region>:<service>:<region>:<account>:<resource>``: every ARN truthloop makes.

    >>> arn("sagemaker", "cn-north-1", "111122223333", "workteam/private-crowd/labelers")
    'arn:aws-cn:sagemaker:cn-north-1:111122223333:workteam/private-crowd/labelers'
    """
    return f"arn:{partition_for_region(region)}:{service}:{region}:{account}:{resource}"


def supported_regions() -> tuple[str, ...]:
    return tuple(BUILTIN_LAMBDA_ACCOUNTS)


def _check_region(region: str) -> str:
    if region not in BUILTIN_LAMBDA_ACCOUNTS:
        raise UnsupportedRegionError(region, supported_regions())
    return BUILTIN_LAMBDA_ACCOUNTS[region]


def builtin_lambda_arn(kind: Kind, task_type: str, region: str) -> str:
    """``arn:<partition>:lambda:<region>:<account>:function:<kind>-<task_type>``; raises listing what is supported."""
    if kind not in ("PRE", "ACS"):
        raise UnsupportedTaskTypeError(f"{kind}-{task_type}", ["PRE-<TaskType>", "ACS-<TaskType>"])
    if task_type not in TASK_TYPES:
        raise UnsupportedTaskTypeError(task_type, TASK_TYPES)
    account = _check_region(region)
    return arn("lambda", region, account, f"function:{kind}-{task_type}")


def pre_annotation_lambda_arn(task_type: str, region: str) -> str:
    """The built-in pre-annotation (``PRE-``) Lambda ARN for ``task_type`` in ``region``."""
    return builtin_lambda_arn("PRE", task_type, region)


def consolidation_lambda_arn(task_type: str, region: str) -> str:
    """The built-in annotation-consolidation (``ACS-``) Lambda ARN for ``task_type`` in ``region``."""
    return builtin_lambda_arn("ACS", task_type, region)


def human_task_ui_arn(ui: str, region: str) -> str:
    """The AWS-owned HumanTaskUi ARN (``NamedEntityRecognition``, ``VideoObjectTracking``, …) in ``region``."""
    if ui not in HUMAN_TASK_UIS:
        raise UnsupportedTaskTypeError(ui, HUMAN_TASK_UIS)
    _check_region(region)
    return arn("sagemaker", region, HUMAN_TASK_UI_ACCOUNT, f"human-task-ui/{ui}")


@dataclass(frozen=True)
class BuiltinLambda:
    kind: Kind
    task_type: str
    region: str


_BUILTIN_RE = re.compile(
    r"^arn:aws:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:(?P<kind>PRE|ACS)-(?P<task>[A-Za-z0-9]+)$"
)


def parse_builtin_lambda_arn(arn: str) -> BuiltinLambda | None:
    """Recognise an AWS built-in ``PRE-``/``ACS-`` ARN (account checked against its region); else ``None``."""
    match = _BUILTIN_RE.match(arn)
    if match is None:
        return None
    region, account, task = match["region"], match["account"], match["task"]
    if BUILTIN_LAMBDA_ACCOUNTS.get(region) != account or task not in TASK_TYPES:
        return None
    kind: Kind = "PRE" if match["kind"] == "PRE" else "ACS"
    return BuiltinLambda(kind=kind, task_type=task, region=region)
