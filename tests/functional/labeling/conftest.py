"""Fixtures for the labeling Lambdas: moto S3, powertools configuration, a Lambda context."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

ARN = "arn:aws:sagemaker:us-east-1:111122223333:labeling-job/demo-job"
BUCKET = "gt-out"


@dataclass
class LambdaContext:
    function_name: str = "truthloop-labeling-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:111122223333:function:truthloop-labeling-test"
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.fixture(autouse=True)
def _powertools(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "labeling-test")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "truthloop-test")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def annotation(worker: str, answer: Any) -> dict[str, Any]:
    """One worker's entry in the consolidation payload: the answer as a JSON *string*, as GT stores it."""
    return {"workerId": worker, "annotationData": {"content": json.dumps(answer)}}


def put_event(
    s3: Any, payload: Any, *, attribute: str = "label", categories: list[str] | None = None, key: str = "req.json"
) -> dict[str, Any]:
    """Upload ``payload`` and return the post-annotation event pointing at it."""
    body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    s3.put_object(Bucket=BUCKET, Key=f"demo-job/annotations/consolidation-request/{key}", Body=body)
    return {
        "version": "2018-10-06",
        "labelingJobArn": ARN,
        "labelCategories": categories,
        "labelAttributeName": attribute,
        "roleArn": "arn:aws:iam::111122223333:role/GtRole",
        "payload": {"s3Uri": f"s3://{BUCKET}/demo-job/annotations/consolidation-request/{key}"},
        "outputConfig": f"s3://{BUCKET}/demo-job/annotations",
    }


def emf(text: str) -> dict[str, float]:
    """Metric name → value from the EMF blobs powertools prints."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            blob = json.loads(line)
        except ValueError:
            continue
        for directive in blob.get("_aws", {}).get("CloudWatchMetrics", []):
            for metric in directive.get("Metrics", []):
                value = blob.get(metric["Name"])
                out[metric["Name"]] = out.get(metric["Name"], 0) + (sum(value) if isinstance(value, list) else value)
    return out
