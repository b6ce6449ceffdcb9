"""Shared helpers for the review functional tests: stubbed A2I clients and moto-backed AWS."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

FIXTURES = Path(__file__).resolve().parents[2] / "unit" / "review" / "fixtures"
FLOW = "arn:aws:sagemaker:us-east-1:111122223333:flow-definition/review-fd"
OTHER_FLOW = "arn:aws:sagemaker:us-east-1:111122223333:flow-definition/other-fd"


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def loop_arn(name: str) -> str:
    return f"arn:aws:sagemaker:us-east-1:111122223333:human-loop/{name}"


@pytest.fixture
def a2i() -> Iterator[tuple[Any, Stubber]]:
    """A real botocore ``sagemaker-a2i-runtime`` client with a Stubber activated on it."""
    client = boto3.client("sagemaker-a2i-runtime", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def aws() -> Iterator[None]:
    """moto for S3, SQS and DynamoDB."""
    with mock_aws():
        yield
