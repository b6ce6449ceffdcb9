"""The exact events the emulator sends to mapped Lambdas and EventBridge targets, retries, duplicates, and
the review_completed handler storing each loop once under duplicate delivery."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from tests.functional.local import recording
from tests.functional.local.helpers import FAST, REVIEW_TEMPLATE, ROLE, Worker, events, unique, wait_for
from tests.functional.local.service import BACKENDS, local_only, running_service
from tests.functional.local.stores import scan_free
from truthloop.contracts import ConsolidationEvent, ConsolidationPayload, PreAnnotationEvent, load
from truthloop.local import BackendConfig, EventHandlerConfig, LambdaConfig, LocalBackend
from truthloop.local.events import EventTarget

PRE = "arn:aws:lambda:us-east-1:123456789012:function:record-pre"
POST = "arn:aws:lambda:us-east-1:123456789012:function:record-post"
A2I = "SageMaker A2I HumanLoop Status Change"


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The recording Lambdas mapped to two ARNs; on the service they are reached with Lambda's Invoke API (it has
    no in-process event handlers: its status events go to EventBridge)."""
    lambdas = {
        PRE: LambdaConfig("tests.functional.local.recording:pre"),
        POST: LambdaConfig("tests.functional.local.recording:post"),
    }
    if request.param == "service":
        data_dir = tmp_path_factory.mktemp("truthloop-events")
        with running_service(data_dir, lambdas=lambdas) as service, scan_free(service.storage):
            yield service
        return
    config = BackendConfig(
        port=0,
        data_dir=tmp_path_factory.mktemp("truthloop-events"),
        storage=request.param,
        workers=0,
        lambdas=lambdas,
        event_handlers=(
            EventHandlerConfig("tests.functional.local.recording:on_event"),
            EventHandlerConfig("tests.functional.local.recording:flaky", detail_types=(A2I,)),
            EventHandlerConfig(
                "lambdas/review_completed/handler.py:handler",
                detail_types=(A2I,),
                environment={
                    "TRUTHLOOP_RESULTS_TABLE": "review-results",
                    "TRUTHLOOP_REVIEWED_BUCKET": "reviewed-data",
                    "TRUTHLOOP_LABEL_ATTRIBUTE": "sentiment",
                },
            ),
        ),
        duplicate_events=True,
        **FAST,  # type: ignore[arg-type]
    )
    with LocalBackend(config) as running, running.environment(), scan_free(running.storage):
        boto3.client("dynamodb").create_table(
            TableName="review-results",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        boto3.client("s3").create_bucket(Bucket="reviewed-data")
        yield running


def test_mapped_lambdas_get_exactly_the_documented_events(
    backend: LocalBackend, sm: Any, s3: Any, bucket: str, team: str, worker: Any
) -> None:
    recording.EVENTS.clear()
    s3.put_object(Bucket=bucket, Key="m.manifest", Body=b'{"source": "one", "extra": 1}\n{"source": "two"}\n')
    s3.put_object(
        Bucket=bucket, Key="t.html", Body=b"<crowd-form><crowd-input name='x' required></crowd-input></crowd-form>"
    )
    s3.put_object(
        Bucket=bucket,
        Key="labels.json",
        Body=json.dumps({"document-version": "2018-11-28", "labels": [{"label": "a"}, {"label": "b"}]}),
    )
    name = unique("Rec")
    sm.create_labeling_job(
        LabelingJobName=name,
        LabelAttributeName="rec",
        InputConfig={"DataSource": {"S3DataSource": {"ManifestS3Uri": f"s3://{bucket}/m.manifest"}}},
        OutputConfig={"S3OutputPath": f"s3://{bucket}/out"},
        RoleArn=ROLE,
        LabelCategoryConfigS3Uri=f"s3://{bucket}/labels.json",
        HumanTaskConfig={
            "WorkteamArn": team,
            "UiConfig": {"UiTemplateS3Uri": f"s3://{bucket}/t.html"},
            "PreHumanTaskLambdaArn": PRE,
            "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": POST},
            "TaskTitle": "t",
            "TaskDescription": "d",
            "NumberOfHumanWorkersPerDataObject": 1,
            "TaskTimeLimitInSeconds": 60,
        },
    )
    person: Worker = worker("rec")
    for _ in range(2):
        task = wait_for(lambda: person.claim(team), what="task")
        assert person.answer(task["id"], {"x": task["taskInput"]["taskObject"]}).status_code == 200
    job = wait_for(
        lambda: (d := sm.describe_labeling_job(LabelingJobName=name))["LabelingJobStatus"] == "Completed" and d
    )
    # THEN the pre-annotation events are exactly version + labelingJobArn + dataObject (the whole manifest line)
    pre = [e for kind, e in recording.EVENTS if kind == "pre"]
    assert [set(e) for e in pre] == [{"version", "labelingJobArn", "dataObject"}] * 2
    assert pre[0]["dataObject"] == {"source": "one", "extra": 1}
    assert pre[0]["labelingJobArn"] == job["LabelingJobArn"] and pre[0]["labelingJobArn"].endswith(name.lower())
    assert all(isinstance(load(e), PreAnnotationEvent) for e in pre)
    # AND the consolidation events carry the documented fields; the payload file is the documented array
    posts = [e for kind, e in recording.EVENTS if kind == "post"]
    assert posts
    for event in posts:
        assert {
            "version",
            "labelingJobArn",
            "labelCategories",
            "labelAttributeName",
            "roleArn",
            "payload",
            "outputConfig",
        } <= set(event)
        parsed = load(event)
        assert isinstance(parsed, ConsolidationEvent)
        assert parsed.label_categories == ("a", "b") and parsed.role_arn == ROLE
        assert event["outputConfig"] == f"s3://{bucket}/out/{name}/annotations"
    payloads = [p for kind, p in recording.EVENTS if kind == "payload"]
    assert all(isinstance(load(p), ConsolidationPayload) for p in payloads)
    lines = s3.get_object(Bucket=bucket, Key=f"out/{name}/manifests/output/output.manifest")["Body"].read().decode()
    first = json.loads(lines.splitlines()[0])
    assert first["rec"] == {"answers": [{"x": "one"}]} and first["rec-metadata"]["type"] == "groundTruth/custom"


