"""The post-annotation Lambda with moto S3: every task type to built-in-shaped output; bad objects left out."""

from __future__ import annotations

import base64
import importlib
import json
from typing import Any

import pytest

from truthloop.contracts import ConsolidationResponse, OutputManifestLine
from truthloop.exceptions import AwsError, ContractError
from truthloop.labeling import consolidate_batch, consolidate_report, pre_annotate

from .conftest import BUCKET, LambdaContext, annotation, emf, put_event

BOX = {"label": "dog", "left": 100, "top": 100, "width": 50, "height": 80}


@pytest.fixture
def post(monkeypatch: pytest.MonkeyPatch, s3: Any) -> Any:
    """The handler module configured for ``task_type`` (set TRUTHLOOP_TASK_TYPE before calling)."""
    import post_annotation.handler as module

    monkeypatch.setattr(module, "s3", s3)
    return module


def _content(response: list[dict[str, Any]], object_id: str) -> dict[str, Any]:
    ConsolidationResponse.parse(response)
    (entry,) = [r for r in response if r["datasetObjectId"] == object_id]
    content: dict[str, Any] = entry["consolidatedAnnotation"]["content"]
    return content


def _as_manifest_line(content: dict[str, Any], attribute: str = "label") -> OutputManifestLine:
    line = OutputManifestLine.parse({"source": "x", **content})
    assert line.label(attribute).metadata is not None
    return line


