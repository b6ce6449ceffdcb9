"""Parse tolerantly (aws-contracts.md Appendix), build strictly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from truthloop.contracts import (
    ConsolidationPayload,
    DetectModerationLabelsResponse,
    HumanLoopOutput,
    OutputManifestLine,
    PreAnnotationEvent,
    PreAnnotationResponse,
    load,
)
from truthloop.exceptions import ContractError

BUILTIN_META = {
    "type": "groundtruth/image-classification",
    "class-name": "dog",
    "confidence": 0.5,
    "human-annotated": "yes",
    "creation-date": "2020-01-01T00:00:00.000000",
}


@pytest.mark.parametrize("job_key", ["job-name", "job_name"])
@pytest.mark.parametrize("job_value", ["pets", "labeling-job/pets"])
def test_job_name_spellings_and_prefix_normalise(job_key: str, job_value: str) -> None:
    # GIVEN
    line = {"source-ref": "s3://b/k", "pet": 0, "pet-metadata": {**BUILTIN_META, job_key: job_value}}
    # WHEN
    parsed = load(line)
    # THEN
    assert isinstance(parsed, OutputManifestLine)
    meta = parsed.label("pet").metadata
    assert meta is not None
    assert meta.job_name == "pets"
    built = parsed.to_dict()["pet-metadata"]
    assert built["job-name"] == "pets"
    assert "job_name" not in built


@pytest.mark.parametrize("class_id", [1, "1", 1.0])
def test_class_ids_int_or_string_become_int(class_id: Any) -> None:
    line = {"source": "x", "c": class_id, "c-metadata": {**BUILTIN_META, "job-name": "j"}}
    parsed = load(line)
    assert isinstance(parsed, OutputManifestLine)
    assert parsed.label("c").value == 1
    assert parsed.label("c").class_ids() == [1]


@pytest.mark.parametrize("type_spelling", ["groundTruth/custom", "groundtruth/custom", "GroundTruth/Custom"])
def test_custom_metadata_builds_underscored_keys(type_spelling: str) -> None:
    line = {
        "source": "x",
        "a": {"v": 1},
        "a-metadata": {"type": type_spelling, "job-name": "labeling-job/j", "creation-date": "2020-01-01T00:00:00"},
    }
    parsed = load(line)
    assert isinstance(parsed, OutputManifestLine)
    built = parsed.to_dict()["a-metadata"]
    assert built["type"] == "groundTruth/custom"
    assert built["job_name"] == "j"
    assert built["creation_date"] == "2020-01-01T00:00:00"
    assert "job-name" not in built


def test_lower_cased_arn_job_name_is_exposed_as_given() -> None:
    event = load(
        {
            "version": "2018-10-06",
            "labelingJobArn": "arn:aws:sagemaker:us-east-1:1:labeling-job/entityrecognition-protienname",
            "dataObject": {"source": "x"},
        }
    )
    assert isinstance(event, PreAnnotationEvent)
    assert event.job_name == "entityrecognition-protienname"
    assert event.job_name.lower() == "EntityRecognition-ProtienName".lower()


@pytest.mark.parametrize(("raw", "expected"), [(True, True), (False, False), ("true", True), ("false", False)])
def test_pre_annotation_flag_accepts_both_keys_and_strings(raw: Any, expected: bool) -> None:
    for key in ("isHumanAnnotationRequired", "humanAnnotationRequired"):
        parsed = load({"taskInput": {}, key: raw})
        assert isinstance(parsed, PreAnnotationResponse)
        assert parsed.is_human_annotation_required is expected
        assert parsed.to_dict() == {"taskInput": {}, "isHumanAnnotationRequired": expected}


def test_annotation_content_as_string_object_or_s3_reference() -> None:
    answer = {"crowd-classifier": {"label": "dog"}}
    payload = load(
        [
            {
                "datasetObjectId": 0,
                "dataObject": {"content": "hi"},
                "annotations": [
                    {"workerId": "a", "annotationData": {"content": json.dumps(answer)}},
                    {"workerId": "b", "annotationData": {"content": answer}},
                    {"workerId": "c", "annotationData": {"s3Uri": "s3://b/answer.json"}},
                ],
            },
        ]
    )
    assert isinstance(payload, ConsolidationPayload)
    obj = payload.objects[0]
    assert obj.dataset_object_id == "0"
    assert obj.annotations[0].answer() == answer
    assert obj.annotations[1].answer() == answer
    assert obj.annotations[2].s3_uri == "s3://b/answer.json"


def test_camel_and_pascal_case_service_responses_parse_alike() -> None:
    pascal = load({"ModerationLabels": [{"Confidence": 60.0, "Name": "Suggestive", "ParentName": ""}]})
    camel = load({"moderationLabels": [{"confidence": 60.0, "name": "Suggestive", "parentName": ""}]})
    assert isinstance(pascal, DetectModerationLabelsResponse)
    assert pascal == camel
    assert "ModerationLabels" in camel.to_dict()


def test_a2i_output_optional_fields_absent_and_input_content_string() -> None:
    out = load(
        {
            "flowDefinitionArn": "arn:aws:sagemaker:us-east-1:1:flow-definition/fd",
            "humanLoopName": "l",
            "inputContent": json.dumps({"k": 1}),
            "humanAnswers": [{"answerContent": {"x": 1}, "workerId": "w"}],
        }
    )
    assert isinstance(out, HumanLoopOutput)
    assert out.input_content == {"k": 1}
    assert out.human_answers[0].submission_time is None
    assert out.flow_definition_name == "fd"
    assert not out.is_builtin


def test_version_strings_are_not_validated() -> None:
    for version in ("2018-10-06", "2018-10-16", "1999-01-01", 3):
        event = load({"version": version, "labelingJobArn": "arn", "dataObject": {"source": "x"}})
        assert isinstance(event, PreAnnotationEvent)
        assert event.version == str(version)


def test_failed_object_metadata_without_type_still_parses() -> None:
    line = {
        "source-ref": "s3://b/k",
        "pet-metadata": {"failure-reason": "ClientError: worker timed out", "retry-count": 1},
    }
    parsed = load(line)
    assert isinstance(parsed, OutputManifestLine)
    meta = parsed.label("pet").metadata
    assert meta is not None and meta.task_type == "unknown"
    assert meta.extra == {"failure-reason": "ClientError: worker timed out", "retry-count": 1}
    assert parsed.to_dict() == {"source-ref": "s3://b/k", "pet": None, "pet-metadata": line["pet-metadata"]}


def test_label_categories_as_objects_become_names() -> None:
    event = load(
        {
            "labelingJobArn": "arn:aws:sagemaker:us-east-1:1:labeling-job/j",
            "labelAttributeName": "ner",
            "payload": {"s3Uri": "s3://b/p.json"},
            "labelCategories": [{"label": "person", "shortDisplayName": "per"}, "place"],
        }
    )
    assert event.to_dict()["labelCategories"] == ["person", "place"]


UNMODELLED = [
    (
        "point-cloud-tracking",
        {
            "source-ref": "s3://b/seq.json",
            "tracks-ref": "s3://b/out/SeqLabel.json",
            "tracks-ref-metadata": {
                "objects": [{"frame-no": 0, "confidence": []}, {"frame-no": 1, "confidence": [0.4, 0.9]}],
                "class-map": {"0": "Car"},
                "type": "groundtruth/point_cloud_object_tracking",
                "human-annotated": "yes",
                "creation-date": "2026-11-12T01:18:14.271944",
                "job-name": "track",
            },
        },
        "tracks-ref",
        "groundtruth/point_cloud_object_tracking",
    ),
    (
        "video-tracking-odd-types",
        {
            "source-ref": "s3://b/frames.json",
            "boxes-ref": {"not": "a uri"},
            "boxes-ref-metadata": {
                "type": "groundtruth/video-object-tracking",
                "human-annotated": 1,
                "confidence": "x",
            },
        },
        "boxes-ref",
        "groundtruth/video-object-tracking",
    ),
    (
        "unknown-type-spelling",
        {"source": "t", "answer": [1, [2]], "answer-metadata": {"type": "GroundTruth/Some-Future-Task", "objects": 3}},
        "answer",
        "groundtruth/some-future-task",
    ),
]


@pytest.mark.parametrize(("line", "name", "task"), [u[1:] for u in UNMODELLED], ids=[u[0] for u in UNMODELLED])
def test_a_label_of_an_unmodelled_task_type_loads_as_opaque_data(line: dict[str, Any], name: str, task: str) -> None:
    # WHEN a manifest line whose label is of a task type truthloop does not model is loaded
    parsed = load(line)
    # THEN it is an output manifest line; the label is reported as opaque, its value and metadata kept as they came
    assert isinstance(parsed, OutputManifestLine)
    label = parsed.label(name)
    assert label.opaque and parsed.opaque_labels == (label,)
    assert label.value == line[name]
    assert label.metadata is not None and label.metadata.type == task
    assert parsed.to_dict()[name] == line[name]
    assert {k: v for k, v in parsed.to_dict()[f"{name}-metadata"].items() if k != "type"} == {
        k: v for k, v in line[f"{name}-metadata"].items() if k != "type"
    }


def test_unmodelled_metadata_keeps_the_common_keys_it_can_read() -> None:
    # GIVEN the point cloud tracking line
    line = UNMODELLED[0][1]
    # WHEN loaded
    meta = load(line).label("tracks-ref").metadata  # type: ignore[attr-defined]
    # THEN job name, human-annotated and creation date are read as for any label; the rest is extra
    assert (meta.job_name, meta.human_annotated, meta.creation_date) == ("track", True, "2026-11-12T01:18:14.271944")
    assert set(meta.extra) == {"objects", "class-map"}


def test_a_modelled_task_type_is_still_checked() -> None:
    # GIVEN a bounding-box label (a modelled type) whose object confidence is a list
    line = {
        "source-ref": "s3://b/img.jpg",
        "box": {"annotations": [], "image_size": []},
        "box-metadata": {"type": "groundtruth/object-detection", "objects": [{"confidence": [0.1]}]},
    }
    # WHEN loaded THEN the error names the JSON path, as before
    with pytest.raises(ContractError, match=r"objects\[0\]\.confidence"):
        load(line)


@pytest.mark.parametrize(
    "detail_type", ["SageMaker A2I HumanLoop Status Change", "Amazon Augmented AI HumanLoop Status Change"]
)
def test_every_documented_a2i_detail_type_is_recognised(detail_type: str) -> None:
    event = {
        "detail-type": detail_type,
        "source": "aws.sagemaker",
        "resources": ["arn:aws:sagemaker:us-east-1:1:human-loop/l"],
        "detail": {
            "humanLoopName": "l",
            "humanLoopArn": "arn:aws:sagemaker:us-east-1:1:human-loop/l",
            "flowDefinitionArn": "arn:aws:sagemaker:us-east-1:1:flow-definition/f",
            "humanLoopStatus": "Completed",
        },
    }
    # WHEN loaded
    parsed = load(event)
    # THEN it is the A2I loop status event, emitted again in the current spelling
    assert parsed.kind == "event.a2i_loop_status"
    assert parsed.to_dict()["detail-type"] == "SageMaker A2I HumanLoop Status Change"
