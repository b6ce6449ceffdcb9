"""Answer parsers: shape-based, element-name agnostic, JSON paths on junk."""

from __future__ import annotations

from typing import Any

import pytest

from truthloop.exceptions import ContractError, UnsupportedTaskTypeError
from truthloop.labeling import TASK_TYPES, parse_answer, task_type_for_builtin
from truthloop.labeling.answers import (
    Box,
    BoxesAnswer,
    ClassAnswer,
    EntitiesAnswer,
    FreeTextAnswer,
    MultiLabelAnswer,
    PairwiseAnswer,
    RankingAnswer,
    SegmentationAnswer,
    Span,
)
from truthloop.labeling.task_types import task_type_of_job
from truthloop.templates import catalogue

BOX = {"label": "Dog", "left": 243, "top": 117, "width": 187, "height": 401}


@pytest.mark.parametrize(
    ("task_type", "content", "expected"),
    [
        ("text-classification", {"crowd-classifier": {"label": "travel"}}, ClassAnswer("travel")),
        ("text-classification", {"whatever": {"label": "travel"}, "note": "x"}, ClassAnswer("travel")),
        (
            "image-classification",
            '{"category": {"label": "cat", "workerComment": "blurry"}}',
            ClassAnswer("cat", "blurry"),
        ),
        ("bounding-box-verification", [{"verify": {"label": "bad"}}], ClassAnswer("bad")),
        ("text-multilabel", {"m": {"labels": ["a", "b", "a"]}}, MultiLabelAnswer(("a", "b"))),
        (
            "bounding-box",
            {"annotatedResult": {"boundingBoxes": [BOX], "inputImageProperties": {"height": 533, "width": 800}}},
            BoxesAnswer((Box("Dog", 243, 117, 187, 401),), 800, 533),
        ),
        (
            "bounding-box-adjustment",
            {"x": {"boundingBoxes": [], "initialValueModified": True}},
            BoxesAnswer((), None, None, True),
        ),
        (
            "ner",
            {"crowd-entity-annotation": {"entities": [{"endOffset": 80, "label": "Misc", "startOffset": 73}]}},
            EntitiesAnswer((Span("Misc", 73, 80),)),
        ),
        (
            "semantic-segmentation",
            {"s": {"labeledImage": {"pngImageData": "iVBO"}, "labelMappings": {"road": {"color": "#f28333"}}}},
            SegmentationAnswer("iVBO", {"road": "#f28333"}),
        ),
        ("free-text", {"answer": "Paris"}, FreeTextAnswer("Paris")),
        ("free-text", {"crowd-text-area": "Lyon", "empty": ""}, FreeTextAnswer("Lyon")),
        (
            "text-ranking",
            {"ranking": {"rankings": {"helpfulness": [2, 1, 2]}}},
            RankingAnswer({"helpfulness": (2, 1, 2)}),
        ),
        (
            "pairwise-preference",
            {"preference": {"label": "B"}, "strength": 4, "rationale": "clearer", "displayOrder": "ba"},
            PairwiseAnswer("B", 4.0, "clearer", "ba"),
        ),
    ],
)
def test_parses_every_task_type_by_shape(task_type: str, content: Any, expected: Any) -> None:
    assert parse_answer(task_type, content) == expected


def test_documented_names_win_when_several_values_fit() -> None:
    content = {"aaa": {"label": "other"}, "crowd-classifier": {"label": "travel"}}
    assert parse_answer("text-classification", content) == ClassAnswer("travel")


