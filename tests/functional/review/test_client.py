"""ReviewClient against a stubbed sagemaker-a2i-runtime (botocore Stubber) and moto S3/DynamoDB."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError, ReadTimeoutError
from botocore.stub import ANY, Stubber

from truthloop.contracts import StartHumanLoopRequest, canonical_json
from truthloop.exceptions import (
    AwsServiceError,
    AwsValidationError,
    BudgetExceededError,
    ConfigurationError,
    HumanLoopConflictError,
    InputTooLargeError,
    QuotaExceededError,
    ThrottledError,
)
from truthloop.naming import human_loop_name, validate_human_loop_name
from truthloop.review import AnyOf, Budget, ConfidenceBelow, RequiredFormKeys, ReviewClient, ReviewPolicy
from truthloop.review.stores import DynamoDBBudgetStore

from .conftest import FLOW, OTHER_FLOW, load_fixture, loop_arn
from .scripted import ScriptedA2I

SENTIMENT = load_fixture("comprehend_sentiment.json")
POLICY = ReviewPolicy.threshold(0.7)


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def _client(a2i: Any, sleeps: Sleeps | None = None, **kwargs: Any) -> ReviewClient:
    return ReviewClient(a2i, policy=POLICY, sleep=sleeps or Sleeps(), **kwargs)


def _expected_start(content: dict[str, Any], flow: str = FLOW, classifiers: list[str] | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {
        "HumanLoopName": human_loop_name(flow, content),
        "FlowDefinitionArn": flow,
        "HumanLoopInput": {"InputContent": canonical_json(content)},
    }
    if classifiers:
        params["DataAttributes"] = {"ContentClassifiers": classifiers}
    return params


def _sentiment_content() -> dict[str, Any]:
    decision, candidates = ReviewClient(policy=POLICY).decide("comprehend:detect_sentiment", SENTIMENT)
    from truthloop.review.content import build_input_content

    return build_input_content(
        "comprehend:detect_sentiment", decision, input={"text": "I love it"}, candidates=candidates, response=SENTIMENT
    )


def test_confident_predictions_start_nothing(a2i: tuple[Any, Stubber]) -> None:
    # GIVEN a confident sentiment and no stubbed responses
    client, _ = a2i
    confident = {"Sentiment": "NEGATIVE", "SentimentScore": {"Positive": 0.01, "Negative": 0.97, "Neutral": 0.02}}
    # WHEN
    outcome = _client(client).review("comprehend:detect_sentiment", confident, flow_definition_arn=FLOW)
    # THEN
    assert outcome.status == "not_routed" and not outcome.routed
    assert outcome.human_loop_name is None


def test_a_routed_prediction_starts_one_loop_with_the_uniform_input(a2i: tuple[Any, Stubber]) -> None:
    # GIVEN
    client, stubber = a2i
    content = _sentiment_content()
    name = human_loop_name(FLOW, content)
    stubber.add_response(
        "start_human_loop",
        {"HumanLoopArn": loop_arn(name)},
        _expected_start(content, classifiers=["FreeOfPersonallyIdentifiableInformation"]),
    )
    # WHEN
    outcome = _client(client, content_classifiers=["FreeOfPersonallyIdentifiableInformation"]).review(
        "comprehend:detect_sentiment", SENTIMENT, flow_definition_arn=FLOW, input={"text": "I love it"}
    )
    # THEN the InputContent is exactly docs/interfaces.md's example shape
    assert outcome.status == "started"
    assert outcome.human_loop_arn == loop_arn(name)
    validate_human_loop_name(name)
    assert outcome.input_content == {
        "truthloop": 1,
        "source": "comprehend:detect_sentiment",
        "input": {"text": "I love it"},
        "predictions": [
            {
                "kind": "label",
                "label": "POSITIVE",
                "confidence": 0.58,
                "value": None,
                "key": None,
                "locator": {},
                "flagged": True,
                "scores": {"POSITIVE": 0.58, "NEGATIVE": 0.02, "NEUTRAL": 0.38, "MIXED": 0.02},
            }
        ],
        "candidates": ["POSITIVE", "NEGATIVE", "NEUTRAL", "MIXED"],
        "reasons": ["POSITIVE: confidence 0.58 is below the 0.70 threshold"],
        "rules": ["threshold"],
    }


@pytest.fixture
def botocore_sleeps(monkeypatch: pytest.MonkeyPatch) -> Sleeps:
    """botocore's retry sleeps, recorded instead of slept."""
    import types

    import botocore.endpoint

    sleeps = Sleeps()
    monkeypatch.setattr(botocore.endpoint, "time", types.SimpleNamespace(sleep=sleeps))
    return sleeps


