"""Run EndpointReviewer against the REAL SageMaker Python SDK with stubbed runtime and A2I clients.

Usage: ``python sagemaker_sdk_check.py v3|v2`` in an interpreter that has the SDK installed (``sagemaker-core`` for
V3, ``sagemaker<3`` for V2 — they cannot share one environment) and truthloop's ``sdk/`` on ``PYTHONPATH``.
Prints one JSON object with what happened; ``test_sagemaker_sdk.py`` runs it and asserts on the result.
Every expectation is also asserted here, so a failure exits non-zero with the reason.
"""

from __future__ import annotations

import io
import json
import os
import sys
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

import boto3
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from truthloop.review import EndpointReviewer, ReviewClient, ReviewPolicy

FLOW = "arn:aws:sagemaker:us-east-1:111122223333:flow-definition/pets-review"
CONFIDENT = b'[{"label": "cat", "score": 0.97}, {"label": "dog", "score": 0.03}]'
UNCERTAIN = b'[{"label": "cat", "score": 0.55}, {"label": "dog", "score": 0.45}]'
REQUEST = {"image": "s3://pets/1.jpg"}


def _body(data: bytes) -> dict[str, Any]:
    return {"Body": StreamingBody(io.BytesIO(data), len(data)), "ContentType": "application/json"}


def _stub_start_then_conflict(stubber: Stubber) -> None:
    """The first uncertain prediction starts a loop; the identical second one conflicts and is found again."""
    arn = "arn:aws:sagemaker:us-east-1:111122223333:human-loop/x"
    stubber.add_response("start_human_loop", {"HumanLoopArn": arn}, None)
    stubber.add_client_error("start_human_loop", "ConflictException", "exists", 409)
    stubber.add_response(
        "describe_human_loop",
        {
            "CreationTime": "2024-01-01T00:00:00Z",
            "HumanLoopStatus": "InProgress",
            "HumanLoopName": "x",
            "HumanLoopArn": arn,
            "FlowDefinitionArn": FLOW,
        },
        None,
    )


def _reviewer(a2i: Any) -> EndpointReviewer:
    client = ReviewClient(a2i, policy=ReviewPolicy.threshold(0.7))
    return EndpointReviewer(client, flow_definition_arn=FLOW, class_names=["cat", "dog"])


def _check(cases: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, reviewed in cases:
        out[name] = {
            "status": reviewed.outcome.status,
            "labels": [p.label for p in reviewed.predictions],
            "confidences": [p.confidence for p in reviewed.predictions],
            "body": reviewed.body,
            "input": None if reviewed.outcome.input_content is None else reviewed.outcome.input_content["input"],
            "source": None if reviewed.outcome.input_content is None else reviewed.outcome.input_content["source"],
        }
    return out


def run_v3() -> dict[str, Any]:
    import sagemaker.core.resources as resources
    from sagemaker.core.deserializers import JSONDeserializer
    from sagemaker.core.resources import Endpoint
    from sagemaker.core.serializers import JSONSerializer

    session = boto3.Session(region_name="us-east-1")
    # Endpoint.invoke builds its runtime client through this cached factory; stub that very client.
    runtime = resources.SageMakerClient(session=session, region_name="us-east-1").sagemaker_runtime_client
    a2i = boto3.client("sagemaker-a2i-runtime", region_name="us-east-1")
    with Stubber(runtime) as stub_runtime, Stubber(a2i) as stub_a2i:
        expected = {"EndpointName": "pets", "Body": ANY, "ContentType": "application/json"}
        stub_runtime.add_response("invoke_endpoint", _body(CONFIDENT), expected)
        stub_runtime.add_response("invoke_endpoint", _body(UNCERTAIN), expected)
        stub_runtime.add_response("invoke_endpoint", _body(UNCERTAIN), {**expected, "Accept": "application/json"})
        _stub_start_then_conflict(stub_a2i)
        reviewer = _reviewer(a2i)
        plain = Endpoint(endpoint_name="pets")
        kwargs = {"content_type": "application/json", "session": session, "region": "us-east-1"}
        body = json.dumps(REQUEST).encode()
        confident = reviewer.invoke(plain, body, **kwargs)
        uncertain = reviewer.invoke(plain, body, **kwargs)
        # With the SDK's own serializer/deserializer the body comes back already decoded.
        typed = Endpoint(endpoint_name="pets", serializer=JSONSerializer(), deserializer=JSONDeserializer())
        again = reviewer.invoke(typed, REQUEST, accept="application/json", **kwargs)
        stub_runtime.assert_no_pending_responses()
        stub_a2i.assert_no_pending_responses()
    assert type(confident.response).__name__ == "InvokeEndpointOutput", type(confident.response)
    assert confident.outcome.status == "not_routed", confident.outcome
    assert uncertain.outcome.status == "started", uncertain.outcome
    assert again.outcome.status == "already_started" and again.raw is None, again
    assert again.outcome.human_loop_name == uncertain.outcome.human_loop_name
    return _check([("confident", confident), ("uncertain", uncertain), ("deserialized", again)])


def run_v2() -> dict[str, Any]:
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import JSONSerializer
    from sagemaker.session import Session

    boto_session = boto3.Session(region_name="us-east-1")
    runtime = boto_session.client("sagemaker-runtime")
    session = Session(
        boto_session=boto_session, sagemaker_client=boto_session.client("sagemaker"), sagemaker_runtime_client=runtime
    )
    a2i = boto3.client("sagemaker-a2i-runtime", region_name="us-east-1")
    with Stubber(runtime) as stub_runtime, Stubber(a2i) as stub_a2i:
        stub_runtime.add_response("invoke_endpoint", _body(CONFIDENT), None)
        stub_runtime.add_response("invoke_endpoint", _body(UNCERTAIN), None)
        stub_runtime.add_response("invoke_endpoint", _body(UNCERTAIN), None)
        _stub_start_then_conflict(stub_a2i)
        reviewer = _reviewer(a2i)
        typed = Predictor(
            "pets", sagemaker_session=session, serializer=JSONSerializer(), deserializer=JSONDeserializer()
        )
        confident = reviewer.predict(typed, REQUEST)
        uncertain = reviewer.predict(typed, REQUEST)
        # The default Predictor returns bytes (BytesDeserializer); the reviewer decodes them.
        raw = Predictor("pets", sagemaker_session=session)
        as_bytes = reviewer.predict(raw, json.dumps(REQUEST).encode())
        stub_runtime.assert_no_pending_responses()
        stub_a2i.assert_no_pending_responses()
    assert confident.outcome.status == "not_routed", confident.outcome
    assert uncertain.outcome.status == "started", uncertain.outcome
    assert as_bytes.raw == UNCERTAIN and as_bytes.outcome.status == "already_started", as_bytes
    assert as_bytes.outcome.human_loop_name == uncertain.outcome.human_loop_name
    return _check([("confident", confident), ("uncertain", uncertain), ("bytes", as_bytes)])


def main() -> None:
    flavour = sys.argv[1]
    result = run_v3() if flavour == "v3" else run_v2()
    import importlib.metadata as metadata

    package = "sagemaker-core" if flavour == "v3" else "sagemaker"
    print(json.dumps({"flavour": flavour, "package": package, "version": metadata.version(package), **result}))


if __name__ == "__main__":
    main()
