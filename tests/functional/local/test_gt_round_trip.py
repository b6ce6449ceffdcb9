"""Ground Truth labeling jobs end to end on the local backend: Lambdas, workers, every S3 file, counters, events."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.local.helpers import FAST, ROLE, Worker, crowd, events, s3_keys, unique, wait_for
from tests.functional.local.service import BACKENDS, running_service
from tests.functional.local.stores import scan_free
from truthloop.arns import consolidation_lambda_arn, pre_annotation_lambda_arn
from truthloop.contracts import (
    ConsolidationEvent,
    ConsolidationPayload,
    ConsolidationResponse,
    GTJobStateEvent,
    OutputManifestLine,
    WorkerResponse,
    load,
)
from truthloop.local import BackendConfig, LambdaConfig, LocalBackend
from truthloop.templates import catalogue

ROOT = Path(__file__).resolve().parents[3]
CUSTOM_PRE = "arn:aws:lambda:us-east-1:123456789012:function:sagemaker-free-text-pre"
CUSTOM_POST = "arn:aws:lambda:us-east-1:123456789012:function:sagemaker-free-text-post"
#: the project's pre-annotation handler mapped without the TRUTHLOOP_TASK_TYPE it needs: every object fails
UNCONFIGURED_PRE = "arn:aws:lambda:us-east-1:123456789012:function:sagemaker-unconfigured-pre"
REVIEWS = {
    "Battery lasts two days, love it": "positive",
    "Screen cracked within a week": "negative",
    "Does what it says": "positive",
    "Refund took a month": "negative",
    "Best purchase this year": "positive",
    "Stopped charging after an update": "negative",
}


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """This module's backend maps three user Lambda ARNs to truthloop's own handlers (lambdas/…); the service
    calls them with Lambda's Invoke API, which `truthloop service local` serves for the mapped ARNs."""
    env = {"TRUTHLOOP_TASK_TYPE": "free-text"}
    lambdas = {
        CUSTOM_PRE: LambdaConfig("lambdas/pre_annotation/handler.py:lambda_handler", environment=env),
        CUSTOM_POST: LambdaConfig("lambdas/post_annotation/handler.py:lambda_handler", environment=env),
        UNCONFIGURED_PRE: LambdaConfig("lambdas/pre_annotation/handler.py:lambda_handler"),
    }
    if request.param == "service":
        data_dir = tmp_path_factory.mktemp("truthloop-gt")
        with running_service(data_dir, lambdas=lambdas) as service, scan_free(service.storage):
            yield service
        return
    config = BackendConfig(
        port=0,
        data_dir=tmp_path_factory.mktemp("truthloop-gt"),
        storage=request.param,
        workers=0,
        lambdas=lambdas,
        # one consolidation batch per job when workers are quick: Dawid-Skene on 1-object batches is unstable
        **{**FAST, "consolidation_wait_seconds": 5.0},  # type: ignore[arg-type]
    )
    with LocalBackend(config) as running, scan_free(running.storage):
        yield running


def _job(
    sm: Any,
    s3: Any,
    bucket: str,
    team: str,
    lines: list[dict[str, Any]],
    *,
    template: str,
    pre: str | None,
    acs: str | None,
    labels: list[str] | None = None,
    workers: int = 1,
    **extra: Any,
) -> str:
    name = unique("Job")
    s3.put_object(Bucket=bucket, Key=f"{name}/in.manifest", Body="".join(json.dumps(x) + "\n" for x in lines))
    s3.put_object(Bucket=bucket, Key=f"{name}/template.liquid.html", Body=template)
    config: dict[str, Any] = {
        "WorkteamArn": team,
        "UiConfig": {"UiTemplateS3Uri": f"s3://{bucket}/{name}/template.liquid.html"},
        "TaskTitle": "Label it",
        "TaskDescription": "Label the item",
        "NumberOfHumanWorkersPerDataObject": workers,
        "TaskTimeLimitInSeconds": 300,
        "TaskAvailabilityLifetimeInSeconds": 3600,
        "MaxConcurrentTaskCount": 100,
        "TaskKeywords": ["text"],
    }
    if pre:
        config["PreHumanTaskLambdaArn"] = pre
    if acs:
        config["AnnotationConsolidationConfig"] = {"AnnotationConsolidationLambdaArn": acs}
    request: dict[str, Any] = {
        "LabelingJobName": name,
        "LabelAttributeName": "label",
        "InputConfig": {"DataSource": {"S3DataSource": {"ManifestS3Uri": f"s3://{bucket}/{name}/in.manifest"}}},
        "OutputConfig": {"S3OutputPath": f"s3://{bucket}/out/"},
        "RoleArn": ROLE,
        "HumanTaskConfig": config,
        **extra,
    }
    if labels is not None:
        body = {"document-version": "2018-11-28", "labels": [{"label": x} for x in labels]}
        s3.put_object(Bucket=bucket, Key=f"{name}/labels.json", Body=json.dumps(body))
        request["LabelCategoryConfigS3Uri"] = f"s3://{bucket}/{name}/labels.json"
    sm.create_labeling_job(**request)
    return name