STANDARD = {"mode": "standard", "total_max_attempts": 5}
THROTTLED = (429, {"__type": "ThrottlingException", "message": "Rate exceeded"})
SERVER_ERROR = (500, {"__type": "InternalServerException", "message": "boom"})
CONFLICT = (409, {"__type": "ConflictException", "message": "exists"})


def _started(name: str = "x") -> tuple[int, dict[str, Any]]:
    return 200, {"HumanLoopArn": loop_arn(name)}


def _described(name: str) -> tuple[int, dict[str, Any]]:
    return 200, {
        "CreationTime": 1704067200,
        "HumanLoopStatus": "InProgress",
        "HumanLoopName": name,
        "HumanLoopArn": loop_arn(name),
        "FlowDefinitionArn": FLOW,
    }


def _review(review: ReviewClient) -> Any:
    return review.review(
        "comprehend:detect_sentiment", SENTIMENT, flow_definition_arn=FLOW, input={"text": "I love it"}
    )


@pytest.mark.parametrize(
    ("first", "status"),
    [
        pytest.param(THROTTLED, "started", id="throttled-never-reached-a2i"),
        pytest.param(SERVER_ERROR, "already_started", id="5xx-may-have-created-it"),
        pytest.param(ConnectionClosedError(endpoint_url="http://a2i"), "already_started", id="dropped-connection"),
        pytest.param(EndpointConnectionError(endpoint_url="http://a2i"), "started", id="never-connected"),
    ],
)
def test_botocore_retries_a_failed_start_and_the_client_reports_what_it_may_have_done(
    botocore_sleeps: Sleeps, first: Any, status: str
) -> None:
    # GIVEN a client in botocore's standard retry mode whose first StartHumanLoop fails, then succeeds
    scripted = ScriptedA2I([first, _started()], retries=STANDARD)
    own_sleeps = Sleeps()
    # WHEN
    outcome = _review(_client(scripted.client, own_sleeps))
    # THEN botocore retried once (its backoff), truthloop did not retry on top, and a start whose first attempt may
    # have reached A2I is reported as already started
    assert scripted.calls == ["StartHumanLoop", "StartHumanLoop"]
    assert len(botocore_sleeps.calls) == 1 and own_sleeps.calls == []
    assert outcome.status == status and outcome.attempts == 2


def test_a_retry_after_a_lost_success_finds_the_existing_loop(botocore_sleeps: Sleeps) -> None:
    # GIVEN the first start returned 500 (but created the loop), botocore's retry gets ConflictException
    name = human_loop_name(FLOW, _sentiment_content())
    scripted = ScriptedA2I([SERVER_ERROR, CONFLICT, _described(name)], retries=STANDARD)
    # WHEN
    outcome = _review(_client(scripted.client))
    # THEN
    assert scripted.calls == ["StartHumanLoop", "StartHumanLoop", "DescribeHumanLoop"]
    assert outcome.status == "already_started" and outcome.routed
    assert outcome.human_loop_arn == loop_arn(name) and outcome.human_loop_status == "InProgress"


@pytest.mark.parametrize(
    ("retries", "max_calls"),
    [
        pytest.param(None, 3, id="botocore-defaults"),
        pytest.param({"mode": "legacy", "max_attempts": 4}, 5, id="legacy-5"),
        pytest.param({"mode": "standard", "total_max_attempts": 3}, 3, id="standard-3"),
        pytest.param({"mode": "adaptive", "total_max_attempts": 4}, 4, id="adaptive-4"),
    ],
)
def test_calls_per_prediction_under_persistent_throttling_are_botocores_attempts_only(
    botocore_sleeps: Sleeps, retries: dict[str, Any] | None, max_calls: int
) -> None:
    # GIVEN A2I throttling every call (before: truthloop's 5 attempts x botocore's, e.g. 5 x 5 = 25 in legacy mode)
    scripted = ScriptedA2I([THROTTLED] * 30, retries=retries)
    # WHEN / THEN
    with pytest.raises(ThrottledError) as info:
        _review(_client(scripted.client))
    assert len(scripted.calls) == max_calls
    assert isinstance(info.value.__cause__, ClientError)  # botocore's error (and its request id) stays chained


