"""ReviewPipeline: router behind SQS + IAM function URL, A2I status rule → review_completed, results and dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import boto3
import pytest
from aws_cdk import aws_s3 as s3
from custom_resources._provider import resource_name
from moto import mock_aws

from tests.infra.support import ENV, WORKTEAM_ARN, actions_on, cfn_lint, new_app, one, resources, template
from truthloop.cdk._common import ConstructPropsError, access_logs_bucket, encryption_key, secure_bucket
from truthloop.cdk.flow_definition import FlowDefinition
from truthloop.cdk.review_pipeline import DEFAULT_REVIEW_POLICY, ReviewPipeline

UI_ARN = "arn:aws:sagemaker:us-east-1:111122223333:human-task-ui/review"


def literal(value: Any) -> Any:
    if isinstance(value, dict) and "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return delimiter.join(p if isinstance(p, str) else "REF" for p in parts)
    return value


def _policy_with_budget() -> dict[str, Any]:
    from truthloop.review import Budget, ConfidenceBelow, ReviewPolicy

    return ReviewPolicy(ConfidenceBelow(0.7), budget=Budget(max_loops=100, window_seconds=86400)).to_dict()


@pytest.fixture(scope="module")
def built(outdir: Path) -> dict[str, Any]:
    app = new_app(outdir)
    # GIVEN a flow definition and the review pipeline around it
    stack = cdk.Stack(app, "Review", env=ENV)
    key = encryption_key(stack, "Key", description="test")
    logs = access_logs_bucket(stack, "Logs")
    output = secure_bucket(stack, "A2iOutput", key=key, access_logs=logs)
    flow = FlowDefinition(
        stack, "Flow", workteam_arn=WORKTEAM_ARN, output_bucket=output, human_task_ui_arn=UI_ARN, encryption_key=key
    )
    pipeline = ReviewPipeline(
        stack,
        "Pipeline",
        flow_definition=flow,
        existing_key=key,
        existing_access_logs_bucket=logs,
        router_reserved_concurrency=7,
        label_attribute="sentiment-review",
    )
    # AND one for an existing flow definition, without function URL or reserved concurrency
    other = cdk.Stack(app, "ExistingFlow", env=ENV)
    bucket = s3.Bucket.from_bucket_name(other, "Out", "existing-a2i-output")
    existing = ReviewPipeline(
        other,
        "Pipeline",
        flow_definition_arn="arn:aws:sagemaker:us-east-1:111122223333:flow-definition/existing",
        a2i_output_bucket=bucket,
        function_url=False,
        router_reserved_concurrency=None,
    )
    # WHEN the app synthesizes (with cdk-nag)
    return {"pipeline": pipeline, "tpl": template(stack), "existing": existing, "existing_tpl": template(other)}


def _functions(tpl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["Properties"]["Handler"]: f["Properties"] for f in resources(tpl, "AWS::Lambda::Function").values()}


def test_router_configuration_and_concurrency(built: dict[str, Any]) -> None:
    router = _functions(built["tpl"])["review_router.handler.handler"]
    env = router["Environment"]["Variables"]
    assert json.loads(env["TRUTHLOOP_REVIEW_POLICY"]) == DEFAULT_REVIEW_POLICY
    assert env["TRUTHLOOP_FLOW_DEFINITION_ARN"]["Fn::GetAtt"][1] == "FlowDefinitionArn"
    assert router["ReservedConcurrentExecutions"] == 7
    mapping = one(built["tpl"], "AWS::Lambda::EventSourceMapping")["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 7}


def test_router_has_an_iam_function_url(built: dict[str, Any]) -> None:
    url = one(built["tpl"], "AWS::Lambda::Url")["Properties"]
    assert url["AuthType"] == "AWS_IAM"
    assert resources(built["existing_tpl"], "AWS::Lambda::Url") == {}


def test_router_starts_loops_only_on_its_flow(built: dict[str, Any]) -> None:
    granted = actions_on(built["tpl"], "PipelineRouterRole")
    (flow,) = granted["sagemaker:StartHumanLoop"]
    assert flow["Fn::GetAtt"] == [
        next(iter(resources(built["tpl"], "Custom::TruthloopFlowDefinition"))),
        "FlowDefinitionArn",
    ]
    existing = actions_on(built["existing_tpl"], "PipelineRouterRole")
    assert existing["sagemaker:StartHumanLoop"] == ["arn:aws:sagemaker:us-east-1:111122223333:flow-definition/existing"]
    assert [literal(r) for r in existing["s3:GetObject"]] == ["arn:aws:s3:::existing-a2i-output/a2i/*"]


def test_status_rule_targets_completion_for_this_flow(built: dict[str, Any]) -> None:
    rule = one(built["tpl"], "AWS::Events::Rule")["Properties"]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.sagemaker"]
    assert pattern["detail-type"] == [
        "SageMaker A2I HumanLoop Status Change",
        "Amazon Augmented AI HumanLoop Status Change",
    ]
    assert pattern["detail"]["flowDefinitionArn"] == [
        {"prefix": "arn:aws:sagemaker:us-east-1:111122223333:flow-definition/truthloop-review-"}
    ]
    (target,) = rule["Targets"]
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
    assert "DeadLetterConfig" in target


def test_completion_failures_land_in_a_dead_letter_queue(built: dict[str, Any]) -> None:
    config = one(built["tpl"], "AWS::Lambda::EventInvokeConfig")["Properties"]
    assert config["MaximumRetryAttempts"] == 2
    destination = config["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination["Fn::GetAtt"][0].startswith("PipelineCompletionFailures")
    granted = actions_on(built["tpl"], "PipelineCompletedRole")
    assert granted["sqs:SendMessage"] == [destination]


def test_completion_stores_results_and_the_reviewed_dataset(built: dict[str, Any]) -> None:
    env = _functions(built["tpl"])["review_completed.handler.handler"]["Environment"]["Variables"]
    assert env["TRUTHLOOP_REVIEWED_PREFIX"] == "reviewed/"
    assert env["TRUTHLOOP_LABEL_ATTRIBUTE"] == "sentiment-review"
    table = one(built["tpl"], "AWS::DynamoDB::Table")["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    granted = actions_on(built["tpl"], "PipelineCompletedRole")
    assert [literal(r).split("/", 1)[1] for r in granted["s3:PutObject"]] == ["reviewed/*"]
    assert [literal(r).split("/", 1)[1] for r in granted["s3:GetObject"]] == ["a2i/*"]
    assert set(granted) >= {"dynamodb:PutItem", "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}


def test_a_budget_policy_gets_a_shared_budget_table(outdir: Path) -> None:
    policy = _policy_with_budget()
    app = new_app(outdir / "budget")
    stack = cdk.Stack(app, "Budget", env=ENV)
    bucket = s3.Bucket.from_bucket_name(stack, "Out", "existing-a2i-output")
    pipeline = ReviewPipeline(
        stack,
        "Pipeline",
        flow_definition_arn="arn:aws:sagemaker:us-east-1:111122223333:flow-definition/x",
        a2i_output_bucket=bucket,
        review_policy=policy,
    )
    tpl = template(stack)
    assert pipeline.budget_table is not None
    env = _functions(tpl)["review_router.handler.handler"]["Environment"]["Variables"]
    assert "TRUTHLOOP_BUDGET_TABLE" in env
    assert len(resources(tpl, "AWS::DynamoDB::Table")) == 2


def test_props_are_checked_together() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    with pytest.raises(ConstructPropsError) as caught:
        ReviewPipeline(
            stack,
            "P",
            flow_definition_arn="arn:aws:sagemaker:us-east-1:111122223333:workteam/x",
            reviewed_prefix="reviewed",
            label_attribute="bad-metadata",
            router_batch_size=11,
            router_reserved_concurrency=0,
            review_policy={"version": 1, "rule": {"type": "nonsense"}},
        )
    text = "\n".join(caught.value.problems)
    for fragment in (
        "flow_definition_arn needs a2i_output_bucket",
        "is not a flow definition ARN",
        "reviewed_prefix 'reviewed'",
        "must not end with '-metadata'",
        "router_batch_size must be 1–10",
        "router_reserved_concurrency must be at least 1",
        "review_policy is invalid",
    ):
        assert fragment in text


@pytest.mark.parametrize("name", ["tpl", "existing_tpl"])
def test_cfn_lint_finds_nothing(built: dict[str, Any], name: str) -> None:
    assert cfn_lint(built[name]) == []


def _resolve(value: Any) -> Any:
    """A synthesized value as the deployment would see it (pseudo parameters of ENV; other references as names)."""
    pseudo = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "111122223333"}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    if isinstance(value, dict):
        if "Fn::Join" in value:
            delimiter, parts = value["Fn::Join"]
            return delimiter.join(str(_resolve(p)) for p in parts)
        if "Ref" in value:
            return pseudo.get(value["Ref"], f"ref-{value['Ref']}")
        if "Fn::GetAtt" in value:
            return "-".join(value["Fn::GetAtt"])
        return {k: _resolve(v) for k, v in value.items()}
    return value


def test_loops_of_a_replaced_flow_still_reach_review_completed(outdir: Path) -> None:
    # GIVEN the stack as first deployed, and the same stack after a change of the flow's task title
    app = new_app(outdir / "replaced")
    stacks: dict[str, cdk.Stack] = {}
    for version, title in (("Before", "Review a model prediction"), ("After", "Check this prediction")):
        stack = cdk.Stack(app, version, env=ENV)
        key = encryption_key(stack, "Key", description="test")
        output = secure_bucket(stack, "A2iOutput", key=key, access_logs=access_logs_bucket(stack, "Logs"))
        flow = FlowDefinition(
            stack, "Flow", workteam_arn=WORKTEAM_ARN, output_bucket=output, human_task_ui_arn=UI_ARN, task_title=title
        )
        ReviewPipeline(stack, "Pipeline", flow_definition=flow, existing_key=key)
        stacks[version] = stack
    deployed = {version: template(stack) for version, stack in stacks.items()}
    # the flow's name is what the custom resource computes from the deployed request: the change replaces the flow
    names = {}
    for version, tpl in deployed.items():
        (props,) = [r["Properties"] for r in resources(tpl, "Custom::TruthloopFlowDefinition").values()]
        names[version] = resource_name(props["NamePrefix"], json.loads(_resolve(props["Request"])))
    assert names["Before"] != names["After"]
    rule = next(r["Properties"] for r in resources(deployed["After"], "AWS::Events::Rule").values())
    with mock_aws():
        events = boto3.client("events", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="review-completed")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name="loop-status", EventPattern=json.dumps(_resolve(rule["EventPattern"])))
        events.put_targets(Rule="loop-status", Targets=[{"Id": "review-completed", "Arn": queue_arn}])
        # WHEN loops of the old flow, the new flow and a flow of someone else finish
        flows = [names["Before"], names["After"], "someone-elses-flow-0123456789"]
        for name in flows:
            detail = {
                "flowDefinitionArn": f"arn:aws:sagemaker:us-east-1:111122223333:flow-definition/{name}",
                "humanLoopStatus": "Completed",
            }
            events.put_events(
                Entries=[
                    {
                        "Source": "aws.sagemaker",
                        "DetailType": "SageMaker A2I HumanLoop Status Change",
                        "Detail": json.dumps(detail),
                    }
                ]
            )
        received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    # THEN the status rule (whose target is review_completed) takes both of the stack's flows, and only those
    arns = sorted(json.loads(m["Body"])["detail"]["flowDefinitionArn"].rsplit("/", 1)[1] for m in received)
    assert arns == sorted(flows[:2])
