"""A service deployment on moto: the table, buckets, engine queue with its DLQ, and an EventBridge rule.

What the CDK stack creates on AWS, made with boto3 calls against moto (in-process ``mock_aws`` or a moto server),
for the tests and the cost benchmark. :func:`create_deployment` returns the ``TRUTHLOOP_SERVICE_*`` environment the
handlers read.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from truthloop.local.storage.dynamodb_schema import create_table
from truthloop.service.settings import ENV_BUCKET, ENV_EVENT_BUS, ENV_QUEUE_URL, ENV_TABLE

__all__ = ["EmulatedDeployment", "create_deployment"]


@dataclass
class EmulatedDeployment:
    """Names and URLs of one emulated deployment."""

    table: str
    bucket: str
    queue_url: str
    dlq_url: str
    capture_url: str
    env: dict[str, str] = field(default_factory=dict)


def create_deployment(
    make_client: Any,
    *,
    prefix: str = "truthloop",
    visibility_timeout: int = 30,
    max_receive_count: int = 3,
    capture_events: bool = True,
) -> EmulatedDeployment:
    """Create the resources with ``make_client(service_name)`` and return where they are.

    A table or bucket that exists already (restored from disk) is kept as it is; queues and the rule are
    (re)created, which SQS and EventBridge accept for the same name and attributes.

    The engine queue redrives a message to the DLQ after ``max_receive_count`` receives; with ``capture_events``
    an EventBridge rule sends every ``truthloop.service`` event to a capture queue, so tests can read them.
    """
    dynamodb = make_client("dynamodb")
    if prefix not in dynamodb.list_tables()["TableNames"]:  # kept from an earlier run (truthloop service local)
        create_table(dynamodb, prefix, wait=False)
    bucket = f"{prefix}-documents"
    s3 = make_client("s3")
    region = s3.meta.region_name
    where = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket, **where)
    sqs = make_client("sqs")

    def arn(url: str) -> str:
        return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    dlq = sqs.create_queue(QueueName=f"{prefix}-engine-dlq")["QueueUrl"]
    queue = sqs.create_queue(
        QueueName=f"{prefix}-engine",
        Attributes={
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": arn(dlq), "maxReceiveCount": str(max_receive_count)}),
        },
    )["QueueUrl"]
    capture = ""
    if capture_events:
        capture = sqs.create_queue(QueueName=f"{prefix}-events")["QueueUrl"]
        events = make_client("events")
        events.put_rule(Name=f"{prefix}-status", EventPattern=json.dumps({"source": ["truthloop.service"]}))
        events.put_targets(Rule=f"{prefix}-status", Targets=[{"Id": "capture", "Arn": arn(capture)}])
    env = {ENV_TABLE: prefix, ENV_BUCKET: bucket, ENV_QUEUE_URL: queue, ENV_EVENT_BUS: "default"}
    return EmulatedDeployment(prefix, bucket, queue, dlq, capture, env)