def test_the_clients_truthloop_creates_use_botocores_standard_retries() -> None:
    # WHEN
    review = ReviewClient(policy=POLICY, max_attempts=4)
    # THEN
    assert review.a2i.meta.config.retries == {"mode": "standard", "total_max_attempts": 4}
    assert review.s3.meta.config.retries == {"mode": "standard", "total_max_attempts": 4}


def test_connection_errors_are_retried_with_seeded_growing_capped_backoff_when_botocore_does_not_retry() -> None:
    # GIVEN a client with botocore's retries off, four dropped connections, then success
    scripted = ScriptedA2I(
        [ConnectionClosedError(endpoint_url="http://a2i")] * 4 + [_started()], retries={"total_max_attempts": 1}
    )
    sleeps = Sleeps()
    review = ReviewClient(
        scripted.client,
        policy=POLICY,
        sleep=sleeps,
        max_attempts=5,
        base_delay_seconds=1.0,
        max_delay_seconds=3.0,
        rng=random.Random(7),
    )
    # WHEN
    outcome = _review(review)
    # THEN the start was resent under the same name, with full-jitter delays under caps 1, 2, 3, 3 (growth, cap)
    expected = random.Random(7)
    assert sleeps.calls == [expected.uniform(0.0, cap) for cap in (1.0, 2.0, 3.0, 3.0)]
    assert scripted.calls == ["StartHumanLoop"] * 5
    assert outcome.status == "already_started" and outcome.attempts == 5


def test_connection_errors_give_up_after_max_attempts() -> None:
    # GIVEN a client with botocore's retries off and a connection that always drops
    scripted = ScriptedA2I([ReadTimeoutError(endpoint_url="http://a2i")] * 9, retries={"total_max_attempts": 1})
    review = ReviewClient(scripted.client, policy=POLICY, sleep=Sleeps(), max_attempts=3)
    # WHEN / THEN
    with pytest.raises(AwsServiceError) as info:
        _review(review)
    assert len(scripted.calls) == 3 and isinstance(info.value.__cause__, ReadTimeoutError)


def test_reviewing_the_same_prediction_twice_creates_one_loop(a2i: tuple[Any, Stubber]) -> None:
    # GIVEN A2I accepts the first start and reports a conflict for the second
    client, stubber = a2i
    content = _sentiment_content()
    expected = _expected_start(content)
    name = expected["HumanLoopName"]
    stubber.add_response("start_human_loop", {"HumanLoopArn": loop_arn(name)}, expected)
    stubber.add_client_error("start_human_loop", "ConflictException", "exists", 409, expected_params=expected)
    stubber.add_response(
        "describe_human_loop",
        {
            "CreationTime": datetime(2024, 1, 1, tzinfo=UTC),
            "HumanLoopStatus": "InProgress",
            "HumanLoopName": name,
            "HumanLoopArn": loop_arn(name),
            "FlowDefinitionArn": FLOW,
        },
        {"HumanLoopName": name},
    )
    review = _client(client)
    # WHEN
    first = review.review(
        "comprehend:detect_sentiment", SENTIMENT, flow_definition_arn=FLOW, input={"text": "I love it"}
    )
    second = review.review(
        "comprehend:detect_sentiment", SENTIMENT, flow_definition_arn=FLOW, input={"text": "I love it"}
    )
    # THEN
    assert (first.status, second.status) == ("started", "already_started")
    assert first.human_loop_name == second.human_loop_name == name


