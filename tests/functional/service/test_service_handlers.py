"""The service's three Lambda handlers on moto: boto3 A2I code through the API handler, steps through SQS, events
on EventBridge, poison messages to the DLQ, and the adapter changing no byte of what the application answers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from tests.functional.local.helpers import COGNITO, ROLE, active_flow
from tests.functional.service.conftest import REGION, Deployment, handler
from truthloop.arns import consolidation_lambda_arn, pre_annotation_lambda_arn
from truthloop.local.handlers import LambdaContext
from truthloop.service.entry import current_service
from truthloop.service.http_api import from_http_api_response, to_http_api_event
from truthloop.templates import catalogue


def _portal(method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    raw = b"" if body is None else json.dumps(body).encode()
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json", "host": "api.local"}
    event = to_http_api_event(method, path, "", headers, raw)
    status, _, content = from_http_api_response(handler("service_api")(event, _context()))
    return status, (json.loads(content) if content else None)


def _context() -> LambdaContext:
    return LambdaContext(function_name="truthloop-service-api", invoked_function_arn="arn:local")


def _flow(sm: Any, deployment: Deployment, output_bucket: str | None = None) -> str:
    """An Active flow; the engine queue is drained to activate it (activate_flow is delayed by the activation time)."""
    return active_flow(sm, output=f"s3://{output_bucket or deployment.output_bucket}/a2i", tick=deployment.driver.drain)


def test_a_review_runs_through_the_api_engine_and_eventbridge(
    deployment: Deployment, through_api: Callable[[str], Any], worker_token: str
) -> None:
    # GIVEN an active flow made with plain boto3 calls through the API handler
    sm, a2i = through_api("sagemaker"), through_api("sagemaker-a2i-runtime")
    flow = _flow(sm, deployment)
    # WHEN a loop is started, a worker answers it through the portal API, and the engine queue is drained
    a2i.start_human_loop(
        HumanLoopName="loop-1", FlowDefinitionArn=flow, HumanLoopInput={"InputContent": '{"text": "x"}'}
    )
    status, claimed = _portal("POST", "/portal/api/tasks/claim", worker_token, {})
    assert status == 200
    status, _ = _portal(
        "POST", f"/portal/api/tasks/{claimed['task']['id']}/answer", worker_token, {"answer": {"label": "ok"}}
    )
    assert status == 200
    deployment.driver.drain()
    # THEN the loop is Completed with its output.json in the flow's bucket
    described = a2i.describe_human_loop(HumanLoopName="loop-1")
    assert described["HumanLoopStatus"] == "Completed"
    bucket, _, key = described["HumanLoopOutput"]["OutputS3Uri"].removeprefix("s3://").partition("/")
    output = json.loads(boto3.client("s3", region_name=REGION).get_object(Bucket=bucket, Key=key)["Body"].read())
    assert output["humanAnswers"][0]["answerContent"] == {"label": "ok"}
    # AND exactly one status event reached EventBridge, with AWS's detail-type and detail and the service's source
    events = deployment.events()
    assert [(e["source"], e["detail-type"]) for e in events] == [
        ("truthloop.service", "SageMaker A2I HumanLoop Status Change")
    ]
    assert events[0]["detail"]["humanLoopStatus"] == "Completed"
    assert events[0]["detail"]["humanLoopOutput"] == {"outputS3Uri": described["HumanLoopOutput"]["OutputS3Uri"]}
    assert events[0]["resources"] == [described["HumanLoopArn"]]


def test_a_step_delivered_twice_changes_nothing_the_second_time(
    deployment: Deployment, through_api: Callable[[str], Any], worker_token: str
) -> None:
    # GIVEN a completed loop
    sm, a2i = through_api("sagemaker"), through_api("sagemaker-a2i-runtime")
    flow = _flow(sm, deployment)
    a2i.start_human_loop(HumanLoopName="loop-2", FlowDefinitionArn=flow, HumanLoopInput={"InputContent": "{}"})
    _, claimed = _portal("POST", "/portal/api/tasks/claim", worker_token, {})
    _portal("POST", f"/portal/api/tasks/{claimed['task']['id']}/answer", worker_token, {"answer": {"label": "a"}})
    deployment.driver.drain()
    first = a2i.describe_human_loop(HumanLoopName="loop-2")
    first.pop("ResponseMetadata")
    assert len(deployment.events()) == 1
    # WHEN SQS delivers its settle step again (at-least-once)
    sqs = boto3.client("sqs", region_name=REGION)
    sqs.send_message(
        QueueUrl=deployment.queue_url, MessageBody=json.dumps({"step": "settle_task", "id": claimed["task"]["id"]})
    )
    deployment.driver.drain()
    # THEN nothing changes and no second event is sent
    again = a2i.describe_human_loop(HumanLoopName="loop-2")
    again.pop("ResponseMetadata")
    assert again == first
    assert deployment.events() == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [("not json", "not JSON"), ('{"step": "explode", "id": "x"}', "$.step"), ('{"step": "settle_task"}', "$.id")],
)
def test_a_poison_message_fails_alone_and_reaches_the_dlq_with_its_reason_logged(
    deployment: Deployment, body: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a malformed message and a good one in the same batch
    sqs = boto3.client("sqs", region_name=REGION)
    sqs.send_message(QueueUrl=deployment.queue_url, MessageBody=body)
    sqs.send_message(QueueUrl=deployment.queue_url, MessageBody='{"step": "sweep", "id": ""}')
    # WHEN the engine handles the queue until it is empty
    deployment.driver.drain()
    # THEN only the bad one failed, three times (maxReceiveCount), and it waits in the DLQ; the reason is logged
    assert deployment.driver.failures == 3
    moved = sqs.receive_message(QueueUrl=deployment.dlq_url, MaxNumberOfMessages=10).get("Messages", [])
    assert [m["Body"] for m in moved] == [body]
    assert any(reason in record.getMessage() for record in caplog.records)


def test_the_adapter_changes_no_byte_of_the_application_response(
    deployment: Deployment, through_api: Callable[[str], Any]
) -> None:
    # GIVEN requests that succeed and fail, in both protocols (SageMaker JSON 1.1 and A2I REST-JSON)
    sm = through_api("sagemaker")
    sm.create_workteam(WorkteamName="team", Description="d", MemberDefinitions=[{"CognitoMemberDefinition": COGNITO}])
    requests = [
        ("POST", "/", {"x-amz-target": "SageMaker.DescribeWorkteam"}, b'{"WorkteamName": "team"}'),
        ("POST", "/", {"x-amz-target": "SageMaker.DescribeWorkteam"}, b'{"WorkteamName": "nope"}'),
        ("POST", "/", {"x-amz-target": "SageMaker.DescribeWorkteam"}, b"{not json"),
        ("GET", "/human-loops/missing", {}, b""),
    ]
    app = httpx.AsyncClient(transport=httpx.ASGITransport(app=current_service().app), base_url="http://api.local")
    for method, path, extra, body in requests:
        headers = {
            "host": "api.local",
            "content-type": "application/x-amz-json-1.1",
            "authorization": "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sagemaker/aws4_request, "
            "SignedHeaders=host, Signature=0",
            **extra,
        }
        if path.startswith("/human-loops"):
            headers["authorization"] = headers["authorization"].replace("/sagemaker/", "/sagemaker/")
        # WHEN one goes through the Lambda handler and the same one straight to the ASGI application
        status, response_headers, content = from_http_api_response(
            handler("service_api")(to_http_api_event(method, path, "", headers, body), _context())
        )
        direct = _run(app.request(method, path, headers=headers, content=body))
        # THEN status, content type and body bytes are the same (the request id differs per request)
        assert (status, response_headers.get("content-type"), _without_request_id(content)) == (
            direct.status_code,
            direct.headers.get("content-type"),
            _without_request_id(direct.content),
        )
        assert status < 500


def _run(coroutine: Any) -> httpx.Response:
    loop = asyncio.new_event_loop()  # not the thread's current loop: the handler keeps its own
    try:
        response: httpx.Response = loop.run_until_complete(coroutine)
    finally:
        loop.close()
    return response


def _without_request_id(content: bytes) -> bytes:
    try:
        value = json.loads(content)
    except ValueError:
        return content
    if isinstance(value, dict):
        value.pop("RequestId", None)
    return json.dumps(value, sort_keys=True).encode()


def test_a_failing_output_bucket_is_retried_then_failed_while_other_loops_complete(
    deployment: Deployment, through_api: Callable[[str], Any], worker_token: str
) -> None:
    # GIVEN a flow writing to a bucket that does not exist
    sm, a2i = through_api("sagemaker"), through_api("sagemaker-a2i-runtime")
    flow = _flow(sm, deployment, output_bucket="no-such-bucket")
    a2i.start_human_loop(HumanLoopName="doomed", FlowDefinitionArn=flow, HumanLoopInput={"InputContent": "{}"})
    _, claimed = _portal("POST", "/portal/api/tasks/claim", worker_token, {})
    _portal("POST", f"/portal/api/tasks/{claimed['task']['id']}/answer", worker_token, {"answer": {"label": "a"}})
    # WHEN the engine retries it (re-enqueued with a growing delay, counted in the task) until it gives up
    service = current_service()
    service.steps.retry = type(service.steps.retry)(base_seconds=0.0, cap_seconds=0.0, max_attempts=3)
    deployment.driver.drain()
    # THEN it is Failed with the reason, its event was sent, and no message was lost to the DLQ
    described = a2i.describe_human_loop(HumanLoopName="doomed")
    assert described["HumanLoopStatus"] == "Failed"
    assert "NoSuchBucket" in described["FailureReason"] and described["FailureCode"] == "InternalError"
    assert [e["detail"]["humanLoopStatus"] for e in deployment.events()] == ["Failed"]
    with pytest.raises(ClientError):
        boto3.client("s3", region_name=REGION).head_bucket(Bucket="no-such-bucket")


def test_a_labeling_job_with_three_workers_completes_through_the_engine_queue(
    deployment: Deployment, through_api: Callable[[str], Any]
) -> None:
    # GIVEN a job on AWS's built-in PRE-/ACS-TextMultiClass functions, three workers per object
    sm = through_api("sagemaker")
    s3 = boto3.client("s3", region_name=REGION)
    team = sm.create_workteam(
        WorkteamName="labelers", Description="l", MemberDefinitions=[{"CognitoMemberDefinition": COGNITO}]
    )["WorkteamArn"]
    bucket = deployment.output_bucket
    _create_job(sm, s3, team, bucket, output=f"s3://{bucket}/out/", workers=3)
    deployment.driver.drain()
    assert sm.describe_labeling_job(LabelingJobName="reviews")["LabelingJobStatus"] == "InProgress"
    # WHEN three workers answer both objects through the portal API and the queue is drained
    _label_all(3)
    deployment.driver.drain()
    # THEN the job completed with both objects labeled by humans and its event was put on EventBridge
    job = sm.describe_labeling_job(LabelingJobName="reviews")
    assert job["LabelingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["LabelCounters"]["HumanLabeled"] == 2
    manifest = s3.get_object(Bucket=bucket, Key="out/reviews/manifests/output/output.manifest")["Body"].read()
    assert [json.loads(line)["sentiment"] for line in manifest.splitlines()] == [0, 1]
    assert [e["detail"] for e in deployment.events()] == [{"LabelingJobStatus": "Completed"}]


def test_a_job_whose_output_bucket_is_missing_is_retried_then_failed_with_the_reason(
    deployment: Deployment, through_api: Callable[[str], Any]
) -> None:
    # GIVEN a job whose output path names a bucket that does not exist, and quick retries
    sm = through_api("sagemaker")
    s3 = boto3.client("s3", region_name=REGION)
    team = sm.create_workteam(
        WorkteamName="labelers", Description="l", MemberDefinitions=[{"CognitoMemberDefinition": COGNITO}]
    )["WorkteamArn"]
    _create_job(sm, s3, team, deployment.output_bucket, output="s3://no-such-output-bucket/out/", workers=1)
    service = current_service()
    service.steps.retry = type(service.steps.retry)(base_seconds=0.0, cap_seconds=0.0, max_attempts=3)
    deployment.driver.drain()
    # WHEN its one worker answers both objects (the consolidation files cannot be written)
    _label_all(1)
    deployment.driver.drain()
    # THEN the job is Failed after three attempts, naming the error, with its event; no message went to the DLQ
    job = sm.describe_labeling_job(LabelingJobName="reviews")
    assert job["LabelingJobStatus"] == "Failed"
    assert "gave up after 3 attempts" in job["FailureReason"] and "NoSuchBucket" in job["FailureReason"]
    assert [e["detail"] for e in deployment.events()] == [{"LabelingJobStatus": "Failed"}]
    sqs = boto3.client("sqs", region_name=REGION)
    assert sqs.receive_message(QueueUrl=deployment.dlq_url).get("Messages", []) == []


def _create_job(sm: Any, s3: Any, team: str, bucket: str, *, output: str, workers: int) -> None:
    s3.put_object(Bucket=bucket, Key="in.manifest", Body='{"source": "great"}\n{"source": "awful"}\n')
    s3.put_object(Bucket=bucket, Key="labels.json", Body=json.dumps({"labels": [{"label": "pos"}, {"label": "neg"}]}))
    s3.put_object(Bucket=bucket, Key="ui.html", Body=catalogue.load("gt/text-classification").text())
    sm.create_labeling_job(
        LabelingJobName="reviews",
        LabelAttributeName="sentiment",
        InputConfig={"DataSource": {"S3DataSource": {"ManifestS3Uri": f"s3://{bucket}/in.manifest"}}},
        OutputConfig={"S3OutputPath": output},
        RoleArn=ROLE,
        LabelCategoryConfigS3Uri=f"s3://{bucket}/labels.json",
        HumanTaskConfig={
            "WorkteamArn": team,
            "UiConfig": {"UiTemplateS3Uri": f"s3://{bucket}/ui.html"},
            "PreHumanTaskLambdaArn": pre_annotation_lambda_arn("TextMultiClass", REGION),
            "AnnotationConsolidationConfig": {
                "AnnotationConsolidationLambdaArn": consolidation_lambda_arn("TextMultiClass", REGION)
            },
            "TaskTitle": "Sentiment",
            "TaskDescription": "Positive or negative?",
            "NumberOfHumanWorkersPerDataObject": workers,
            "TaskTimeLimitInSeconds": 300,
        },
    )


def _label_all(workers: int) -> None:
    """Each of ``workers`` new workers answers both objects of the job (positive for "great")."""
    for index in range(workers):
        _, token = current_service().workers.issue(f"labeler-{index}")
        for _ in range(2):
            _, claimed = _portal("POST", "/portal/api/tasks/claim", token, {})
            label = "pos" if claimed["task"]["taskInput"]["taskObject"] == "great" else "neg"
            answer = {"answer": {"crowd-classifier": {"label": label}}}
            assert _portal("POST", f"/portal/api/tasks/{claimed['task']['id']}/answer", token, answer)[0] == 200
