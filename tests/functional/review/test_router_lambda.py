"""The review router Lambda: SQS batches through moto (redrive to a DLQ), A2I through a botocore Stubber."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from truthloop.exceptions import AdapterError, ConfigurationError
from truthloop.review import ReviewPolicy

from .conftest import FLOW, load_fixture, loop_arn
from .lambda_support import FakeLambdaContext, emf_metrics, sqs_event

POLICY = ReviewPolicy.threshold(0.7)
UNCERTAIN = {
    "source": "comprehend:detect_sentiment",
    "response": load_fixture("comprehend_sentiment.json"),
    "input": {"text": "I love it"},
}
CONFIDENT = {
    "source": "comprehend:detect_sentiment",
    "response": {"Sentiment": "NEGATIVE", "SentimentScore": {"Positive": 0.01, "Negative": 0.98, "Neutral": 0.01}},
    "input": {"text": "awful"},
}


@pytest.fixture
def handler_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("TRUTHLOOP_FLOW_DEFINITION_ARN", FLOW)
    monkeypatch.setenv("TRUTHLOOP_REVIEW_POLICY", POLICY.to_json())
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "review-router-test")
    import review_router.handler as module

    module._router.cache_clear()
    yield module
    module._router.cache_clear()


@pytest.fixture
def stubbed(handler_module: Any) -> Iterator[tuple[Any, Stubber]]:
    """The handler's router with its A2I client replaced by a Stubber'd real client and no backoff sleeps."""
    client = boto3.client("sagemaker-a2i-runtime", region_name="us-east-1")
    router = handler_module.current_router()
    router.client._a2i = client
    router.client._sleep = lambda _seconds: None
    with Stubber(client) as stubber:
        yield handler_module, stubber
        stubber.assert_no_pending_responses()


def _describe(name: str) -> dict[str, Any]:
    return {
        "CreationTime": datetime(2024, 1, 1, tzinfo=UTC),
        "HumanLoopStatus": "InProgress",
        "HumanLoopName": name,
        "HumanLoopArn": loop_arn(name),
        "FlowDefinitionArn": FLOW,
    }


def test_the_router_reads_its_configuration_from_the_environment(handler_module: Any) -> None:
    # WHEN
    router = handler_module.current_router()
    # THEN
    assert router.flow_definition_arn == FLOW
    assert router.policy == POLICY
    assert handler_module.current_router() is router


def test_a_bad_policy_variable_is_a_clear_configuration_error(
    handler_module: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN
    monkeypatch.setenv("TRUTHLOOP_REVIEW_POLICY", '{"rule": {"type": "threshold", "threshold": 7}}')
    # WHEN / THEN
    with pytest.raises(ConfigurationError, match=r"TRUTHLOOP_REVIEW_POLICY: \$.rule.threshold: threshold must be"):
        handler_module.current_router()


def test_direct_invocation_routes_one_record(stubbed: tuple[Any, Stubber], capsys: pytest.CaptureFixture[str]) -> None:
    # GIVEN
    module, stubber = stubbed
    stubber.add_response("start_human_loop", {"HumanLoopArn": loop_arn("x")}, None)
    # WHEN
    result = module.handler(UNCERTAIN, FakeLambdaContext())
    # THEN
    assert result["status"] == "started"
    assert result["reasons"] == ["POSITIVE: confidence 0.58 is below the 0.70 threshold"]
    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics["Routed"] == 1 and metrics["LoopsStarted"] == 1
    assert metrics[("RoutedByRule", "rule=threshold")] == 1
    assert metrics[("RoutedBySource", "source=comprehend:detect_sentiment")] == 1


def test_direct_invocation_raises_for_a_poison_record(stubbed: tuple[Any, Stubber]) -> None:
    # WHEN / THEN
    with pytest.raises(AdapterError, match=r"\$.response: required field is missing"):
        stubbed[0].handler({"source": "comprehend:detect_sentiment"}, FakeLambdaContext())


def test_direct_invocation_with_a_list_reports_each_record(stubbed: tuple[Any, Stubber]) -> None:
    # WHEN
    results = stubbed[0].handler([CONFIDENT, {"source": "nope", "response": {}}], FakeLambdaContext())
    # THEN
    assert results[0]["status"] == "not_routed"
    assert results[1]["error"].startswith("AdapterError: $: unknown source 'nope'")


def test_sqs_batches_lose_nothing_and_duplicate_nothing(
    stubbed: tuple[Any, Stubber], aws: None, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a queue with a DLQ after 2 receives, and four records: uncertain, confident, and two poison ones
    module, stubber = stubbed
    sqs = boto3.client("sqs", region_name="us-east-1")
    dlq_url = sqs.create_queue(QueueName="predictions-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(
        QueueName="predictions",
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"}),
        },
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bodies = [json.dumps(UNCERTAIN), json.dumps(CONFIDENT), "{not json", json.dumps({"source": "x", "response": {}})]
    for body in bodies:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    # AND A2I answers the first delivery of the uncertain record with a 500 after botocore's retries (having
    # created the loop), then reports a conflict on redelivery
    stubber.add_client_error("start_human_loop", "InternalServerException", "lost reply", 500)
    stubber.add_client_error("start_human_loop", "ConflictException", "exists", 409)
    stubber.add_response("describe_human_loop", _describe("placeholder"), None)
    # WHEN the event source mapping delivers batches until the queue is empty (bounded)
    responses = []
    for _ in range(6):
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        if not messages:
            break
        response = module.handler(sqs_event(messages, arn), FakeLambdaContext())
        responses.append(response)
        failed = {f["itemIdentifier"] for f in response["batchItemFailures"]}
        for message in messages:
            if message["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    # THEN the poison records are in the DLQ, the others were processed, and only one loop exists
    dead = sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages", [])
    assert sorted(m["Body"] for m in dead) == sorted(bodies[2:])
    assert len(responses[0]["batchItemFailures"]) == 3
    failures = [r for r in caplog.records if r.getMessage().startswith("prediction record failed")]
    reasons = sorted(r.reason.split(":")[0] for r in failures)  # type: ignore[attr-defined]
    assert reasons == ["AdapterError"] * 4 + ["AwsServiceError"]  # the 500 on the last attempt
    assert all(r.messageId for r in failures)  # type: ignore[attr-defined]
    metrics = emf_metrics(capsys.readouterr().out)
    assert metrics["LoopsStarted"] == 0 and metrics["LoopsAlreadyStarted"] == 1
    assert metrics["NotRouted"] == 1
    assert metrics["RecordsFailed"] == 3 + 2  # first batch: 3 failures; second: the 2 poison records again


def test_budget_deferrals_are_logged_with_a_hash_not_their_input(
    handler_module: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN a budget of zero loops
    monkeypatch.setenv("TRUTHLOOP_REVIEW_POLICY", json.dumps({**POLICY.to_dict(), "budget": {"max_loops": 0}}))
    # WHEN
    result = handler_module.handler(UNCERTAIN, FakeLambdaContext())
    # THEN the caller gets the deferral (and when to retry), the log names the loop and hashes the input
    assert result["status"] == "deferred" and "used up" in result["deferredReason"] and result["retryAt"] > 0
    deferred = [r for r in caplog.records if r.getMessage() == "review deferred by budget"]
    assert deferred[0].humanLoopName == result["humanLoopName"]  # type: ignore[attr-defined]
    assert len(deferred[0].inputSha256) == 64  # type: ignore[attr-defined]
    assert not hasattr(deferred[0], "inputContent")
    assert "I love it" not in caplog.text and "I love it" not in capsys.readouterr().out


def test_sqs_record_deferred_by_the_budget_is_kept_and_started_when_the_window_reopens(
    stubbed: tuple[Any, Stubber],
    aws: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a budget of one loop per hour, already used, and a queue redelivering failures at once
    module, stubber = stubbed
    router = module.current_router()
    now = time.time() // 3600 * 3600 + 600  # ten minutes into an hour window (the budget store keeps real time)
    router.client._clock = lambda: now
    router._clock = lambda: now
    policy = {**POLICY.to_dict(), "budget": {"max_loops": 1, "window_seconds": 3600}}
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="deferrals", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    stubber.add_response("start_human_loop", {"HumanLoopArn": loop_arn("first")}, None)
    assert (
        module.handler(
            {**CONFIDENT, "policy": {**policy, "rule": {"type": "threshold", "threshold": 0.99}}}, FakeLambdaContext()
        )["status"]
        == "started"
    )
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({**UNCERTAIN, "policy": policy}))
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    # WHEN the router gets the record while the budget is used up
    response = module.handler(sqs_event(messages, arn), FakeLambdaContext())
    # THEN it is a batch item failure (SQS keeps it), hidden until the window reopens 50 minutes later
    assert response["batchItemFailures"] == [{"itemIdentifier": messages[0]["MessageId"]}]
    assert sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []) == []
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
    assert attributes["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1"
    deferred = [r for r in caplog.records if r.getMessage().startswith("review deferred by budget")]
    assert deferred[0].visibilityTimeoutSeconds == 3000 + 1  # type: ignore[attr-defined]
    assert deferred[0].humanLoopName and len(deferred[0].inputSha256) == 64  # type: ignore[attr-defined]
    assert "I love it" not in caplog.text and "I love it" not in capsys.readouterr().out
    # AND when the window has reopened, the redelivered record starts its loop
    now += 3000 + 1
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"], VisibilityTimeout=0)
    stubber.add_response("start_human_loop", {"HumanLoopArn": loop_arn("later")}, None)
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert module.handler(sqs_event(again, arn), FakeLambdaContext())["batchItemFailures"] == []


def test_a_deferral_longer_than_sqs_allows_is_capped(handler_module: Any, aws: None) -> None:
    # GIVEN a router whose budget window reopens in two days
    from truthloop.review.router import MAX_DEFER_SECONDS

    router = handler_module.current_router()
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="long-deferral")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.send_message(QueueUrl=url, MessageBody="{}")
    handle = sqs.receive_message(QueueUrl=url)["Messages"][0]["ReceiptHandle"]
    # WHEN the message is deferred
    seconds = router.defer_message(arn, handle, router._clock() + 2 * 86400)
    # THEN the visibility timeout stays within SQS's 12-hour limit
    assert seconds == MAX_DEFER_SECONDS <= 43200


def test_a_record_policy_overrides_the_configured_one(stubbed: tuple[Any, Stubber]) -> None:
    # GIVEN a record that asks for a stricter threshold
    module, stubber = stubbed
    stubber.add_response("start_human_loop", {"HumanLoopArn": loop_arn("y")}, None)
    record = {**CONFIDENT, "policy": ReviewPolicy.threshold(0.99).to_dict()}
    # WHEN
    result = module.handler(record, FakeLambdaContext())
    # THEN
    assert result["status"] == "started"
    assert result["reasons"] == ["NEGATIVE: confidence 0.98 is below the 0.99 threshold"]


def _url_event(body: str, *, base64_encoded: bool = False) -> dict[str, Any]:
    import base64

    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": "/"}, "requestId": "r"},
        "body": base64.b64encode(body.encode()).decode() if base64_encoded else body,
        "isBase64Encoded": base64_encoded,
    }


@pytest.mark.parametrize("base64_encoded", [False, True])
def test_function_url_requests_get_http_responses(stubbed: tuple[Any, Stubber], base64_encoded: bool) -> None:
    # GIVEN a SigV4-signed POST through the function URL
    module, stubber = stubbed
    stubber.add_response("start_human_loop", {"HumanLoopArn": loop_arn("u")}, None)
    # WHEN
    response = module.handler(_url_event(json.dumps(UNCERTAIN), base64_encoded=base64_encoded), FakeLambdaContext())
    # THEN
    assert response["statusCode"] == 200
    assert json.loads(response["body"])["status"] == "started"


@pytest.mark.parametrize(
    ("body", "errors", "status", "message"),
    [
        ("{oops", [], 400, "body is not JSON"),
        (json.dumps({"source": "comprehend:detect_sentiment"}), [], 400, "$.response: required field is missing"),
        (json.dumps(UNCERTAIN), [("ServiceQuotaExceededException", 402)], 429, "QuotaExceededError"),
        (json.dumps({**UNCERTAIN, "flowDefinitionArn": "not-an-arn"}), [], 400, "$.flowDefinitionArn: invalid flow"),
        (json.dumps(UNCERTAIN), [("ThrottlingException", 429)], 503, "ThrottledError"),
    ],
)
def test_function_url_errors_map_to_http_statuses(
    stubbed: tuple[Any, Stubber], body: str, errors: list[tuple[str, int]], status: int, message: str
) -> None:
    # GIVEN
    module, stubber = stubbed
    for code, http in errors:
        stubber.add_client_error("start_human_loop", code, "no", http)
    # WHEN
    response = module.handler(_url_event(body), FakeLambdaContext())
    # THEN
    assert response["statusCode"] == status
    assert message in json.loads(response["body"])["error"]
