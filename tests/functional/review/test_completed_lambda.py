"""The review completion Lambda against moto S3 and DynamoDB: results stored once, manifest lines written."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from truthloop.contracts import OutputManifestLine, canonical_json
from truthloop.exceptions import ConfigurationError, ContractError
from truthloop.review import ReviewPolicy
from truthloop.review.adapters import adapt
from truthloop.review.content import build_input_content

from .conftest import FLOW, load_fixture
from .lambda_support import FakeLambdaContext

NAME = "review-fd-0123456789abcdef0123456789abcdef"
OUTPUT_KEY = f"review-fd/2024/05/01/10/00/00/{NAME}/output.json"


def _event(status: str = "Completed", event_id: str = "evt-1", **detail: Any) -> dict[str, Any]:
    body = {
        "version": "0",
        "id": event_id,
        "detail-type": "SageMaker A2I HumanLoop Status Change",
        "source": "aws.sagemaker",
        "account": "111122223333",
        "time": "2024-05-01T10:05:00Z",
        "region": "us-east-1",
        "resources": [f"arn:aws:sagemaker:us-east-1:111122223333:human-loop/{NAME}"],
        "detail": {
            "creationTime": "2024-05-01T10:00:00.000Z",
            "failureCode": None,
            "failureReason": None,
            "flowDefinitionArn": FLOW,
            "humanLoopArn": f"arn:aws:sagemaker:us-east-1:111122223333:human-loop/{NAME}",
            "humanLoopName": NAME,
            "humanLoopOutput": {"outputS3Uri": f"s3://a2i-out/{OUTPUT_KEY}"},
            "humanLoopStatus": status,
        },
    }
    body["detail"].update(detail)
    return body


def _content() -> dict[str, Any]:
    response = load_fixture("comprehend_sentiment.json")
    adapted = adapt("comprehend:detect_sentiment", response)
    decision = ReviewPolicy.threshold(0.7).decide(adapted.predictions)
    return build_input_content(
        "comprehend:detect_sentiment",
        decision,
        input={"text": "I love it"},
        candidates=adapted.candidates,
        response=response,
    )


def _output(content: dict[str, Any], answers: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "flowDefinitionArn": FLOW,
        "humanLoopName": NAME,
        "inputContent": content,
        "humanAnswers": [
            {
                "answerContent": a,
                "workerId": f"worker-{i}",
                "submissionTime": "2024-05-01T10:04:00.000Z",
                "acceptanceTime": "2024-05-01T10:03:00.000Z",
                "timeSpentInSeconds": 55.5,
            }
            for i, a in enumerate(answers)
        ],
    }


@pytest.fixture
def env(aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    s3 = boto3.client("s3", region_name="us-east-1")
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    for bucket in ("a2i-out", "reviewed"):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket="reviewed", VersioningConfiguration={"Status": "Enabled"})
    ddb.create_table(
        TableName="results",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    monkeypatch.setenv("TRUTHLOOP_RESULTS_TABLE", "results")
    monkeypatch.setenv("TRUTHLOOP_REVIEWED_BUCKET", "reviewed")
    monkeypatch.setenv("TRUTHLOOP_REVIEWED_PREFIX", "datasets/sentiment")
    monkeypatch.setenv("TRUTHLOOP_LABEL_ATTRIBUTE", "sentiment")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "review-completed")
    import review_completed.handler as module

    module._processor.cache_clear()
    yield {"s3": s3, "ddb": ddb, "module": module}
    module._processor.cache_clear()


def _result_items(ddb: Any) -> list[dict[str, Any]]:
    items = ddb.scan(TableName="results")["Items"]
    return [i for i in items if not i["pk"]["S"].startswith("review-completed")]


def _put_output(s3: Any, output: dict[str, Any]) -> None:
    s3.put_object(Bucket="a2i-out", Key=OUTPUT_KEY, Body=json.dumps(output).encode())


def test_a_completed_loop_is_stored_and_written_as_a_manifest_line(env: dict[str, Any]) -> None:
    # GIVEN a completed loop whose reviewer corrected the model
    s3, ddb, module = env["s3"], env["ddb"], env["module"]
    _put_output(s3, _output(_content(), [{"verdict": {"label": "incorrect"}, "correction": {"label": "NEUTRAL"}}]))
    # WHEN
    summary = module.handler(_event(), FakeLambdaContext())
    # THEN the summary, the DynamoDB item and the manifest line agree
    assert summary["stored"] is True
    assert summary["manifestS3Uri"] == f"s3://reviewed/datasets/sentiment/review-fd/2024/05/01/{NAME}.manifest"
    (item,) = _result_items(ddb)
    assert item["pk"]["S"] == NAME and item["status"]["S"] == "Completed"
    assert item["humanLabel"]["S"] == "NEUTRAL" and item["modelLabel"]["S"] == "POSITIVE"
    assert item["agreement"]["BOOL"] is False
    assert item["workerIds"]["L"] == [{"S": "worker-0"}]
    stored = json.loads(item["result"]["S"])
    assert stored["answers"][0]["timeSpentInSeconds"] == 55.5
    body = s3.get_object(Bucket="reviewed", Key=summary["manifestS3Uri"].split("/", 3)[3])["Body"].read().decode()
    assert body.endswith("\n") and body.count("\n") == 1
    line = OutputManifestLine.parse(json.loads(body))
    assert line.source == "I love it"
    assert line.label("sentiment").metadata.class_name == "NEUTRAL"  # type: ignore[union-attr]


def test_duplicate_events_store_once(env: dict[str, Any]) -> None:
    # GIVEN a completed loop and the same status change delivered twice (different event ids)
    s3, ddb, module = env["s3"], env["ddb"], env["module"]
    _put_output(s3, _output(_content(), [{"verdict": {"label": "correct"}}]))
    # WHEN
    first = module.handler(_event(event_id="evt-1"), FakeLambdaContext())
    stored_at = _result_items(ddb)[0]["storedAt"]["S"]
    second = module.handler(_event(event_id="evt-2"), FakeLambdaContext())
    # THEN the second delivery wrote nothing: one manifest object version, the same stored item
    assert second["duplicate"] is True
    assert second["manifestS3Uri"] == first["manifestS3Uri"]
    key = first["manifestS3Uri"].split("/", 3)[3]
    versions = s3.list_object_versions(Bucket="reviewed", Prefix=key).get("Versions", [])
    assert len(versions) == 1
    items = _result_items(ddb)
    assert len(items) == 1 and items[0]["storedAt"]["S"] == stored_at


@pytest.mark.parametrize(
    ("status", "reason", "code", "expected_reason"),
    [
        ("Failed", "Task expired", "Expired", "Task expired"),
        ("Stopped", None, None, "the loop ended Stopped without a reason"),
    ],
)
def test_failed_and_stopped_loops_are_recorded_with_their_reason(
    env: dict[str, Any], status: str, reason: str | None, code: str | None, expected_reason: str
) -> None:
    # GIVEN
    module, ddb, s3 = env["module"], env["ddb"], env["s3"]
    event = _event(status, failureReason=reason, failureCode=code, humanLoopOutput=None)
    # WHEN
    summary = module.handler(event, FakeLambdaContext())
    # THEN
    (item,) = _result_items(ddb)
    assert item["status"]["S"] == status and item["failureReason"]["S"] == expected_reason
    assert summary["manifestSkipped"].startswith(f"the loop ended {status}")
    assert "Contents" not in s3.list_objects_v2(Bucket="reviewed")


def test_an_offloaded_input_is_read_back_for_the_result(env: dict[str, Any]) -> None:
    # GIVEN a loop started with an inputRef to the full InputContent
    s3, module = env["s3"], env["module"]
    full = _content()
    s3.put_object(Bucket="a2i-out", Key="inputs/abc.json", Body=canonical_json(full).encode())
    pointer = {
        "truthloop": 1,
        "source": full["source"],
        "predictions": full["predictions"],
        "inputRef": {"s3Uri": "s3://a2i-out/inputs/abc.json", "sha256": "abc", "bytes": 1},
    }
    _put_output(s3, _output(pointer, [{"verdict": {"label": "correct"}}]))
    # WHEN
    summary = module.handler(_event(), FakeLambdaContext())
    # THEN the manifest line has the original input text
    key = summary["manifestS3Uri"].split("/", 3)[3]
    line = json.loads(s3.get_object(Bucket="reviewed", Key=key)["Body"].read())
    assert line["source"] == "I love it"


def test_a_completed_event_without_output_fails_and_can_be_retried(env: dict[str, Any]) -> None:
    # GIVEN a Completed event without outputS3Uri
    module = env["module"]
    event = _event(humanLoopOutput=None)
    # WHEN / THEN the error names the field, and a retry fails the same way (no stuck in-progress record)
    for _ in range(2):
        with pytest.raises(ContractError, match="outputS3Uri"):
            module.handler(copy.deepcopy(event), FakeLambdaContext())
    assert _result_items(env["ddb"]) == []


def test_missing_configuration_is_a_clear_error(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN
    monkeypatch.delenv("TRUTHLOOP_RESULTS_TABLE")
    monkeypatch.delenv("TRUTHLOOP_REVIEWED_BUCKET")
    # WHEN / THEN
    with pytest.raises(ConfigurationError, match=r"TRUTHLOOP_RESULTS_TABLE .* is required; TRUTHLOOP_REVIEWED_BUCKET"):
        env["module"].handler(_event(), FakeLambdaContext())


def test_a_malformed_event_names_the_json_path(env: dict[str, Any]) -> None:
    # GIVEN an event whose detail lacks the loop name
    event = _event()
    del event["detail"]["humanLoopName"]
    # WHEN / THEN
    with pytest.raises(ContractError, match=r"\$\.detail\.humanLoopName: required field is missing"):
        env["module"].handler(event, FakeLambdaContext())