def _final(sm: Any, name: str) -> dict[str, Any]:
    return wait_for(
        lambda: (
            (d := sm.describe_labeling_job(LabelingJobName=name))["LabelingJobStatus"]
            in ("Completed", "Failed", "Stopped")
            and d
        ),
        timeout=30,
        what=f"labeling job {name} to finish",
    )


def _manifest(s3: Any, uri: str) -> list[dict[str, Any]]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_builtin_text_classification_round_trip(
    backend: LocalBackend, sm: Any, s3: Any, bucket: str, team: str
) -> None:
    # GIVEN a job with AWS's built-in PRE-/ACS-TextMultiClass ARNs, three workers per review
    name = _job(
        sm,
        s3,
        bucket,
        team,
        [{"source": text} for text in REVIEWS],
        template=catalogue.load("gt/text-classification").text(),
        pre=pre_annotation_lambda_arn("TextMultiClass", "us-east-1"),
        acs=consolidation_lambda_arn("TextMultiClass", "us-east-1"),
        labels=["positive", "negative"],
        workers=3,
    )
    wait_for(lambda: sm.describe_labeling_job(LabelingJobName=name)["LabelingJobStatus"] == "InProgress")
    # WHEN three simulated workers answer (accuracy 0.9 against gold)
    gold = {text: {"label": label} for text, label in REVIEWS.items()}
    stats = crowd(
        backend,
        count=3,
        accuracy=0.9,
        seed=3,
        gold=gold,
        name_prefix=unique("sim"),
    ).run(idle_seconds=2.0)
    job = _final(sm, name)
    # THEN the job completed with every object human-labeled
    assert stats.answered == 3 * len(REVIEWS)
    assert job["LabelingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["LabelCounters"] == {
        "TotalLabeled": 6,
        "HumanLabeled": 6,
        "MachineLabeled": 0,
        "FailedNonRetryableError": 0,
        "Unlabeled": 0,
    }
    root = f"out/{name}/"
    assert job["LabelingJobOutput"]["OutputDatasetS3Uri"] == f"s3://{bucket}/{root}manifests/output/output.manifest"
    keys = s3_keys(s3, bucket, root)
    # AND every file under the output path has its documented shape
    responses = [k for k in keys if "/annotations/worker-response/iteration-" in k]
    assert sorted(k.split("/")[-2] for k in responses) == [str(i) for i in range(6)]
    for key in responses:
        parsed = load(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        assert isinstance(parsed, WorkerResponse) and len(parsed.answers) == 3
        assert all(a.worker_id.startswith("private.us-east-1.") for a in parsed.answers)
        assert key.rsplit("/", 1)[1][:-5].count("_") == 1  # YYYY-MM-DD_hh:mm:ss.json
    request_keys = [k for k in keys if "/consolidation-request/iteration-" in k]
    response_keys = [k for k in keys if "/consolidation-response/iteration-" in k]
    assert request_keys and len(request_keys) == len(response_keys)
    seen: set[str] = set()
    worker_labels: dict[str, list[str]] = {}
    for request_key, response_key in zip(request_keys, response_keys):
        # the request and response of one batch share the iteration and the timestamp
        assert request_key.replace("consolidation-request", "consolidation-response") == response_key
        payload = load(s3.get_object(Bucket=bucket, Key=request_key)["Body"].read())
        assert isinstance(payload, ConsolidationPayload)
        assert {o.data_object.content for o in payload.objects} <= set(REVIEWS)
        assert all(len(o.annotations) == 3 for o in payload.objects)
        for o in payload.objects:
            worker_labels[o.data_object.content or ""] = [
                json.loads(a.content or "{}")["crowd-classifier"]["label"] for a in o.annotations
            ]
        consolidated = ConsolidationResponse.parse(
            json.loads(s3.get_object(Bucket=bucket, Key=response_key)["Body"].read())
        )
        assert {o.dataset_object_id for o in consolidated.objects} == {o.dataset_object_id for o in payload.objects}
        seen |= {o.dataset_object_id for o in payload.objects}
    assert seen == {str(i) for i in range(6)}
    lines = _manifest(s3, job["LabelingJobOutput"]["OutputDatasetS3Uri"])
    assert [line["source"] for line in lines] == list(REVIEWS)  # input order kept
    for line in lines:
        parsed_line = load(line)
        assert isinstance(parsed_line, OutputManifestLine)
        metadata = parsed_line.label("label").metadata
        assert metadata is not None and metadata.type == "groundtruth/text-classification"
        assert metadata.class_name in ("positive", "negative")
    # AND each label is the majority of its three answers (the simulated crowd is 90% right, so the answers vary
    # with the random job name; the consolidation must follow them, whichever they are)
    for line in lines:
        labels = worker_labels[line["source"]]
        assert line["label-metadata"]["class-name"] == max(set(labels), key=labels.count), labels
    # AND the job-state event was delivered
    backend.wait_idle()
    state = [
        e
        for e in events(backend, "SageMaker Ground Truth Labeling Job State Change")
        if e["event"]["resources"] == [job["LabelingJobArn"]]
    ]
    assert len(state) == 1 and state[0]["delivered"]
    event = load(state[0]["event"])
    assert isinstance(event, GTJobStateEvent) and event.labeling_job_status == "Completed"


def test_custom_lambdas_get_the_documented_events(
    backend: LocalBackend, sm: Any, s3: Any, bucket: str, team: str, worker: Any
) -> None:
    # GIVEN a free-text job whose ARNs map to truthloop's pre/post-annotation handlers
    lines = [
        {"source": "Summarise: the cat sat on the mat", "question": "Summary?"},
        {"source": "Summarise: rain all day", "question": "Summary?"},
    ]
    name = _job(
        sm, s3, bucket, team, lines, template=catalogue.load("gt/free-text").text(), pre=CUSTOM_PRE, acs=CUSTOM_POST
    )
    wait_for(lambda: sm.describe_labeling_job(LabelingJobName=name)["LabelingJobStatus"] == "InProgress")
    person: Worker = worker("writer")
    # the portal names the task type from the job alone, the same on every backend: here its catalogue template
    # (the functions' TRUTHLOOP_TASK_TYPE is not asked: the service cannot read a remote function's environment)
    task_type = "free-text"
    # WHEN a worker answers each task (the task input is what the pre-annotation handler returned)
    for _ in lines:
        task = wait_for(lambda: person.claim(team), what="a task")
        assert task["taskInput"]["question"] == "Summary?" and task["taskType"] == task_type
        assert (
            person.answer(task["id"], {"answer": f"short: {task['taskInput']['taskObject'][11:]}"}).status_code == 200
        )
    job = _final(sm, name)
    # THEN the consolidation event the handler got, and the output, are the documented shapes
    assert job["LabelingJobStatus"] == "Completed", job.get("FailureReason")
    keys = s3_keys(s3, bucket, f"out/{name}/")
    request_key = next(k for k in keys if "/consolidation-request/" in k)
    event = ConsolidationEvent(
        labeling_job_arn=job["LabelingJobArn"],
        label_attribute_name="label",
        payload_s3_uri=f"s3://{bucket}/{request_key}",
    )
    assert event.job_name == name.lower()
    lines_out = _manifest(s3, job["LabelingJobOutput"]["OutputDatasetS3Uri"])
    assert [load(x).kind for x in lines_out] == ["gt.output_manifest_line"] * 2
    assert all(x["label-metadata"]["type"].lower() == "groundtruth/custom" for x in lines_out)
    assert lines_out[0]["source"] == lines[0]["source"]


def test_unmapped_lambda_fails_the_job_naming_the_arn(sm: Any, s3: Any, bucket: str, team: str) -> None:
    arn = "arn:aws:lambda:us-east-1:123456789012:function:not-mapped-anywhere"
    name = _job(sm, s3, bucket, team, [{"source": "x"}], template="<crowd-form></crowd-form>", pre=arn, acs=None)
    job = _final(sm, name)
    assert job["LabelingJobStatus"] == "Failed"
    assert arn in job["FailureReason"]


@pytest.mark.parametrize(
    ("body", "fragment"),
    [('{"source": "ok"}\nnot json\n', "line 2 is not valid JSON"), ('{"other": 1}\n', "line 1 needs")],
    ids=["bad-json", "no-source"],
)
def test_bad_manifest_fails_naming_the_line(sm: Any, s3: Any, bucket: str, team: str, body: str, fragment: str) -> None:
    name = _job(sm, s3, bucket, team, [], template="<crowd-form></crowd-form>", pre=None, acs=None)
    # the manifest is replaced before the engine reads it? No: write a second job with the broken manifest
    s3.put_object(Bucket=bucket, Key="broken/in.manifest", Body=body)
    broken = unique("Broken")
    described = sm.describe_labeling_job(LabelingJobName=name)
    request = {k: described[k] for k in ("LabelAttributeName", "OutputConfig", "RoleArn", "HumanTaskConfig")}
    sm.create_labeling_job(
        LabelingJobName=broken,
        InputConfig={"DataSource": {"S3DataSource": {"ManifestS3Uri": f"s3://{bucket}/broken/in.manifest"}}},
        **request,
    )
    job = _final(sm, broken)
    assert job["LabelingJobStatus"] == "Failed" and fragment in job["FailureReason"]


def test_stopping_condition_caps_objects_sent_to_humans(
    backend: LocalBackend, sm: Any, s3: Any, bucket: str, team: str, worker: Any
) -> None:
    # GIVEN four objects and MaxHumanLabeledObjectCount=2, no consolidation Lambda (custom job)
    name = _job(
        sm,
        s3,
        bucket,
        team,
        [{"source": f"item {i}"} for i in range(4)],
        template="<crowd-form><crowd-input name='note' required></crowd-input></crowd-form>",
        pre=None,
        acs=None,
        StoppingConditions={"MaxHumanLabeledObjectCount": 2},
    )
    person: Worker = worker("capped")
    # WHEN a worker answers everything offered
    answered = 0
    while (task := wait_for(lambda: person.claim(team) or _done(sm, name), what="task or end")) is not True:
        person.answer(task["id"], {"note": "seen"})
        answered += 1
    job = _final(sm, name)
    # THEN only two objects reached humans; the rest are unlabeled; custom metadata points at worker responses
    assert answered == 2
    assert job["LabelCounters"]["HumanLabeled"] == 2 and job["LabelCounters"]["Unlabeled"] == 2
    lines = _manifest(s3, job["LabelingJobOutput"]["OutputDatasetS3Uri"])
    assert [x["source"] for x in lines] == ["item 0", "item 1"]
    meta = lines[0]["label-metadata"]
    assert meta["type"] == "groundTruth/custom" and meta["worker-response-ref"].startswith(f"s3://{bucket}/out/{name}/")
    assert lines[0]["label"] == {}


def _done(sm: Any, name: str) -> bool:
    return sm.describe_labeling_job(LabelingJobName=name)["LabelingJobStatus"] in ("Completed", "Failed", "Stopped")


def test_expired_objects_fail_and_are_reported(backend: LocalBackend, sm: Any, s3: Any, bucket: str, team: str) -> None:
    name = _job(
        sm,
        s3,
        bucket,
        team,
        [{"source": "nobody answers"}],
        template="<crowd-form><crowd-input name='n'></crowd-input></crowd-form>",
        pre=None,
        acs=None,
    )
    wait_for(lambda: sm.describe_labeling_job(LabelingJobName=name)["LabelingJobStatus"] == "InProgress")
    backend.advance_clock(3601)
    job = _final(sm, name)
    assert job["LabelCounters"]["FailedNonRetryableError"] == 1
    assert job["LabelingJobStatus"] == "Failed" and "expired" in job["FailureReason"]
    [line] = _manifest(s3, job["LabelingJobOutput"]["OutputDatasetS3Uri"])
    assert "expired" in line["label-metadata"]["failure-reason"]
    assert isinstance(load(line), OutputManifestLine)


def test_a_job_whose_every_object_failed_fails_naming_the_first_cause(
    sm: Any, s3: Any, bucket: str, team: str
) -> None:
    # GIVEN a job whose pre-annotation handler lacks its TRUTHLOOP_TASK_TYPE (a KeyError for every object)
    lines = [{"source": "first"}, {"source": "second"}]
    name = _job(sm, s3, bucket, team, lines, template="<crowd-form></crowd-form>", pre=UNCONFIGURED_PRE, acs=None)
    # WHEN it ends
    job = _final(sm, name)
    # THEN it is Failed (not Completed) and its FailureReason names how many objects failed and the first cause
    assert job["LabelingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("all 2 data objects failed; the first (")
    assert "TRUTHLOOP_TASK_TYPE" in job["FailureReason"]
    # AND each object's reason is still in the output manifest
    out = _manifest(s3, job["LabelingJobOutput"]["OutputDatasetS3Uri"])
    assert all("TRUTHLOOP_TASK_TYPE" in line["label-metadata"]["failure-reason"] for line in out)


def test_a_job_with_one_good_object_completes(
    sm: Any, s3: Any, bucket: str, team: str, worker: Any
) -> None:
    # GIVEN a free-text job where one object's line is broken and one is fine
    lines = [{"source": "Summarise: fine", "question": "Summary?"}, {"source": "Summarise: bad", "question": 7}]
    name = _job(
        sm, s3, bucket, team, lines, template=catalogue.load("gt/free-text").text(), pre=CUSTOM_PRE, acs=CUSTOM_POST
    )
    person: Worker = worker("one-good")
    task = wait_for(lambda: person.claim(team), what="a task")
    person.answer(task["id"], {"answer": "fine"})
    # WHEN it ends
    job = _final(sm, name)
    # THEN it completes: one object labeled, one failed with its reason
    assert job["LabelingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["LabelCounters"]["FailedNonRetryableError"] == 1 and job["LabelCounters"]["HumanLabeled"] == 1


def test_stop_labeling_job(sm: Any, s3: Any, bucket: str, team: str) -> None:
    name = _job(
        sm,
        s3,
        bucket,
        team,
        [{"source": "a"}, {"source": "b"}],
        template="<crowd-form><crowd-input name='n'></crowd-input></crowd-form>",
        pre=None,
        acs=None,
    )
    wait_for(lambda: sm.describe_labeling_job(LabelingJobName=name)["LabelingJobStatus"] == "InProgress")
    sm.stop_labeling_job(LabelingJobName=name)
    job = _final(sm, name)
    assert job["LabelingJobStatus"] == "Stopped"
    assert job["LabelCounters"]["TotalLabeled"] == 0


def test_names_are_case_insensitive_and_listed(sm: Any, s3: Any, bucket: str, team: str) -> None:
    name = _job(sm, s3, bucket, team, [{"source": "a"}], template="<crowd-form></crowd-form>", pre=None, acs=None)
    described = sm.describe_labeling_job(LabelingJobName=name.upper())
    assert described["LabelingJobName"] == name
    assert described["LabelingJobArn"].endswith(f":labeling-job/{name.lower()}")
    with pytest.raises(sm.exceptions.ResourceInUse):
        sm.create_labeling_job(**{**_request_of(described), "LabelingJobName": name.lower()})
    listed = sm.list_labeling_jobs(NameContains=name[4:].lower(), SortBy="Name")["LabelingJobSummaryList"]
    assert [s["LabelingJobName"] for s in listed] == [name]
    assert listed[0]["WorkteamArn"] == team


def _request_of(described: dict[str, Any]) -> dict[str, Any]:
    keys = ("LabelingJobName", "LabelAttributeName", "InputConfig", "OutputConfig", "RoleArn", "HumanTaskConfig")
    return {k: described[k] for k in keys}
