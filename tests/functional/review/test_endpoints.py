"""EndpointReviewer around boto3 ``sagemaker-runtime.invoke_endpoint`` (Stubber'd runtime and A2I clients).

The SageMaker SDK wrappers are exercised with the real SDK packages in test_sagemaker_sdk.py.
"""

from __future__ import annotations

import io
import json
from typing import Any

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber

from truthloop.exceptions import AwsError
from truthloop.review import EndpointReviewer, ReviewClient, ReviewPolicy

from .conftest import FLOW, loop_arn


def _body(data: bytes) -> dict[str, Any]:
    return {"Body": StreamingBody(io.BytesIO(data), len(data)), "ContentType": "application/json"}


@pytest.fixture
def runtime() -> Any:
    client = boto3.client("sagemaker-runtime", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def test_one_call_predicts_and_routes(runtime: tuple[Any, Stubber], a2i: tuple[Any, Stubber]) -> None:
    # GIVEN an endpoint returning a probability vector, and a reviewer with class names
    client, stubber = runtime
    a2i_client, a2i_stub = a2i
    request = {"EndpointName": "pets", "Body": b'{"instances": [[1, 2]]}', "ContentType": "application/json"}
    stubber.add_response("invoke_endpoint", _body(b'{"predictions": [[0.4, 0.6]]}'), request)
    a2i_stub.add_response("start_human_loop", {"HumanLoopArn": loop_arn("p")}, None)
    reviewer = EndpointReviewer(
        ReviewClient(a2i_client),
        flow_definition_arn=FLOW,
        policy=ReviewPolicy.threshold(0.8),
        class_names=["cat", "dog"],
    )
    # WHEN
    reviewed = reviewer.invoke_endpoint(client, **request)
    # THEN the caller gets the prediction and the review outcome
    assert reviewed.body == {"predictions": [[0.4, 0.6]]}
    assert reviewed.raw == b'{"predictions": [[0.4, 0.6]]}'
    assert reviewed.response["Body"] == reviewed.raw
    assert [(p.label, p.confidence) for p in reviewed.predictions] == [("dog", 0.6)]
    assert reviewed.outcome.status == "started"
    content = reviewed.outcome.input_content or {}
    assert content["input"] == {"instances": [[1, 2]]}
    assert content["candidates"] == ["cat", "dog"]


def test_confident_predictions_are_only_returned(runtime: tuple[Any, Stubber], a2i: tuple[Any, Stubber]) -> None:
    # GIVEN
    client, stubber = runtime
    stubber.add_response("invoke_endpoint", _body(b'[{"label": "spam", "score": 0.99}]'), None)
    reviewer = EndpointReviewer(ReviewClient(a2i[0]), flow_definition_arn=FLOW, policy=ReviewPolicy.threshold(0.8))
    # WHEN
    reviewed = reviewer.invoke_endpoint(client, EndpointName="spam", Body="buy now", input={"text": "buy now"})
    # THEN
    assert reviewed.outcome.status == "not_routed" and reviewed.body == [{"label": "spam", "score": 0.99}]


def test_endpoint_errors_are_mapped(runtime: tuple[Any, Stubber], a2i: tuple[Any, Stubber]) -> None:
    # GIVEN the model container fails
    client, stubber = runtime
    stubber.add_client_error("invoke_endpoint", "ModelError", "container returned 500", 424)
    reviewer = EndpointReviewer(ReviewClient(a2i[0]), flow_definition_arn=FLOW, policy=ReviewPolicy.threshold(0.8))
    # WHEN / THEN
    with pytest.raises(AwsError, match="InvokeEndpoint: ModelError: container returned 500"):
        reviewer.invoke_endpoint(client, EndpointName="x", Body=b"{}")


def test_a_custom_extractor_handles_csv_models(runtime: tuple[Any, Stubber], a2i: tuple[Any, Stubber]) -> None:
    # GIVEN an XGBoost-style CSV body
    client, stubber = runtime
    stubber.add_response(
        "invoke_endpoint", {"Body": StreamingBody(io.BytesIO(b"0.52"), 4), "ContentType": "text/csv"}, None
    )
    a2i[1].add_response("start_human_loop", {"HumanLoopArn": loop_arn("c")}, None)

    def extract(body: Any) -> list[tuple[str, float]]:
        p = float(body)
        return [("fraud" if p >= 0.5 else "ok", max(p, 1 - p))]

    reviewer = EndpointReviewer(
        ReviewClient(a2i[0]), flow_definition_arn=FLOW, policy=ReviewPolicy.threshold(0.8), extractor=extract
    )
    # WHEN
    reviewed = reviewer.invoke_endpoint(client, EndpointName="fraud", Body=b"1,2,3", ContentType="text/csv")
    # THEN
    assert reviewed.body == 0.52 and reviewed.outcome.status == "started"
    assert json.loads(json.dumps(reviewed.outcome.input_content))["input"] == {"text": "1,2,3"}
