"""The service-mode custom resources, end to end: the CloudFormation handlers create (and delete) a work team, a task
UI and a flow definition on a running ``truthloop service local``, through a gateway that verifies SigV4; and the
labeling launcher starts its jobs there on the team and task UI the handlers created.

This is the path a ``-c truthloop:backend=service`` deployment takes: the provider functions get only
``TRUTHLOOP_SERVICE_ENDPOINT`` (and ``execute-api:Invoke``), and ``custom_resources._provider.sagemaker()`` gives them
the service's signed client; the gateway stands where API Gateway's IAM authorisation stands.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from custom_resources import _provider, flow_definition, human_task_ui, workteam

import truthloop.service
from tests.functional.service.test_signed_client import Gateway
from truthloop.labeling.launcher import JobConfig, Launcher
from truthloop.service.local import LocalService
from truthloop.service.signing import ENV_ENDPOINT
from truthloop.templates._assets import templates_dir

STACK_ID = "arn:aws:cloudformation:us-east-1:111122223333:stack/TruthloopReview/0a1b2c3d"
TEMPLATE = '<crowd-form><crowd-input name="label"></crowd-input>{{ task.input.text }}</crowd-form>'
COGNITO = {"UserPool": "us-east-1_TestPool", "UserGroup": "truthloop-workers", "ClientId": "portal-client"}
ROLE = "arn:aws:iam::111122223333:role/truthloop-flow"


@pytest.fixture
def service_endpoint(tmp_path: Path, service_env: pytest.MonkeyPatch) -> Iterator[tuple[str, Gateway]]:
    """A running service behind an IAM-verifying gateway; the handlers' environment names only the gateway."""
    monkeypatch = service_env  # the gateway knows the fixture's key ("testing") and its secret
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setattr(_provider, "_client", None)  # the handlers make their client from the environment
    with LocalService(port=0, data_dir=tmp_path, workers=1, sweep_seconds=1.0) as service:
        upstream = service.endpoint_url.removeprefix("http://")
        with Gateway(upstream) as gateway:
            monkeypatch.setenv(ENV_ENDPOINT, gateway.url)
            yield gateway.url, gateway


def _event(kind: str, request: dict[str, Any] | None = None, physical_id: str | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"RequestType": kind, "StackId": STACK_ID}
    if request is not None:
        event["ResourceProperties"] = {"NamePrefix": "truthloop-test", "Request": json.dumps(request)}
    if physical_id is not None:
        event["PhysicalResourceId"] = physical_id
    return event