@local_only("duplicate copies, retries and in-process event handlers are the local backend's outbox's")
def test_events_are_delivered_twice_retried_and_stored_once(
    backend: LocalBackend, a2i: Any, sm: Any, team: str, bucket: str, worker: Any
) -> None:
    recording.EVENTS.clear()
    recording.FAILURES["remaining"] = 2  # the flaky target fails twice, then succeeds
    ui = sm.create_human_task_ui(HumanTaskUiName=unique("ui"), UiTemplate={"Content": REVIEW_TEMPLATE})
    flow_name = unique("fd")
    flow = sm.create_flow_definition(
        FlowDefinitionName=flow_name,
        RoleArn=ROLE,
        OutputConfig={"S3OutputPath": f"s3://{bucket}/a2i"},
        HumanLoopConfig={
            "WorkteamArn": team,
            "HumanTaskUiArn": ui["HumanTaskUiArn"],
            "TaskCount": 1,
            "TaskTitle": "t",
            "TaskDescription": "d",
        },
    )["FlowDefinitionArn"]
    wait_for(lambda: sm.describe_flow_definition(FlowDefinitionName=flow_name)["FlowDefinitionStatus"] == "Active")
    # a loop started by truthloop's own ReviewClient, so the completion handler can interpret it
    from truthloop.review import ReviewClient, ReviewPolicy

    outcome = ReviewClient(a2i_client=a2i).review(
        "comprehend:detect_sentiment",
        {"Sentiment": "POSITIVE", "SentimentScore": {"Positive": 0.51, "Negative": 0.3, "Neutral": 0.1, "Mixed": 0.09}},
        flow_definition_arn=flow,
        input={"text": "meh"},
        policy=ReviewPolicy.threshold(0.9),
    )
    assert outcome.status == "started" and outcome.human_loop_name
    person: Worker = worker("reviewer")
    task = wait_for(lambda: person.claim(team), what="review task")
    person.answer(task["id"], {"verdict": {"label": "incorrect"}, "correction": {"label": "NEUTRAL"}})
    backend.wait_idle()
    wait_for(lambda: any(kind == "flaky" for kind, _ in recording.EVENTS), timeout=10, what="retried delivery")
    backend.wait_idle()
    mine = [e for e in events(backend, A2I) if e["event"]["detail"]["humanLoopName"] == outcome.human_loop_name]
    # THEN one event, delivered (after retries) in two copies, stored by review_completed exactly once
    assert len(mine) == 1 and mine[0]["delivered"] and mine[0]["copies"] == 2 and mine[0]["attempts"] == 3
    seen = [e for kind, e in recording.EVENTS if kind == "event" and e["id"] == mine[0]["event"]["id"]]
    assert len(seen) >= 2
    items = boto3.client("dynamodb").scan(
        TableName="review-results", FilterExpression="attribute_exists(humanLoopName)"
    )
    assert [i["humanLoopName"]["S"] for i in items["Items"]] == [outcome.human_loop_name]
    reviewed = boto3.client("s3").list_objects_v2(Bucket="reviewed-data").get("Contents", [])
    assert len(reviewed) == 1