def test_a_conflict_with_another_flow_is_a_real_conflict(a2i: tuple[Any, Stubber]) -> None:
    # GIVEN
    client, stubber = a2i
    stubber.add_client_error("start_human_loop", "ConflictException", "exists", 409)
    stubber.add_response(
        "describe_human_loop",
        {
            "CreationTime": datetime(2024, 1, 1, tzinfo=UTC),
            "HumanLoopStatus": "InProgress",
            "HumanLoopName": "x",
            "HumanLoopArn": loop_arn("x"),
            "FlowDefinitionArn": OTHER_FLOW,
        },
        {"HumanLoopName": ANY},
    )
    # WHEN / THEN
    with pytest.raises(HumanLoopConflictError, match=r"already exists for flow definition .*other-fd"):
        _client(client).review("comprehend:detect_sentiment", SENTIMENT, flow_definition_arn=FLOW)


@pytest.mark.parametrize(("same_input", "expected"), [(True, "already_started"), (False, "conflict")])
def test_a_finished_loop_is_compared_by_its_output_input(aws: None, same_input: bool, expected: str) -> None:
    # GIVEN a conflicting name whose loop already completed, with output.json in S3
    a2i = boto3.client("sagemaker-a2i-runtime", region_name="us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="out")
    content = _sentiment_content()
    name = human_loop_name(FLOW, content)
    stored = content if same_input else {**content, "input": {"text": "something else"}}
    output = {"flowDefinitionArn": FLOW, "humanLoopName": name, "inputContent": stored, "humanAnswers": []}
    s3.put_object(Bucket="out", Key=f"review-fd/{name}/output.json", Body=json.dumps(output))
    with Stubber(a2i) as stubber:
        stubber.add_client_error("start_human_loop", "ConflictException", "exists", 409)
        stubber.add_response(
            "describe_human_loop",
            {
                "CreationTime": datetime(2024, 1, 1, tzinfo=UTC),
                "HumanLoopStatus": "Completed",
                "HumanLoopName": name,
                "HumanLoopArn": loop_arn(name),
                "FlowDefinitionArn": FLOW,
                "HumanLoopOutput": {"OutputS3Uri": f"s3://out/review-fd/{name}/output.json"},
            },
            {"HumanLoopName": name},
        )
        review = ReviewClient(a2i, s3, policy=POLICY)
        # WHEN / THEN
        if expected == "conflict":
            with pytest.raises(HumanLoopConflictError, match="different input"):
                review.review(
                    "comprehend:detect_sentiment", SENTIMENT, flow_definition_arn=FLOW, input={"text": "I love it"}
                )
        else:
            outcome = review.review(
                "comprehend:detect_sentiment", SENTIMENT, flow_definition_arn=FLOW, input={"text": "I love it"}
            )
            assert outcome.status == "already_started" and outcome.human_loop_status == "Completed"


def test_quota_errors_are_never_retried(a2i: tuple[Any, Stubber]) -> None:
    # GIVEN a 402 quota error
    client, stubber = a2i
    stubber.add_client_error("start_human_loop", "ServiceQuotaExceededException", "too many loops", 402)
    sleeps = Sleeps()
    # WHEN / THEN
    with pytest.raises(QuotaExceededError) as info:
        _client(client, sleeps).review("comprehend:detect_sentiment", SENTIMENT, flow_definition_arn=FLOW)
    assert info.value.status_code == 402 and sleeps.calls == []


def test_validation_errors_are_not_retried(a2i: tuple[Any, Stubber]) -> None:
    # GIVEN
    client, stubber = a2i
    stubber.add_client_error("start_human_loop", "ValidationException", "flow is not active", 400)
    # WHEN / THEN
    with pytest.raises(AwsValidationError, match="flow is not active"):
        _client(client).review("comprehend:detect_sentiment", SENTIMENT, flow_definition_arn=FLOW)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"content_classifiers": ["FreeOfSpam"]}, "unknown content classifiers"),
        ({"max_attempts": 0}, "max_attempts"),
    ],
)
def test_bad_client_configuration(kwargs: dict[str, Any], message: str) -> None:
    # WHEN / THEN
    with pytest.raises(ConfigurationError, match=message):
        ReviewClient(policy=POLICY, **kwargs)


def test_bad_flow_arns_are_rejected_before_any_call(a2i: tuple[Any, Stubber]) -> None:
    # WHEN / THEN
    with pytest.raises(ConfigurationError, match="invalid flow definition ARN"):
        _client(a2i[0]).review("comprehend:detect_sentiment", SENTIMENT, flow_definition_arn="review-fd")


