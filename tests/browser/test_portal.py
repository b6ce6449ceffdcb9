"""A worker signs in to the local backend's portal in Chromium, completes an A2I review, and the loop completes."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from truthloop.contracts import HumanLoopOutput, load
from truthloop.local import BackendConfig, LocalBackend
from truthloop.templates import catalogue

ROOT = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/portal-test"


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    # moto is shared with the other browser tests' S3 server in this process: do not reset it
    config = BackendConfig(
        port=0,
        data_dir=tmp_path,
        workers=1,
        reset_s3=False,
        flow_activation_seconds=0.05,
        engine_interval_seconds=0.05,
    )
    with LocalBackend(config) as running:
        yield running


def _review_loop(backend: LocalBackend) -> tuple[Any, Any, str, str]:
    env = backend.client_env()
    kw = {"endpoint_url": backend.endpoint_url, "region_name": "us-east-1"}
    sm = boto3.client("sagemaker", **kw)
    a2i = boto3.client("sagemaker-a2i-runtime", **kw)
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"], region_name="us-east-1")
    s3.create_bucket(Bucket="portal-test-output")
    team = sm.create_workteam(
        WorkteamName="portal-testers",
        Description="browser test",
        MemberDefinitions=[{"CognitoMemberDefinition": {"UserPool": "us-east-1_p", "UserGroup": "g", "ClientId": "c"}}],
    )["WorkteamArn"]
    template = catalogue.load("a2i/comprehend-sentiment-review")
    ui = sm.create_human_task_ui(HumanTaskUiName="sentiment", UiTemplate={"Content": template.text()})
    flow = sm.create_flow_definition(
        FlowDefinitionName="portal-review",
        HumanLoopConfig={
            "WorkteamArn": team,
            "HumanTaskUiArn": ui["HumanTaskUiArn"],
            "TaskCount": 1,
            "TaskTitle": "Check the sentiment",
            "TaskDescription": "Is the model right?",
        },
        OutputConfig={"S3OutputPath": "s3://portal-test-output/a2i"},
        RoleArn=ROLE,
    )["FlowDefinitionArn"]
    while sm.describe_flow_definition(FlowDefinitionName="portal-review")["FlowDefinitionStatus"] != "Active":
        time.sleep(0.05)
    a2i.start_human_loop(
        HumanLoopName="portal-loop-1",
        FlowDefinitionArn=flow,
        HumanLoopInput={"InputContent": json.dumps(template.task_input())},
    )
    return a2i, s3, flow, template.task_input()["input"]["text"]


def test_worker_completes_a_review_in_the_browser(backend: LocalBackend, page: Any) -> None:
    from tests.browser.conftest import ready

    # GIVEN a loop waiting in the portal
    a2i, s3, _, text = _review_loop(backend)
    # WHEN the worker signs in with their token and starts working
    page.goto(f"{backend.portal_url}/")
    page.get_by_label("Worker token").fill(backend.worker_tokens["worker-1"])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("1 task(s) available").wait_for()
    page.get_by_role("button", name="Start working").click()
    page.wait_for_url("**/portal/tasks/**")
    ready(page)
    # THEN the task shows the text under review, rendered from the template with the offline elements
    assert text in page.content()
    # WHEN they say the model is wrong, pick the right sentiment and submit
    page.locator('crowd-classifier[name="verdict"]').get_by_role("radio", name="incorrect").click()
    page.locator('crowd-classifier[name="correction"]').get_by_role("radio", name="NEUTRAL").click()
    page.get_by_role("button", name="Submit").click()
    # THEN the portal moves on (no more tasks) and the loop completes with their answer in output.json
    page.wait_for_url("**/portal/?message=*")
    assert "No more tasks" in page.content()
    backend.wait_idle()
    described = a2i.describe_human_loop(HumanLoopName="portal-loop-1")
    assert described["HumanLoopStatus"] == "Completed"
    bucket, _, key = described["HumanLoopOutput"]["OutputS3Uri"][5:].partition("/")
    output = load(json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
    assert isinstance(output, HumanLoopOutput)
    answer = output.human_answers[0].answer_content
    assert answer["verdict"] == {"label": "incorrect"}
    assert answer["correction"] == {"label": "NEUTRAL"}


def test_wrong_token_is_refused(backend: LocalBackend, page: Any) -> None:
    # WHEN a wrong token is used
    page.goto(f"{backend.portal_url}/")
    page.get_by_label("Worker token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    # THEN the sign-in page says so
    page.get_by_role("alert").wait_for()
    assert "Unknown worker token" in page.get_by_role("alert").inner_text()


def test_labeling_task_shows_its_s3_image_offline(backend: LocalBackend, page: Any) -> None:
    from tests.browser.conftest import ready
    from truthloop.arns import consolidation_lambda_arn, pre_annotation_lambda_arn

    # GIVEN a bounding-box labeling job over an image in the local S3 (built-in PRE-/ACS-BoundingBox)
    env = backend.client_env()
    kw = {"endpoint_url": backend.endpoint_url, "region_name": "us-east-1"}
    sm = boto3.client("sagemaker", **kw)
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"], region_name="us-east-1")
    s3.create_bucket(Bucket="portal-gt-images")
    image = ROOT / "sdk" / "truthloop" / "local" / "samples" / "images" / "shapes-01.png"
    s3.put_object(Bucket="portal-gt-images", Key="shapes.png", Body=image.read_bytes(), ContentType="image/png")
    s3.put_object(
        Bucket="portal-gt-images", Key="in.manifest", Body=b'{"source-ref": "s3://portal-gt-images/shapes.png"}\n'
    )
    s3.put_object(
        Bucket="portal-gt-images",
        Key="labels.json",
        Body=json.dumps({"document-version": "2018-11-28", "labels": [{"label": "red"}, {"label": "blue"}]}),
    )
    s3.put_object(Bucket="portal-gt-images", Key="bb.html", Body=catalogue.load("gt/bounding-box").text().encode())
    team = sm.create_workteam(
        WorkteamName="portal-labelers",
        Description="browser test",
        MemberDefinitions=[{"CognitoMemberDefinition": {"UserPool": "us-east-1_p", "UserGroup": "g", "ClientId": "c"}}],
    )["WorkteamArn"]
    sm.create_labeling_job(
        LabelingJobName="portal-boxes",
        LabelAttributeName="boxes",
        InputConfig={"DataSource": {"S3DataSource": {"ManifestS3Uri": "s3://portal-gt-images/in.manifest"}}},
        OutputConfig={"S3OutputPath": "s3://portal-gt-images/out/"},
        RoleArn=ROLE,
        LabelCategoryConfigS3Uri="s3://portal-gt-images/labels.json",
        HumanTaskConfig={
            "WorkteamArn": team,
            "UiConfig": {"UiTemplateS3Uri": "s3://portal-gt-images/bb.html"},
            "PreHumanTaskLambdaArn": pre_annotation_lambda_arn("BoundingBox", "us-east-1"),
            "AnnotationConsolidationConfig": {
                "AnnotationConsolidationLambdaArn": consolidation_lambda_arn("BoundingBox", "us-east-1")
            },
            "TaskTitle": "Box the shapes",
            "TaskDescription": "d",
            "NumberOfHumanWorkersPerDataObject": 1,
            "TaskTimeLimitInSeconds": 300,
        },
    )
    while sm.describe_labeling_job(LabelingJobName="portal-boxes")["LabelingJobStatus"] == "Initializing":
        time.sleep(0.05)
    # WHEN the worker opens the task in Chromium
    page.goto(f"{backend.portal_url}/")
    page.get_by_label("Worker token").fill(backend.worker_tokens["worker-1"])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("button", name="Start working").click()
    page.wait_for_url("**/portal/tasks/**")
    # THEN the template's image loads from the local S3 through a presigned URL (no request leaves 127.0.0.1)
    ready(page)
    source = page.locator("crowd-bounding-box").get_attribute("src") or ""
    assert source.startswith(env["AWS_ENDPOINT_URL_S3"] + "/portal-gt-images/shapes.png?")
    assert "red" in (page.locator("crowd-bounding-box").get_attribute("labels") or "")
