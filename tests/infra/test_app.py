"""The whole CDK app (infra/app.py): three stacks, cdk-nag clean, cfn-lint clean, secure by default."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from infra.app import build_app
from tests.infra.support import (
    WORKTEAM_ARN,
    acknowledged,
    as_list,
    cfn_lint,
    new_app,
    resources,
    statements,
    template,
    unexplained_star_resources,
)
from truthloop.cdk._common import ConstructPropsError

STACKS = ("TruthloopWorkforce", "TruthloopLabeling", "TruthloopReview")


@pytest.fixture(scope="module")
def templates(outdir: Path) -> dict[str, dict[str, Any]]:
    # GIVEN the app with its default configuration (cdk-nag runs during synth and raises on any finding)
    _, stacks = build_app(new_app(outdir))
    # WHEN it is synthesized
    return {name: template(stack) for name, stack in stacks.items()}


def test_app_has_the_three_stacks(templates: dict[str, dict[str, Any]]) -> None:
    # THEN
    assert tuple(templates) == STACKS


@pytest.mark.parametrize("stack", STACKS)
def test_cfn_lint_finds_nothing(templates: dict[str, dict[str, Any]], stack: str) -> None:
    assert cfn_lint(templates[stack]) == []


@pytest.mark.parametrize("stack", STACKS)
def test_no_iam_star_resource_without_a_written_reason(templates: dict[str, dict[str, Any]], stack: str) -> None:
    assert unexplained_star_resources(templates[stack]) == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_acknowledged_finding_has_a_reason(templates: dict[str, dict[str, Any]], stack: str) -> None:
    for logical_id, resource in templates[stack]["Resources"].items():
        for rule, reason in acknowledged(resource).items():
            assert len(reason) >= 30, f"{logical_id}: acknowledgment of {rule} has no real reason: {reason!r}"


def test_wildcard_actions_are_never_granted(templates: dict[str, dict[str, Any]]) -> None:
    # GIVEN every IAM statement of every stack
    wildcards = [
        (stack, logical_id, action)
        for stack, tpl in templates.items()
        for logical_id, statement, _ in statements(tpl)
        for action in as_list(statement["Action"])
        if "*" in action and statement.get("Effect") == "Allow"
    ]
    # THEN the only wildcard actions are CDK's own (provider framework / log delivery), none of truthloop's
    assert [w for w in wildcards if not w[1].startswith(("TruthloopFlowDefinitionProvider", "AWS679f53fac"))] == []


def test_the_default_backend_deploys_on_ground_truth_and_a2i_only(templates: dict[str, dict[str, Any]]) -> None:
    # GIVEN every resource of the default (sagemaker) backend
    everything = json.dumps(templates)
    kinds = {r["Type"] for tpl in templates.values() for r in tpl["Resources"].values()}
    # THEN the work team and task UI are SageMaker's, the flow is A2I's, and nothing points at the truthloop service
    assert {"AWS::SageMaker::Workteam", "AWS::SageMaker::HumanTaskUi", "Custom::TruthloopFlowDefinition"} <= kinds
    assert not [k for k in kinds if k.startswith("Custom::TruthloopService")]
    assert "TRUTHLOOP_SERVICE_ENDPOINT" not in everything and "execute-api" not in everything
    assert "truthloop.service" not in everything  # no rule listens to the service's events


@pytest.mark.parametrize("stack", STACKS)
def test_functions_run_python312_on_arm64_with_tracing_and_retention(
    templates: dict[str, dict[str, Any]], stack: str
) -> None:
    tpl = templates[stack]
    python_functions = {
        k: v for k, v in resources(tpl, "AWS::Lambda::Function").items() if "python" in v["Properties"]["Runtime"]
    }
    for logical_id, function in python_functions.items():
        props = function["Properties"]
        assert props["Runtime"] == "python3.12", logical_id
        assert props["Architectures"] == ["arm64"], logical_id
        assert props["TracingConfig"] == {"Mode": "Active"}, logical_id
        assert props["Layers"], logical_id
        assert "POWERTOOLS_SERVICE_NAME" in props["Environment"]["Variables"], logical_id
        assert props["LoggingConfig"]["LogFormat"] == "JSON", logical_id
    for logical_id, group in resources(tpl, "AWS::Logs::LogGroup").items():
        assert "RetentionInDays" in group["Properties"], logical_id


def test_ground_truth_lambdas_are_named_for_the_managed_policy(templates: dict[str, dict[str, Any]]) -> None:
    functions = resources(templates["TruthloopLabeling"], "AWS::Lambda::Function")
    names = {
        v["Properties"]["Handler"]: v["Properties"].get("FunctionName")
        for v in functions.values()
        if v["Properties"]["Handler"].startswith(("pre_annotation", "post_annotation"))
    }
    assert set(names) == {"pre_annotation.handler.lambda_handler", "post_annotation.handler.lambda_handler"}
    for name in names.values():
        assert isinstance(name, str) and "SageMaker" in name and len(name) <= 64


@pytest.mark.parametrize("stack", STACKS)
def test_data_stores_use_customer_managed_keys(templates: dict[str, dict[str, Any]], stack: str) -> None:
    tpl = templates[stack]
    for logical_id, bucket in resources(tpl, "AWS::S3::Bucket").items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, logical_id
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}, logical_id
        encryption = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        if "AccessLogs" in logical_id:  # log delivery cannot write with a customer key
            assert encryption == {"SSEAlgorithm": "AES256"}
        else:
            assert encryption["SSEAlgorithm"] == "aws:kms" and "KMSMasterKeyID" in encryption, logical_id
            assert "LoggingConfiguration" in props, logical_id
    for kind, key in (("AWS::SQS::Queue", "KmsMasterKeyId"), ("AWS::SNS::Topic", "KmsMasterKeyId")):
        for logical_id, resource in resources(tpl, kind).items():
            assert "Fn::GetAtt" in json.dumps(resource["Properties"][key]), logical_id
    for logical_id, table in resources(tpl, "AWS::DynamoDB::Table").items():
        props = table["Properties"]
        assert props["SSESpecification"]["SSEType"] == "KMS" and props["SSESpecification"]["KMSMasterKeyId"]
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}, logical_id
    for logical_id, key in resources(tpl, "AWS::KMS::Key").items():
        assert key["Properties"]["EnableKeyRotation"] is True, logical_id


@pytest.mark.parametrize("stack", STACKS)
def test_buckets_queues_and_topics_refuse_plain_http(templates: dict[str, dict[str, Any]], stack: str) -> None:
    tpl = templates[stack]
    policies = {
        **resources(tpl, "AWS::S3::BucketPolicy"),
        **resources(tpl, "AWS::SQS::QueuePolicy"),
        **resources(tpl, "AWS::SNS::TopicPolicy"),
    }
    denied = json.dumps(
        [
            s
            for p in policies.values()
            for s in p["Properties"]["PolicyDocument"]["Statement"]
            if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        ]
    )
    for kind in ("AWS::S3::Bucket", "AWS::SQS::Queue", "AWS::SNS::Topic"):
        for logical_id in resources(tpl, kind):
            assert logical_id in denied, f"{logical_id} has no SSL-only policy"


def test_review_router_may_start_loops_only_on_the_stacks_flow(templates: dict[str, dict[str, Any]]) -> None:
    tpl = templates["TruthloopReview"]
    grants = [
        (logical_id, statement)
        for logical_id, statement, _ in statements(tpl)
        if "sagemaker:StartHumanLoop" in as_list(statement["Action"])
    ]
    assert len(grants) == 1
    logical_id, statement = grants[0]
    assert logical_id.startswith("ReviewRouterRole")
    assert statement["Resource"] == {"Fn::GetAtt": [_flow_logical_id(tpl), "FlowDefinitionArn"]}


def test_pass_role_is_limited_to_sagemaker_roles(templates: dict[str, dict[str, Any]]) -> None:
    for stack, tpl in templates.items():
        for logical_id, statement, _ in statements(tpl):
            if "iam:PassRole" in as_list(statement["Action"]):
                assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}, (
                    stack,
                    logical_id,
                )
                assert all("Fn::GetAtt" in json.dumps(r) for r in as_list(statement["Resource"])), (stack, logical_id)


def test_workforce_outputs_the_sign_in_details(templates: dict[str, dict[str, Any]]) -> None:
    outputs = templates["TruthloopWorkforce"]["Outputs"]
    names = {re.sub(r"[0-9A-F]{8}$", "", k) for k in outputs}
    assert {
        "WorkforceWorkteamArn",
        "WorkforceWorkerPortalUrl",
        "WorkforceUserPoolId",
        "WorkforceWorkerGroupName",
        "WorkforceAddWorkerCommand",
    } <= names


def test_labeling_and_review_use_the_workforce_stacks_team(templates: dict[str, dict[str, Any]]) -> None:
    for stack in ("TruthloopLabeling", "TruthloopReview"):
        assert "Fn::ImportValue" in json.dumps(templates[stack]), stack


def test_an_existing_workteam_skips_the_workforce_stack(tmp_path: Path) -> None:
    # GIVEN an existing work team in the context
    app = new_app(tmp_path, **{"truthloop:workteamArn": WORKTEAM_ARN})
    # WHEN the app is built
    _, stacks = build_app(app)
    # THEN there is no workforce stack and the others use the given ARN
    assert sorted(stacks) == ["TruthloopLabeling", "TruthloopReview"]
    flow = next(iter(resources(template(stacks["TruthloopReview"]), "Custom::TruthloopFlowDefinition").values()))
    assert WORKTEAM_ARN in json.dumps(flow["Properties"]["Request"])


def test_a_builtin_review_source_gets_activation_conditions_from_the_policy(tmp_path: Path) -> None:
    # GIVEN Rekognition moderation review with a 60 % threshold, configured through context strings
    app = new_app(
        tmp_path,
        **{
            "truthloop:workteamArn": WORKTEAM_ARN,
            "truthloop:review:source": "rekognition:detect_moderation_labels",
            "truthloop:review:policy": '{"version": 1, "rule": {"type": "threshold", "threshold": 0.6}}',
        },
    )
    # WHEN the app is synthesized (the catalogue's moderation template is linted on the way)
    _, stacks = build_app(app)
    tpl = template(stacks["TruthloopReview"])
    # THEN the flow is a built-in one whose conditions come from the policy
    flow = next(iter(resources(tpl, "Custom::TruthloopFlowDefinition").values()))
    request = json.dumps(flow["Properties"]["Request"])
    assert "AWS/Rekognition/DetectModerationLabels/Image/V3" in request
    assert "ConfidenceLessThan" in request and "60" in request
    ui = next(iter(resources(tpl, "AWS::SageMaker::HumanTaskUi").values()))
    assert "crowd-rekognition-detect-moderation-labels" in ui["Properties"]["UiTemplate"]["Content"]


def test_bad_context_values_are_all_reported_at_once(tmp_path: Path) -> None:
    # GIVEN several invalid context values
    app = cdk.App(
        outdir=str(tmp_path),
        context={
            "truthloop:mfa": "sometimes",
            "truthloop:logRetentionDays": "31",
            "truthloop:labeling:workersPerObject": "three",
            "truthloop:review:source": "comprehend",
        },
    )
    # WHEN the app is built
    with pytest.raises(ConstructPropsError) as caught:
        build_app(app)
    # THEN one error names every one of them
    message = str(caught.value)
    assert "4 problem(s)" in message
    expected = ("truthloop:mfa", "logRetentionDays", "truthloop:labeling:workersPerObject='three'", "review:source")
    for fragment in expected:
        assert fragment in message


def _flow_logical_id(tpl: dict[str, Any]) -> str:
    (logical_id,) = resources(tpl, "Custom::TruthloopFlowDefinition")
    return logical_id


@pytest.mark.parametrize("stack", STACKS)
def test_key_grants_to_aws_services_are_limited_to_this_account(
    templates: dict[str, dict[str, Any]], stack: str
) -> None:
    # GIVEN every key policy statement that lets an AWS service (EventBridge, ...) use a stack's key
    for logical_id, key in resources(templates[stack], "AWS::KMS::Key").items():
        for statement in key["Properties"]["KeyPolicy"]["Statement"]:
            if "Service" not in statement["Principal"]:
                continue
            # THEN it only holds for calls on behalf of this account (the confused-deputy guard)
            conditions = json.dumps(statement.get("Condition", {}))
            assert "aws:SourceAccount" in conditions or "kms:CallerAccount" in conditions, (logical_id, statement)


@pytest.mark.parametrize("stack", STACKS)
def test_every_function_logs_to_a_group_that_expires(templates: dict[str, dict[str, Any]], stack: str) -> None:
    tpl = templates[stack]
    groups = resources(tpl, "AWS::Logs::LogGroup")
    for logical_id, function in resources(tpl, "AWS::Lambda::Function").items():
        target = function["Properties"].get("LoggingConfig", {}).get("LogGroup", {}).get("Ref")
        assert target in groups, f"{logical_id} logs to a log group that never expires"
        assert groups[target]["Properties"]["RetentionInDays"] == 30, logical_id


def test_an_existing_cognito_workforce_gets_a_team_and_no_user_pool(tmp_path: Path) -> None:
    # GIVEN the account's existing Cognito workforce, named by its pool and app client
    app = new_app(
        tmp_path,
        **{
            "truthloop:createWorkforce": "false",
            "truthloop:existingUserPoolId": "us-east-1_AbCdEf123",
            "truthloop:existingUserPoolClientId": "1example23456789",
        },
    )
    # WHEN the app is synthesized
    _, stacks = build_app(app)
    tpl = template(stacks["TruthloopWorkforce"])
    # THEN the team joins that pool through a new group, and nothing else is created
    assert sorted({r["Type"] for r in tpl["Resources"].values()}) == [
        "AWS::Cognito::UserPoolGroup",
        "AWS::SageMaker::Workteam",
    ]
    team = next(iter(resources(tpl, "AWS::SageMaker::Workteam").values()))["Properties"]
    member = team["MemberDefinitions"][0]["CognitoMemberDefinition"]
    assert (member["CognitoUserPool"], member["CognitoClientId"]) == ("us-east-1_AbCdEf123", "1example23456789")
    assert "WorkforceName" not in team


@pytest.mark.parametrize(
    ("context", "fragment"),
    [
        ({"truthloop:createWorkforce": "false"}, "truthloop:existingUserPoolId and truthloop:existingUserPoolClientId"),
        ({"truthloop:existingUserPoolId": "us-east-1_AbCdEf123"}, "give truthloop:existingUserPoolId and"),
        (
            {"truthloop:region": "eu-north-1", "truthloop:account": "111122223333"},
            "region 'eu-north-1' offers no SageMaker Ground Truth / Amazon A2I",
        ),
    ],
)
def test_settings_that_cannot_deploy_fail_the_synth(tmp_path: Path, context: dict[str, str], fragment: str) -> None:
    # GIVEN a context that would create a second user pool for an existing workforce, half a pool, or a bad region
    app = new_app(tmp_path, **context)
    # WHEN / THEN the synth stops with an error that says what to give
    with pytest.raises(ConstructPropsError) as caught:
        build_app(app)
    assert fragment in str(caught.value)


def test_the_configured_log_retention_reaches_every_log_group(tmp_path: Path) -> None:
    # GIVEN a retention other than the default
    app = new_app(tmp_path, **{"truthloop:logRetentionDays": "90"})
    # WHEN the app is synthesized
    _, stacks = build_app(app)
    # THEN every log group of every stack (custom-resource and provider-framework ones too) keeps logs 90 days
    retention = {
        (name, logical_id): group["Properties"].get("RetentionInDays")
        for name, stack in stacks.items()
        for logical_id, group in resources(template(stack), "AWS::Logs::LogGroup").items()
    }
    assert retention and set(retention.values()) == {90}, retention
