"""``truthloop service local``: unchanged boto3 A2I and SageMaker code, with only ``AWS_ENDPOINT_URL`` set, runs a
review through the service's real Lambda handlers served on one loopback port (moto behind them)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from click.testing import CliRunner

from tests.functional.local.helpers import COGNITO, ROLE, active_flow
from truthloop.cli import main
from truthloop.local.config import LambdaConfig
from truthloop.local.handlers import LambdaContext
from truthloop.service.http_api import http_api_response, to_http_api_event
from truthloop.service.local import LocalService, _call_on_own_loop, _handler


@pytest.fixture
def running(tmp_path: Path, service_env: pytest.MonkeyPatch) -> Iterator[LocalService]:
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
    flow = active_flow(sm, output="s3://review-output/a2i")
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


#: the fields `truthloop local status` prints for `truthloop local up` (LocalBackend.status)
LOCAL_STATUS_FIELDS = {
    "endpoint",
    "s3_endpoint",
    "portal",
    "human_loops",
    "labeling_jobs",
    "workers",
    "events",
    "engine_errors",
}


def test_local_status_reports_the_service(running: LocalService) -> None:
    # GIVEN a loop in progress on service local
    sm, a2i = (_client(running, name) for name in ("sagemaker", "sagemaker-a2i-runtime"))
    flow = active_flow(sm, output="s3://review-output/a2i")
    a2i.start_human_loop(HumanLoopName="open", FlowDefinitionArn=flow, HumanLoopInput={"InputContent": "{}"})
    # WHEN `truthloop local status` reads its backend.json and asks it
    result = CliRunner().invoke(main, ["local", "status", "--data-dir", str(running.data_dir)])
    # THEN it prints the local backend's fields, counted from the table, and says where they are stored
    assert result.exit_code == 0, result.output
    status = json.loads(result.output)
    assert set(status) >= LOCAL_STATUS_FIELDS
    assert status["endpoint"] == running.endpoint_url and status["portal"] == running.portal_url
    assert status["human_loops"] == {"InProgress": 1, "Stopping": 0, "Completed": 0, "Failed": 0, "Stopped": 0}
    assert status["labeling_jobs"]["InProgress"] == 0 and status["workers"] == 1
    assert status["engine_errors"] == 0 and status["dead_letters"] == 0
    assert status["storage"] == "dynamodb" and status["region"] == "us-east-1"


@pytest.mark.parametrize("token", [None, "wrong"], ids=["no-token", "wrong-token"])
def test_the_status_route_needs_the_admin_token(running: LocalService, token: str | None) -> None:
    # WHEN the status route is asked without the admin token of backend.json
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{running.endpoint_url}/_truthloop/status", headers=headers)
    # THEN it is refused, naming what is missing, and tells nothing
    assert response.status_code == 401 and "admin token" in response.json()["error"]
    assert "human_loops" not in response.text


def test_the_deployed_api_function_does_not_serve_the_status_route(running: LocalService) -> None:
    # GIVEN the status request with the right admin token, as API Gateway would hand it to the API function on AWS
    headers = {"authorization": f"Bearer {running.admin_token}", "host": "x"}
    event = to_http_api_event("GET", "/_truthloop/status", "", headers, b"", source_ip="203.0.113.9")
    context = LambdaContext(function_name="truthloop-service-api", invoked_function_arn="arn:local")
    # WHEN the API function handles it (on a thread of its own, as service local and Lambda run it)
    with ThreadPoolExecutor(1) as pool:
        response = pool.submit(_call_on_own_loop, _handler("service_api"), event, context).result()
    # THEN it is refused and nothing is told
    status, _, content = http_api_response(response)
    assert status >= 400 and b"human_loops" not in content


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
