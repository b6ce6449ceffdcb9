"""In-process "Lambda" handlers for the local backend's tests: they record the events they get."""

from __future__ import annotations

import json
from typing import Any

import boto3

EVENTS: list[tuple[str, Any]] = []
FAILURES = {"remaining": 0}


def pre(event: dict[str, Any], context: Any) -> dict[str, Any]:
    EVENTS.append(("pre", event))
    return {"taskInput": {"taskObject": event["dataObject"]["source"]}, "isHumanAnnotationRequired": True}


def post(event: dict[str, Any], context: Any) -> list[dict[str, Any]]:
    EVENTS.append(("post", event))
    bucket, _, key = event["payload"]["s3Uri"][5:].partition("/")
    payload = json.loads(boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    EVENTS.append(("payload", payload))
    attribute = event["labelAttributeName"]
    return [
        {
            "datasetObjectId": item["datasetObjectId"],
            "consolidatedAnnotation": {
                "content": {
                    attribute: {"answers": [json.loads(a["annotationData"]["content"]) for a in item["annotations"]]}
                }
            },
        }
        for item in payload
    ]


def on_event(event: dict[str, Any], context: Any) -> None:
    EVENTS.append(("event", event))
    assert context.aws_request_id and context.get_remaining_time_in_millis() > 0


def flaky(event: dict[str, Any], context: Any) -> None:
    if FAILURES["remaining"] > 0:
        FAILURES["remaining"] -= 1
        raise RuntimeError("temporary failure")
    EVENTS.append(("flaky", event))