def test_unknown_config_key_is_named() -> None:
    from truthloop.exceptions import LocalBackendError

    with pytest.raises(LocalBackendError, match="unknown configuration key\\(s\\): lamdbas"):
        BackendConfig.from_mapping({"lamdbas": {}})
    with pytest.raises(LocalBackendError, match="only binds to loopback"):
        BackendConfig(host="0.0.0.0")
    parsed = BackendConfig.from_mapping({"lambdas": {PRE: "pkg.mod:fn"}, "faults": {"throttle_rate": 0.5}})
    assert parsed.lambdas[PRE].handler == "pkg.mod:fn" and parsed.faults.throttle_rate == 0.5


@pytest.mark.parametrize(
    ("subscribed", "published", "delivered"),
    [
        ("Amazon Augmented AI HumanLoop Status Change", "SageMaker A2I HumanLoop Status Change", True),
        ("SageMaker A2I HumanLoop Status Change", "Amazon Augmented AI HumanLoop Status Change", True),
        ("SageMaker Ground Truth Labeling Job State Change", "SageMaker A2I HumanLoop Status Change", False),
    ],
    ids=["older-rule", "older-event", "other-event"],
)
def test_a_target_matches_every_spelling_of_its_detail_type(subscribed: str, published: str, delivered: bool) -> None:
    # GIVEN a target subscribed with one documented spelling of a detail-type
    target = EventTarget(lambda event, context: None, name="t", detail_types=[subscribed])
    # THEN an event in another spelling of the same detail-type reaches it, another detail-type does not
    assert target.matches(published) is delivered


@pytest.mark.parametrize(
    ("handler", "fragment"),
    [
        ("lambdas/pre_annotation/no_such_file.py:handler", "handler file 'lambdas/pre_annotation/no_such_file.py'"),
        ("tests.functional.local.recording:no_such_function", "no_such_function"),
    ],
    ids=["missing-file", "missing-function"],
)
def test_a_wrong_handler_is_reported_at_start_naming_the_arn(
    tmp_path: Any, handler: str, fragment: str
) -> None:
    from truthloop.exceptions import LocalBackendError

    # GIVEN a backend whose Lambda mapping points at a handler that cannot be loaded
    config = BackendConfig(port=0, data_dir=tmp_path, workers=0, lambdas={PRE: LambdaConfig(handler)}, **FAST)  # type: ignore[arg-type]
    # WHEN it starts / THEN it refuses, naming the ARN and what is wrong (not when a job first calls it)
    with pytest.raises(LocalBackendError) as info:
        LocalBackend(config).start()
    assert PRE in str(info.value) and fragment in str(info.value)


@pytest.mark.parametrize(
    ("value", "handler", "environment"),
    [
        (f"{PRE}=pkg.mod:fn", "pkg.mod:fn", {}),
        (
            f"{PRE}=lambdas/pre_annotation/handler.py:handler,TRUTHLOOP_TASK_TYPE=text-ranking,X=a=b",
            "lambdas/pre_annotation/handler.py:handler",
            {"TRUTHLOOP_TASK_TYPE": "text-ranking", "X": "a=b"},
        ),
    ],
)
def test_lambda_option_takes_the_handlers_environment(value: str, handler: str, environment: dict[str, str]) -> None:
    from truthloop.local.cli import _parse_lambda

    # WHEN the --lambda value is parsed
    parsed = _parse_lambda((value,))
    # THEN the handler and its environment are kept
    assert parsed[PRE].handler == handler and dict(parsed[PRE].environment) == environment


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("not-an-arn=pkg:fn", "must look like ARN=module:function"),
        (f"{PRE}=pkg:fn,TASK TYPE=x", "'TASK TYPE=x'"),
        (f"{PRE}=pkg:fn,NOVALUE", "'NOVALUE'"),
    ],
    ids=["no-arn", "bad-name", "no-equals"],
)
def test_bad_lambda_option_is_one_clear_line(tmp_path: Any, value: str, message: str) -> None:
    from click.testing import CliRunner

    from truthloop.cli import main

    # WHEN `local up` gets a malformed --lambda
    result = CliRunner().invoke(main, ["local", "up", "--port", "0", "--data-dir", str(tmp_path), "--lambda", value])
    # THEN it stops before starting, naming the value
    assert result.exit_code == 2 and message in result.output


def test_local_up_reports_a_missing_handler_file(tmp_path: Any) -> None:
    from click.testing import CliRunner

    from truthloop.cli import main

    # WHEN `local up` maps an ARN to a file that does not exist
    args = ["local", "up", "--port", "0", "--data-dir", str(tmp_path), "--lambda", f"{PRE}=nowhere/handler.py:handler"]
    result = CliRunner().invoke(main, args)
    # THEN it exits at once with one line naming the ARN and the file
    assert result.exit_code == 1
    assert PRE in result.output and "'nowhere/handler.py' does not exist" in result.output
