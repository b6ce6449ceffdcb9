"""The service's Lambda invoker (botocore Stubber) and SQS step runner (moto): shapes, errors, delays, dedup."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws

from truthloop.local.lambdas import LambdaError, LambdaRegistry
from truthloop.local.steps import StepMessage, StepMessageError
from truthloop.service.invoker import LambdaInvoker
from truthloop.service.runner import MAX_DELAY_SECONDS, SqsStepRunner

ARN = "arn:aws:lambda:us-east-1:111122223333:function:my-pre"


def _payload(value: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(value), len(value))


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ({"StatusCode": 200, "Payload": b'{"taskInput": {"x": 1}}'}, {"taskInput": {"x": 1}}),
        ({"StatusCode": 200, "FunctionError": "Unhandled", "Payload": b'{"errorMessage": "boom"}'}, "Unhandled error"),
        ({"StatusCode": 200, "Payload": b"not json"}, "not JSON"),
    ],
)
def test_an_unmapped_arn_is_invoked_with_the_lambda_invoke_api(response: dict[str, Any], expected: Any) -> None:
    # GIVEN a registry whose unmapped ARNs go to lambda:Invoke
    client = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stubber = Stubber(client)
    stubber.add_response(
        "invoke",
        {**response, "Payload": _payload(response["Payload"])},
        {"FunctionName": ARN, "InvocationType": "RequestResponse", "Payload": b'{"dataObject": {"source": "a"}}'},
    )
    invoker = LambdaInvoker(client)
    registry = LambdaRegistry({}, s3_client_factory=lambda: None, remote=invoker)
    # WHEN the engine invokes it
    with stubber:
        if isinstance(expected, dict):
            result = registry.invoke(ARN, {"dataObject": {"source": "a"}})
            # THEN the function's JSON comes back
            assert result == expected
        else:
            # THEN a function error (or a non-JSON answer) is a LambdaError naming the function
            with pytest.raises(LambdaError, match=expected) as caught:
                registry.invoke(ARN, {"dataObject": {"source": "a"}})
            assert caught.value.arn == ARN
    assert invoker.invocations == 1


@pytest.fixture
def sqs() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_steps_become_messages_with_their_delay_and_far_ones_are_left_to_the_sweep(sqs: Any) -> None:
    # GIVEN a standard queue
    url = sqs.create_queue(QueueName="engine")["QueueUrl"]
    runner = SqsStepRunner(sqs, url)
    # WHEN steps are enqueued now, in 2.5 s, and beyond SQS's 15 minutes
    runner.enqueue("settle_task", "t1")
    runner.enqueue("activate_flow", "f1", delay_seconds=2.5)
    runner.enqueue("advance_job", "j1", delay_seconds=MAX_DELAY_SECONDS + 1)
    # THEN two messages exist (one visible now), each a StepMessage
    assert runner.sent == 2
    visible = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [StepMessage.parse(m["Body"]) for m in visible] == [StepMessage("settle_task", "t1")]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesDelayed"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"


def test_a_fifo_queue_gets_one_message_for_the_same_step_and_item(sqs: Any) -> None:
    # GIVEN a FIFO queue (deduplication by id)
    url = sqs.create_queue(QueueName="engine.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    runner = SqsStepRunner(sqs, url)
    # WHEN the same step is requested twice and another once
    runner.enqueue("settle_task", "t1")
    runner.enqueue("settle_task", "t1")
    runner.enqueue("settle_task", "t2")
    # THEN the queue holds two messages
    bodies = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]]
    assert sorted(b["id"] for b in bodies) == ["t1", "t2"]


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ("[1]", "must be a JSON object"),
        ('{"step": "settle_task", "id": 5}', "$.id"),
        ('{"step": null}', "$.step"),
    ],
)
def test_a_malformed_step_message_names_what_is_wrong(body: str, error: str) -> None:
    with pytest.raises(StepMessageError, match=error.replace("$", r"\$")):
        StepMessage.parse(body)
