"""The SageMaker subset against the local backend with plain boto3: workforces, workteams, task UIs, flows, jobs."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.functional.local.helpers import COGNITO, REVIEW_TEMPLATE, ROLE, unique, wait_for


def _error(call: Callable[[], Any]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def test_first_cognito_workteam_creates_the_default_workforce(sm: Any, team: str) -> None:
    # GIVEN the module's first workteam (fixture `team`) was created with a Cognito member definition
    name = team.rsplit("/", 1)[1]
    # WHEN describing the workteam and the workforce
    described = sm.describe_workteam(WorkteamName=name)["Workteam"]
    workforce = sm.describe_workforce(WorkforceName="default")["Workforce"]
    # THEN the default private workforce exists with the team's user pool, and the team points at the portal
    assert team == f"arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/{name}"
    assert described["WorkforceArn"] == workforce["WorkforceArn"]
    assert workforce["CognitoConfig"] == {"UserPool": COGNITO["UserPool"], "ClientId": COGNITO["ClientId"]}
    assert described["MemberDefinitions"] == [{"CognitoMemberDefinition": COGNITO}]
    assert described["SubDomain"].endswith("/portal")
    assert isinstance(described["CreateDate"], datetime)
    assert [w["WorkforceName"] for w in sm.list_workforces()["Workforces"]] == ["default"]


def test_workteam_and_workforce_errors(sm: Any, team: str) -> None:
    name = team.rsplit("/", 1)[1]
    members = [{"CognitoMemberDefinition": COGNITO}]
    # WHEN creating the same workteam again, a second workforce, a team on another user pool, and bad names
    duplicate = _error(lambda: sm.create_workteam(WorkteamName=name, Description="d", MemberDefinitions=members))
    second_force = _error(
        lambda: sm.create_workforce(
            WorkforceName="another", CognitoConfig={"UserPool": "us-east-1_Another", "ClientId": "client"}
        )
    )
    other_pool = _error(
        lambda: sm.create_workteam(
            WorkteamName=unique("t"),
            Description="d",
            MemberDefinitions=[{"CognitoMemberDefinition": {**COGNITO, "UserPool": "us-east-1_Other"}}],
        )
    )
    bad_name = _error(lambda: sm.create_workteam(WorkteamName="bad name!", Description="d", MemberDefinitions=members))
    # THEN each fails as SageMaker does
    assert duplicate[:2] == ("ResourceInUse", 400)
    assert second_force[:2] == ("ResourceLimitExceeded", 400)
    assert other_pool[0] == "ValidationException" and "us-east-1_Other" in other_pool[2]
    assert bad_name[0] == "ValidationException" and "workteamName" in bad_name[2]


def test_list_workteams_pages_and_filters(sm: Any, team: str) -> None:
    # GIVEN three more teams sharing a marker in their names
    marker = unique("lst")
    for i in range(3):
        sm.create_workteam(
            WorkteamName=f"{marker}-{i}", Description="d", MemberDefinitions=[{"CognitoMemberDefinition": COGNITO}]
        )
    # WHEN paging through teams named like the marker
    pages = list(
        sm.get_paginator("list_workteams").paginate(
            NameContains=marker, SortBy="Name", SortOrder="Ascending", PaginationConfig={"PageSize": 2}
        )
    )
    # THEN the paginator sees all three, sorted, over two pages
    assert [t["WorkteamName"] for p in pages for t in p["Workteams"]] == [f"{marker}-{i}" for i in range(3)]
    assert len(pages) == 2


def test_human_task_ui_lifecycle(sm: Any) -> None:
    name = unique("ui")
    # WHEN created, described, listed and deleted
    arn = sm.create_human_task_ui(HumanTaskUiName=name, UiTemplate={"Content": REVIEW_TEMPLATE})["HumanTaskUiArn"]
    described = sm.describe_human_task_ui(HumanTaskUiName=name)
    listed = [s["HumanTaskUiName"] for s in sm.list_human_task_uis(SortOrder="Descending")["HumanTaskUiSummaries"]]
    template = httpx.get(described["UiTemplate"]["Url"])
    tampered = httpx.get(described["UiTemplate"]["Url"].replace("signature=", "signature=0"))
    duplicate = _error(lambda: sm.create_human_task_ui(HumanTaskUiName=name, UiTemplate={"Content": "x"}))
    broken = _error(
        lambda: sm.create_human_task_ui(HumanTaskUiName=unique("ui"), UiTemplate={"Content": "{% if %}oops"})
    )
    sm.delete_human_task_ui(HumanTaskUiName=name)
    # THEN
    assert arn == f"arn:aws:sagemaker:us-east-1:123456789012:human-task-ui/{name}"
    assert described["HumanTaskUiStatus"] == "Active"
    assert name in listed
    assert template.status_code == 200 and template.text == REVIEW_TEMPLATE
    assert tampered.status_code == 403
    assert duplicate[0] == "ResourceInUse"
    assert broken[0] == "ValidationException" and "Liquid" in broken[2]
    assert _error(lambda: sm.describe_human_task_ui(HumanTaskUiName=name))[0] == "ResourceNotFound"


def test_flow_definition_goes_initializing_to_active_and_is_listed(sm: Any, a2i: Any, team: str, bucket: str) -> None:
    ui = sm.create_human_task_ui(HumanTaskUiName=unique("ui"), UiTemplate={"Content": REVIEW_TEMPLATE})
    name = unique("fd")
    config = {
        "WorkteamArn": team,
        "HumanTaskUiArn": ui["HumanTaskUiArn"],
        "TaskCount": 1,
        "TaskTitle": "t",
        "TaskDescription": "d",
    }
    # WHEN created
    arn = sm.create_flow_definition(
        FlowDefinitionName=name, HumanLoopConfig=config, OutputConfig={"S3OutputPath": f"s3://{bucket}/o"}, RoleArn=ROLE
    )["FlowDefinitionArn"]
    first = sm.describe_flow_definition(FlowDefinitionName=name)
    # THEN it starts Initializing and becomes Active
    assert first["FlowDefinitionStatus"] == "Initializing"
    wait_for(lambda: sm.describe_flow_definition(FlowDefinitionName=name)["FlowDefinitionStatus"] == "Active")
    described = sm.describe_flow_definition(FlowDefinitionName=name)
    assert described["HumanLoopConfig"] == config
    assert described["OutputConfig"] == {"S3OutputPath": f"s3://{bucket}/o"}
    assert name in [s["FlowDefinitionName"] for s in sm.list_flow_definitions()["FlowDefinitionSummaries"]]
    # AND a flow with a loop in progress cannot be deleted; once the loop is stopped it can
    a2i.start_human_loop(HumanLoopName=unique("l"), FlowDefinitionArn=arn, HumanLoopInput={"InputContent": "{}"})
    assert _error(lambda: sm.delete_flow_definition(FlowDefinitionName=name))[0] == "ResourceInUse"
    for summary in a2i.list_human_loops(FlowDefinitionArn=arn)["HumanLoopSummaries"]:
        a2i.stop_human_loop(HumanLoopName=summary["HumanLoopName"])
    wait_for(
        lambda: all(
            s["HumanLoopStatus"] == "Stopped" for s in a2i.list_human_loops(FlowDefinitionArn=arn)["HumanLoopSummaries"]
        )
    )
    sm.delete_flow_definition(FlowDefinitionName=name)
    assert _error(lambda: sm.describe_flow_definition(FlowDefinitionName=name))[0] == "ResourceNotFound"


@pytest.mark.parametrize(
    ("change", "code", "fragment"),
    [
        (
            {"WorkteamArn": "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/absent"},
            "ValidationException",
            "absent",
        ),
        (
            {"HumanTaskUiArn": "arn:aws:sagemaker:us-east-1:123456789012:human-task-ui/absent"},
            "ValidationException",
            "absent",
        ),
        ({"TaskCount": 4}, "ValidationException", "Member must have value less than or equal to 3"),
    ],
    ids=["unknown-workteam", "unknown-ui", "task-count"],
)
def test_flow_definition_validation(
    sm: Any, team: str, bucket: str, change: dict[str, Any], code: str, fragment: str
) -> None:
    ui = sm.create_human_task_ui(HumanTaskUiName=unique("ui"), UiTemplate={"Content": REVIEW_TEMPLATE})
    config = {
        "WorkteamArn": team,
        "HumanTaskUiArn": ui["HumanTaskUiArn"],
        "TaskCount": 1,
        "TaskTitle": "t",
        "TaskDescription": "d",
        **change,
    }
    # WHEN / THEN
    error = _error(
        lambda: sm.create_flow_definition(
            FlowDefinitionName=unique("fd"),
            HumanLoopConfig=config,
            OutputConfig={"S3OutputPath": f"s3://{bucket}/o"},
            RoleArn=ROLE,
        )
    )
    assert error[0] == code and fragment in error[2]


def test_render_ui_template_returns_html_or_errors(sm: Any) -> None:
    pytest.importorskip("truthloop.templates")
    # WHEN rendering a template with task input, and a broken template
    good = sm.render_ui_template(
        UiTemplate={"Content": REVIEW_TEMPLATE}, Task={"Input": json.dumps({"text": "<b>loud</b>"})}, RoleArn=ROLE
    )
    bad = sm.render_ui_template(
        UiTemplate={"Content": "{{ task.input.text | nosuchfilter }}"}, Task={"Input": "{}"}, RoleArn=ROLE
    )
    both = _error(
        lambda: sm.render_ui_template(
            UiTemplate={"Content": "x"},
            HumanTaskUiArn="arn:aws:sagemaker:us-east-1:123456789012:human-task-ui/x",
            Task={"Input": "{}"},
            RoleArn=ROLE,
        )
    )
    # THEN output is autoescaped, errors are listed, and UiTemplate + HumanTaskUiArn together are refused
    assert good["Errors"] == []
    assert "&lt;b&gt;loud&lt;/b&gt;" in good["RenderedContent"]
    assert bad["Errors"] and bad["Errors"][0]["Code"]
    assert both[0] == "ValidationException"


def test_unsupported_sagemaker_operation_is_named(sm: Any) -> None:
    code, _, message = _error(lambda: sm.list_endpoints())
    assert code == "UnknownOperationException" and "ListEndpoints" in message


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (
            {"NumberOfHumanWorkersPerDataObject": 10},
            "Value '10' at 'humanTaskConfig.numberOfHumanWorkersPerDataObject' failed to satisfy constraint: "
            "Member must have value less than or equal to 9",
        ),
        ({"TaskKeywords": ["ok", "not ok!"]}, "at 'humanTaskConfig.taskKeywords.2.member' failed to satisfy"),
        (
            {"TaskTitle": "x" * 129},
            "at 'humanTaskConfig.taskTitle' failed to satisfy constraint: Member must have length",
        ),
    ],
    ids=["range", "list-member-pattern", "length"],
)
def test_labeling_job_validation_messages_name_the_member(
    sm: Any, team: str, bucket: str, change: dict[str, Any], fragment: str
) -> None:
    config = {
        "WorkteamArn": team,
        "UiConfig": {"UiTemplateS3Uri": f"s3://{bucket}/t.html"},
        "TaskTitle": "t",
        "TaskDescription": "d",
        "NumberOfHumanWorkersPerDataObject": 1,
        "TaskTimeLimitInSeconds": 60,
        **change,
    }
    code, status, message = _error(
        lambda: sm.create_labeling_job(
            LabelingJobName=unique("v"),
            LabelAttributeName="label",
            InputConfig={"DataSource": {"S3DataSource": {"ManifestS3Uri": f"s3://{bucket}/m"}}},
            OutputConfig={"S3OutputPath": f"s3://{bucket}/o"},
            RoleArn=ROLE,
            HumanTaskConfig=config,
        )
    )
    assert (code, status) == ("ValidationException", 400)
    assert message.startswith("1 validation error detected: ")
    assert fragment in message


def test_label_attribute_name_rules_apply(sm: Any, team: str, bucket: str) -> None:
    config = {
        "WorkteamArn": team,
        "UiConfig": {"UiTemplateS3Uri": f"s3://{bucket}/t.html"},
        "TaskTitle": "t",
        "TaskDescription": "d",
        "NumberOfHumanWorkersPerDataObject": 1,
        "TaskTimeLimitInSeconds": 60,
        "PreHumanTaskLambdaArn": "arn:aws:lambda:us-east-1:432418664414:function:PRE-SemanticSegmentation",
    }
    code, _, message = _error(
        lambda: sm.create_labeling_job(
            LabelingJobName=unique("v"),
            LabelAttributeName="segments",
            InputConfig={"DataSource": {"S3DataSource": {"ManifestS3Uri": f"s3://{bucket}/m"}}},
            OutputConfig={"S3OutputPath": f"s3://{bucket}/o"},
            RoleArn=ROLE,
            HumanTaskConfig=config,
        )
    )
    assert code == "ValidationException" and "must end with '-ref'" in message
