"""``truthloop local workers`` (simulated workers) against ``truthloop service local``, with and without ``--sign-in``.

The CLI reads ``<data-dir>/backend.json``, has its workers issued by service local's LOCAL-ONLY ``/_truthloop/workers``
route (worker tokens; with ``--sign-in``, users of the local pool signed in through the portal's client) and answers
through the portal's HTTP API; human loops and a labeling job on AWS's built-in functions complete with output in S3.
The route is not the API function's: sent to the handler a deployment runs, it issues nothing.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from click.testing import CliRunner

from tests.functional.local.helpers import active_flow
from truthloop.arns import consolidation_lambda_arn, pre_annotation_lambda_arn
from truthloop.cli import main
from truthloop.exceptions import LocalBackendError
from truthloop.local.handlers import LambdaContext
from truthloop.local.simulate import Crowd
from truthloop.service.entry import current_service
from truthloop.service.http_api import http_api_response, to_http_api_event
from truthloop.service.local import LocalService, _call_on_own_loop, _handler
from truthloop.templates import catalogue

ROLE = "arn:aws:iam::123456789012:role/truthloop-test"
TEMPLATE = """<crowd-form><crowd-classifier name="sentiment" categories='["POSITIVE", "NEGATIVE"]' header="Sentiment?">
<classification-target>{{ task.input.text }}</classification-target></crowd-classifier></crowd-form>"""


@pytest.fixture(params=[False, True], ids=["worker-tokens", "sign-in"])
def running(request: pytest.FixtureRequest, tmp_path: Path, service_env: pytest.MonkeyPatch) -> Iterator[LocalService]:
    with LocalService(port=0, data_dir=tmp_path, workers=0, sweep_seconds=1.0, sign_in=request.param) as service:
        yield service


def _client(service: LocalService, name: str) -> Any:
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    make: Any = session.client
    return make(name, endpoint_url=service.endpoint_url)


def _until(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _team(service: LocalService, sm: Any) -> str:
    """A work team the simulated workers are in: the local pool's default group with --sign-in."""
    if service.sign_in:
        member = {
            "UserPool": service.user_pool_id,
            "UserGroup": "truthloop-workers",
            "ClientId": service.user_pool_client_id,
        }
    else:
        member = {"UserPool": "us-east-1_TestPool", "UserGroup": "labelers", "ClientId": "client-id"}
    arn: str = sm.create_workteam(
        WorkteamName="sim-team", Description="d", MemberDefinitions=[{"CognitoMemberDefinition": member}]
    )["WorkteamArn"]
    return arn


def _simulate(service: LocalService, *extra: str) -> Any:
    return CliRunner().invoke(
        main,
        ["local", "workers", "--data-dir", str(service.data_dir), "--count", "2", "--idle-seconds", "2", *extra],
        catch_exceptions=False,
    )


def _s3_json(s3: Any, uri: str) -> Any:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _flow(service: LocalService, sm: Any, s3: Any, *, task_count: int) -> str:
    """An active flow definition whose loops go to the simulated workers' team, output to s3://sim-output/a2i."""
    s3.create_bucket(Bucket="sim-output")
    return active_flow(
        sm,
        output="s3://sim-output/a2i",
        name="sim-flow",
        team=_team(service, sm),
        template=TEMPLATE,
        task_count=task_count,
        title="Sentiment",
        description="Positive or negative?",
        role=ROLE,
    )


def test_simulated_workers_complete_human_loops(running: LocalService) -> None:
    # GIVEN a flow (two answers per loop) and three human loops started with plain boto3
    sm, a2i, s3 = (_client(running, name) for name in ("sagemaker", "sagemaker-a2i-runtime", "s3"))
    flow = _flow(running, sm, s3, task_count=2)
    names = [f"loop-{i}" for i in range(3)]
    for name in names:
        a2i.start_human_loop(
            HumanLoopName=name, FlowDefinitionArn=flow, HumanLoopInput={"InputContent": json.dumps({"text": name})}
        )
    # WHEN `truthloop local workers` runs with the service's data directory
    result = _simulate(running)
    # THEN two simulated workers gave the six answers
    assert result.exit_code == 0, result.output
    assert "6 answers from 2 simulated workers" in result.output
    # AND every loop completed with both answers in its output.json, one from each worker
    for name in names:
        done = _until(
            lambda n=name: (d := a2i.describe_human_loop(HumanLoopName=n))["HumanLoopStatus"] == "Completed" and d
        )
        assert done, f"{name} did not complete"
        output = _s3_json(s3, done["HumanLoopOutput"]["OutputS3Uri"])
        answers = output["humanAnswers"]
        assert len({a["workerId"] for a in answers}) == 2
        assert all(a["answerContent"]["sentiment"]["label"] in ("POSITIVE", "NEGATIVE") for a in answers)


