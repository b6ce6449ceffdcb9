"""LabelingPipeline (and the LabelingJob it uses for streaming): buckets, events, queue, launcher, job role."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns

from tests.infra.support import ENV, WORKTEAM_ARN, actions_on, as_list, cfn_lint, new_app, one, resources, template
from truthloop.cdk._common import ConstructPropsError
from truthloop.cdk._provider import SageMakerResourceProvider
from truthloop.cdk.labeling_job import WAIT_MINUTES, LabelingJob
from truthloop.cdk.labeling_pipeline import LabelingPipeline
from truthloop.labeling.launcher import JobConfig

GT_TEMPLATE = "gt/text-classification"


def literal(value: Any) -> Any:
    """Replace CloudFormation references in ``value`` by placeholders so a JSON document can be parsed."""
    if isinstance(value, dict) and "Fn::Join" in value:
        delimiter, parts = value["Fn::Join"]
        return delimiter.join(p if isinstance(p, str) else "REF" for p in parts)
    return value


@pytest.fixture(scope="module")
def built(outdir: Path) -> dict[str, Any]:
    app = new_app(outdir)
    # GIVEN a pipeline with defaults (template from the catalogue) and a streaming one
    stack = cdk.Stack(app, "Labeling", env=ENV)
    pipeline = LabelingPipeline(
        stack,
        "Pipeline",
        workteam_arn=WORKTEAM_ARN,
        labels=["positive", "negative"],
        template=GT_TEMPLATE,
        auto_accept_threshold=0.95,
        consolidation_method="ds",
    )
    streaming_stack = cdk.Stack(app, "Streaming", env=ENV)
    streaming = LabelingPipeline(
        streaming_stack, "Pipeline", workteam_arn=WORKTEAM_ARN, labels=["a", "b"], template=GT_TEMPLATE, streaming=True
    )
    # WHEN the app synthesizes (cdk-nag checks both)
    return {
        "pipeline": pipeline,
        "tpl": template(stack),
        "streaming": streaming,
        "stream_tpl": template(streaming_stack),
    }


def test_pipeline_resources(built: dict[str, Any]) -> None:
    tpl = built["tpl"]
    counts = {
        kind: len(resources(tpl, kind))
        for kind in (
            "AWS::S3::Bucket",
            "AWS::SQS::Queue",
            "AWS::DynamoDB::Table",
            "AWS::Events::Rule",
            "AWS::SNS::Topic",
            "AWS::KMS::Key",
            "AWS::Lambda::EventSourceMapping",
        )
    }
    assert counts == {
        "AWS::S3::Bucket": 3,  # input, output, access logs
        "AWS::SQS::Queue": 2,  # launches + DLQ
        "AWS::DynamoDB::Table": 1,
        "AWS::Events::Rule": 3,  # uploads, job states, the launcher's schedule
        "AWS::SNS::Topic": 1,
        "AWS::KMS::Key": 1,
        "AWS::Lambda::EventSourceMapping": 1,
    }


def test_input_bucket_sends_events_to_eventbridge_without_a_custom_resource(built: dict[str, Any]) -> None:
    tpl = built["tpl"]
    buckets = resources(tpl, "AWS::S3::Bucket")
    enabled = [k for k, b in buckets.items() if b["Properties"].get("NotificationConfiguration")]
    assert len(enabled) == 1 and enabled[0].startswith("PipelineInput")
    assert buckets[enabled[0]]["Properties"]["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    assert "Custom::S3BucketNotifications" not in {r["Type"] for r in tpl["Resources"].values()}


def test_input_bucket_allows_the_cross_origin_reads_ground_truth_needs(built: dict[str, Any]) -> None:
    # THEN the input bucket has the CORS rule GT documents for input data (the task page reads objects by GET)
    buckets = resources(built["tpl"], "AWS::S3::Bucket")
    (input_id,) = [k for k in buckets if k.startswith("PipelineInput")]
    assert buckets[input_id]["Properties"]["CorsConfiguration"] == {
        "CorsRules": [
            {"AllowedMethods": ["GET"], "AllowedOrigins": ["*"], "ExposedHeaders": ["Access-Control-Allow-Origin"]}
        ]
    }
    assert all("CorsConfiguration" not in b["Properties"] for k, b in buckets.items() if k != input_id)


@pytest.mark.parametrize("name", ["tpl", "stream_tpl"])
def test_eventbridge_may_use_the_key_only_for_this_account(built: dict[str, Any], name: str) -> None:
    (key,) = resources(built[name], "AWS::KMS::Key").values()
    service_statements = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if "Service" in s["Principal"]]
    assert service_statements
    for statement in service_statements:
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
        assert sorted(as_list(statement["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_rule_targets_admit_only_their_own_rules(built: dict[str, Any]) -> None:
    tpl = built["tpl"]
    policies = [*resources(tpl, "AWS::SQS::QueuePolicy").values(), *resources(tpl, "AWS::SNS::TopicPolicy").values()]
    allowed = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    # THEN uploads, job states and the schedule may send to the queue, job states may publish to the topic
    sources = []
    for statement in allowed:
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}
        sources.append(statement["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::GetAtt"][0])
    assert sorted(re.sub(r"[0-9A-F]{8}$", "", s) for s in sources) == [
        "PipelineJobStates",
        "PipelineJobStates",
        "PipelineLauncherSchedule",
        "PipelineUploads",
    ]


def test_a_custom_resource_cannot_wait_an_hour() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    with pytest.raises(ConstructPropsError, match="CloudFormation fails a custom resource"):
        SageMakerResourceProvider(
            stack, "P", module="labeling_job", description="d", total_timeout=cdk.Duration.hours(2)
        )


def test_event_rules_route_uploads_and_job_states(built: dict[str, Any]) -> None:
    rules = {k: v["Properties"] for k, v in resources(built["tpl"], "AWS::Events::Rule").items()}
    uploads = next(v for k, v in rules.items() if k.startswith("PipelineUploads"))
    states = next(v for k, v in rules.items() if k.startswith("PipelineJobStates"))
    assert uploads["EventPattern"]["detail-type"] == ["Object Created"]
    assert uploads["EventPattern"]["detail"]["object"] == {"key": [{"prefix": "manifests/"}, {"prefix": "objects/"}]}
    assert len(uploads["Targets"]) == 1
    assert states["EventPattern"]["detail-type"] == ["SageMaker Ground Truth Labeling Job State Change"]
    prefix = literal(states["EventPattern"]["resources"][0]["prefix"])
    assert prefix.endswith(":labeling-job/truthloop-label")
    target_kinds = sorted(json.dumps(t["Arn"]).split('"')[3][:8] for t in states["Targets"])
    assert len(target_kinds) == 2  # the notification topic and the launcher's queue


def test_a_schedule_runs_the_launcher_without_uploads(built: dict[str, Any]) -> None:
    rules = {k: v["Properties"] for k, v in resources(built["tpl"], "AWS::Events::Rule").items()}
    schedule = next(v for k, v in rules.items() if k.startswith("PipelineLauncherSchedule"))
    assert schedule["ScheduleExpression"] == "rate(15 minutes)"
    (target,) = schedule["Targets"]
    assert target["Arn"]["Fn::GetAtt"][0].startswith("PipelineLaunches")


def test_launcher_consumes_the_queue_with_partial_failures(built: dict[str, Any]) -> None:
    mapping = one(built["tpl"], "AWS::Lambda::EventSourceMapping")["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["MaximumBatchingWindowInSeconds"] == 300
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}
    queues = resources(built["tpl"], "AWS::SQS::Queue")
    main = next(q for k, q in queues.items() if k.startswith("PipelineLaunches") and "Dlq" not in k)
    assert main["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 5


def test_launcher_configuration_is_a_valid_job_config(built: dict[str, Any]) -> None:
    functions = resources(built["tpl"], "AWS::Lambda::Function")
    launcher = next(f for f in functions.values() if f["Properties"]["Handler"].startswith("labeling_launcher"))
    env = launcher["Properties"]["Environment"]["Variables"]
    parsed = JobConfig.from_json(literal(env["TRUTHLOOP_JOB_CONFIG"]))
    assert (parsed.labels, parsed.max_items_per_job, parsed.max_attempts) == (("positive", "negative"), 1000, 3)
    assert parsed.ui_template_s3_uri is not None and parsed.job_name_prefix == "truthloop-label"
    assert "TRUTHLOOP_PENDING_TABLE" in env


def test_gt_lambdas_get_their_configuration(built: dict[str, Any]) -> None:
    functions = {
        f["Properties"]["Handler"]: f["Properties"] for f in resources(built["tpl"], "AWS::Lambda::Function").values()
    }
    pre = functions["pre_annotation.handler.lambda_handler"]["Environment"]["Variables"]
    post = functions["post_annotation.handler.lambda_handler"]["Environment"]["Variables"]
    assert pre["TRUTHLOOP_TASK_TYPE"] == post["TRUTHLOOP_TASK_TYPE"] == "text-classification"
    assert pre["TRUTHLOOP_AUTO_ACCEPT_THRESHOLD"] == "0.95"
    assert post["TRUTHLOOP_CONSOLIDATION_METHOD"] == "ds"


def test_pending_table_has_the_launchers_indexes(built: dict[str, Any]) -> None:
    table = one(built["tpl"], "AWS::DynamoDB::Table")["Properties"]
    assert table["KeySchema"] == [{"AttributeName": "item", "KeyType": "HASH"}]
    indexes = {i["IndexName"]: i["KeySchema"][0]["AttributeName"] for i in table["GlobalSecondaryIndexes"]}
    assert indexes == {"status-index": "status", "job-index": "job"}


def test_job_role_is_limited_to_prefixes_and_its_own_functions(built: dict[str, Any]) -> None:
    granted = actions_on(built["tpl"], "PipelineJobRole")
    reads = sorted(literal(r) for r in granted["s3:GetObject"] if isinstance(r, dict) and "Fn::Join" in r)
    assert [r.split("/", 1)[1] for r in reads if r.startswith("REF/")] == [
        "jobs/*",
        "manifests/*",
        "objects/*",
        "output/*",
    ]
    assert [literal(r).split("/", 1)[1] for r in granted["s3:PutObject"]] == ["output/*"]
    invoked = granted["lambda:InvokeFunction"]
    assert len(invoked) == 2 and all(
        r["Fn::GetAtt"][0].startswith("PipelinePre") or r["Fn::GetAtt"][0].startswith("PipelinePost") for r in invoked
    )
    assert "sqs:CreateQueue" not in granted  # only streaming pipelines need Ground Truth's queue


def test_launcher_may_pass_only_the_job_role(built: dict[str, Any]) -> None:
    granted = actions_on(built["tpl"], "PipelineLauncherRole")
    (passed,) = granted["iam:PassRole"]
    assert passed["Fn::GetAtt"][0].startswith("PipelineJobRole")
    jobs = {literal(r) for r in granted["sagemaker:CreateLabelingJob"]}
    assert all(j.endswith(":labeling-job/truthloop-label-*") for j in jobs)


def test_streaming_pipeline_adds_a_topic_fed_job(built: dict[str, Any]) -> None:
    tpl = built["stream_tpl"]
    (job,) = resources(tpl, "Custom::TruthloopLabelingJob").values()
    request = json.loads(literal(job["Properties"]["Request"]))
    assert request["InputConfig"]["DataSource"] == {"SnsDataSource": {"SnsTopicArn": "REF"}}
    assert job["Properties"]["Wait"] == "false"
    granted = actions_on(tpl, "PipelineJobRole")
    assert "sqs:CreateQueue" in granted and "sns:Subscribe" in granted
    assert built["streaming"].input_topic is not None


def test_labeling_job_standalone(outdir: Path) -> None:
    # GIVEN a one-shot job that the deployment waits for
    app = new_app(outdir / "job")
    stack = cdk.Stack(app, "Job", env=ENV)
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    job = LabelingJob(
        stack,
        "Job",
        role=role,
        workteam_arn=WORKTEAM_ARN,
        label_attribute_name="intent",
        output_s3_uri="s3://out/output/",
        task_title="Classify intent",
        task_description="Pick the intent",
        manifest_s3_uri="s3://in/manifests/m.jsonl",
        ui_template_s3_uri="s3://in/template.liquid.html",
        workers_per_object=3,
        task_keywords=["text", "intent"],
        wait=True,
        name_prefix="intent-job",
    )
    tpl = template(stack)
    # THEN
    (resource,) = resources(tpl, "Custom::TruthloopLabelingJob").values()
    request = json.loads(literal(resource["Properties"]["Request"]))
    assert request["HumanTaskConfig"]["NumberOfHumanWorkersPerDataObject"] == 3
    assert request["InputConfig"]["DataSource"] == {"S3DataSource": {"ManifestS3Uri": "s3://in/manifests/m.jsonl"}}
    assert resource["Properties"]["Wait"] == "true"
    assert job.output_dataset_s3_uri is not None
    definition = literal(one(tpl, "AWS::StepFunctions::StateMachine")["Properties"]["DefinitionString"])
    # polls every 30 s, and gives up before CloudFormation's one-hour limit for a custom resource
    interval, attempts = map(int, re.search(r'"IntervalSeconds":(\d+),"MaxAttempts":(\d+)', definition).groups())
    assert interval == 30 and interval * attempts == WAIT_MINUTES * 60 < 3600
    granted = actions_on(tpl, "TruthloopLabelingJobProviderOnEventRole")
    assert {literal(r) for r in granted["sagemaker:CreateLabelingJob"]} == {
        "arn:aws:sagemaker:us-east-1:111122223333:labeling-job/intent-job-*"
    }
    assert as_list(granted["iam:PassRole"])[0]["Fn::GetAtt"][0].startswith("Role")


def test_labeling_job_props_are_checked_together() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"))
    topic = sns.Topic(stack, "Topic")
    with pytest.raises(ConstructPropsError) as caught:
        LabelingJob(
            stack,
            "Job",
            role=role,
            workteam_arn=WORKTEAM_ARN,
            label_attribute_name="mask",
            output_s3_uri="out/",
            task_title="t",
            task_description="d",
            input_topic=topic,
            wait=True,
            workers_per_object=10,
            task_time_limit_seconds=10,
            task_type="SemanticSegmentation",
            content_classifiers=["FreeOfViolence"],
        )
    text = "\n".join(caught.value.problems)
    for fragment in (
        "give ui_template_s3_uri",
        "wait=True cannot be used with a streaming job",
        "must end with '-ref' for SemanticSegmentation jobs",
        "output_s3_uri 'out/' must be an s3:// URI",
        "workers_per_object must be 1–9",
        "task_time_limit_seconds must be 30–28800",
        "content classifier 'FreeOfViolence'",
    ):
        assert fragment in text


def test_pipeline_props_are_checked_together() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    with pytest.raises(ConstructPropsError) as caught:
        LabelingPipeline(
            stack,
            "P",
            workteam_arn=WORKTEAM_ARN,
            task_type="sentiment",
            labels=["a", "a"],
            template="gt/no-such-template",
            max_attempts=0,
            batch_window=cdk.Duration.minutes(10),
            auto_accept_threshold=1.5,
            job_name_prefix="Bad_Prefix",
            input_bucket_props={"versioned": True},
            existing_input_bucket=None,
        )
    text = "\n".join(caught.value.problems)
    for fragment in (
        "task_type 'sentiment' is not one of",
        "labels must be unique",
        "worker template gt/no-such-template not found",
        "max_attempts must be 1–100",
        "batch_window is at most 5 minutes",
        "auto_accept_threshold must be in (0, 1]",
        "job_name_prefix 'Bad_Prefix'",
    ):
        assert fragment in text


@pytest.mark.parametrize("name", ["tpl", "stream_tpl"])
def test_cfn_lint_finds_nothing(built: dict[str, Any], name: str) -> None:
    assert cfn_lint(built[name]) == []
