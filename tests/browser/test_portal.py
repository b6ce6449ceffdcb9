"""A worker signs in to the local backend's portal in Chromium, completes an A2I review, and the loop completes."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.functional.local.helpers import active_flow
from tests.functional.local.stores import STORES
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
    flow = active_flow(
        sm,
        output="s3://portal-test-output/a2i",
        name="portal-review",
        team=team,
        template=template.text(),
        title="Check the sentiment",
        role=ROLE,
    )
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


def _sign_in(backend: LocalBackend, page: Any, token: str | None = None) -> None:
    page.goto(f"{backend.portal_url}/")
    page.get_by_label("Worker token").fill(token or backend.worker_tokens["worker-1"])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/portal/")


def _more_loops(a2i: Any, flow: str, text: str, count: int) -> None:
    for index in range(count):
        a2i.start_human_loop(
            HumanLoopName=f"portal-more-{index}",
            FlowDefinitionArn=flow,
            HumanLoopInput={"InputContent": json.dumps({"input": {"text": f"{text} {index}"}})},
        )


def _api_claim(backend: LocalBackend, name: str) -> Any:
    import httpx

    token = backend.issue_worker(name)
    return httpx.post(f"{backend.portal_url}/api/tasks/claim", headers={"authorization": f"Bearer {token}"}, timeout=10)


def test_decline_shows_another_task_and_the_bar_counts_down_in_mm_ss(
    backend: LocalBackend, page: Any, tmp_path: Path
) -> None:
    from tests.browser.conftest import ready
    from tests.browser.helpers import screenshot

    # GIVEN two reviews waiting and a signed-in worker on the first
    a2i, _, flow, _ = _review_loop(backend)
    _more_loops(a2i, flow, "second review", 1)
    _sign_in(backend, page)
    page.get_by_text("2 task(s) available").wait_for()
    page.get_by_role("button", name="Start working").click()
    page.wait_for_url("**/portal/tasks/**")
    ready(page)
    first = page.url
    bar = page.locator("#truthloop-task-bar")
    assert "2 left in this queue · 0 done by you" in bar.inner_text()
    # THEN the time left is mm:ss (3600 s limit: one hour shows as h:mm:ss) and it counts down
    timer = bar.locator(".timer")
    shown = timer.inner_text()
    assert re.fullmatch(r"1:00:00|59:[0-5][0-9]", shown), shown
    page.wait_for_function(f"() => document.querySelector('#truthloop-task-bar .timer').textContent !== '{shown}'")
    assert timer.inner_text().startswith("59:")
    screenshot(page, "portal-task.png", tmp_path)
    # WHEN they decline it
    bar.get_by_role("button", name="Decline task").click()
    # (the page is already on a /portal/tasks/ URL: wait for a different one, not for the pattern)
    page.wait_for_url(lambda url: "/portal/tasks/" in url and url != first)
    # THEN they see the other task, and the declined one waits for somebody else
    assert page.url != first
    claimed = _api_claim(backend, "other-worker")
    assert claimed.status_code == 200 and first.endswith(claimed.json()["task"]["id"])


@pytest.mark.parametrize("storage", STORES)
def test_an_open_task_page_keeps_its_claim_and_a_closed_one_lets_it_go(tmp_path: Path, page: Any, storage: str) -> None:
    from tests.browser.conftest import ready

    # GIVEN a backend (on either store) whose portal claims lapse after 3 s without a heartbeat (the page renews
    # every second)
    config = BackendConfig(
        port=0,
        data_dir=tmp_path,
        workers=1,
        reset_s3=False,
        flow_activation_seconds=0.05,
        engine_interval_seconds=0.05,
        claim_lease_seconds=3,
        storage=storage,  # type: ignore[arg-type]
    )
    with LocalBackend(config) as backend:
        _review_loop(backend)
        _sign_in(backend, page)
        page.get_by_role("button", name="Start working").click()
        page.wait_for_url("**/portal/tasks/**")
        ready(page)
        # WHEN the page stays open for longer than two leases (waiting through Playwright, which routes its requests)
        page.wait_for_timeout(7000)
        # THEN nobody else can take the task
        assert _api_claim(backend, "waiting-1").status_code == 204
        # WHEN the worker closes the page
        page.goto("about:blank")
        deadline = time.monotonic() + 10
        while (claimed := _api_claim(backend, f"waiting-{int(time.monotonic() * 1000)}")).status_code == 204:
            assert time.monotonic() < deadline, "the claim of a closed page was not released"
            time.sleep(0.5)
        # THEN the task is back in the queue within a lease or so
        assert claimed.status_code == 200


def test_portal_pages_have_no_serious_accessibility_violation(backend: LocalBackend, page: Any) -> None:
    from tests.browser.conftest import ready
    from tests.browser.test_accessibility import axe_violations

    # GIVEN the sign-in page, the queues (one team with a task, one without) and a task page with its bar
    page.goto(f"{backend.portal_url}/")
    assert not axe_violations(page)
    _review_loop(backend)
    sm = boto3.client("sagemaker", endpoint_url=backend.endpoint_url, region_name="us-east-1")
    sm.create_workteam(
        WorkteamName="portal-idle-team",
        Description="no tasks",
        MemberDefinitions=[{"CognitoMemberDefinition": {"UserPool": "us-east-1_p", "UserGroup": "g", "ClientId": "c"}}],
    )
    _sign_in(backend, page)
    assert not axe_violations(page)
    # THEN a disabled Start working button looks disabled (greyed, not-allowed cursor), unlike an enabled one
    styles = page.evaluate(
        """() => Array.from(document.querySelectorAll('button')).filter(b => b.textContent === 'Start working')
              .map(b => ({ disabled: b.disabled, bg: getComputedStyle(b).backgroundColor,
                           cursor: getComputedStyle(b).cursor }))"""
    )
    enabled = [s for s in styles if not s["disabled"]]
    disabled = [s for s in styles if s["disabled"]]
    assert enabled and disabled
    assert disabled[0]["cursor"] == "not-allowed" and disabled[0]["bg"] != enabled[0]["bg"]
    page.get_by_role("button", name="Start working").and_(page.locator(":enabled")).click()
    page.wait_for_url("**/portal/tasks/**")
    ready(page)
    assert not axe_violations(page)


def test_a_notice_is_shown_once(backend: LocalBackend, page: Any) -> None:
    # GIVEN a worker who declined the only task (the portal says so on the queues page)
    _review_loop(backend)
    _sign_in(backend, page)
    page.get_by_role("button", name="Start working").click()
    page.wait_for_url("**/portal/tasks/**")
    page.locator("#truthloop-task-bar").get_by_role("button", name="Decline task").click()
    page.get_by_role("status").get_by_text("Task declined.").wait_for()
    # WHEN the page is reloaded
    assert "message=" not in page.url
    page.reload()
    # THEN the notice is gone
    assert page.get_by_role("status").count() == 0
