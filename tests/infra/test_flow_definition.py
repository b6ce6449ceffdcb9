"""FlowDefinition: the custom resource, its provider (one per stack), IAM scope, built-in activation conditions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam

from tests.infra.support import ENV, REVIEW_TEMPLATE, WORKTEAM_ARN, actions_on, cfn_lint, new_app, resources, template
from truthloop.cdk._common import ConstructPropsError, access_logs_bucket, encryption_key, secure_bucket
from truthloop.cdk.flow_definition import FlowDefinition
from truthloop.cdk.task_ui import HumanTaskUi
from truthloop.review import ReviewPolicy

POLICY = ReviewPolicy.threshold(0.7)


def joined(value: Any) -> str:
    """A Fn::Join of literal strings and references, with each reference replaced by ``<ref>``."""
    if isinstance(value, str):
        return value
    delimiter, parts = value["Fn::Join"]
    return delimiter.join(p if isinstance(p, str) else "<ref>" for p in parts)


def requests(tpl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        k: json.loads(joined(v["Properties"]["Request"]))
        for k, v in resources(tpl, "Custom::TruthloopFlowDefinition").items()
    }


@pytest.fixture(scope="module")
def stacks(outdir: Path) -> dict[str, Any]:
    app = new_app(outdir)
    built: dict[str, Any] = {}
    # GIVEN two custom flows in one stack (one provider serves both) and a caller allowed to start loops
    custom = cdk.Stack(app, "Custom", env=ENV)
    key = encryption_key(custom, "Key", description="test")
    bucket = secure_bucket(custom, "Output", key=key, access_logs=access_logs_bucket(custom, "Logs"))
    ui = HumanTaskUi(custom, "Ui", template=REVIEW_TEMPLATE)
    first = FlowDefinition(
        custom, "First", workteam_arn=WORKTEAM_ARN, output_bucket=bucket, human_task_ui=ui, encryption_key=key
    )
    FlowDefinition(
        custom,
        "Second",
        workteam_arn=WORKTEAM_ARN,
        output_bucket=bucket,
        human_task_ui=ui,
        task_count=3,
        output_prefix="second/",
        name_prefix="second-review",
    )
    caller = iam.Role(custom, "Caller", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    first.grant_start_human_loop(caller)
    built["custom_flow"] = first
    # AND a Rekognition moderation flow whose activation conditions come from a ReviewPolicy
    builtin = cdk.Stack(app, "Moderation", env=ENV)
    key2 = encryption_key(builtin, "Key", description="test")
    bucket2 = secure_bucket(builtin, "Output", key=key2, access_logs=access_logs_bucket(builtin, "Logs"))
    images = secure_bucket(builtin, "Images", key=key2, access_logs=access_logs_bucket(builtin, "ImageLogs"))
    moderation = FlowDefinition(
        builtin,
        "Flow",
        workteam_arn=WORKTEAM_ARN,
        output_bucket=bucket2,
        human_task_ui_arn="arn:aws:sagemaker:us-east-1:111122223333:human-task-ui/moderation",
        source="rekognition:detect_moderation_labels",
        review_policy=POLICY,
    )
    moderation.grant_read_inputs(images, ["uploads/"], key2)
    # WHEN the app synthesizes (cdk-nag included)
    built["custom"] = template(custom)
    built["moderation"] = template(builtin)
    return built


def test_one_provider_serves_every_flow_of_a_stack(stacks: dict[str, Any]) -> None:
    tpl = stacks["custom"]
    flows = resources(tpl, "Custom::TruthloopFlowDefinition")
    assert len(flows) == 2
    handlers = sorted(
        f["Properties"]["Handler"]
        for f in resources(tpl, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"].startswith("custom_resources.")
    )
    assert handlers == ["custom_resources.flow_definition.is_complete", "custom_resources.flow_definition.on_event"]
    assert len(resources(tpl, "AWS::StepFunctions::StateMachine")) == 1  # the waiter that polls is_complete
    tokens = {json.dumps(f["Properties"]["ServiceToken"]) for f in flows.values()}
    assert len(tokens) == 1


def test_the_request_is_a_complete_create_flow_definition_request(stacks: dict[str, Any]) -> None:
    by_prefix = {
        flow["Properties"]["NamePrefix"]: requests(stacks["custom"])[logical_id]
        for logical_id, flow in resources(stacks["custom"], "Custom::TruthloopFlowDefinition").items()
    }
    first, second = by_prefix["truthloop-review"], by_prefix["second-review"]
    assert first["HumanLoopConfig"] == {
        "WorkteamArn": WORKTEAM_ARN,
        "HumanTaskUiArn": "<ref>",
        "TaskTitle": "Review a model prediction",
        "TaskDescription": "Check the model's answer and correct it if it is wrong",
        "TaskCount": 1,
        "TaskAvailabilityLifetimeInSeconds": 86400,
        "TaskTimeLimitInSeconds": 3600,
        "TaskKeywords": ["review"],
    }
    assert first["OutputConfig"] == {"S3OutputPath": "s3://<ref>/a2i/", "KmsKeyId": "<ref>"}
    assert "HumanLoopActivationConfig" not in first and "HumanLoopRequestSource" not in first
    assert second["HumanLoopConfig"]["TaskCount"] == 3
    assert second["OutputConfig"] == {"S3OutputPath": "s3://<ref>/second/"}


def test_activation_conditions_come_from_the_review_policy(stacks: dict[str, Any]) -> None:
    (request,) = requests(stacks["moderation"]).values()
    assert request["HumanLoopRequestSource"] == {
        "AwsManagedHumanLoopRequestSource": "AWS/Rekognition/DetectModerationLabels/Image/V3"
    }
    text = request["HumanLoopActivationConfig"]["HumanLoopActivationConditionsConfig"]["HumanLoopActivationConditions"]
    assert json.loads(text) == POLICY.to_activation_conditions("rekognition:detect_moderation_labels")


def test_provider_permissions_cover_only_its_flow_names(stacks: dict[str, Any]) -> None:
    tpl = stacks["custom"]
    on_event = actions_on(tpl, "TruthloopFlowDefinitionProviderOnEventRole")
    is_complete = actions_on(tpl, "TruthloopFlowDefinitionProviderIsCompleteRole")
    names = json.dumps(on_event["sagemaker:CreateFlowDefinition"])
    assert "flow-definition/truthloop-review-*" in names and "flow-definition/second-review-*" in names
    assert set(on_event) >= {"sagemaker:CreateFlowDefinition", "sagemaker:DeleteFlowDefinition", "iam:PassRole"}
    assert "sagemaker:CreateFlowDefinition" not in is_complete and "iam:PassRole" not in is_complete
    assert "sagemaker:DescribeFlowDefinition" in is_complete


def test_flow_role_writes_only_under_its_output_prefix(stacks: dict[str, Any]) -> None:
    granted = actions_on(stacks["custom"], "FirstRole")
    assert [joined(r) for r in granted["s3:PutObject"]] == ["<ref>/a2i/*"]
    assert "kms:GenerateDataKey" in granted


def test_start_human_loop_is_granted_on_that_flow_only(stacks: dict[str, Any]) -> None:
    granted = actions_on(stacks["custom"], "CallerDefaultPolicy")
    (resource,) = granted["sagemaker:StartHumanLoop"]
    assert resource["Fn::GetAtt"][1] == "FlowDefinitionArn"
    assert resource["Fn::GetAtt"][0].startswith("First")


def test_builtin_flow_role_can_read_the_reviewed_images(stacks: dict[str, Any]) -> None:
    granted = actions_on(stacks["moderation"], "FlowRole")
    assert "<ref>/uploads/*" in [joined(r) for r in granted["s3:GetObject"]]


def test_conflicting_props_are_reported_together() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    key = encryption_key(stack, "Key", description="test")
    bucket = secure_bucket(stack, "Out", key=key, access_logs=access_logs_bucket(stack, "Logs"))
    with pytest.raises(ConstructPropsError) as caught:
        FlowDefinition(
            stack,
            "Flow",
            workteam_arn="not-an-arn:workforce/x",
            output_bucket=bucket,
            source="custom",
            review_policy=POLICY,
            task_count=4,
            task_keywords=["ok", "bad-keyword!"],
            output_prefix="/a2i",
            name_prefix="Bad_Prefix",
        )
    text = "\n".join(caught.value.problems)
    for fragment in (
        "give human_task_ui or human_task_ui_arn",
        "activation conditions only apply to built-in sources",
        "task_count must be 1–3",
        "task keyword 'bad-keyword!'",
        "output_prefix '/a2i'",
        "name_prefix 'Bad_Prefix'",
        "is not a work team ARN",
    ):
        assert fragment in text


def test_a_builtin_source_needs_conditions() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    key = encryption_key(stack, "Key", description="test")
    bucket = secure_bucket(stack, "Out", key=key, access_logs=access_logs_bucket(stack, "Logs"))
    with pytest.raises(ConstructPropsError, match="needs review_policy or activation_conditions"):
        FlowDefinition(
            stack,
            "Flow",
            workteam_arn=WORKTEAM_ARN,
            output_bucket=bucket,
            human_task_ui_arn="arn:aws:sagemaker:us-east-1:111122223333:human-task-ui/x",
            source="textract:analyze_document",
        )


@pytest.mark.parametrize("name", ["custom", "moderation"])
def test_cfn_lint_finds_nothing(stacks: dict[str, Any], name: str) -> None:
    assert cfn_lint(stacks[name]) == []
