"""Test support for the review Lambdas: a Lambda context, SQS events built from moto, EMF parsing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass
class FakeLambdaContext:
    """The attributes powertools reads from a Lambda context."""

    function_name: str = "truthloop-test"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:111122223333:function:truthloop-test"
    aws_request_id: str = "req-1"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def sqs_event(messages: list[dict[str, Any]], queue_arn: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping delivers for ``messages`` from ``receive_message``."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {k: str(v) for k, v in m.get("Attributes", {}).items()},
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            }
            for m in messages
        ]
    }


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every JSON object printed one per line (powertools logs and EMF metrics)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def emf_metrics(text: str) -> dict[str, Any]:
    """Metric name → value (summed) from EMF blobs, plus ``(name, dimension=value)`` keys for dimensioned ones."""
    metrics: dict[Any, Any] = {}
    for blob in json_lines(text):
        aws = blob.get("_aws")
        if not aws:
            continue
        for directive in aws.get("CloudWatchMetrics", []):
            dimensions = [d for group in directive.get("Dimensions", []) for d in group if d != "service"]
            for metric in directive.get("Metrics", []):
                name = metric["Name"]
                value = blob[name]
                value = sum(value) if isinstance(value, list) else value
                key: Any = name if not dimensions else (name, *(f"{d}={blob[d]}" for d in dimensions))
                metrics[key] = metrics.get(key, 0) + value
    return metrics
