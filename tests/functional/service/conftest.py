"""Fixtures for the service's Lambda handlers on moto: table, buckets, engine queue (with DLQ), event capture.

``boto3`` clients built inside the ``deployment`` fixture (the handlers' included) talk to moto in-process. The
``through_api`` fixture sends a boto3 client's requests through the API Lambda handler as HTTP API events, so
unchanged A2I and SageMaker code runs against the handler.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from truthloop.service.driver import QueueDriver
from truthloop.service.emulated import create_deployment
from truthloop.service.entry import current_service
from truthloop.service.http_api import through_handler

REGION = "us-east-1"
API_URL = "https://truthloop.execute-api.us-east-1.amazonaws.com"


def handler(name: str) -> Callable[[Any, Any], Any]:
    """``lambdas/<name>/handler.py:handler`` (``lambdas`` is on the test path, as in a Lambda bundle)."""
    function: Callable[[Any, Any], Any] = importlib.import_module(f"{name}.handler").handler
    return function


@dataclass
class Deployment:
    queue_url: str
    dlq_url: str
    capture_url: str
    output_bucket: str
    driver: QueueDriver

    def events(self) -> list[dict[str, Any]]:
        """Every event EventBridge routed to the capture queue so far (consumed)."""
        sqs = boto3.client("sqs", region_name=REGION)
        found: list[dict[str, Any]] = []
        while True:
            batch = sqs.receive_message(QueueUrl=self.capture_url, MaxNumberOfMessages=10).get("Messages", [])
            if not batch:
                return found
            for message in batch:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=self.capture_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def deployment(monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployment]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "POWERTOOLS_SERVICE_NAME": "truthloop-test",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        made = create_deployment(lambda name: boto3.client(name, region_name=REGION), visibility_timeout=0)
        boto3.client("s3", region_name=REGION).create_bucket(Bucket="review-output")
        for name, value in made.env.items():
            monkeypatch.setenv(name, value)
        sqs = boto3.client("sqs", region_name=REGION)
        queue, dlq, capture = made.queue_url, made.dlq_url, made.capture_url
        driver = QueueDriver(
            sqs, queue, engine=handler("service_engine"), sweep=handler("service_sweep"), region=REGION
        )
        yield Deployment(queue, dlq, capture, "review-output", driver)


@pytest.fixture
def through_api(deployment: Deployment) -> Callable[[str], Any]:
    """A boto3 client whose requests go to the API Lambda handler as HTTP API (payload 2.0) events."""
    api = handler("service_api")

    def make(service: str) -> Any:
        return through_handler(boto3.client(service, region_name=REGION, endpoint_url=API_URL), api)

    return make


@pytest.fixture
def worker_token(deployment: Deployment) -> str:
    """A worker of the deployment (the service keeps workers as the local backend does)."""
    _, token = current_service().workers.issue("reviewer-1")
    return token
