"""``truthloop service local``: unchanged boto3 A2I and SageMaker code, with only ``AWS_ENDPOINT_URL`` set, runs a
review through the service's real Lambda handlers served on one loopback port (moto behind them)."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError

from truthloop.local.config import LambdaConfig
from truthloop.service.local import LocalService

TEMPLATE = '<crowd-form><crowd-input name="label"></crowd-input>{{ task.input.text }}</crowd-form>'
COGNITO = {"UserPool": "us-east-1_TestPool", "UserGroup": "labelers", "ClientId": "client-id"}
ROLE = "arn:aws:iam::123456789012:role/truthloop-test"
_SET_BY_SERVICE = (
    "AWS_ENDPOINT_URL",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "TRUTHLOOP_SERVICE_TABLE",
    "TRUTHLOOP_SERVICE_BUCKET",
    "TRUTHLOOP_SERVICE_QUEUE_URL",
    "TRUTHLOOP_SERVICE_EVENT_BUS",
    "TRUTHLOOP_SERVICE_BASE_URL",
)


@pytest.fixture
def running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalService]:
    for name in _SET_BY_SERVICE:  # restored after the test, whatever the service sets
        monkeypatch.setenv(name, os.environ.get(name, ""))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "truthloop-test")
    with LocalService(port=0, data_dir=tmp_path, workers=1, sweep_seconds=1.0) as service:
        yield service


def _client(service: LocalService, name: str) -> Any:
    # a fresh session: only the endpoint, region and dummy credentials, as a user's shell would have
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    return session.client(name, endpoint_url=service.endpoint_url)  # what AWS_ENDPOINT_URL does


def _until(check: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _portal(service: LocalService, path: str, token: str, body: Any) -> Any:
    response = httpx.post(
        f"{service.endpoint_url}/portal/api{path}", json=body, headers={"authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_review_completes_through_the_local_service(running: LocalService, tmp_path: Path) -> None:
    # GIVEN plain boto3 SageMaker, A2I and S3 clients pointed at the one port, and an active flow
    sm, a2i, s3 = (_client(running, name) for name in ("sagemaker", "sagemaker-a2i-runtime", "s3"))
    s3.create_bucket(Bucket="review-output")
    team = sm.create_workteam(
        WorkteamName="reviewers", Description="r", MemberDefinitions=[{"CognitoMemberDefinition": COGNITO}]
    )["WorkteamArn"]
    ui = sm.create_human_task_ui(HumanTaskUiName="ui", UiTemplate={"Content": TEMPLATE})["HumanTaskUiArn"]
    flow = sm.create_flow_definition(
        FlowDefinitionName="flow",
        HumanLoopConfig={
            "WorkteamArn": team,
            "HumanTaskUiArn": ui,
            "TaskCount": 1,
            "TaskTitle": "Review",
            "TaskDescription": "Is the model right?",
        },
        OutputConfig={"S3OutputPath": "s3://review-output/a2i"},
        RoleArn=ROLE,
    )["FlowDefinitionArn"]
    assert _until(lambda: sm.describe_flow_definition(FlowDefinitionName="flow")["FlowDefinitionStatus"] == "Active")
    # WHEN a loop is started and its worker answers through the portal's token API
    a2i.start_human_loop(
        HumanLoopName="loop-1", FlowDefinitionArn=flow, HumanLoopInput={"InputContent": '{"text": "x"}'}
    )
    assert a2i.describe_human_loop(HumanLoopName="loop-1")["HumanLoopStatus"] == "InProgress"
    token = running.worker_tokens["worker-1"]
    claimed = _until(lambda: _portal(running, "/tasks/claim", token, {}).get("task"))
    _portal(running, f"/tasks/{claimed['id']}/answer", token, {"answer": {"label": "ok"}})
    # THEN the engine (in the background) completes it, with output.json in the flow's bucket
    assert _until(lambda: a2i.describe_human_loop(HumanLoopName="loop-1")["HumanLoopStatus"] == "Completed")
    described = a2i.describe_human_loop(HumanLoopName="loop-1")
    uri = described["HumanLoopOutput"]["OutputS3Uri"]
    assert uri.startswith("s3://review-output/a2i/") and uri.endswith("/output.json")
    output = json.loads(s3.get_object(Bucket="review-output", Key=uri.split("/", 3)[3])["Body"].read())
    assert output["humanAnswers"][0]["answerContent"] == {"label": "ok"}
    # AND backend.json names the endpoint and the storage, as `truthloop local up` does
    state = json.loads((tmp_path / "backend.json").read_text())
    assert state["endpoint"] == running.endpoint_url and state["storage"] == "dynamodb"
    assert set(state) >= {"endpoint", "s3_endpoint", "portal", "region", "admin_token", "pid"}


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.evil.example:80"])
def test_a_request_for_another_host_is_refused(running: LocalService, host: str) -> None:
    # WHEN a request names a non-loopback Host (DNS rebinding)
    response = httpx.get(f"{running.endpoint_url}/portal/", headers={"host": host})
    # THEN it is refused before any handler runs
    assert response.status_code == 400
    assert response.json()["__type"] == "InvalidHost"


@pytest.mark.parametrize(("journal", "kept"), [(True, ["before"]), (False, [])])
def test_a_restart_keeps_s3_and_the_table_unless_the_journal_is_off(
    running: LocalService, tmp_path: Path, journal: bool, kept: list[str]
) -> None:
    # GIVEN an object in S3 and a workteam in the table of a running service
    s3, sm = _client(running, "s3"), _client(running, "sagemaker")
    s3.create_bucket(Bucket="kept")
    s3.put_object(Bucket="kept", Key="a.json", Body=b"{}")
    sm.create_workteam(WorkteamName="before", Description="r", MemberDefinitions=[{"CognitoMemberDefinition": COGNITO}])
    # WHEN it is stopped and started again on the same data directory (with or without the DynamoDB journal)
    running.stop()
    with LocalService(port=0, data_dir=tmp_path, workers=1, journal=journal) as again:
        s3, sm = _client(again, "s3"), _client(again, "sagemaker")
        # THEN S3 is as it was, and the table too unless the journal is off (then it is moto's memory)
        assert s3.get_object(Bucket="kept", Key="a.json")["Body"].read() == b"{}"
        assert [team["WorkteamName"] for team in sm.list_workteams()["Workteams"]] == kept
        sm.create_workteam(
            WorkteamName="after", Description="r", MemberDefinitions=[{"CognitoMemberDefinition": COGNITO}]
        )


POST = "arn:aws:lambda:us-east-1:123456789012:function:sagemaker-free-text-post"


def _consolidate(service: LocalService) -> Any:
    """Invoke the mapped consolidation function on an empty request file in this service's S3."""
    s3, lambda_ = _client(service, "s3"), _client(service, "lambda")
    s3.create_bucket(Bucket="consolidation")
    s3.put_object(Bucket="consolidation", Key="request.json", Body=b"[]")
    event = {
        "version": "2018-10-06",
        "labelingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:labeling-job/j",
        "labelAttributeName": "label",
        "roleArn": ROLE,
        "payload": {"s3Uri": "s3://consolidation/request.json"},
        "outputConfig": "s3://consolidation/out",
    }
    return lambda_.invoke(FunctionName=POST, Payload=json.dumps(event).encode())


def test_mapped_functions_are_invoked_and_start_cold_in_each_deployment(tmp_path: Path) -> None:
    # GIVEN the post-annotation handler (its S3 client is made at import) mapped in two deployments, one after the
    # other, in one process
    mapping = {
        POST: LambdaConfig("lambdas/post_annotation/handler.py:lambda_handler", {"TRUTHLOOP_TASK_TYPE": "free-text"})
    }
    for name in ("first", "second"):
        with LocalService(port=0, data_dir=tmp_path / name, workers=0, lambdas=mapping) as service:
            # WHEN a client invokes it through Lambda's Invoke on the service's port
            response = _consolidate(service)
            # THEN it ran against this deployment's S3 (not the stopped one's port) and answered
            assert "FunctionError" not in response, response["Payload"].read()
            assert json.loads(response["Payload"].read()) == []
    # AND an ARN mapped nowhere is Lambda's ResourceNotFoundException, naming it
    with LocalService(port=0, data_dir=tmp_path / "bare", workers=0) as service, pytest.raises(ClientError) as info:
        _consolidate(service)
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert POST in info.value.response["Error"]["Message"]
