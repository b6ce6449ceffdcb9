"""LabelingJobSpec: valid requests per task type, every limit reported at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from truthloop.cli import main
from truthloop.exceptions import LabelingSpecError
from truthloop.labeling.spec import LabelingJobSpec

FIXTURES = Path(__file__).parent / "fixtures"
BASE: dict[str, Any] = {
    "name": "job-1",
    "task_type": "text-classification",
    "labels": ["a", "b"],
    "manifest_s3_uri": "s3://bucket/in.manifest",
    "output_s3_uri": "s3://bucket/out/",
    "role_arn": "arn:aws:iam::111122223333:role/GtRole",
    "workteam_arn": "arn:aws:sagemaker:us-east-1:111122223333:workteam/private-crowd/team",
    "title": "Title",
    "description": "Description",
    "ui_template_s3_uri": "s3://bucket/tpl.html",
}
OWN = {
    "pre_annotation_lambda_arn": "arn:aws:lambda:us-east-1:111122223333:function:sagemaker-pre",
    "consolidation_lambda_arn": "arn:aws:lambda:us-east-1:111122223333:function:sagemaker-post",
}


@pytest.mark.parametrize(
    ("task_type", "extra", "suffix"),
    [
        ("text-classification", {}, "TextMultiClass"),
        ("text-multilabel", {}, "TextMultiClassMultiLabel"),
        ("image-classification", {}, "ImageMultiClass"),
        ("image-multilabel", {}, "ImageMultiClassMultiLabel"),
        ("bounding-box", {}, "BoundingBox"),
        ("bounding-box-verification", {"label_attribute_name": "verify"}, "VerificationBoundingBox"),
        ("bounding-box-adjustment", {"label_attribute_name": "adjusted"}, "AdjustmentBoundingBox"),
        ("semantic-segmentation", {"label_attribute_name": "mask-ref"}, "SemanticSegmentation"),
        (
            "ner",
            {
                "ui_template_s3_uri": None,
                "instructions": {"shortInstruction": "<p>s</p>", "fullInstruction": "<p>f</p>"},
            },
            "NamedEntityRecognition",
        ),
    ],
)
def test_builtin_task_types_use_the_regions_builtin_lambdas(task_type: str, extra: dict[str, Any], suffix: str) -> None:
    # WHEN
    request = LabelingJobSpec.from_dict({**BASE, "task_type": task_type, **extra}).to_request()
    # THEN
    human = request["HumanTaskConfig"]
    assert human["PreHumanTaskLambdaArn"] == f"arn:aws:lambda:us-east-1:432418664414:function:PRE-{suffix}"
    assert human["AnnotationConsolidationConfig"]["AnnotationConsolidationLambdaArn"].endswith(f":ACS-{suffix}")
    if task_type == "ner":
        assert human["UiConfig"] == {
            "HumanTaskUiArn": "arn:aws:sagemaker:us-east-1:394669845002:human-task-ui/NamedEntityRecognition"
        }


@pytest.mark.parametrize("task_type", ["free-text", "text-ranking", "pairwise-preference"])
def test_custom_task_types_need_and_use_the_projects_lambdas(task_type: str) -> None:
    with pytest.raises(LabelingSpecError, match="custom task type"):
        LabelingJobSpec.from_dict({**BASE, "task_type": task_type}).validate()
    request = LabelingJobSpec.from_dict({**BASE, "task_type": task_type, **OWN}).to_request()
    assert request["HumanTaskConfig"]["PreHumanTaskLambdaArn"] == OWN["pre_annotation_lambda_arn"]


def test_every_problem_is_reported_at_once() -> None:
    bad = {
        **BASE,
        "name": "bad_name!",
        "label_attribute_name": "x-metadata",
        "labels": ["a", "a"],
        "workers_per_object": 12,
        "task_time_limit_seconds": 10,
        "keywords": ["ok", "not-ok"],
        "title": "",
        "role_arn": "nope",
    }
    with pytest.raises(LabelingSpecError) as info:
        LabelingJobSpec.from_dict(bad).validate()
    text = "\n".join(info.value.problems)
    for fragment in (
        "name:",
        "label_attribute_name:",
        "at least 2 unique",
        "duplicates",
        "workers_per_object",
        "task_time_limit_seconds",
        "'not-ok'",
        "title:",
        "role_arn:",
    ):
        assert fragment in text
    assert len(info.value.problems) >= 9


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        ({"task_type": "ner", "ui_template_s3_uri": None}, "NER jobs need"),
        ({"task_type": "semantic-segmentation"}, "-ref"),
        ({"task_type": "nope"}, "not one of"),
        ({"task_availability_lifetime_seconds": 30}, "60–2592000"),
        ({"keywords": ["a", "b", "c", "d", "e", "f"]}, "at most 5"),
        ({"ui_template_s3_uri": None}, "ui:"),
        ({"region": "mars-1"}, "region:"),
    ],
)
def test_single_limits(extra: dict[str, Any], fragment: str) -> None:
    problems = LabelingJobSpec.from_dict({**BASE, **extra}).problems()
    assert any(fragment in p for p in problems), problems


def test_unknown_and_missing_fields() -> None:
    with pytest.raises(LabelingSpecError, match="unknown field 'colour'"):
        LabelingJobSpec.from_dict({**BASE, "colour": "red"})
    with pytest.raises(LabelingSpecError, match="title: required"):
        LabelingJobSpec.from_dict({k: v for k, v in BASE.items() if k != "title"})


def test_label_category_file() -> None:
    spec = LabelingJobSpec.from_dict(
        {**BASE, "task_type": "ner", "labels": [{"label": "PER", "shortDisplayName": "P"}, "LOC"],
         "instructions": {"shortInstruction": "s", "fullInstruction": "f"}}
    )  # fmt: skip
    assert spec.label_category_config() == {
        "document-version": "2018-11-28",
        "labels": [{"label": "PER", "shortDisplayName": "P"}, {"label": "LOC"}],
        "instructions": {"shortInstruction": "s", "fullInstruction": "f"},
    }


def test_cli_validate_and_spec(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["labeling", "validate", str(FIXTURES / "intent-job.yaml")], catch_exceptions=False)
    assert ok.exit_code == 0 and "ok (text-classification, 3 labels" in ok.output
    out = tmp_path / "labels.json"
    built = runner.invoke(
        main,
        ["labeling", "spec", str(FIXTURES / "intent-job.yaml"), "--label-categories", str(out)],
        catch_exceptions=False,
    )
    assert built.exit_code == 0 and '"LabelingJobName": "intent-demo-1"' in built.output
    assert '"label": "travel"' in out.read_text()
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "x", "task_type": "ner"}')
    failed = runner.invoke(main, ["labeling", "validate", str(bad)])
    assert failed.exit_code == 1 and "labels: required" in failed.output