def test_classification_batch_with_one_corrupt_object(
    post: Any,
    s3: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN a batch of three objects; object "1" has junk answers only, object "2" one bad answer of three
    monkeypatch.setenv("TRUTHLOOP_TASK_TYPE", "text-classification")
    payload = [
        {"datasetObjectId": "0", "dataObject": {"content": "fly me to Paris"}, "annotations": [
            annotation("w1", {"crowd-classifier": {"label": "travel"}}),
            annotation("w2", {"intent": {"label": "travel"}}),
            annotation("w3", {"crowd-classifier": {"label": "weather"}})]},
        {"datasetObjectId": "1", "dataObject": {"content": "junk"}, "annotations": [
            {"workerId": "w1", "annotationData": {"content": "{broken"}}]},
        {"datasetObjectId": "2", "dataObject": {"content": "rain?"}, "annotations": [
            annotation("w1", {"crowd-classifier": {"label": "weather"}}),
            annotation("w2", {"crowd-classifier": {"label": "sports"}}),
            annotation("w3", {"crowd-classifier": {"label": "weather"}})]},
        {"no": "id"},
    ]  # fmt: skip
    event = put_event(s3, payload, attribute="intent", categories=["travel", "weather"])
    # WHEN
    response = post.lambda_handler(event, LambdaContext())
    # THEN objects 0 and 2 are consolidated in the built-in text-classification shape …
    assert [r["datasetObjectId"] for r in response] == ["0", "2"]
    first = _content(response, "0")
    assert first["intent"] == 0
    meta = first["intent-metadata"]
    assert (meta["class-name"], meta["type"], meta["job-name"], meta["human-annotated"]) == (
        "travel", "groundtruth/text-classification", "demo-job", "yes")  # fmt: skip
    assert 0.5 < meta["confidence"] <= 1.0
    assert _content(response, "2")["intent"] == 1
    _as_manifest_line(first, "intent")
    # … and the failures are logged and counted
    out = capsys.readouterr().out
    assert emf(out) == {"Invocations": 1, "ConsolidatedObjects": 2, "FailedObjects": 2, "DroppedAnswers": 2}
    reasons = " | ".join(str(getattr(r, "reason", "")) for r in caplog.records)
    assert "not valid JSON" in reasons and "'sports' is not one of the label categories" in reasons


def test_multilabel_output(post: Any, s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUTHLOOP_TASK_TYPE", "image-multilabel")
    payload = [{"datasetObjectId": "0", "dataObject": {"s3Uri": "s3://in/1.jpg"}, "annotations": [
        annotation("a", {"m": {"labels": ["cat", "dog"]}}), annotation("b", {"m": {"labels": ["dog"]}}),
        annotation("c", {"m": {"labels": ["dog", "bird"]}})]}]  # fmt: skip
    response = post.lambda_handler(put_event(s3, payload, categories=["cat", "dog", "bird"]), LambdaContext())
    content = _content(response, "0")
    assert content["label"] == [1]
    assert content["label-metadata"]["class-map"] == {"1": "dog"}
    assert content["label-metadata"]["confidence-map"] == {"1": 1.0}
    assert content["label-metadata"]["type"] == "groundtruth/image-classification-multilabel"
    assert _as_manifest_line(content).label("label").class_ids() == [1]


@pytest.mark.parametrize("task_type", ["bounding-box", "bounding-box-adjustment"])
def test_bounding_boxes(post: Any, s3: Any, monkeypatch: pytest.MonkeyPatch, task_type: str) -> None:
    # GIVEN three workers on one image; the third also draws a box nobody else drew
    monkeypatch.setenv("TRUTHLOOP_TASK_TYPE", task_type)
    props = {"inputImageProperties": {"height": 533, "width": 800}}
    stray = {**BOX, "label": "cat", "left": 600}
    payload = [{"datasetObjectId": "7", "dataObject": {"s3Uri": "s3://in/7.jpg"}, "annotations": [
        annotation("a", {"annotatedResult": {"boundingBoxes": [BOX], **props}}),
        annotation("b", {"annotatedResult": {"boundingBoxes": [{**BOX, "left": 104}], **props,
                                             "initialValueModified": True}}),
        annotation("c", {"annotatedResult": {"boundingBoxes": [{**BOX, "left": 102}, stray], **props}})]}]  # fmt: skip
    response = post.lambda_handler(put_event(s3, payload, attribute="bb", categories=["cat", "dog"]), LambdaContext())
    content = _content(response, "7")
    # THEN one fused dog box in the built-in object-detection shape
    assert content["bb"] == {
        "image_size": [{"width": 800, "height": 533, "depth": 3}],
        "annotations": [{"class_id": 1, "left": 102, "top": 100, "width": 50, "height": 80}],
    }
    meta = content["bb-metadata"]
    assert meta["type"] == "groundtruth/object-detection" and meta["class-map"] == {"0": "cat", "1": "dog"}
    assert len(meta["objects"]) == 1 and 0.9 < meta["objects"][0]["confidence"] <= 1.0
    if task_type == "bounding-box-adjustment":
        assert meta["adjustment-status"] == "adjusted"
    _as_manifest_line(content, "bb")


def test_ner_spans(post: Any, s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUTHLOOP_TASK_TYPE", "ner")

    def ents(*spans: tuple[str, int, int]) -> dict[str, Any]:
        return {
            "crowd-entity-annotation": {
                "entities": [{"label": label, "startOffset": s, "endOffset": e} for label, s, e in spans]
            }
        }

    payload = [{"datasetObjectId": "0", "dataObject": {"content": "Sift 3 cups of flour"}, "annotations": [
        annotation("a", ents(("verb", 0, 4))), annotation("b", ents(("verb", 0, 4), ("noun", 15, 20))),
        annotation("c", ents(("verb", 0, 4)))]}]  # fmt: skip
    response = post.lambda_handler(
        put_event(s3, payload, attribute="ner", categories=["verb", "noun"]), LambdaContext()
    )
    content = _content(response, "0")
    assert content["ner"] == {
        "annotations": {
            "labels": [{"label": "verb"}, {"label": "noun"}],
            "entities": [{"label": "verb", "startOffset": 0, "endOffset": 4}],
        }
    }
    assert content["ner-metadata"]["entities"] == [{"confidence": 1.0}]
    assert content["ner-metadata"]["type"] == "groundtruth/text-span"
    _as_manifest_line(content, "ner")


def test_verification_with_feedback(post: Any, s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUTHLOOP_TASK_TYPE", "bounding-box-verification")
    payload = [{"datasetObjectId": "0", "dataObject": {"s3Uri": "s3://in/1.jpg"}, "annotations": [
        annotation("a", {"v": {"label": "bad", "workerComment": "box too wide"}}),
        annotation("b", {"v": {"label": "bad"}}), annotation("c", {"v": {"label": "good"}})]}]  # fmt: skip
    response = post.lambda_handler(put_event(s3, payload, attribute="vb", categories=["good", "bad"]), LambdaContext())
    content = _content(response, "0")
    assert content["vb"] == "1"
    assert content["vb-metadata"]["worker-feedback"] == [{"comment": "box too wide"}]
    assert content["vb-metadata"]["type"] == "groundtruth/label-verification"


def test_semantic_segmentation_writes_the_mask(post: Any, s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUTHLOOP_TASK_TYPE", "semantic-segmentation")
    png = base64.b64encode(b"\x89PNG fake").decode()
    answer = {"s": {"labeledImage": {"pngImageData": png}, "labelMappings": {"road": {"color": "#f28333"}}}}
    payload = [
        {"datasetObjectId": "3", "dataObject": {"s3Uri": "s3://in/3.png"}, "annotations": [annotation("a", answer)]}
    ]
    response = post.lambda_handler(put_event(s3, payload, attribute="city-ref", categories=["road"]), LambdaContext())
    content = _content(response, "3")
    uri = content["city-ref"]
    assert uri == f"s3://{BUCKET}/demo-job/annotations/consolidated-annotation/masks/3.png"
    assert s3.get_object(Bucket=BUCKET, Key=uri.split("/", 3)[3])["Body"].read() == b"\x89PNG fake"
    assert content["city-ref-metadata"]["internal-color-map"]["1"] == {
        "class-name": "road",
        "confidence": 0.0,
        "hex-color": "#f28333",
    }


def test_ranking_custom_output(post: Any, s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUTHLOOP_TASK_TYPE", "text-ranking")
    payload = [{"datasetObjectId": "0", "dataObject": {"content": "Say hi"}, "annotations": [
        annotation("a", {"ranking": {"rankings": {"helpfulness": [2, 1, 3], "harmless": [1, 1, 2]}}}),
        annotation("b", {"ranking": {"rankings": {"helpfulness": [2, 1, 3]}}}),
        annotation("c", {"ranking": {"rankings": {"helpfulness": [1, 2, 3]}}})]}]  # fmt: skip
    response = post.lambda_handler(put_event(s3, payload, attribute="rank"), LambdaContext())
    content = _content(response, "0")
    helpful = content["rank"]["rankings"]["helpfulness"]
    assert helpful["order"] == [1, 0, 2] and helpful["ranks"] == [2, 1, 3] and helpful["workers"] == 3
    assert content["rank"]["rankings"]["harmless"]["workers"] == 1
    assert content["rank"]["workerRankings"][0] == {
        "workerId": "a",
        "rankings": {"helpfulness": [2, 1, 3], "harmless": [1, 1, 2]},
    }
    meta = content["rank-metadata"]
    assert (meta["type"], meta["job_name"], meta["human-annotated"]) == ("groundTruth/custom", "demo-job", "yes")
    _as_manifest_line(content, "rank")


def test_pairwise_custom_output_maps_display_order(post: Any, s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN two workers saw B on the left ("ba") and picked the left one (A), one saw "ab" and picked B
    monkeypatch.setenv("TRUTHLOOP_TASK_TYPE", "pairwise-preference")
    payload = [{"datasetObjectId": "0", "dataObject": {"content": "Q"}, "annotations": [
        annotation("a", {"preference": {"label": "A"}, "strength": 4, "rationale": "clear", "displayOrder": "ba"}),
        annotation("b", {"preference": {"label": "A"}, "strength": 2, "displayOrder": "ba"}),
        annotation("c", {"preference": {"label": "B"}, "strength": 5, "displayOrder": "ab"})]}]  # fmt: skip
    response = post.lambda_handler(put_event(s3, payload, attribute="pref"), LambdaContext())
    value = _content(response, "0")["pref"]
    # THEN all three preferred responseB
    assert value["preferred"] == "responseB"
    assert value["votes"] == {"responseA": 0, "responseB": 3, "tie": 0}
    assert value["agreement"] == 1.0 and value["meanStrength"] == pytest.approx(11 / 3, abs=1e-4)


@pytest.mark.parametrize("data_object", [{"source": "Which summary?"}, {"source-ref": "s3://in/which-summary.txt"}])
def test_pairwise_answer_without_echoed_order_gets_the_right_winner(
    post: Any, s3: Any, monkeypatch: pytest.MonkeyPatch, data_object: dict[str, str]
) -> None:
    # GIVEN a task the pre-annotation Lambda showed as "ba" (responseB on the left, labelled A) ...
    monkeypatch.setenv("TRUTHLOOP_TASK_TYPE", "pairwise-preference")
    line = {**data_object, "responseA": "long summary", "responseB": "short"}
    event = {"version": "2018-10-16", "labelingJobArn": "arn:aws:sagemaker:us-east-1:1:labeling-job/x"}
    task = pre_annotate({**event, "dataObject": line}, task_type="pairwise-preference")["taskInput"]
    assert task["displayOrder"] == "ba"
    # ... and two workers who picked the left one (A = responseB) with answers that do not echo the order;
    # the payload holds only the data object, as GT sends it
    payload_object = {"content": line["source"]} if "source" in line else {"s3Uri": line["source-ref"]}
    payload = [{"datasetObjectId": "0", "dataObject": payload_object, "annotations": [
        annotation("a", {"preference": {"label": "A"}, "strength": 4}),
        annotation("b", {"preference": {"label": "A"}})]}]  # fmt: skip
    # WHEN
    response = post.lambda_handler(put_event(s3, payload, attribute="pref"), LambdaContext())
    # THEN the winner is the response that was on the left: responseB, not responseA
    value = _content(response, "0")["pref"]
    assert (value["preferred"], value["votes"]) == ("responseB", {"responseA": 0, "responseB": 2, "tie": 0})
    assert [p["displayOrder"] for p in value["workerPreferences"]] == ["ba", "ba"]


def test_free_text_medoid(post: Any, s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUTHLOOP_TASK_TYPE", "free-text")
    payload = [{"datasetObjectId": "0", "dataObject": {"content": "Capital of France?"}, "annotations": [
        annotation("a", {"answer": "Paris"}), annotation("b", {"answer": "paris."}),
        annotation("c", {"answer": "Lyon, I think"})]}]  # fmt: skip
    response = post.lambda_handler(put_event(s3, payload, attribute="qa"), LambdaContext())
    value = _content(response, "0")["qa"]
    assert value["answer"] in ("Paris", "paris.") and value["workerId"] in ("a", "b")
    assert [a["workerId"] for a in value["answers"]] == ["a", "b", "c"]


def test_answers_stored_in_s3_and_unreadable_ones(s3: Any) -> None:
    # GIVEN one answer in S3 (documented alternative) and one pointing at a missing object
    s3.put_object(Bucket=BUCKET, Key="answers/a.json", Body=json.dumps({"c": {"label": "x"}}))
    payload = [{"datasetObjectId": "0", "dataObject": {"content": "t"}, "annotations": [
        {"workerId": "a", "annotationData": {"s3Uri": f"s3://{BUCKET}/answers/a.json"}},
        {"workerId": "b", "annotationData": {"s3Uri": f"s3://{BUCKET}/answers/missing.json"}}]}]  # fmt: skip
    report = consolidate_report(
        put_event(s3, payload, categories=["x", "y"]), task_type="text-classification", s3_client=s3
    )
    assert [r["datasetObjectId"] for r in report.responses] == ["0"]
    assert report.responses[0]["consolidatedAnnotation"]["content"]["label-metadata"]["confidence"] == 0.0
    assert len(report.dropped) == 1 and report.dropped[0].worker_id == "b"


@pytest.mark.parametrize("method", ["mv", "wawa", "ds", "ods", "glad", "mace"])
def test_every_method_is_accepted(s3: Any, method: str) -> None:
    payload = [{"datasetObjectId": str(i), "dataObject": {"content": "t"}, "annotations": [
        annotation("a", {"c": {"label": "x"}}), annotation("b", {"c": {"label": "x"}}),
        annotation("c", {"c": {"label": "y"}})]} for i in range(3)]  # fmt: skip
    out = consolidate_batch(put_event(s3, payload), task_type="text-classification", method=method, s3_client=s3)
    assert [r["consolidatedAnnotation"]["content"]["label"] for r in out] == [0, 0, 0]


def test_whole_batch_errors(s3: Any) -> None:
    with pytest.raises(ContractError, match="labelAttributeName"):
        consolidate_batch({"labelingJobArn": "x", "payload": {"s3Uri": "s3://b/k"}}, task_type="ner", s3_client=s3)
    event = put_event(s3, b"not json")
    with pytest.raises(ContractError, match="not valid JSON"):
        consolidate_batch(event, task_type="ner", s3_client=s3)
    event["payload"]["s3Uri"] = f"s3://{BUCKET}/missing.json"
    with pytest.raises(AwsError):
        consolidate_batch(event, task_type="ner", s3_client=s3)
    with pytest.raises(Exception, match="unknown consolidation method"):
        consolidate_batch(event, task_type="ner", method="nope", s3_client=s3)


def test_handler_reads_method_from_the_environment(post: Any, s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUTHLOOP_TASK_TYPE", "text-classification")
    monkeypatch.setenv("TRUTHLOOP_CONSOLIDATION_METHOD", "bogus")
    with pytest.raises(Exception, match="unknown consolidation method"):
        post.lambda_handler(put_event(s3, []), LambdaContext())


def test_handlers_do_not_import_pandas_or_scipy() -> None:
    # GIVEN a fresh interpreter (imports are cached per process)
    import subprocess
    import sys

    code = (
        "import sys, os; os.environ.setdefault('AWS_DEFAULT_REGION', 'us-east-1');"
        "import post_annotation.handler, pre_annotation.handler, truthloop.consolidation, truthloop.labeling;"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pandas', 'scipy', 'sklearn'));"
        "print(','.join(bad))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "PYTHONPATH": "sdk:lambdas", "POWERTOOLS_TRACE_DISABLED": "true"},
        cwd=str(importlib.import_module("pathlib").Path(__file__).resolve().parents[3]),
    )
    assert result.stdout.strip() == ""


def test_default_method_on_a_tiny_batch_follows_the_majority(
    post: Any, s3: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a 3-object batch from 3 workers (3 answers each), no method configured (the default, auto);
    # one-coin Dawid-Skene fitted on this batch alone labels object "2" negative against a 2-of-3 majority
    monkeypatch.setenv("TRUTHLOOP_TASK_TYPE", "text-classification")
    monkeypatch.delenv("TRUTHLOOP_CONSOLIDATION_METHOD", raising=False)
    votes = {
        "0": ["negative"] * 3,
        "1": ["negative", "negative", "positive"],
        "2": ["negative", "positive", "positive"],
    }
    payload = [
        {
            "datasetObjectId": object_id,
            "dataObject": {"content": f"review {object_id}"},
            "annotations": [annotation(f"w{i}", {"sentiment": {"label": label}}) for i, label in enumerate(labels)],
        }
        for object_id, labels in votes.items()
    ]
    event = put_event(s3, payload, attribute="sentiment", categories=["positive", "negative"])
    # WHEN
    response = post.lambda_handler(event, LambdaContext())
    # THEN every object gets its majority label, with the vote share as confidence
    got = {r["datasetObjectId"]: r["consolidatedAnnotation"]["content"]["sentiment-metadata"] for r in response}
    assert {k: (m["class-name"], m["confidence"]) for k, m in got.items()} == {
        "0": ("negative", 1.0),
        "1": ("negative", 0.67),
        "2": ("positive", 0.67),
    }
