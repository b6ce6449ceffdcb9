"""Settings every truthloop stack derives from the app configuration."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.config import AppConfig
from truthloop.cdk._common import encryption_key

REPO_ROOT = Path(__file__).resolve().parents[2]


def removal_policy(config: AppConfig) -> cdk.RemovalPolicy:
    return cdk.RemovalPolicy.DESTROY if config.value("removalPolicy") == "destroy" else cdk.RemovalPolicy.RETAIN


_RETENTION = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
    2922: logs.RetentionDays.EIGHT_YEARS,
    3288: logs.RetentionDays.NINE_YEARS,
    3653: logs.RetentionDays.TEN_YEARS,
}


def log_retention(config: AppConfig) -> logs.RetentionDays:
    """truthloop:logRetentionDays as CloudWatch's retention (config validation allows only these values)."""
    return _RETENTION[int(config.value("logRetentionDays"))]


def stack_key(scope: Construct, config: AppConfig, *, description: str) -> kms.IKey:
    """The stack's customer-managed key: the configured one (truthloop:kmsKeyArn) or a new one."""
    arn = config.value("kmsKeyArn")
    if arn:
        return kms.Key.from_key_arn(scope, "Key", arn)
    return encryption_key(scope, "Key", description=description, removal_policy=removal_policy(config))


def lambdas_root(config: AppConfig) -> Path | None:
    value = config.value("lambdasDir")
    if not value:
        return None
    path = Path(value)
    return path if path.is_absolute() else REPO_ROOT / path
