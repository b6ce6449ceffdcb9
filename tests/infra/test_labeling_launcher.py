"""The labeling launcher: moto for S3, DynamoDB and SNS (+SQS to read notifications); Stubber for SageMaker.

moto has no labeling-job API, so CreateLabelingJob/DescribeLabelingJob go through botocore's Stubber, which still
validates every request against the SageMaker model.
"""

from __future__ import annotations

import importlib
import itertools
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

from truthloop.exceptions import AwsError, ConfigurationError
from truthloop.labeling.launcher import JobConfig, Launcher, LauncherError, item_id, job_name

ACCOUNT = "123456789012"
IN, OUT = "labeling-input", "labeling-output"
TOPIC = "labeling-notifications"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def config(**overrides: Any) -> JobConfig:
    raw = {
        "jobNamePrefix": "truthloop-label",
        "labelAttributeName": "sentiment",
        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/job-role",
        "workteamArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:workteam/private-crowd/team",
        "inputBucket": IN,
        "outputS3Uri": f"s3://{OUT}/output/",
        "taskTitle": "Label the sentiment",
        "taskDescription": "Pick the sentiment of each text",
        "uiTemplateS3Uri": "s3://cdk-assets/template.liquid.html",
        "preAnnotationLambdaArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:x-SageMakerPreAnnotation",
        "consolidationLambdaArn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:x-SageMakerConsolidation",
        "labels": ["positive", "negative"],
        "taskKeywords": ["text"],
        "maxItemsPerJob": 2,
        "maxAttempts": 2,
        "notificationTopicArn": f"arn:aws:sns:us-east-1:{ACCOUNT}:{TOPIC}",
        "kmsKeyArn": f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        **overrides,
    }
    return JobConfig.from_json(json.dumps(raw))


@dataclass
class World:
    s3: Any
    table: Any
    sns: Any
    sqs: Any
    notifications_url: str
    sagemaker: Any
    stubber: Stubber
    clock: list[float]

    def launcher(self, *, launch_ids: Iterator[str] | None = None, **overrides: Any) -> Launcher:
        ids = launch_ids if launch_ids is not None else (f"launch-{n}" for n in itertools.count())
        return Launcher(
            config(**overrides),
            table=self.table,
            s3=self.s3,
            sagemaker=self.sagemaker,
            sns=self.sns,
            clock=lambda: self.clock[0],
            new_launch_id=lambda: next(ids),
        )

    def put(self, key: str, lines: list[Any]) -> None:
        body = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
        self.s3.put_object(Bucket=IN, Key=key, Body=body.encode())

    def items(self) -> dict[str, dict[str, Any]]:
        return {i["item"]: i for i in self.table.scan()["Items"]}

    def notifications(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.notifications_url, MaxNumberOfMessages=10).get("Messages", [])
        return [json.loads(json.loads(m["Body"])["Message"]) for m in messages]

    def expect_create(self, name: str | None = None) -> None:
        self.stubber.add_response(
            "create_labeling_job",
            {"LabelingJobArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:labeling-job/{name or 'x'}"},
            {
                "LabelingJobName": name or ANY,
                "LabelAttributeName": "sentiment",
                "InputConfig": ANY,
                "OutputConfig": {"S3OutputPath": f"s3://{OUT}/output/", "KmsKeyId": ANY},
                "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/job-role",
                "HumanTaskConfig": ANY,
                "LabelCategoryConfigS3Uri": ANY,
            },
        )

    def expect_describe(self, name: str, status: str, **extra: Any) -> None:
        self.stubber.add_response(
            "describe_labeling_job",
            {
                "LabelingJobStatus": status,
                "LabelCounters": {},
                "CreationTime": NOW,
                "LastModifiedTime": NOW,
                "JobReferenceCode": "ref",
                "LabelingJobName": name,
                "LabelingJobArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:labeling-job/{name}",
                "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": "s3://x/y"}}},
                "OutputConfig": {"S3OutputPath": f"s3://{OUT}/output/"},
                "RoleArn": f"arn:aws:iam::{ACCOUNT}:role/job-role",
                "HumanTaskConfig": {
                    "WorkteamArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:workteam/private-crowd/team",
                    "UiConfig": {"UiTemplateS3Uri": "s3://cdk-assets/template.liquid.html"},
                    "TaskTitle": "t",
                    "TaskDescription": "d",
                    "NumberOfHumanWorkersPerDataObject": 1,
                    "TaskTimeLimitInSeconds": 300,
                },
                **extra,
            },
            {"LabelingJobName": name},
        )


