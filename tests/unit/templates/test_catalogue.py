"""The catalogue: every template has its fixtures, lints clean, gets exactly the input truthloop's code produces,
and its documented answer is accepted by the parser that reads it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from truthloop.contracts import canonical_json
from truthloop.exceptions import TemplateError
from truthloop.labeling import TASK_TYPES, pre_annotate
from truthloop.labeling.answers import (
    BoxesAnswer,
    ClassAnswer,
    EntitiesAnswer,
    FreeTextAnswer,
    MultiLabelAnswer,
    PairwiseAnswer,
    RankingAnswer,
    Span,
)
from truthloop.review import ReviewClient, ReviewPolicy
from truthloop.templates import catalogue, lint

FIXTURES = Path(__file__).parent / "fixtures"
GT_CASES: dict[str, Any] = json.loads((FIXTURES / "gt_cases.json").read_text())
REVIEW_CASES: dict[str, Any] = json.loads((FIXTURES / "review_cases.json").read_text())
TEMPLATES = catalogue.all_templates()
IDS = [t.id for t in TEMPLATES]
JOB_ARN = "arn:aws:sagemaker:us-east-1:111122223333:labeling-job/catalogue"
FLOW_ARN = "arn:aws:sagemaker:us-east-1:111122223333:flow-definition/catalogue-review"

ISSUE_CATALOGUE = {
    "gt": {
        "text-classification",
        "text-multilabel",
        "image-classification",
        "image-multilabel",
        "bounding-box",
        "ner",
        "text-ranking",
        "pairwise-preference",
        "free-text",
        "bounding-box-verification",
    },
    "a2i": {
        "comprehend-sentiment-review",
        "comprehend-classification-review",
        "comprehend-entities-review",
        "textract-forms-review",
        "textract-queries-review",
        "rekognition-moderation-review",
        "endpoint-prediction-review",
    },
}


def test_the_catalogue_holds_every_template_the_issue_lists() -> None:
    assert {t.name for t in catalogue.all_templates("gt")} == ISSUE_CATALOGUE["gt"]
    assert {t.name for t in catalogue.all_templates("a2i")} == ISSUE_CATALOGUE["a2i"]


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_every_template_has_its_fixtures_and_a_parser(template: catalogue.CatalogueTemplate) -> None:
    assert template.template_path.is_file()
    assert isinstance(template.task_input(), dict)
    assert isinstance(template.answer(), dict)
    assert template.title and template.description
    if template.kind == "gt":
        assert template.parser == "truthloop.labeling.answers.parse_answer"
        assert template.task_types and all(t in TASK_TYPES for t in template.task_types)
    else:
        assert template.parser == "truthloop.review.results.review_result_from_output"
        assert template.sources


@pytest.mark.parametrize("template", TEMPLATES, ids=IDS)
def test_every_template_lints_clean_against_its_fixture(template: catalogue.CatalogueTemplate) -> None:
    report = template.lint()
    assert report.clean, [str(i) for i in report.issues]


def test_every_gt_task_type_with_a_template_points_into_the_catalogue() -> None:
    for task_type in TASK_TYPES.values():
        if task_type.template is not None:
            assert catalogue.for_task_type(task_type.id).id == task_type.template


@pytest.mark.parametrize(("name", "expected"), [("ner", "gt/ner"), ("gt/free-text", "gt/free-text")])
def test_load_by_name_or_id(name: str, expected: str) -> None:
    assert catalogue.load(name).id == expected


def test_unknown_templates_are_reported_with_the_known_ones() -> None:
    with pytest.raises(TemplateError, match="no template 'nope' in the catalogue; known: gt/bounding-box"):
        catalogue.load("nope")
    with pytest.raises(TemplateError, match="no catalogue template for review source"):
        catalogue.for_source("comprehend:detect_syntax")


def test_review_sources_map_to_their_templates() -> None:
    assert catalogue.for_source("AWS/Textract/AnalyzeDocument/Forms/V1").id == "a2i/textract-forms-review"
    assert catalogue.for_source("comprehend:detect_sentiment").id == "a2i/comprehend-sentiment-review"


# --------------------------------------------------------------------------------------------- inputs


@pytest.mark.parametrize("name", sorted(GT_CASES), ids=sorted(GT_CASES))
def test_pre_annotation_produces_exactly_the_gt_input_fixture(name: str) -> None:
    # GIVEN a manifest line as a GT pre-annotation event
    case = GT_CASES[name]
    event = {"version": "2018-10-16", "labelingJobArn": JOB_ARN, "dataObject": case["line"]}
    # WHEN truthloop's pre-annotation code builds the task input
    response = pre_annotate(event, task_type=case["task_type"])
    # THEN it is exactly what the template is written and tested against
    assert response["taskInput"] == catalogue.load(f"gt/{name}").task_input()
    assert response["isHumanAnnotationRequired"] is True


def test_bounding_box_adjustment_gets_the_bounding_box_template_with_initial_boxes() -> None:
    # GIVEN a line carrying a prior box job
    line = GT_CASES["bounding-box-verification"]["line"]
    event = {"version": "2018-10-16", "labelingJobArn": JOB_ARN, "dataObject": line}
    # WHEN
    task_input = pre_annotate(event, task_type="bounding-box-adjustment")["taskInput"]
    template = catalogue.for_task_type("bounding-box-adjustment")
    # THEN the bounding-box template reads those boxes into initial-value and still lints clean
    assert task_input["initialValue"] == [{"label": "car", "left": 150, "top": 200, "width": 230, "height": 130}]
    assert "initial-value=" in template.render(task_input)
    assert lint(template.text(), task_input).clean


@pytest.mark.parametrize("name", sorted(REVIEW_CASES), ids=sorted(REVIEW_CASES))
def test_review_client_sends_exactly_the_a2i_input_fixture(name: str) -> None:
    # GIVEN a service response that the policy routes to review, and a stubbed A2I runtime
    case = REVIEW_CASES[name]
    expected = catalogue.load(f"a2i/{name}").task_input()
    client = boto3.client("sagemaker-a2i-runtime", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_response(
            "start_human_loop",
            {"HumanLoopArn": "arn:aws:sagemaker:us-east-1:111122223333:human-loop/x"},
            {
                "HumanLoopName": ANY,
                "FlowDefinitionArn": FLOW_ARN,
                "HumanLoopInput": {"InputContent": canonical_json(expected)},
            },
        )
        # WHEN ReviewClient starts the loop
        outcome = ReviewClient(client).review(
            case["source"],
            case["response"],
            flow_definition_arn=FLOW_ARN,
            input=case["input"],
            policy=ReviewPolicy.from_dict(case["policy"]),
        )
        # THEN the InputContent it sent is exactly the template's fixture
        stubber.assert_no_pending_responses()
    assert outcome.status == "started"
    assert outcome.input_content == expected


# --------------------------------------------------------------------------------------------- answers

EXPECTED_GT: dict[str, Any] = {
    "text-classification": ClassAnswer("negative"),
    "text-multilabel": MultiLabelAnswer(("shipping", "packaging", "product quality")),
    "image-classification": ClassAnswer("car"),
    "image-multilabel": MultiLabelAnswer(("car", "tree", "sun")),
    "bounding-box-verification": ClassAnswer("bad", "The box misses the front of the car."),
    "free-text": FreeTextAnswer("A consolidation Lambda merges them into a single label."),
    "text-ranking": RankingAnswer({"helpfulness": (1, 2, 1), "accuracy": (2, 3, 1)}),
    "pairwise-preference": PairwiseAnswer(
        "A", 4, "A names the component and says what changed; B is vague.", display_order="ba"
    ),
}


@pytest.mark.parametrize("template", catalogue.all_templates("gt"), ids=lambda t: t.id)
def test_gt_answer_fixtures_parse_into_the_consolidation_types(template: catalogue.CatalogueTemplate) -> None:
    # WHEN
    parsed = template.parse_answer(template.answer())
    # THEN
    if template.name in EXPECTED_GT:
        assert parsed == EXPECTED_GT[template.name]
    elif template.name == "bounding-box":
        assert isinstance(parsed, BoxesAnswer)
        assert [(b.label, b.corners) for b in parsed.boxes] == [
            ("car", (96, 204, 372, 328)),
            ("tree", (402, 108, 552, 300)),
        ]
        assert (parsed.image_width, parsed.image_height) == (640, 400)
    elif template.name == "ner":
        assert isinstance(parsed, EntitiesAnswer)
        text = template.task_input()["taskObject"]
        # offsets are Unicode code points (Python string indices), end exclusive
        assert [(s.label, text[s.start : s.end]) for s in parsed.entities] == [
            ("person", "Zoë Schmidt"),
            ("location", "Berlin"),
            ("location", "Lisbon"),
            ("date", "3 May"),
            ("organization", "Acme Corp."),
        ]
        assert parsed.entities[1] == Span("location", 24, 30)
    else:  # pragma: no cover - a new template needs an expectation here
        pytest.fail(f"no expectation for {template.id}")


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("comprehend-sentiment-review", lambda r: (r.human_label, r.agreement) == ("MIXED", False)),
        ("comprehend-classification-review", lambda r: (r.human_label, r.agreement) == ("billing", True)),
        (
            "endpoint-prediction-review",
            lambda r: (r.human_label, r.model_label, r.agreement) == ("car", "truck", False),
        ),
        ("rekognition-moderation-review", lambda r: r.human_labels == ("Alcohol", "Alcoholic Beverages")),
        (
            "comprehend-entities-review",
            lambda r: [(p.label, p.value) for p in r.human_predictions or ()][1] == ("ORGANIZATION", "Acme Robotics"),
        ),
        (
            "textract-forms-review",
            lambda r: (
                {p.key: p.value for p in r.human_predictions or ()}
                == {"Pay Date:": "2024-03-31", "Net Pay:": "$2,450.00"}
            ),
        ),
        (
            "textract-queries-review",
            lambda r: {p.key: p.value for p in r.human_predictions or ()}["NET_PAY"] == "$2,450.00",
        ),
    ],
)
def test_a2i_answer_fixtures_become_review_results(name: str, check: Any) -> None:
    # GIVEN the template's input and its documented answer, as one reviewer of a completed loop
    template = catalogue.load(f"a2i/{name}")
    # WHEN the review area's result parser reads them
    result = template.parse_answer(template.answer())
    # THEN the reviewer's judgement is what the answer says
    assert result.status == "Completed" and len(result.answers) == 1
    assert check(result), result.to_dict()
    assert result.to_manifest_line("reviewed")  # usable as retraining data


def test_sentiment_review_comment_reaches_the_result() -> None:
    template = catalogue.load("a2i/comprehend-sentiment-review")
    assert template.parse_answer(template.answer()).answers[0].comment == "Disappointment and praise in one sentence."