def _provision(module: Any, request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Create through the handler as the provider framework does: on_event, then is_complete until done."""
    created = module.on_event(_event("Create", request))
    physical_id = created["PhysicalResourceId"]
    for _ in range(150):  # the framework polls every 15 s; the service activates a flow in its engine, soon
        done = module.is_complete(_event("Create", request, physical_id))
        if done["IsComplete"]:
            return physical_id, {**created.get("Data", {}), **done.get("Data", {})}
        time.sleep(0.1)
    raise AssertionError(f"{module.__name__} never completed")


def _delete(module: Any, physical_id: str) -> None:
    module.on_event(_event("Delete", physical_id=physical_id))
    assert module.is_complete(_event("Delete", physical_id=physical_id)) == {"IsComplete": True}


def test_handlers_create_and_delete_the_review_resources_on_the_service(
    service_endpoint: tuple[str, Gateway],
) -> None:
    url, gateway = service_endpoint
    # GIVEN the work team, task UI and flow requests the service-mode stacks send (the flow names the other two)
    team_request = {"MemberDefinitions": [{"CognitoMemberDefinition": COGNITO}], "Description": "reviewers"}
    ui_request = {"UiTemplate": {"Content": TEMPLATE}}
    # WHEN the handlers provision them, as CloudFormation's provider framework would
    team_name, team = _provision(workteam, team_request)
    ui_name, ui = _provision(human_task_ui, ui_request)
    flow_request = {
        "HumanLoopConfig": {
            "WorkteamArn": team["WorkteamArn"],
            "HumanTaskUiArn": ui["HumanTaskUiArn"],
            "TaskTitle": "Review a prediction",
            "TaskDescription": "Is the model right?",
            "TaskCount": 1,
            "TaskAvailabilityLifetimeInSeconds": 3600,
            "TaskTimeLimitInSeconds": 300,
            "TaskKeywords": ["review"],
        },
        "OutputConfig": {"S3OutputPath": "s3://truthloop-review-output/a2i/"},
        "RoleArn": ROLE,
    }
    flow_name, flow = _provision(flow_definition, flow_request)
    # THEN they exist on the service, as a client signed for it reads them back
    sm = truthloop.service.client("sagemaker", endpoint_url=url)
    described_team = sm.describe_workteam(WorkteamName=team_name)["Workteam"]
    assert described_team["WorkteamArn"] == team["WorkteamArn"]
    assert described_team["MemberDefinitions"] == [{"CognitoMemberDefinition": COGNITO}]
    assert sm.describe_human_task_ui(HumanTaskUiName=ui_name)["HumanTaskUiArn"] == ui["HumanTaskUiArn"]
    described_flow = sm.describe_flow_definition(FlowDefinitionName=flow_name)
    assert described_flow["FlowDefinitionStatus"] == "Active"
    assert described_flow["FlowDefinitionArn"] == flow["FlowDefinitionArn"]
    assert described_flow["HumanLoopConfig"]["WorkteamArn"] == team["WorkteamArn"]
    # AND every call went through the verifying gateway, none refused
    assert gateway.refused == [] and gateway.forwarded >= 9

    # WHEN a retried create arrives (same request) THEN the existing resources are adopted, nothing is duplicated
    assert workteam.on_event(_event("Create", team_request))["Data"]["WorkteamArn"] == team["WorkteamArn"]
    assert human_task_ui.on_event(_event("Create", ui_request))["PhysicalResourceId"] == ui_name

    # WHEN the stack is deleted (the flow first, as CloudFormation orders it) THEN all three are gone
    _delete(flow_definition, flow_name)
    _delete(human_task_ui, ui_name)
    _delete(workteam, team_name)
    assert sm.list_workteams()["Workteams"] == []
    assert sm.list_human_task_uis()["HumanTaskUiSummaries"] == []


def test_an_unsigned_caller_cannot_create_anything(service_endpoint: tuple[str, Gateway]) -> None:
    # GIVEN the handlers' endpoint, but a caller whose secret is not the one IAM knows
    _, gateway = service_endpoint
    os.environ["AWS_SECRET_ACCESS_KEY"] = "not the secret"  # restored by monkeypatch (set in the fixture)
    # WHEN the work-team handler runs THEN the gateway refuses it and the handler fails with the reason
    request = {"MemberDefinitions": [{"CognitoMemberDefinition": COGNITO}], "Description": "x"}
    with pytest.raises(_provider.ProvisioningError, match="cannot create work team") as caught:
        workteam.on_event(_event("Create", request))
    assert gateway.refused and gateway.forwarded == 0, caught.value


def _service_clients(url: str) -> tuple[Any, Any]:
    """S3 and DynamoDB of the running service (requests signed for them go to its moto side)."""
    session = boto3.session.Session(region_name="us-east-1")
    return session.client("s3", endpoint_url=url), session.resource("dynamodb", endpoint_url=url)


def _pending_table(dynamodb: Any) -> Any:
    """The labeling stack's pending-items table (the layout LabelingPipeline deploys)."""
    return dynamodb.create_table(
        TableName="pending",
        KeySchema=[{"AttributeName": "item", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"} for name in ("item", "status", "job", "createdAt")
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": f"{key}-index",
                "KeySchema": [
                    {"AttributeName": key, "KeyType": "HASH"},
                    {"AttributeName": "createdAt", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for key in ("status", "job")
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def test_the_launcher_starts_a_labeling_job_on_the_services_team_and_task_ui(
    service_endpoint: tuple[str, Gateway],
) -> None:
    url, gateway = service_endpoint
    s3, dynamodb = _service_clients(os.environ["AWS_ENDPOINT_URL"])  # the service's own S3 and DynamoDB
    for bucket in ("labeling-input", "labeling-output"):
        s3.create_bucket(Bucket=bucket)
    # GIVEN the labeling stack's team and task UI (the catalogue's GT template) created by the handlers, and its
    # launcher configured as LabelingPipeline(service=...) configures it: humanTaskUiArn, no template in S3
    _, team = _provision(workteam, {"MemberDefinitions": [{"CognitoMemberDefinition": COGNITO}], "Description": "t"})
    template = (templates_dir() / "gt" / "text-classification.liquid.html").read_text(encoding="utf-8")
    _, ui = _provision(human_task_ui, {"UiTemplate": {"Content": template}})
    config = JobConfig.from_json(
        json.dumps(
            {
                "jobNamePrefix": "truthloop-label",
                "labelAttributeName": "label",
                "roleArn": "arn:aws:iam::111122223333:role/truthloop-labeling-job",
                "workteamArn": team["WorkteamArn"],
                "inputBucket": "labeling-input",
                "outputS3Uri": "s3://labeling-output/output/",
                "taskTitle": "Label the data",
                "taskDescription": "Read each item and give it the right label",
                "humanTaskUiArn": ui["HumanTaskUiArn"],
                "labels": ["positive", "negative"],
            }
        )
    )
    sagemaker = truthloop.service.client("sagemaker", endpoint_url=url)  # what lambdas/labeling_launcher makes
    launcher = Launcher(config, table=_pending_table(dynamodb), s3=s3, sagemaker=sagemaker)
    lines = [{"source": "I love it"}, {"source": "I hate it"}]
    s3.put_object(
        Bucket="labeling-input", Key="manifests/batch.jsonl", Body="\n".join(json.dumps(x) for x in lines).encode()
    )
    before = gateway.forwarded
    # WHEN the upload's event arrives and the launcher launches what is pending
    detail = {"bucket": {"name": "labeling-input"}, "object": {"key": "manifests/batch.jsonl"}}
    launcher.handle_message(json.dumps({"detail-type": "Object Created", "source": "aws.s3", "detail": detail}))
    (job,) = launcher.launch_pending()
    # THEN the job runs on the service, with the team and the task UI created there, through the verifying gateway
    described = sagemaker.describe_labeling_job(LabelingJobName=job)
    assert described["LabelingJobStatus"] in {"Initializing", "InProgress"}
    assert described["HumanTaskConfig"]["WorkteamArn"] == team["WorkteamArn"]
    assert described["HumanTaskConfig"]["UiConfig"] == {"HumanTaskUiArn": ui["HumanTaskUiArn"]}
    assert gateway.forwarded - before >= 2 and gateway.refused == []
    deadline = time.monotonic() + 20
    while sagemaker.describe_labeling_job(LabelingJobName=job)["LabelingJobStatus"] != "InProgress":
        assert time.monotonic() < deadline, sagemaker.describe_labeling_job(LabelingJobName=job).get("FailureReason")
        time.sleep(0.2)
