"""pre_annotate: taskInput per task type, model pre-labels and auto-accept."""

from __future__ import annotations

from typing import Any

import pytest

from truthloop.contracts import PreAnnotationResponse
from truthloop.exceptions import ContractError
from truthloop.labeling import display_order, display_order_of, pre_annotate

ARN = "arn:aws:sagemaker:us-east-1:111122223333:labeling-job/demo"
PRIOR = {
    "source-ref": "s3://b/img.png",
    "bb": {"image_size": [{"width": 500, "height": 400, "depth": 3}],
           "annotations": [{"class_id": 0, "left": 111, "top": 134, "width": 61, "height": 128}]},
    "bb-metadata": {"objects": [{"confidence": 0.8}], "class-map": {"0": "dog"}, "type": "groundtruth/object-detection",
                    "human-annotated": "yes", "creation-date": "2018-10-18T22:18:13.527256", "job-name": "find-dogs"},
}  # fmt: skip


def _event(data: dict[str, Any]) -> dict[str, Any]:
    return {"version": "2018-10-16", "labelingJobArn": ARN, "dataObject": data}


@pytest.mark.parametrize(
    ("task_type", "line", "expected"),
    [
        (
            "text-classification",
            {"source": "Book me a flight to Paris", "labels": ["travel", "weather", "other"]},
            {"taskObject": "Book me a flight to Paris", "labels": ["travel", "weather", "other"]},
        ),
        (
            "image-multilabel",
            {"source-ref": "s3://b/i.jpg", "labels": ["a", "b"], "model-label": {"label": ["a"], "confidence": 0.4}},
            {"taskObject": "s3://b/i.jpg", "labels": ["a", "b"], "initialValue": ["a"]},
        ),
        (
            "bounding-box",
            {"source-ref": "s3://b/i.jpg", "labels": ["dog"],
             "model-label": {"boxes": [{"label": "dog", "left": 1, "top": 2, "width": 3, "height": 4}],
                             "confidence": 0.3}},
            {"taskObject": "s3://b/i.jpg", "labels": ["dog"],
             "initialValue": [{"label": "dog", "left": 1.0, "top": 2.0, "width": 3.0, "height": 4.0}]},
        ),
        (
            "ner",
            {"source": "Sift 3 cups", "labels": [{"label": "verb", "shortDisplayName": "vb"}, "noun"]},
            {"taskObject": "Sift 3 cups", "labels": [{"label": "verb", "shortDisplayName": "vb"}, {"label": "noun"}]},
        ),
        (
            "bounding-box-adjustment",
            PRIOR,
            {"taskObject": "s3://b/img.png", "labels": ["dog"], "priorAttribute": "bb",
             "initialValue": [{"label": "dog", "left": 111.0, "top": 134.0, "width": 61.0, "height": 128.0}]},
        ),
        (
            "bounding-box-verification",
            PRIOR,
            {"taskObject": "s3://b/img.png", "labels": ["good", "bad"], "manifestLine": PRIOR, "priorAttribute": "bb"},
        ),
        (
            "free-text",
            {"source": "What is the capital of France?", "question": "Answer briefly"},
            {"taskObject": "What is the capital of France?", "question": "Answer briefly"},
        ),
        (
            "text-ranking",
            {"source": "Say hi", "responses": ["hi", "hello"], "dimensions": ["helpfulness"]},
            {"prompt": "Say hi", "responses": ["hi", "hello"], "responseIds": ["r1", "r2"],
             "dimensions": [{"name": "helpfulness", "allowTie": True}]},
        ),
    ],
)  # fmt: skip
def test_task_input_per_task_type(task_type: str, line: dict[str, Any], expected: dict[str, Any]) -> None:
    # WHEN
    result = pre_annotate(_event(line), task_type=task_type)
    # THEN the response is the documented shape and taskInput is as in docs/interfaces.md
    assert PreAnnotationResponse.parse(result).is_human_annotation_required is True
    assert result["taskInput"] == expected


def test_pairwise_display_order_is_deterministic() -> None:
    line = {"source": "Q", "responseA": "one", "responseB": "two", "modelA": "m1"}
    first = pre_annotate(_event(line), task_type="pairwise-preference")["taskInput"]
    # THEN the order is a function of the data object alone (what the post-annotation Lambda sees) ...
    assert first["displayOrder"] == display_order("Q") == display_order_of({"content": "Q"})
    assert first == pre_annotate(_event(line), task_type="pairwise-preference")["taskInput"]
    # ... and about half the objects are flipped
    orders = [display_order(f"Q{i}") for i in range(200)]
    assert 60 < orders.count("ba") < 140
    by_ref = {**{k: v for k, v in line.items() if k != "source"}, "source-ref": "s3://b/q.txt"}
    ref = pre_annotate(_event(by_ref), task_type="pairwise-preference")
    assert ref["taskInput"]["displayOrder"] == display_order_of({"s3Uri": "s3://b/q.txt"})


@pytest.mark.parametrize(("confidence", "required"), [(0.95, False), (0.89, True)])
def test_auto_accept_on_a_confident_model_label(confidence: float, required: bool) -> None:
    line = {"source": "hi", "labels": ["a", "b"], "model-label": {"label": "a", "confidence": confidence}}
    result = pre_annotate(_event(line), task_type="text-classification", auto_accept_threshold=0.9)
    assert result["isHumanAnnotationRequired"] is required
    assert result["taskInput"]["initialValue"] == "a"


@pytest.mark.parametrize(
    ("task_type", "line", "path"),
    [
        ("text-classification", {"labels": ["a"]}, "$.dataObject"),
        (
            "text-classification",
            {"source": "x", "model-label": {"label": "a", "confidence": 2}},
            '$.dataObject["model-label"].confidence',
        ),
        ("text-ranking", {"source": "x", "responses": ["only"]}, "$.dataObject.responses"),
        ("pairwise-preference", {"source": "x", "responseA": "a"}, "$.dataObject.responseB"),
        ("bounding-box-verification", {"source-ref": "s3://b/i"}, "$.dataObject"),
    ],
)
def test_bad_lines_raise_with_the_json_path(task_type: str, line: dict[str, Any], path: str) -> None:
    with pytest.raises(ContractError) as info:
        pre_annotate(_event(line), task_type=task_type)
    assert info.value.path == path


def test_bad_event() -> None:
    with pytest.raises(ContractError, match="labelingJobArn"):
        pre_annotate({"dataObject": {"source": "x"}}, task_type="free-text")
