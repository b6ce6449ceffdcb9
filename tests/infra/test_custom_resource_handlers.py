"""The custom-resource handlers (provider framework contract) against botocore's Stubber.

moto 5 implements no SageMaker flow-definition or labeling-job API, so these tests use botocore's Stubber, which
checks every request against the SageMaker service model. A raised exception is how a handler fails the
CloudFormation operation: the provider framework reports its message as the reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from custom_resources import flow_definition, human_task_ui, labeling_job, workteam
from custom_resources._provider import ProvisioningError, resource_name

ACCOUNT = "111122223333"
FLOW_REQUEST: dict[str, Any] = {
    "HumanLoopConfig": {
        "WorkteamArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:workteam/private-crowd/team",
        "HumanTaskUiArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:human-task-ui/review-ui",
        "TaskTitle": "Review a model prediction",
        "TaskDescription": "Check it",
        "TaskCount": 1,
        "TaskAvailabilityLifetimeInSeconds": 86400,
        "TaskTimeLimitInSeconds": 3600,
        "TaskKeywords": ["review"],
    },
    "OutputConfig": {"S3OutputPath": "s3://out-bucket/a2i/"},
    "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/flow-role",
}
JOB_REQUEST: dict[str, Any] = {
    "LabelAttributeName": "label",
    "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": "s3://in/manifests/m.jsonl"}}},
    "OutputConfig": {"S3OutputPath": "s3://out/output/"},
    "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/job-role",
    "HumanTaskConfig": {
        "WorkteamArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:workteam/private-crowd/team",
        "UiConfig": {"UiTemplateS3Uri": "s3://in/template.liquid.html"},
        "TaskTitle": "Label",
        "TaskDescription": "Label it",
        "NumberOfHumanWorkersPerDataObject": 1,
        "TaskTimeLimitInSeconds": 300,
    },
}
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def sagemaker() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("sagemaker", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def event(
    kind: str,
    request: dict[str, Any],
    *,
    prefix: str = "truthloop-review",
    physical: str | None = None,
    wait: bool | None = None,
) -> dict[str, Any]:
    props: dict[str, Any] = {"ServiceToken": "arn:aws:lambda:...", "NamePrefix": prefix, "Request": json.dumps(request)}
    if wait is not None:
        props["Wait"] = "true" if wait else "false"
    body: dict[str, Any] = {"RequestType": kind, "ResourceProperties": props, "LogicalResourceId": "Flow"}
    if physical is not None:
        body["PhysicalResourceId"] = physical
    return body


def flow_description(name: str, status: str, reason: str | None = None) -> dict[str, Any]:
    described = {
        "FlowDefinitionArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:flow-definition/{name}",
        "FlowDefinitionName": name,
        "FlowDefinitionStatus": status,
        "CreationTime": NOW,
        "HumanLoopConfig": FLOW_REQUEST["HumanLoopConfig"],
        "OutputConfig": FLOW_REQUEST["OutputConfig"],
        "RoleArn": FLOW_REQUEST["RoleArn"],
    }
    if reason:
        described["FailureReason"] = reason
    return described


def job_description(name: str, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "LabelingJobStatus": status,
        "LabelCounters": {},
        "CreationTime": NOW,
        "LastModifiedTime": NOW,
        "JobReferenceCode": "ref",
        "LabelingJobName": name,
        "LabelingJobArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:labeling-job/{name}",
        "InputConfig": JOB_REQUEST["InputConfig"],
        "OutputConfig": JOB_REQUEST["OutputConfig"],
        "RoleArn": JOB_REQUEST["RoleArn"],
        "HumanTaskConfig": JOB_REQUEST["HumanTaskConfig"],
        **extra,
    }


# ------------------------------------------------------------------------------------------------ flow definitions


def test_flow_create_uses_a_deterministic_name(sagemaker: tuple[Any, Stubber]) -> None:
    client, stubber = sagemaker
    name = resource_name("truthloop-review", FLOW_REQUEST)
    arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:flow-definition/{name}"
    # GIVEN CreateFlowDefinition accepts exactly the construct's request under the derived name
    stubber.add_response(
        "create_flow_definition", {"FlowDefinitionArn": arn}, {"FlowDefinitionName": name, **FLOW_REQUEST}
    )
    # WHEN CloudFormation creates the resource
    result = flow_definition.on_event(event("Create", FLOW_REQUEST), client=client)
    # THEN the name is the physical id, lower-case, at most 63 characters and readable
    assert result == {"PhysicalResourceId": name, "Data": {"FlowDefinitionName": name, "FlowDefinitionArn": arn}}
    assert name.startswith("truthloop-review-") and len(name) <= 63 and name == name.lower()


@pytest.mark.parametrize(
    ("status", "expected"),
    [("Initializing", {"IsComplete": False}), ("Active", "complete")],
)
def test_flow_is_complete_waits_for_active(sagemaker: tuple[Any, Stubber], status: str, expected: Any) -> None:
    client, stubber = sagemaker
    name = resource_name("truthloop-review", FLOW_REQUEST)
    stubber.add_response("describe_flow_definition", flow_description(name, status), {"FlowDefinitionName": name})
    result = flow_definition.is_complete(event("Create", FLOW_REQUEST, physical=name), client=client)
    if expected == "complete":
        assert result["IsComplete"] is True
        assert result["Data"]["FlowDefinitionArn"].endswith(f"flow-definition/{name}")
    else:
        assert result == expected


def test_a_failed_flow_fails_the_deployment_with_the_service_reason(sagemaker: tuple[Any, Stubber]) -> None:
    client, stubber = sagemaker
    name = resource_name("truthloop-review", FLOW_REQUEST)
    stubber.add_response(
        "describe_flow_definition",
        flow_description(name, "Failed", "Role arn:aws:iam::111122223333:role/flow-role cannot write to out-bucket"),
        {"FlowDefinitionName": name},
    )
    with pytest.raises(ProvisioningError) as caught:
        flow_definition.is_complete(event("Create", FLOW_REQUEST, physical=name), client=client)
    assert str(caught.value) == (
        f"flow definition {name} failed: Role arn:aws:iam::111122223333:role/flow-role cannot write to out-bucket"
    )


def test_a_rejected_create_reports_the_api_error(sagemaker: tuple[Any, Stubber]) -> None:
    client, stubber = sagemaker
    stubber.add_client_error(
        "create_flow_definition", "ValidationException", "HumanTaskUiArn does not exist", http_status_code=400
    )
    with pytest.raises(ProvisioningError, match=r"cannot create flow definition .*ValidationException: HumanTaskUiArn"):
        flow_definition.on_event(event("Create", FLOW_REQUEST), client=client)


def test_a_retried_create_adopts_the_flow_it_made(sagemaker: tuple[Any, Stubber]) -> None:
    client, stubber = sagemaker
    name = resource_name("truthloop-review", FLOW_REQUEST)
    stubber.add_client_error("create_flow_definition", "ResourceInUse", "already exists", http_status_code=400)
    stubber.add_response("describe_flow_definition", flow_description(name, "Active"), {"FlowDefinitionName": name})
    result = flow_definition.on_event(event("Create", FLOW_REQUEST), client=client)
    assert result["PhysicalResourceId"] == name


def test_a_flow_being_deleted_under_the_same_name_is_reported(sagemaker: tuple[Any, Stubber]) -> None:
    client, stubber = sagemaker
    name = resource_name("truthloop-review", FLOW_REQUEST)
    stubber.add_client_error("create_flow_definition", "ResourceInUse", "already exists", http_status_code=400)
    stubber.add_response("describe_flow_definition", flow_description(name, "Deleting"), {"FlowDefinitionName": name})
    with pytest.raises(ProvisioningError, match="still being deleted"):
        flow_definition.on_event(event("Create", FLOW_REQUEST), client=client)


def test_a_changed_flow_is_replaced_under_a_new_name(sagemaker: tuple[Any, Stubber]) -> None:
    client, stubber = sagemaker
    old = resource_name("truthloop-review", FLOW_REQUEST)
    changed = json.loads(json.dumps(FLOW_REQUEST))
    changed["HumanLoopConfig"]["TaskCount"] = 2
    new = resource_name("truthloop-review", changed)
    stubber.add_response(
        "create_flow_definition",
        {"FlowDefinitionArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:flow-definition/{new}"},
        {"FlowDefinitionName": new, **changed},
    )
    # WHEN CloudFormation updates the resource with a changed definition
    result = flow_definition.on_event(event("Update", changed, physical=old), client=client)
    # THEN a new flow exists under a new physical id (CloudFormation then deletes the old one)
    assert new != old and result["PhysicalResourceId"] == new


def test_an_unchanged_update_keeps_the_flow(sagemaker: tuple[Any, Stubber]) -> None:
    client, _ = sagemaker
    name = resource_name("truthloop-review", FLOW_REQUEST)
    result = flow_definition.on_event(event("Update", FLOW_REQUEST, physical=name), client=client)
    assert result["PhysicalResourceId"] == name  # no API call was made (the stubber has none queued)


def test_delete_removes_the_flow_and_waits_until_it_is_gone(sagemaker: tuple[Any, Stubber]) -> None:
    client, stubber = sagemaker
    name = resource_name("truthloop-review", FLOW_REQUEST)
    stubber.add_response("delete_flow_definition", {}, {"FlowDefinitionName": name})
    stubber.add_response("describe_flow_definition", flow_description(name, "Deleting"), {"FlowDefinitionName": name})
    stubber.add_client_error("describe_flow_definition", "ResourceNotFound", "not found", http_status_code=404)
    assert flow_definition.on_event(event("Delete", FLOW_REQUEST, physical=name), client=client) == {
        "PhysicalResourceId": name
    }
    delete = event("Delete", FLOW_REQUEST, physical=name)
    assert flow_definition.is_complete(delete, client=client) == {"IsComplete": False}
    assert flow_definition.is_complete(delete, client=client) == {"IsComplete": True}


@pytest.mark.parametrize(
    ("code", "outcome"),
    [("ResourceNotFound", "ok"), ("ResourceInUse", "still has active human loops")],
)
def test_delete_errors(sagemaker: tuple[Any, Stubber], code: str, outcome: str) -> None:
    client, stubber = sagemaker
    name = resource_name("truthloop-review", FLOW_REQUEST)
    stubber.add_client_error("delete_flow_definition", code, "message", http_status_code=400)
    delete = event("Delete", FLOW_REQUEST, physical=name)
    if outcome == "ok":
        assert flow_definition.on_event(delete, client=client) == {"PhysicalResourceId": name}
    else:
        with pytest.raises(ProvisioningError, match=outcome):
            flow_definition.on_event(delete, client=client)


def test_delete_after_a_failed_create_calls_nothing(sagemaker: tuple[Any, Stubber]) -> None:
    client, _ = sagemaker
    # the framework's physical id when a create failed before naming anything
    physical = "TruthloopReview-Flow-1A2B3C_request-id"
    assert flow_definition.on_event(event("Delete", FLOW_REQUEST, physical=physical), client=client) == {
        "PhysicalResourceId": physical
    }
    assert flow_definition.is_complete(event("Delete", FLOW_REQUEST, physical=physical), client=client) == {
        "IsComplete": True
    }


def test_a_malformed_event_names_the_missing_property(sagemaker: tuple[Any, Stubber]) -> None:
    client, _ = sagemaker
    broken = {"RequestType": "Create", "ResourceProperties": {"NamePrefix": "x"}}
    with pytest.raises(ProvisioningError, match=r"ResourceProperties\.Request is missing"):
        flow_definition.on_event(broken, client=client)
    with pytest.raises(ProvisioningError, match="unknown RequestType 'Rename'"):
        flow_definition.on_event({"RequestType": "Rename"}, client=client)


# ------------------------------------------------------------------------------------------------ labeling jobs


def test_job_create_and_no_wait(sagemaker: tuple[Any, Stubber]) -> None:
    client, stubber = sagemaker
    name = resource_name("truthloop-job", JOB_REQUEST)
    arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:labeling-job/{name}"
    stubber.add_response("create_labeling_job", {"LabelingJobArn": arn}, {"LabelingJobName": name, **JOB_REQUEST})
    stubber.add_response("describe_labeling_job", job_description(name, "InProgress"), {"LabelingJobName": name})
    created = labeling_job.on_event(event("Create", JOB_REQUEST, prefix="truthloop-job", wait=False), client=client)
    assert created["PhysicalResourceId"] == name
    done = labeling_job.is_complete(
        event("Create", JOB_REQUEST, prefix="truthloop-job", physical=name, wait=False), client=client
    )
    assert done == {"IsComplete": True, "Data": {"LabelingJobName": name, "LabelingJobArn": arn}}


@pytest.mark.parametrize(
    ("status", "extra", "outcome"),
    [
        ("InProgress", {}, {"IsComplete": False}),
        (
            "Completed",
            {"LabelingJobOutput": {"OutputDatasetS3Uri": "s3://out/output/x/manifests/output/output.manifest"}},
            "complete",
        ),
        (
            "Failed",
            {"FailureReason": "ClientError: the manifest is empty"},
            "failed: ClientError: the manifest is empty",
        ),
        ("Stopped", {}, "was stopped before it completed"),
    ],
)
def test_job_wait(sagemaker: tuple[Any, Stubber], status: str, extra: dict[str, Any], outcome: Any) -> None:
    client, stubber = sagemaker
    name = resource_name("truthloop-job", JOB_REQUEST)
    stubber.add_response("describe_labeling_job", job_description(name, status, **extra), {"LabelingJobName": name})
    waiting = event("Create", JOB_REQUEST, prefix="truthloop-job", physical=name, wait=True)
    if isinstance(outcome, dict):
        assert labeling_job.is_complete(waiting, client=client) == outcome
    elif outcome == "complete":
        result = labeling_job.is_complete(waiting, client=client)
        assert result["IsComplete"] is True
        assert result["Data"]["OutputDatasetS3Uri"].endswith("output.manifest")
    else:
        with pytest.raises(ProvisioningError, match=outcome):
            labeling_job.is_complete(waiting, client=client)


def test_a_changed_job_is_a_new_job(sagemaker: tuple[Any, Stubber]) -> None:
    client, stubber = sagemaker
    old = resource_name("truthloop-job", JOB_REQUEST)
    changed = {**JOB_REQUEST, "LabelAttributeName": "sentiment"}
    new = resource_name("truthloop-job", changed)
    stubber.add_response(
        "create_labeling_job",
        {"LabelingJobArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:labeling-job/{new}"},
        {"LabelingJobName": new, **changed},
    )
    result = labeling_job.on_event(event("Update", changed, prefix="truthloop-job", physical=old), client=client)
    assert result["PhysicalResourceId"] == new != old


@pytest.mark.parametrize(("status", "stops"), [("InProgress", True), ("Initializing", True), ("Completed", False)])
def test_delete_stops_a_running_job(sagemaker: tuple[Any, Stubber], status: str, stops: bool) -> None:
    client, stubber = sagemaker
    name = resource_name("truthloop-job", JOB_REQUEST)
    stubber.add_response("describe_labeling_job", job_description(name, status), {"LabelingJobName": name})
    if stops:
        stubber.add_response("stop_labeling_job", {}, {"LabelingJobName": name})
    labeling_job.on_event(event("Delete", JOB_REQUEST, prefix="truthloop-job", physical=name), client=client)


@pytest.mark.parametrize(("status", "complete"), [("Stopping", False), ("Stopped", True), ("Completed", True)])
def test_delete_waits_until_the_job_stopped(sagemaker: tuple[Any, Stubber], status: str, complete: bool) -> None:
    client, stubber = sagemaker
    name = resource_name("truthloop-job", JOB_REQUEST)
    stubber.add_response("describe_labeling_job", job_description(name, status), {"LabelingJobName": name})
    result = labeling_job.is_complete(
        event("Delete", JOB_REQUEST, prefix="truthloop-job", physical=name), client=client
    )
    assert result == {"IsComplete": complete}


def test_deleting_a_job_that_never_existed_is_fine(sagemaker: tuple[Any, Stubber]) -> None:
    client, stubber = sagemaker
    name = resource_name("truthloop-job", JOB_REQUEST)
    stubber.add_client_error("describe_labeling_job", "ResourceNotFound", "Could not find job", http_status_code=400)
    assert labeling_job.on_event(event("Delete", JOB_REQUEST, physical=name), client=client) == {
        "PhysicalResourceId": name
    }


def test_a_stack_deployed_again_names_its_job_anew(sagemaker: tuple[Any, Stubber]) -> None:
    client, stubber = sagemaker
    # GIVEN the same job request in a stack, then in the same stack deployed again after a destroy (a new StackId)
    names = []
    for stack_id in ("stack/truthloop/1111", "stack/truthloop/2222", "stack/truthloop/1111"):
        creating = {
            **event("Create", JOB_REQUEST, prefix="truthloop-job"),
            "StackId": f"arn:aws:cloudformation:{stack_id}",
        }
        expected = resource_name("truthloop-job", JOB_REQUEST, deployment=creating["StackId"])
        stubber.add_response(
            "create_labeling_job",
            {"LabelingJobArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:labeling-job/{expected}"},
            {"LabelingJobName": expected, **JOB_REQUEST},
        )
        # WHEN the job is created
        names.append(labeling_job.on_event(creating, client=client)["PhysicalResourceId"])
    # THEN the redeployed stack's job has a new name, and a retry in the same stack the same name
    assert names[0] != names[1]
    assert names[0] == names[2]
    assert all(name.startswith("truthloop-job-") and len(name) <= 63 for name in names)


@pytest.mark.parametrize("status", ["Stopped", "Stopping", "Failed"])
def test_an_existing_stopped_or_failed_job_is_never_adopted(sagemaker: tuple[Any, Stubber], status: str) -> None:
    client, stubber = sagemaker
    # GIVEN a job of the same name exists already and no longer runs
    name = resource_name("truthloop-job", JOB_REQUEST)
    stubber.add_client_error("create_labeling_job", "ResourceInUse", "Job already exists", http_status_code=400)
    stubber.add_response("describe_labeling_job", job_description(name, status), {"LabelingJobName": name})
    # WHEN the resource is created, THEN the deployment fails and says why (instead of reporting a job that runs)
    with pytest.raises(ProvisioningError, match=f"already exists and is {status}"):
        labeling_job.on_event(event("Create", JOB_REQUEST, prefix="truthloop-job"), client=client)


@pytest.mark.parametrize("status", ["InProgress", "Completed"])
def test_a_retried_create_adopts_its_running_or_completed_job(sagemaker: tuple[Any, Stubber], status: str) -> None:
    client, stubber = sagemaker
    name = resource_name("truthloop-job", JOB_REQUEST)
    stubber.add_client_error("create_labeling_job", "ResourceInUse", "Job already exists", http_status_code=400)
    stubber.add_response("describe_labeling_job", job_description(name, status), {"LabelingJobName": name})
    result = labeling_job.on_event(event("Create", JOB_REQUEST, prefix="truthloop-job"), client=client)
    assert result["PhysicalResourceId"] == name


# ------------------------------------------------------------------------------------------ work teams and task UIs
# (used on the truthloop service; tests/functional/service/test_custom_resources_on_service.py runs them against it)

TEAM_REQUEST: dict[str, Any] = {
    "MemberDefinitions": [
        {"CognitoMemberDefinition": {"UserPool": "us-east-1_Pool", "UserGroup": "truthloop-workers", "ClientId": "c"}}
    ],
    "Description": "reviewers",
}
UI_REQUEST: dict[str, Any] = {"UiTemplate": {"Content": "<crowd-form></crowd-form>"}}


def test_an_unchanged_team_is_kept_on_update(sagemaker: tuple[Any, Stubber]) -> None:
    client, stubber = sagemaker
    name = resource_name("truthloop-team", TEAM_REQUEST)
    arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:workteam/private-crowd/{name}"
    # GIVEN the team exists under the request's name (DescribeWorkteam, and no CreateWorkteam is stubbed)
    team = {
        "WorkteamName": name,
        "MemberDefinitions": TEAM_REQUEST["MemberDefinitions"],
        "WorkteamArn": arn,
        "Description": "reviewers",
    }
    stubber.add_response("describe_workteam", {"Workteam": team}, {"WorkteamName": name})
    # WHEN CloudFormation updates the stack without changing the team
    result = workteam.on_event(event("Update", TEAM_REQUEST, prefix="truthloop-team", physical=name), client=client)
    # THEN the same team is reported, nothing created
    assert result == {"PhysicalResourceId": name, "Data": {"WorkteamName": name, "WorkteamArn": arn}}


@pytest.mark.parametrize(
    ("module", "operation", "code", "message"),
    [
        (workteam, "delete_workteam", "ValidationException", "The work team x does not exist."),
        (human_task_ui, "delete_human_task_ui", "ResourceNotFound", "HumanTaskUi x does not exist."),
    ],
)
def test_deleting_what_is_already_gone_succeeds(
    sagemaker: tuple[Any, Stubber], module: Any, operation: str, code: str, message: str
) -> None:
    client, stubber = sagemaker
    # GIVEN the resource no longer exists
    stubber.add_client_error(operation, service_error_code=code, service_message=message, http_status_code=400)
    # WHEN CloudFormation deletes it THEN the delete succeeds
    assert module.on_event({"RequestType": "Delete", "PhysicalResourceId": "x"}, client=client) == {
        "PhysicalResourceId": "x"
    }


@pytest.mark.parametrize(
    ("module", "request_", "fragment"),
    [
        (workteam, {"Description": "no members"}, "Request.MemberDefinitions must be a non-empty list"),
        (human_task_ui, {"UiTemplate": {"Content": "  "}}, "Request.UiTemplate.Content must be a non-empty string"),
    ],
)
def test_a_bad_request_fails_naming_the_field(
    sagemaker: tuple[Any, Stubber], module: Any, request_: dict[str, Any], fragment: str
) -> None:
    client, _ = sagemaker
    # GIVEN a request without the field WHEN it is created THEN the reason names it (and nothing is called)
    with pytest.raises(ProvisioningError, match=fragment):
        module.on_event(event("Create", request_), client=client)


def test_a_task_ui_waits_until_active(sagemaker: tuple[Any, Stubber]) -> None:
    client, stubber = sagemaker
    name = resource_name("truthloop-review", UI_REQUEST)
    arn = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:human-task-ui/{name}"
    described = {
        "HumanTaskUiArn": arn,
        "HumanTaskUiName": name,
        "CreationTime": NOW,
        "UiTemplate": {"Url": "https://example.com/t", "ContentSha256": "0" * 64},
    }
    stubber.add_response(
        "create_human_task_ui", {"HumanTaskUiArn": arn}, {"HumanTaskUiName": name, **UI_REQUEST}
    )
    stubber.add_response("describe_human_task_ui", {**described, "HumanTaskUiStatus": "Deleting"})
    stubber.add_response("describe_human_task_ui", {**described, "HumanTaskUiStatus": "Active"})
    # GIVEN a created UI that is not Active at the first poll, and is at the second
    created = human_task_ui.on_event(event("Create", UI_REQUEST), client=client)
    assert created["Data"] == {"HumanTaskUiName": name, "HumanTaskUiArn": arn}
    # WHEN the framework polls THEN it waits, then completes with the UI's ARN
    assert human_task_ui.is_complete(event("Create", UI_REQUEST, physical=name), client=client) == {
        "IsComplete": False
    }
    done = human_task_ui.is_complete(event("Create", UI_REQUEST, physical=name), client=client)
    assert done == {"IsComplete": True, "Data": {"HumanTaskUiName": name, "HumanTaskUiArn": arn}}
