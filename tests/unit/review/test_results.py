"""ReviewResult: reading reviewers' answers against the model, and writing GT augmented-manifest lines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from truthloop.contracts import HumanLoopOutput, OutputManifestLine
from truthloop.exceptions import ReviewError
from truthloop.review import ReviewPolicy, review_result_from_output
from truthloop.review.adapters import adapt
from truthloop.review.content import build_input_content

from .conftest import load_fixture

FLOW = "arn:aws:sagemaker:us-east-1:111122223333:flow-definition/review-fd"
CONTRACT_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "contracts"


def content_for(source: str, name: str, input_value: Any, threshold: float = 0.99) -> dict[str, Any]:
    response = load_fixture(name)
    adapted = adapt(source, response)
    decision = ReviewPolicy.threshold(threshold).decide(adapted.predictions)
    return build_input_content(source, decision, input=input_value, candidates=adapted.candidates, response=response)


def output(content: dict[str, Any], *answers: dict[str, Any], name: str = "loop-1") -> HumanLoopOutput:
    human = [
        {
            "answerContent": a,
            "workerId": f"w{i}",
            "submissionTime": f"2024-05-0{i + 1}T10:00:00.000Z",
            "acceptanceTime": f"2024-05-0{i + 1}T09:59:00.000Z",
            "timeSpentInSeconds": 60.0,
        }
        for i, a in enumerate(answers)
    ]
    return HumanLoopOutput.parse(
        {"flowDefinitionArn": FLOW, "humanLoopName": name, "inputContent": content, "humanAnswers": human}
    )


SENTIMENT = ("comprehend:detect_sentiment", "comprehend_sentiment.json", {"text": "I love it"})


def test_a_correct_verdict_agrees_with_the_model_and_becomes_a_classification_line() -> None:
    # GIVEN
    content = content_for(*SENTIMENT)
    # WHEN
    result = review_result_from_output(output(content, {"verdict": {"label": "correct"}}))
    line = result.to_manifest_line("sentiment")
    # THEN
    assert (result.model_label, result.human_label, result.agreement) == ("POSITIVE", "POSITIVE", True)
    assert result.worker_ids == ("w0",) and result.time_spent_seconds == 60.0
    parsed = OutputManifestLine.parse(line)
    label = parsed.label("sentiment")
    assert parsed.source == "I love it"
    assert label.class_ids() == [0]
    assert label.metadata is not None
    assert label.metadata.type == "groundtruth/text-classification"
    assert label.metadata.class_name == "POSITIVE" and label.metadata.human_annotated is True
    assert label.metadata.extra["model-label"] == "POSITIVE" and label.metadata.extra["agreement"] is True
    assert label.metadata.job_name == "review-fd"


def test_an_incorrect_verdict_with_a_correction_disagrees() -> None:
    # GIVEN
    content = content_for(*SENTIMENT)
    answer = {"verdict": {"label": "incorrect"}, "correction": {"label": "MIXED"}, "comment": "sarcasm"}
    # WHEN
    result = review_result_from_output(output(content, answer))
    # THEN
    assert (result.human_label, result.agreement, result.agreement_rate) == ("MIXED", False, 0.0)
    assert result.answers[0].comment == "sarcasm"
    assert OutputManifestLine.parse(result.to_manifest_line("s")).label("s").class_ids() == [3]


def test_an_incorrect_verdict_without_a_correction_has_no_manifest_line() -> None:
    # WHEN
    result = review_result_from_output(output(content_for(*SENTIMENT), {"verdict": {"label": "incorrect"}}))
    # THEN
    assert result.human_label is None
    assert "no usable label" in (result.manifest_problem() or "")
    with pytest.raises(ReviewError, match="has no manifest line"):
        result.to_manifest_line("s")


def test_several_reviewers_are_consolidated_by_majority() -> None:
    # GIVEN three reviewers, two of whom correct the model
    content = content_for(*SENTIMENT)
    answers = [
        {"verdict": {"label": "incorrect"}, "correction": {"label": "NEUTRAL"}},
        {"verdict": {"label": "correct"}},
        {"verdict": {"label": "incorrect"}, "correction": {"label": "NEUTRAL"}},
    ]
    # WHEN
    result = review_result_from_output(output(content, *answers))
    # THEN
    assert result.human_label == "NEUTRAL" and result.agreement is False
    assert result.agreement_rate == pytest.approx(1 / 3)
    assert result.label_confidence == pytest.approx(2 / 3)
    assert result.completed_at is not None and result.completed_at.day == 3


def test_a_generic_classifier_answer_is_read_by_shape() -> None:
    # GIVEN an answer from a crowd-classifier named anything
    content = content_for(*SENTIMENT)
    # WHEN
    result = review_result_from_output(output(content, {"my-classifier": {"label": "NEGATIVE"}}))
    # THEN
    assert (result.human_label, result.agreement) == ("NEGATIVE", False)


@pytest.mark.parametrize(
    ("input_order", "answers", "expected"),
    [
        ("ba", [{"preference": {"label": "A"}}, {"p": {"label": "A"}, "strength": 3}], "responseB"),
        ("ab", [{"preference": {"label": "A"}}, {"p": {"label": "A"}}], "responseA"),
        (None, [{"preference": {"label": "B"}, "displayOrder": "ba"}], "responseA"),
        (None, [{"preference": {"label": "A"}}], None),  # no order anywhere: not guessed
    ],
    ids=["input-ba", "input-ab", "echoed", "unknown"],
)
def test_a_pairwise_review_maps_the_displayed_position_back(
    input_order: str | None, answers: list[dict[str, Any]], expected: str | None
) -> None:
    # GIVEN a pairwise loop whose input says (or does not say) which response was shown first
    pair: dict[str, Any] = {"prompt": "Which?", "responseA": "long", "responseB": "short"}
    if input_order is not None:
        pair["displayOrder"] = input_order
    content = {"source": "pairwise", "input": pair, "predictions": []}
    # WHEN
    result = review_result_from_output(output(content, *answers))
    # THEN the human label names the input response, read by the shared parser
    assert result.human_label == expected
    assert [a.label for a in result.answers] == [expected] * len(answers)


def test_the_builtin_rekognition_output_becomes_a_multilabel_image_line() -> None:
    # GIVEN A2I's own output.json of a built-in moderation loop
    data = json.loads((CONTRACT_FIXTURES / "a2i.output" / "builtin_rekognition.json").read_text())
    # WHEN
    result = review_result_from_output(HumanLoopOutput.parse(data))
    line = result.to_manifest_line("moderation")
    # THEN
    assert result.source == "rekognition:detect_moderation_labels"
    assert result.human_labels == ("Suggestive",) and result.agreement is True
    parsed = OutputManifestLine.parse(line)
    assert parsed.source_ref == "s3://images/a.jpg"
    metadata = parsed.label("moderation").metadata
    assert metadata is not None and metadata.type == "groundtruth/image-classification-multilabel"
    assert metadata.class_map == {"0": "Suggestive"}


def test_moderation_reviewers_who_drop_a_label_disagree() -> None:
    # GIVEN a truthloop moderation loop with three labels; the reviewer keeps only Alcohol
    content = content_for(
        "rekognition:detect_moderation_labels", "rekognition_moderation.json", {"s3Uri": "s3://i/a.jpg"}
    )
    answer = {
        "AWS/Rekognition/DetectModerationLabels/Image/V3": {"moderationLabels": [{"name": "Alcohol", "parentName": ""}]}
    }
    # WHEN
    result = review_result_from_output(output(content, answer))
    # THEN
    assert result.human_labels == ("Alcohol",) and result.agreement is False
    line = OutputManifestLine.parse(result.to_manifest_line("mod"))
    assert line.label("mod").class_ids() == [2]


def test_textract_reviews_compare_form_fields() -> None:
    # GIVEN a Textract review answered by the built-in element, fixing the Pay Date value
    content = content_for("textract:analyze_document", "textract_forms_multipage.json", {"s3Uri": "s3://d/slip.pdf"})
    blocks = json.loads(json.dumps(content["aiServiceResponse"]["blocks"]))
    for block in blocks:
        if block["id"] == "w3":
            block["text"] = "2024-02-01"
    answer = {"AWS/Textract/AnalyzeDocument/Forms/V1": {"blocks": blocks}}
    # WHEN
    result = review_result_from_output(output(content, answer))
    line = OutputManifestLine.parse(result.to_manifest_line("fields"))
    # THEN
    assert result.agreement is False
    fixed = {p.key: p.value for p in result.human_predictions or ()}
    assert fixed["Pay Date:"] == "2024-02-01"
    assert line.source_ref == "s3://d/slip.pdf"
    metadata = line.label("fields").metadata
    assert metadata is not None and metadata.type == "groundTruth/custom"


def test_entity_corrections_become_a_text_span_line() -> None:
    # GIVEN an entity review whose reviewer fixes the ORGANIZATION type
    content = content_for(
        "comprehend:detect_entities", "comprehend_entities.json", {"text": "Jane Doe works at Acme in Paris"}
    )
    fixes = [{"kind": "entity", "label": "LOCATION", "value": "Acme", "locator": {"beginOffset": 18, "endOffset": 22}}]
    # WHEN
    result = review_result_from_output(output(content, {"corrections": json.dumps(fixes)}))
    line = OutputManifestLine.parse(result.to_manifest_line("ner"))
    # THEN
    assert result.agreement is False
    assert [p.label for p in result.human_predictions or ()] == ["PERSON", "LOCATION", "LOCATION"]
    value = line.label("ner").value
    assert value["annotations"]["entities"][1] == {"label": "LOCATION", "startOffset": 18, "endOffset": 22}
    metadata = line.label("ner").metadata
    assert metadata is not None and metadata.type == "groundtruth/text-span"


def test_an_empty_correction_list_agrees() -> None:
    # WHEN
    content = content_for("comprehend:detect_entities", "comprehend_entities.json", {"text": "x"})
    result = review_result_from_output(output(content, {"corrections": "[]"}))
    # THEN
    assert result.agreement is True


def test_results_serialise_to_json() -> None:
    # WHEN
    result = review_result_from_output(output(content_for(*SENTIMENT), {"verdict": {"label": "correct"}}))
    record = json.loads(json.dumps(result.to_dict()))
    # THEN
    assert record["humanLabel"] == "POSITIVE" and record["workerIds"] == ["w0"]
    assert record["answers"][0]["submissionTime"] == "2024-05-01T10:00:00.000Z"
    assert record["predictions"][0]["flagged"] is True


TEMPLATES = Path(__file__).resolve().parents[3] / "templates" / "a2i"
TEMPLATE_ANSWERS = sorted(TEMPLATES.glob("*.answer.json"))


@pytest.mark.parametrize("answer_path", TEMPLATE_ANSWERS, ids=[p.name for p in TEMPLATE_ANSWERS])
def test_every_a2i_template_fixture_becomes_a_result_and_a_manifest_line(answer_path: Path) -> None:
    # GIVEN a review template's sample input (our InputContent) and the answer its form submits
    content = json.loads(answer_path.with_name(answer_path.name.replace(".answer.", ".input.")).read_text())
    answer = json.loads(answer_path.read_text())
    # WHEN
    result = review_result_from_output(output(content, answer))
    # THEN the answer is understood, compared with the model, and written as a valid manifest line
    assert result.manifest_problem() is None
    assert result.agreement is not None
    OutputManifestLine.parse(result.to_manifest_line("reviewed"))


def test_textract_element_blocks_without_confidences_or_words_are_read() -> None:
    # GIVEN the element's output shape: KEY/VALUE blocks with text, no confidence, child words left out
    content = content_for("textract:analyze_document", "textract_forms_multipage.json", {"s3Uri": "s3://d/slip.pdf"})
    blocks = [
        {
            "blockType": "KEY_VALUE_SET",
            "id": "k1",
            "entityTypes": ["KEY"],
            "text": "Pay Date:",
            "relationships": [{"type": "VALUE", "ids": ["v1"]}, {"type": "CHILD", "ids": ["w1", "w2"]}],
        },
        {
            "blockType": "KEY_VALUE_SET",
            "id": "v1",
            "entityTypes": ["VALUE"],
            "text": "2024-01-31",
            "relationships": [{"type": "CHILD", "ids": ["w3"]}],
        },
    ]
    # WHEN
    result = review_result_from_output(output(content, {"AWS/Textract/AnalyzeDocument/Forms/V1": {"blocks": blocks}}))
    # THEN the reviewed field is read (and the reviewer kept only one of the model's four fields)
    assert [(p.key, p.value) for p in result.human_predictions or ()] == [("Pay Date:", "2024-01-31")]
    assert result.agreement is False