def test_simulated_workers_complete_a_labeling_job(running: LocalService) -> None:
    # GIVEN a labeling job on AWS's built-in PRE-/ACS-TextMultiClass functions, two workers per object
    sm, s3 = _client(running, "sagemaker"), _client(running, "s3")
    s3.create_bucket(Bucket="sim-gt")
    s3.put_object(Bucket="sim-gt", Key="in.manifest", Body='{"source": "great"}\n{"source": "awful"}\n')
    s3.put_object(Bucket="sim-gt", Key="labels.json", Body=json.dumps({"labels": [{"label": "pos"}, {"label": "neg"}]}))
    s3.put_object(Bucket="sim-gt", Key="ui.html", Body=catalogue.load("gt/text-classification").text())
    sm.create_labeling_job(
        LabelingJobName="sim-job",
        LabelAttributeName="sentiment",
        InputConfig={"DataSource": {"S3DataSource": {"ManifestS3Uri": "s3://sim-gt/in.manifest"}}},
        OutputConfig={"S3OutputPath": "s3://sim-gt/out/"},
        RoleArn=ROLE,
        LabelCategoryConfigS3Uri="s3://sim-gt/labels.json",
        HumanTaskConfig={
            "WorkteamArn": _team(running, sm),
            "UiConfig": {"UiTemplateS3Uri": "s3://sim-gt/ui.html"},
            "PreHumanTaskLambdaArn": pre_annotation_lambda_arn("TextMultiClass", "us-east-1"),
            "AnnotationConsolidationConfig": {
                "AnnotationConsolidationLambdaArn": consolidation_lambda_arn("TextMultiClass", "us-east-1")
            },
            "TaskTitle": "Sentiment",
            "TaskDescription": "Positive or negative?",
            "NumberOfHumanWorkersPerDataObject": 2,
            "TaskTimeLimitInSeconds": 300,
        },
    )
    assert _until(lambda: sm.describe_labeling_job(LabelingJobName="sim-job")["LabelingJobStatus"] == "InProgress")
    # WHEN the simulated workers answer, with gold answers
    gold = running.data_dir / "gold.jsonl"
    gold.write_text('{"key": "great", "label": "pos"}\n{"key": "awful", "label": "neg"}\n')
    result = _simulate(running, "--accuracy", "1", "--gold", str(gold))
    assert result.exit_code == 0, result.output
    assert "4 answers from 2 simulated workers (4 matched gold)" in result.output
    # THEN the job completes and its output manifest carries the consolidated labels
    job = _until(
        lambda: (d := sm.describe_labeling_job(LabelingJobName="sim-job"))["LabelingJobStatus"] == "Completed" and d
    )
    assert job, "the labeling job did not complete"
    manifest = job["LabelingJobOutput"]["OutputDatasetS3Uri"]
    bucket, _, key = manifest.removeprefix("s3://").partition("/")
    lines = [json.loads(line) for line in s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()]
    assert {line["source"]: line["sentiment-metadata"]["class-name"] for line in lines} == {
        "great": "pos",
        "awful": "neg",
    }


def _issue(service: LocalService, token: str | None, body: Any, host: str = "") -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token is not None else {}
    if host:
        headers["host"] = host
    return httpx.post(f"{service.endpoint_url}/_truthloop/workers", json=body, headers=headers)


def test_the_route_issues_a_token_the_portal_takes_and_the_backend_json_names(running: LocalService) -> None:
    # GIVEN the admin token service local wrote to backend.json (0600)
    state_file = running.data_dir / "backend.json"
    token = json.loads(state_file.read_text())["admin_token"]
    assert token and token == running.admin_token and state_file.stat().st_mode & 0o077 == 0
    # WHEN a worker is issued
    issued = _issue(running, token, {"name": "sim-x", "simulated": True})
    # THEN its token is one the portal takes
    assert issued.status_code == 200, issued.text
    worker = issued.json()
    assert worker["name"] == "sim-x"
    claim = httpx.post(
        f"{running.endpoint_url}/portal/api/tasks/claim",
        json={},
        headers={"authorization": f"Bearer {worker['token']}"},
    )
    assert claim.status_code == 204
    if running.sign_in:  # AND with --sign-in it is the pool's ID token for the portal's client, in the pool's groups
        payload = worker["token"].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        assert claims["token_use"] == "id" and claims["aud"] == running.user_pool_client_id
        assert claims["iss"].endswith(f"/{running.user_pool_id}") and claims["sub"] == worker["workerId"]
        assert claims["cognito:groups"] == ["truthloop-workers"]