def test_inputs_over_3_mib_are_refused_without_offload(a2i: tuple[Any, Stubber]) -> None:
    # GIVEN a 4 MB input
    big = {"text": "x" * 4_000_000}
    # WHEN / THEN
    with pytest.raises(InputTooLargeError) as info:
        _client(a2i[0]).review("comprehend:detect_sentiment", SENTIMENT, flow_definition_arn=FLOW, input=big)
    assert info.value.limit == 3145728 and info.value.size > 4_000_000


def test_inputs_over_3_mib_are_offloaded_to_s3(aws: None) -> None:
    # GIVEN an offload bucket
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="review-inputs")
    a2i = boto3.client("sagemaker-a2i-runtime", region_name="us-east-1")
    big = {"text": "é" * 2_000_000}
    with Stubber(a2i) as stubber:
        stubber.add_response("start_human_loop", {"HumanLoopArn": loop_arn("x")}, None)
        review = ReviewClient(a2i, s3, policy=POLICY, offload_bucket="review-inputs")
        # WHEN
        outcome = review.review("comprehend:detect_sentiment", SENTIMENT, flow_definition_arn=FLOW, input=big)
    # THEN the loop gets a small input pointing at the full one
    assert outcome.status == "started" and outcome.input_ref is not None
    sent = outcome.input_content or {}
    assert set(sent) >= {"truthloop", "source", "predictions", "reasons", "rules", "inputRef"}
    assert "input" not in sent and len(canonical_json(sent)) < 10_000
    bucket, key = outcome.input_ref[5:].split("/", 1)
    stored = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert stored["input"] == big and stored["predictions"][0]["flagged"] is True
    assert sent["inputRef"]["bytes"] > 3145728


def test_budget_defers_the_excess_and_records_why(a2i: tuple[Any, Stubber]) -> None:
    # GIVEN a budget of one loop per hour and two different uncertain predictions
    client, stubber = a2i
    stubber.add_response("start_human_loop", {"HumanLoopArn": loop_arn("a")}, None)
    policy = ReviewPolicy(ConfidenceBelow(0.7), budget=Budget(max_loops=1, window_seconds=3600))
    review = ReviewClient(client, policy=policy, clock=lambda: 7200.0)
    # WHEN
    first = review.review("comprehend:detect_sentiment", SENTIMENT, flow_definition_arn=FLOW, input={"text": "a"})
    second = review.review("comprehend:detect_sentiment", SENTIMENT, flow_definition_arn=FLOW, input={"text": "b"})
    # THEN the second is deferred, not dropped: the outcome carries the reason and what would have been sent
    assert first.status == "started"
    assert second.status == "deferred" and not second.routed
    assert second.deferred_reason is not None and "1 loops per 3600 s window" in second.deferred_reason
    assert second.input_content is not None and second.input_content["input"] == {"text": "b"}
    assert second.human_loop_name is not None
    # AND asking for errors raises instead
    strict = ReviewClient(
        client, policy=policy, clock=lambda: 7200.0, on_budget_exceeded="raise", budget_store=review.budget_store
    )
    with pytest.raises(BudgetExceededError, match="used up"):
        strict.review("comprehend:detect_sentiment", SENTIMENT, flow_definition_arn=FLOW, input={"text": "c"})


def test_an_already_started_loop_gives_its_budget_back(a2i: tuple[Any, Stubber]) -> None:
    # GIVEN a budget of one loop and a loop that already exists
    client, stubber = a2i
    stubber.add_client_error("start_human_loop", "ConflictException", "exists", 409)
    stubber.add_response(
        "describe_human_loop",
        {
            "CreationTime": datetime(2024, 1, 1, tzinfo=UTC),
            "HumanLoopStatus": "InProgress",
            "HumanLoopName": "x",
            "HumanLoopArn": loop_arn("x"),
            "FlowDefinitionArn": FLOW,
        },
        None,
    )
    stubber.add_response("start_human_loop", {"HumanLoopArn": loop_arn("y")}, None)
    policy = ReviewPolicy(ConfidenceBelow(0.7), budget=Budget(max_loops=1))
    review = ReviewClient(client, policy=policy)
    # WHEN
    first = review.review("comprehend:detect_sentiment", SENTIMENT, flow_definition_arn=FLOW, input={"text": "a"})
    second = review.review("comprehend:detect_sentiment", SENTIMENT, flow_definition_arn=FLOW, input={"text": "b"})
    # THEN
    assert (first.status, second.status) == ("already_started", "started")


