"""The service-mode custom resources, end to end: the CloudFormation handlers create (and delete) a work team, a task
UI and a flow definition on a running ``truthloop service local``, through a gateway that verifies SigV4.

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

import pytest
from custom_resources import _provider, flow_definition, human_task_ui, workteam

import truthloop.service
from tests.functional.service.test_service_local import _SET_BY_SERVICE
from tests.functional.service.test_signed_client import Gateway
from truthloop.service.local import LocalService
from truthloop.service.signing import ENV_ENDPOINT

STACK_ID = "arn:aws:cloudformation:us-east-1:111122223333:stack/TruthloopReview/0a1b2c3d"
TEMPLATE = '<crowd-form><crowd-input name="label"></crowd-input>{{ task.input.text }}</crowd-form>'
COGNITO = {"UserPool": "us-east-1_TestPool", "UserGroup": "truthloop-workers", "ClientId": "portal-client"}
ROLE = "arn:aws:iam::111122223333:role/truthloop-flow"


@pytest.fixture
def service_endpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Gateway]]:
    """A running service behind an IAM-verifying gateway; the handlers' environment names only the gateway."""
    for name in (*_SET_BY_SERVICE, ENV_ENDPOINT):
        monkeypatch.setenv(name, os.environ.get(name, ""))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")  # the gateway knows this key's secret
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "truthloop-test")
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