@pytest.mark.parametrize(
    ("token", "body", "status", "says"),
    [
        (None, {"name": "w"}, 401, "admin token"),
        ("wrong", {"name": "w"}, 401, "admin token"),
        ("ADMIN", [1], 400, "expected a JSON object"),
        ("ADMIN", {"name": ""}, 400, "name:"),
        ("ADMIN", {"name": "w", "simulated": "yes"}, 400, "simulated:"),
        ("ADMIN", {"name": "w", "groups": ["no-such-group"]}, 400, "groups:"),
    ],
    ids=["no-token", "wrong-token", "not-an-object", "no-name", "simulated-not-bool", "unknown-group"],
)
def test_the_route_refuses_bad_requests_naming_the_field(
    running: LocalService, token: str | None, body: Any, status: int, says: str
) -> None:
    # WHEN the route gets a request without the admin token, or a bad body
    response = _issue(running, running.admin_token if token == "ADMIN" else token, body)
    # THEN it is refused with a JSON error naming what is wrong
    assert response.status_code == status and says in response.json()["error"]


def test_the_route_answers_loopback_host_names_only(running: LocalService) -> None:
    response = _issue(running, running.admin_token, {"name": "w"}, host="evil.example")
    assert response.status_code == 400 and "token" not in response.text


def test_the_deployed_api_function_does_not_know_the_route(running: LocalService) -> None:
    # GIVEN the request with the right admin token, as API Gateway would hand it to the API function on AWS
    body = json.dumps({"name": "intruder", "simulated": True}).encode()
    headers = {"authorization": f"Bearer {running.admin_token}", "content-type": "application/json", "host": "x"}
    event = to_http_api_event("POST", "/_truthloop/workers", "", headers, body, source_ip="203.0.113.9")
    # WHEN the API function handles it
    context = LambdaContext(function_name="truthloop-service-api", invoked_function_arn="arn:local")
    with ThreadPoolExecutor(1) as pool:  # on a thread of its own, as service local and Lambda run it
        response = pool.submit(_call_on_own_loop, _handler("service_api"), event, context).result()
    status, _, content = http_api_response(response)
    # THEN it is refused and nothing is issued
    assert status >= 400 and "token" not in json.loads(content or b"{}")
    assert "intruder" not in [worker.name for worker in current_service().storage.list_workers()]


def _route_token(service: LocalService, name: str) -> str:
    token: str = _issue(service, service.admin_token, {"name": name, "simulated": True}).json()["token"]
    return token


def test_a_refused_token_is_issued_again_once(running: LocalService) -> None:
    # GIVEN a loop waiting for an answer
    sm, a2i, s3 = (_client(running, name) for name in ("sagemaker", "sagemaker-a2i-runtime", "s3"))
    flow = _flow(running, sm, s3, task_count=1)
    a2i.start_human_loop(HumanLoopName="late", FlowDefinitionArn=flow, HumanLoopInput={"InputContent": "{}"})
    # AND a worker whose first token the portal refuses, as it refuses an ID token past its expiry
    issued: list[str] = []

    def issue(name: str) -> str:
        issued.append(name)
        return "expired" if len(issued) == 1 else _route_token(running, name)

    # WHEN the worker answers
    stats = Crowd(running.endpoint_url, issue_token=issue, count=1).run(idle_seconds=1.0)
    # THEN it got a new token once, and its answer completes the loop
    assert issued == ["sim-1", "sim-1"] and stats.answered == 1
    assert _until(lambda: a2i.describe_human_loop(HumanLoopName="late")["HumanLoopStatus"] == "Completed")


def test_a_token_refused_again_stops_the_crowd_with_the_error(running: LocalService) -> None:
    # GIVEN workers whose every token the portal refuses
    crowd = Crowd(running.endpoint_url, issue_token=lambda name: "refused", count=2)
    # WHEN they run, THEN the run raises the refusal (not lost in a worker thread) naming the worker
    with pytest.raises(LocalBackendError, match=r"sim-\d: claiming a task failed: HTTP 401"):
        crowd.run(idle_seconds=1.0)


@pytest.mark.parametrize("running", [True], indirect=True, ids=["sign-in"])  # worker tokens have no pool
def test_a_worker_the_user_pool_refuses_is_a_clear_error(running: LocalService) -> None:
    # GIVEN a user of the local pool that an administrator disabled
    idp = _client(running, "cognito-idp")
    assert _issue(running, running.admin_token, {"name": "sim-1"}).status_code == 200
    idp.admin_disable_user(UserPoolId=running.user_pool_id, Username="sim-1")
    # WHEN the route is asked for that worker again
    response = _issue(running, running.admin_token, {"name": "sim-1"})
    # THEN it answers 400 with the pool's reason, not a server error
    assert response.status_code == 400
    assert "the user pool refused worker 'sim-1'" in response.json()["error"]
    assert "User is disabled" in response.json()["error"]