@pytest.mark.parametrize(
    ("task_type", "content", "path", "message"),
    [
        ("text-classification", "{not json", "$", "not valid JSON"),
        ("text-classification", {"x": {"y": 1}}, "$", "no label"),
        ("text-classification", {"c": {"label": ""}}, "$.c.label", "empty"),
        (
            "bounding-box",
            {"b": {"boundingBoxes": [BOX, {**BOX, "width": "wide"}]}},
            "$.b.boundingBoxes[1].width",
            "number",
        ),
        ("bounding-box", {"b": {"boundingBoxes": [{**BOX, "height": -1}]}}, "$.b.boundingBoxes[0]", "negative"),
        ("ner", {"e": {"entities": [{"label": "X", "startOffset": 5, "endOffset": 5}]}}, "$.e.entities[0]", "empty"),
        ("text-ranking", {"r": {"rankings": {"h": [1, 0]}}}, "$.r.rankings.h[1]", "integer from 1"),
        ("pairwise-preference", {"p": {"label": "C"}}, "$", "preference"),
        ("pairwise-preference", {"p": {"label": "A"}, "strength": 9}, "$.strength", "between 1 and 5"),
        ("pairwise-preference", {"p": {"label": "A"}, "displayOrder": "xy"}, "$.displayOrder", "displayOrder"),
        ("text-classification", 42, "$", "expected an object"),
    ],
)
def test_junk_raises_with_the_json_path(task_type: str, content: Any, path: str, message: str) -> None:
    with pytest.raises(ContractError, match=message) as info:
        parse_answer(task_type, content)
    assert info.value.path == path


def test_pairwise_display_order_maps_back_to_responses() -> None:
    assert PairwiseAnswer("A", display_order="ab").preferred() == "responseA"
    assert PairwiseAnswer("A", display_order="ba").preferred() == "responseB"
    assert PairwiseAnswer("B").preferred("ba") == "responseA"
    assert PairwiseAnswer("Tie").preferred() is None


def test_task_types_and_builtin_names() -> None:
    assert task_type_for_builtin("BoundingBox") == "bounding-box"
    assert task_type_for_builtin("PRE-TextMultiClass") == "text-classification"
    assert len(TASK_TYPES) == 12
    with pytest.raises(UnsupportedTaskTypeError):
        task_type_for_builtin("VideoObjectTracking")
    with pytest.raises(UnsupportedTaskTypeError):
        parse_answer("nope", {})


_OWN_PRE = "arn:aws:lambda:us-east-1:123456789012:function:my-pre"
_OWN_ACS = "arn:aws:lambda:us-east-1:123456789012:function:my-acs"
_AWS_UI = "arn:aws:sagemaker:us-east-1:394669845002:human-task-ui/"


def _config(pre: str = _OWN_PRE, acs: str = _OWN_ACS, ui: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "PreHumanTaskLambdaArn": pre,
        "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": acs},
        "UiConfig": ui or {"UiTemplateS3Uri": "s3://b/ui.html"},
    }


@pytest.mark.parametrize(
    ("config", "template", "expected"),
    [
        # built-in Lambdas name the type, whatever the template
        (_config(pre="arn:aws:lambda:us-east-1:432418664414:function:PRE-BoundingBox"), "<p/>", "bounding-box"),
        (_config(acs="arn:aws:lambda:eu-west-1:568282634449:function:ACS-TextMultiClass"), "", "text-classification"),
        # a look-alike of a built-in in another account is the user's own
        (_config(pre="arn:aws:lambda:us-east-1:123456789012:function:PRE-BoundingBox"), "<p/>", None),
        # AWS's NER task UI
        (
            _config(ui={"HumanTaskUiArn": _AWS_UI + "NamedEntityRecognition"}),
            "",
            "ner",
        ),
        (_config(ui={"HumanTaskUiArn": "arn:aws:sagemaker:us-east-1:123456789012:human-task-ui/ner"}), "<p/>", None),
        # the user's own Lambdas with a catalogue template (as uploaded, surrounding whitespace aside)
        (_config(), catalogue.load("gt/free-text").text(), "free-text"),
        (_config(), "\n" + catalogue.load("gt/text-ranking").text() + "\n", "text-ranking"),
        (_config(), catalogue.load("gt/bounding-box").text(), "bounding-box"),
        # ... and with their own template: unknown
        (_config(), "<crowd-form><crowd-text-area name='x'></crowd-text-area></crowd-form>", None),
        (_config(), "", None),
    ],
)
def test_task_type_of_a_job_comes_from_the_job_alone(
    config: dict[str, Any], template: str, expected: str | None
) -> None:
    assert task_type_of_job(config, template) == expected