@pytest.fixture
def world() -> Iterator[World]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in (IN, OUT):
            s3.create_bucket(Bucket=bucket)
        dynamodb = boto3.resource("dynamodb", region_name="us-east-1")
        table = dynamodb.create_table(
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
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name=TOPIC)["TopicArn"]
        queue_url = sqs.create_queue(QueueName="notifications")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        sagemaker = boto3.client("sagemaker", region_name="us-east-1")
        with Stubber(sagemaker) as stubber:
            yield World(s3, table, sns, sqs, queue_url, sagemaker, stubber, [NOW.timestamp()])
            stubber.assert_no_pending_responses()


def object_created(key: str, bucket: str = IN) -> str:
    return json.dumps(
        {
            "detail-type": "Object Created",
            "source": "aws.s3",
            "detail": {"bucket": {"name": bucket}, "object": {"key": key}},
        }
    )


def job_state(name: str, status: str) -> str:
    return json.dumps(
        {
            "detail-type": "SageMaker Ground Truth Labeling Job State Change",
            "source": "aws.sagemaker",
            "resources": [f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:labeling-job/{name}"],
            "detail": {"LabelingJobStatus": status},
        }
    )


LINES = [{"source": "I love it"}, {"source": "I hate it"}, {"source": "It is fine", "model-label": {"label": "x"}}]


def test_manifest_lines_become_pending_items_and_bad_lines_are_reported(world: World) -> None:
    # GIVEN a manifest with three good lines and two bad ones (lines 2 and 4)
    world.put("manifests/batch-1.jsonl", [LINES[0], "{not json", LINES[1], {"text": "no source"}, LINES[2]])
    launcher = world.launcher()
    # WHEN its upload event arrives
    launcher.handle_message(object_created("manifests/batch-1.jsonl"))
    # THEN the good lines are pending and each bad one is named with its line number and reason
    items = world.items()
    assert sorted(items) == sorted(item_id(line) for line in LINES)
    assert {i["status"] for i in items.values()} == {"pending"}
    assert items[item_id(LINES[2])]["origin"] == f"s3://{IN}/manifests/batch-1.jsonl:5"
    (notice,) = world.notifications()
    assert [r.split(": ", 1)[0] for r in notice["rejected"]] == [
        f"s3://{IN}/manifests/batch-1.jsonl:2",
        f"s3://{IN}/manifests/batch-1.jsonl:4",
    ]
    assert "needs 'source'" in notice["rejected"][1]


def test_registering_twice_registers_once(world: World) -> None:
    world.put("manifests/m.jsonl", LINES)
    launcher = world.launcher()
    launcher.handle_message(object_created("manifests/m.jsonl"))
    launcher.handle_message(object_created("manifests/m.jsonl"))  # a redelivered event
    assert (launcher.outcome.registered, launcher.outcome.duplicates) == (3, 3)


def test_objects_are_labelled_by_reference_and_other_keys_ignored(world: World) -> None:
    launcher = world.launcher()
    launcher.handle_message(object_created("objects/images/cat.jpg"))
    launcher.handle_message(object_created("jobs/x/input.manifest"))
    (item,) = world.items().values()
    assert json.loads(item["line"]) == {"source-ref": f"s3://{IN}/objects/images/cat.jpg"}


def test_pending_items_are_batched_into_deterministic_jobs(world: World) -> None:
    # GIVEN three pending items and at most two per job
    world.put("manifests/m.jsonl", LINES)
    launcher = world.launcher(launch_ids=iter(["first", "second"]))
    launcher.handle_message(object_created("manifests/m.jsonl"))
    world.expect_create()
    world.expect_create()
    # WHEN the launcher launches
    started = launcher.launch_pending()
    # THEN two jobs exist, named from their items and launch ids, with a manifest carrying each item's id
    items = world.items()
    assert len(started) == 2
    for name, launch in zip(started, ["first", "second"], strict=True):
        members = [i for i in items.values() if i.get("job") == name]
        assert name == job_name("truthloop-label", [(i["item"], 0) for i in members], launch)
        assert {i["status"] for i in members} == {"launched"}
        body = world.s3.get_object(Bucket=IN, Key=f"jobs/{name}/input.manifest")["Body"].read().decode()
        lines = [json.loads(line) for line in body.splitlines()]
        assert sorted(line["truthloop-item"] for line in lines) == sorted(i["item"] for i in members)
        labels = json.loads(world.s3.get_object(Bucket=IN, Key=f"jobs/{name}/labels.json")["Body"].read())
        assert labels == {"document-version": "2018-11-28", "labels": [{"label": "positive"}, {"label": "negative"}]}
    assert all(len(n) <= 63 and n == n.lower() for n in started)


def test_items_registered_again_after_a_redeploy_never_get_an_old_job_name(world: World) -> None:
    # GIVEN a deployment that launched a job for two items (the job was later stopped when the stack was destroyed)
    world.put("manifests/m.jsonl", LINES[:2])
    first = world.launcher(launch_ids=None)
    first.handle_message(object_created("manifests/m.jsonl"))
    world.expect_create()
    (old_name,) = first.launch_pending()
    # WHEN the stack is deployed again with a new, empty table and the same data is uploaded again
    for key in list(world.items()):
        world.table.delete_item(Key={"item": key})
    redeployed = Launcher(
        config(), table=world.table, s3=world.s3, sagemaker=world.sagemaker, sns=world.sns, clock=lambda: world.clock[0]
    )
    redeployed.handle_message(object_created("manifests/m.jsonl"))
    world.expect_create()
    (new_name,) = redeployed.launch_pending()
    # THEN the new job has a new name (an old one would be ResourceInUse: adopted, its items stuck in `launched`)
    assert new_name != old_name
    assert {i["job"] for i in world.items().values()} == {new_name}


def test_the_create_request_follows_the_configuration(world: World) -> None:
    request = world.launcher().create_request(
        "truthloop-label-abc", f"s3://{IN}/jobs/truthloop-label-abc/input.manifest"
    )
    human = request["HumanTaskConfig"]
    assert human["PreHumanTaskLambdaArn"].endswith("x-SageMakerPreAnnotation")
    assert human["AnnotationConsolidationConfig"]["AnnotationConsolidationLambdaArn"].endswith("Consolidation")
    assert human["UiConfig"] == {"UiTemplateS3Uri": "s3://cdk-assets/template.liquid.html"}
    assert human["TaskKeywords"] == ["text"]
    assert request["InputConfig"] == {
        "DataSource": {"S3DataSource": {"ManifestS3Uri": f"s3://{IN}/jobs/truthloop-label-abc/input.manifest"}}
    }


def test_a_launch_that_died_midway_is_finished_under_the_same_name(world: World) -> None:
    world.put("manifests/m.jsonl", LINES[:2])
    launcher = world.launcher()
    launcher.handle_message(object_created("manifests/m.jsonl"))
    # GIVEN CreateLabelingJob fails once (the invocation errors and SQS retries the batch)
    world.stubber.add_client_error("create_labeling_job", "ThrottlingException", "Rate exceeded", http_status_code=400)
    with pytest.raises(AwsError, match="ThrottlingException"):
        launcher.launch_pending()
    (name,) = {i["job"] for i in world.items().values()}
    assert {i["status"] for i in world.items().values()} == {"launching"}
    # WHEN a later invocation runs after the claim went stale, and the first create had in fact succeeded
    world.clock[0] += 11 * 60
    world.stubber.add_client_error("create_labeling_job", "ResourceInUse", "Job already exists", http_status_code=400)
    world.launcher().launch_pending()
    # THEN the same job is confirmed and its items are launched, never duplicated into a new job
    assert {(i["status"], i["job"]) for i in world.items().values()} == {("launched", name)}


def test_a_completed_job_marks_labelled_items_done_and_requeues_failed_ones(world: World) -> None:
    world.put("manifests/m.jsonl", LINES[:2])
    launcher = world.launcher()
    launcher.handle_message(object_created("manifests/m.jsonl"))
    world.expect_create()
    (name,) = launcher.launch_pending()
    good, bad = item_id(LINES[0]), item_id(LINES[1])
    # GIVEN the job's output manifest: one object labelled, one failed
    output = [
        {**LINES[0], "truthloop-item": good, "sentiment": 0, "sentiment-metadata": {"class-name": "positive"}},
        {**LINES[1], "truthloop-item": bad, "sentiment-metadata": {"failure-reason": "ClientError: task expired"}},
    ]
    world.s3.put_object(
        Bucket=OUT,
        Key=f"output/{name}/manifests/output/output.manifest",
        Body="\n".join(map(json.dumps, output)).encode(),
    )
    world.expect_describe(
        name,
        "Completed",
        LabelingJobOutput={"OutputDatasetS3Uri": f"s3://{OUT}/output/{name}/manifests/output/output.manifest"},
    )
    # WHEN the job's Completed event arrives
    world.launcher().handle_message(job_state(name, "Completed"))
    # THEN
    items = world.items()
    assert items[good]["status"] == "done"
    assert (items[bad]["status"], int(items[bad]["attempts"]), items[bad].get("job")) == ("pending", 1, None)
    # AND the re-queued item goes into a job with a new name (its attempt number changed)
    world.expect_create()
    (retry,) = world.launcher().launch_pending()
    assert retry != name


def test_a_failed_job_requeues_and_finally_reports_items(world: World) -> None:
    world.put("manifests/m.jsonl", LINES[:1])
    launcher = world.launcher()
    launcher.handle_message(object_created("manifests/m.jsonl"))
    world.expect_create()
    (first,) = launcher.launch_pending()
    world.expect_describe(first, "Failed", FailureReason="ClientError: role cannot read the manifest")
    world.launcher().handle_message(job_state(first, "Failed"))
    world.expect_create()
    (second,) = world.launcher().launch_pending()
    world.expect_describe(second, "Failed", FailureReason="ClientError: role cannot read the manifest")
    # WHEN the second (= maxAttempts) job fails too, and the event is delivered twice
    final = world.launcher()
    final.handle_message(job_state(second, "Failed"))
    final.handle_message(job_state(second, "Failed"))
    # THEN the item is failed with the reason, reported once, and nothing is left to launch
    (item,) = world.items().values()
    assert item["status"] == "failed"
    assert "ended Failed: ClientError: role cannot read the manifest" in item["reason"]
    (notice,) = world.notifications()
    assert notice["job"] == second and len(notice["failed"]) == 1
    assert world.launcher().launch_pending() == []


def test_a_scheduled_run_launches_the_rest_of_a_backlog(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN more pending items than one run launches (one item per job, two jobs per run here)
    monkeypatch.setattr("truthloop.labeling.launcher.MAX_JOBS_PER_INVOCATION", 2)
    world.put("manifests/m.jsonl", LINES)
    launcher = world.launcher(maxItemsPerJob=1)
    launcher.handle_message(object_created("manifests/m.jsonl"))
    for _ in range(3):
        world.expect_create()
    assert len(launcher.launch_pending()) == 2
    assert [i["status"] for i in world.items().values()].count("pending") == 1
    # WHEN the schedule's event arrives, with no new upload
    scheduled = world.launcher(maxItemsPerJob=1)
    scheduled.handle_message(json.dumps({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}))
    # THEN the rest is launched
    assert len(scheduled.launch_pending()) == 1
    assert {i["status"] for i in world.items().values()} == {"launched"}


def test_unknown_messages_are_rejected(world: World) -> None:
    launcher = world.launcher()
    with pytest.raises(LauncherError, match="unexpected event detail-type 'Something Else'"):
        launcher.handle_message(json.dumps({"detail-type": "Something Else"}))
    with pytest.raises(LauncherError, match="not JSON"):
        launcher.handle_message("{")


def test_job_config_problems_are_listed_together() -> None:
    with pytest.raises(ConfigurationError) as caught:
        JobConfig.from_json(json.dumps({"labelAttributeName": "bad-metadata", "maxAttempts": 0, "colour": "red"}))
    message = str(caught.value)
    for fragment in (
        "unknown key 'colour'",
        "roleArn is required",
        "one of uiTemplateS3Uri and humanTaskUiArn",
        "must not end with '-metadata'",
        "maxAttempts must be an integer from 1 to 100",
    ):
        assert fragment in message


@dataclass
class Context:
    function_name: str = "launcher"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:launcher"
    aws_request_id: str = "req-1"


def test_handler_reports_bad_messages_as_partial_failures(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the Lambda's environment
    monkeypatch.setenv("TRUTHLOOP_PENDING_TABLE", "pending")
    monkeypatch.setenv("TRUTHLOOP_JOB_CONFIG", _config_json())
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "truthloop-test")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    sys.modules.pop("labeling_launcher.handler", None)
    handler = importlib.import_module("labeling_launcher.handler")
    monkeypatch.setattr(handler, "SAGEMAKER", world.sagemaker)
    world.s3.put_object(Bucket=IN, Key="objects/a.txt", Body=b"hello")
    world.expect_create()
    event = {
        "Records": [
            {
                "messageId": "good",
                "body": object_created("objects/a.txt"),
                "eventSource": "aws:sqs",
                "attributes": {},
                "messageAttributes": {},
                "receiptHandle": "r1",
                "md5OfBody": "",
                "eventSourceARN": "arn",
                "awsRegion": "us-east-1",
            },
            {
                "messageId": "bad",
                "body": "garbage",
                "eventSource": "aws:sqs",
                "attributes": {},
                "messageAttributes": {},
                "receiptHandle": "r2",
                "md5OfBody": "",
                "eventSourceARN": "arn",
                "awsRegion": "us-east-1",
            },
        ]
    }
    # WHEN
    response = handler.lambda_handler(event, Context())
    # THEN only the garbage message is retried; the good one was registered and launched
    assert response == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert {i["status"] for i in world.items().values()} == {"launched"}


def _config_json() -> str:
    c = config()
    return json.dumps(
        {
            "jobNamePrefix": c.job_name_prefix,
            "labelAttributeName": c.label_attribute_name,
            "roleArn": c.role_arn,
            "workteamArn": c.workteam_arn,
            "inputBucket": c.input_bucket,
            "outputS3Uri": c.output_s3_uri,
            "taskTitle": c.task_title,
            "taskDescription": c.task_description,
            "uiTemplateS3Uri": c.ui_template_s3_uri,
            "labels": list(c.labels),
            "kmsKeyArn": c.kms_key_arn,
        }
    )