def test_dynamodb_budget_store_is_shared_and_atomic(aws: None) -> None:
    # GIVEN a table with partition key pk
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    ddb.create_table(
        TableName="budget",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    first, second = DynamoDBBudgetStore("budget", client=ddb), DynamoDBBudgetStore("budget", client=ddb)
    # WHEN two routers share a budget of 3
    taken = [store.acquire("flow#60#1", 3, 120) for store in (first, second, first, second)]
    second.release("flow#60#1")
    # THEN
    assert taken == [True, True, True, False]
    assert first.count("flow#60#1") == 2


def test_textract_reviews_carry_the_builtin_a2i_keys(a2i: tuple[Any, Stubber]) -> None:
    # GIVEN a policy with a required key and a per-key threshold
    client, stubber = a2i
    stubber.add_response("start_human_loop", {"HumanLoopArn": loop_arn("t")}, None)
    policy = ReviewPolicy(AnyOf(ConfidenceBelow(None, per={"Pay Date": 0.7}), RequiredFormKeys({"Net Pay": ["Net"]})))
    response = load_fixture("textract_forms_multipage.json")
    # WHEN
    outcome = ReviewClient(client, policy=policy).review(
        "textract:analyze_document",
        response,
        flow_definition_arn=FLOW,
        input={"Document": {"S3Object": {"Bucket": "docs", "Name": "pay/slip.pdf"}}},
    )
    # THEN
    content = outcome.input_content or {}
    assert content["aiServiceRequest"] == {"document": {"s3Object": {"bucket": "docs", "name": "pay/slip.pdf"}}}
    assert content["aiServiceResponse"]["blocks"][0]["blockType"] == "PAGE"
    selected = {b["id"] for b in content["selectedAiServiceResponse"]["blocks"]}
    assert selected == {"k1", "v1", "w1", "w2", "w3"}
    assert content["humanLoopContext"]["importantFormKeys"] == [
        {"importantFormKey": "Pay Date", "importantFormKeyAliases": []},
        {"importantFormKey": "Net Pay", "importantFormKeyAliases": ["Net"]},
    ]
    flagged = [p for p in content["predictions"] if p["flagged"]]
    assert [(p["kind"], p["key"]) for p in flagged] == [("form_field", "Pay Date:"), ("missing_key", "Net Pay")]


def test_moderation_reviews_select_the_flagged_labels(a2i: tuple[Any, Stubber]) -> None:
    # GIVEN
    client, stubber = a2i
    stubber.add_response("start_human_loop", {"HumanLoopArn": loop_arn("m")}, None)
    # WHEN
    outcome = ReviewClient(client, policy=ReviewPolicy.threshold(0.8)).review(
        "rekognition:detect_moderation_labels",
        load_fixture("rekognition_moderation.json"),
        flow_definition_arn=FLOW,
        input={"s3Uri": "s3://images/a.jpg"},
    )
    # THEN
    content = outcome.input_content or {}
    assert content["aiServiceRequest"] == {"image": {"s3Object": {"bucket": "images", "name": "a.jpg"}}}
    assert [x["name"] for x in content["selectedAiServiceResponse"]["moderationLabels"]] == [
        "Suggestive",
        "Revealing Clothes",
    ]
    assert "ResponseMetadata" not in content["aiServiceResponse"]


def test_the_start_request_is_a_documented_contract(a2i: tuple[Any, Stubber]) -> None:
    # GIVEN a capture of what the client sends
    client, stubber = a2i
    stubber.add_response("start_human_loop", {"HumanLoopArn": loop_arn("c")}, None)
    sent: list[dict[str, Any]] = []
    client.meta.events.register(
        "provide-client-params.sagemaker-a2i-runtime.StartHumanLoop", lambda params, **_: sent.append(dict(params))
    )
    # WHEN
    _client(client).review("comprehend:detect_sentiment", SENTIMENT, flow_definition_arn=FLOW)
    # THEN the request parses as a StartHumanLoop request and its input as the uniform shape
    request = StartHumanLoopRequest.parse(sent[0])
    assert request.input()["truthloop"] == 1
