"""Adapters turn every documented response shape into predictions with 0..1 confidences, or fail with a path."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from truthloop.exceptions import AdapterError, ContractError
from truthloop.review.adapters import adapt, from_response
from truthloop.review.adapters.textract import missing_keys
from truthloop.review.types import SOURCES, Prediction

from .conftest import load_fixture

CONTRACT_FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "contracts"


def _summary(predictions: list[Prediction]) -> list[tuple[Any, ...]]:
    return [
        (p.kind, p.label, p.key, p.value, round(p.confidence, 4) if p.confidence is not None else None)
        for p in predictions
    ]


CASES = [
    (
        "rekognition:detect_moderation_labels",
        "rekognition_moderation.json",
        [
            ("label", "Suggestive", None, None, 0.625),
            ("label", "Revealing Clothes", None, None, 0.625),
            ("label", "Alcohol", None, None, 0.971),
        ],
    ),
    ("rekognition:detect_moderation_labels", "rekognition_moderation_empty.json", []),
    (
        "rekognition:detect_labels",
        "rekognition_labels.json",
        [("label", "Dog", None, None, 0.986), ("label", "Frisbee", None, None, 0.612)],
    ),
    (
        "textract:analyze_document",
        "textract_forms_multipage.json",
        [
            ("form_field", None, "Pay Date:", "2024-01-31", 0.61),
            ("form_field", None, "Employee", "Jane Doe", 0.96),
            ("form_field", None, "Direct deposit", "SELECTED", 0.91),
            ("form_field", None, "Gross Pay", None, 0.40),
        ],
    ),
    (
        "textract:analyze_document",
        "textract_queries.json",
        [
            ("query_answer", None, "TOTAL", "$1,024.00", 0.87),
            ("query_answer", None, "What is the due date?", None, 0.0),
        ],
    ),
    ("textract:analyze_document", "textract_empty.json", []),
    ("comprehend:detect_sentiment", "comprehend_sentiment.json", [("label", "POSITIVE", None, None, 0.58)]),
    ("comprehend:classify_document", "comprehend_classify_multiclass.json", [("label", "billing", None, None, 0.81)]),
    (
        "comprehend:classify_document",
        "comprehend_classify_multilabel.json",
        [("label", "urgent", None, None, 0.93), ("label", "refund", None, None, 0.55)],
    ),
    (
        "comprehend:detect_entities",
        "comprehend_entities.json",
        [
            ("entity", "PERSON", None, "Jane Doe", 0.998),
            ("entity", "ORGANIZATION", None, "Acme", 0.52),
            ("entity", "LOCATION", None, "Paris", 0.97),
        ],
    ),
    ("comprehend:detect_entities", "comprehend_entities_empty.json", []),
    ("sagemaker:invoke_endpoint", "endpoint_label_score.json", [("label", "cat", None, None, 0.62)]),
    (
        "sagemaker:invoke_endpoint",
        "endpoint_predictions.json",
        [("label", "fraud", None, None, 0.91), ("label", "fraud", None, None, 0.55)],
    ),
    ("sagemaker:invoke_endpoint", "endpoint_vector.json", [("label", "cat", None, None, 0.7)]),
    ("sagemaker:invoke_endpoint", "endpoint_bare_vector.json", [("label", "1", None, None, 0.95)]),
]


@pytest.mark.parametrize(("source", "name", "expected"), CASES, ids=[f"{s}:{n}" for s, n, _ in CASES])
def test_every_response_shape_adapts_to_normalised_predictions(source: str, name: str, expected: list[Any]) -> None:
    # GIVEN a documented response shape
    response = load_fixture(name)
    # WHEN
    predictions = from_response(source, response)
    # THEN
    assert _summary(predictions) == expected
    assert all(p.confidence is None or 0.0 <= p.confidence <= 1.0 for p in predictions)


@pytest.mark.parametrize(
    ("source", "path"),
    [
        ("rekognition:detect_moderation_labels", "service.rekognition.detect_moderation_labels/api.json"),
        ("rekognition:detect_moderation_labels", "service.rekognition.detect_moderation_labels/a2i_camelcase.json"),
        ("rekognition:detect_labels", "service.rekognition.detect_labels/api.json"),
        ("textract:analyze_document", "service.textract.analyze_document/forms.json"),
        ("textract:analyze_document", "service.textract.analyze_document/queries.json"),
        ("comprehend:detect_sentiment", "service.comprehend.detect_sentiment/api.json"),
        ("comprehend:classify_document", "service.comprehend.classify_document/multi_class.json"),
        ("comprehend:classify_document", "service.comprehend.classify_document/multi_label.json"),
        ("comprehend:detect_entities", "service.comprehend.detect_entities/api.json"),
    ],
)
def test_the_shared_contract_fixtures_adapt(source: str, path: str) -> None:
    # GIVEN the foundation's service fixtures (API PascalCase and A2I camelCase)
    response = json.loads((CONTRACT_FIXTURES / path).read_text())
    # WHEN
    predictions = from_response(source, response)
    # THEN
    assert predictions
    assert all(p.confidence is not None and 0.0 <= p.confidence <= 1.0 for p in predictions)


def test_textract_form_fields_carry_locators_and_separate_confidences() -> None:
    # GIVEN a two-page FORMS response
    response = load_fixture("textract_forms_multipage.json")
    # WHEN
    pay_date, _employee, deposit, gross = from_response("textract:analyze_document", response)
    # THEN key, value and word confidences are kept apart, and the locator names page and blocks
    assert pay_date.locator == {"page": 1, "keyBlockId": "k1", "valueBlockId": "v1"}
    assert pay_date.scores == {"key": 0.88, "value": 0.61, "words": 0.715}
    assert deposit.locator["page"] == 2
    assert deposit.value == "SELECTED"
    assert gross.value is None and gross.locator["valueBlockId"] == "v4"


def test_paginated_textract_responses_equal_one_merged_response() -> None:
    # GIVEN the same blocks split over two GetDocumentAnalysis pages
    response = load_fixture("textract_forms_multipage.json")
    split = next(i for i, b in enumerate(response["Blocks"]) if b["Id"] == "page-2")
    pages = [
        {"Blocks": response["Blocks"][:split], "DocumentMetadata": {"Pages": 2}, "NextToken": "t"},
        {"Blocks": response["Blocks"][split:], "DocumentMetadata": {"Pages": 2}},
    ]
    # WHEN / THEN
    assert from_response("textract:analyze_document", pages) == from_response("textract:analyze_document", response)


def test_missing_required_keys_are_detected_through_aliases() -> None:
    # GIVEN form fields with "Pay Date:" present
    fields = from_response("textract:analyze_document", load_fixture("textract_forms_multipage.json"))
    # WHEN
    missing = missing_keys(fields, {"pay date": [], "Net Pay": ["NetPay"], "Employee Name": ["Employee"]})
    # THEN only Net Pay is missing (case, whitespace and trailing colons are ignored; aliases count)
    assert [(p.kind, p.key, p.confidence) for p in missing] == [("missing_key", "Net Pay", None)]


def test_comprehend_candidates_and_scores() -> None:
    # WHEN
    sentiment = adapt("comprehend:detect_sentiment", load_fixture("comprehend_sentiment.json"))
    classes = adapt("comprehend:classify_document", load_fixture("comprehend_classify_multiclass.json"))
    entities = adapt("comprehend:detect_entities", load_fixture("comprehend_entities.json"))
    # THEN
    assert sentiment.candidates == ("POSITIVE", "NEGATIVE", "NEUTRAL", "MIXED")
    assert sentiment.predictions[0].scores["NEUTRAL"] == 0.38
    assert classes.candidates == ("billing", "support", "sales")
    assert entities.predictions[1].locator == {"beginOffset": 18, "endOffset": 22}
    assert "PERSON" in entities.candidates


def test_multi_label_threshold_is_an_option() -> None:
    # WHEN a stricter multi-label threshold is used
    predictions = from_response(
        "comprehend:classify_document", load_fixture("comprehend_classify_multilabel.json"), multi_label_threshold=0.9
    )
    # THEN
    assert [p.label for p in predictions] == ["urgent"]


@pytest.mark.parametrize(
    ("response", "options", "expected"),
    [
        ({"Body": io.BytesIO(b'[{"label": "cat", "score": 0.9}]')}, {}, [("cat", 0.9)]),
        (b'{"label": "spam", "confidence": 0.3}', {}, [("spam", 0.3)]),
        ([0.2, 0.8], {"class_names": ["neg", "pos"]}, [("pos", 0.8)]),
        ([[{"label": "a", "score": 0.6}, {"label": "b", "score": 0.4}]], {}, [("a", 0.6)]),
        ({"predictions": [[0.9, 0.1], [0.3, 0.7]]}, {"class_names": ["x", "y"]}, [("x", 0.9), ("y", 0.7)]),
        ({"scores": [0.4, 0.6], "classes": ["no", "yes"]}, {}, [("yes", 0.6)]),
        ([{"label": "a", "score": 0.7}, {"label": "b", "score": 0.6}], {"multi_label": True}, [("a", 0.7), ("b", 0.6)]),
        ({"label": "hot", "score": 87}, {"score_scale": 100}, [("hot", 0.87)]),
    ],
)
def test_endpoint_bodies_in_common_shapes(response: Any, options: dict[str, Any], expected: list[Any]) -> None:
    # WHEN
    predictions = from_response("sagemaker:invoke_endpoint", response, **options)
    # THEN
    assert [(p.label, round(p.confidence or 0, 4)) for p in predictions] == expected


def test_endpoint_batches_carry_their_index() -> None:
    # WHEN
    predictions = from_response("sagemaker:invoke_endpoint", load_fixture("endpoint_predictions.json"))
    # THEN
    assert [p.locator for p in predictions] == [{"index": 0}, {"index": 1}]


def test_an_extractor_reads_any_other_body() -> None:
    # GIVEN a CSV body (XGBoost) that no shape rule understands
    def extract(body: Any) -> list[tuple[str, float]]:
        probability = float(body)
        return [("fraud" if probability >= 0.5 else "ok", max(probability, 1 - probability))]

    # WHEN
    predictions = from_response("sagemaker:invoke_endpoint", {"Body": io.BytesIO(b"0.87")}, extractor=extract)
    # THEN
    assert [(p.label, p.confidence) for p in predictions] == [("fraud", 0.87)]


MALFORMED = [
    (
        "rekognition:detect_moderation_labels",
        {"ModerationLabels": [{"Name": "x", "Confidence": "high"}]},
        "$.ModerationLabels[0].Confidence",
    ),
    (
        "rekognition:detect_moderation_labels",
        {"ModerationLabels": [{"Name": "x", "Confidence": 150}]},
        "$.ModerationLabels[0].Confidence",
    ),
    ("rekognition:detect_moderation_labels", {"Labels": []}, "$.ModerationLabels"),
    (
        "textract:analyze_document",
        {
            "Blocks": [
                {
                    "BlockType": "KEY_VALUE_SET",
                    "Id": "k",
                    "Confidence": 90,
                    "EntityTypes": ["KEY"],
                    "Relationships": [{"Type": "VALUE", "Ids": ["nope"]}],
                }
            ]
        },
        "$.Blocks[0].Relationships[0].Ids[0]",
    ),
    (
        "textract:analyze_document",
        {
            "Blocks": [
                {"BlockType": "PAGE", "Id": "p"},
                {"BlockType": "KEY_VALUE_SET", "Id": "k", "EntityTypes": ["KEY"]},
            ]
        },
        "$.Blocks[1].Confidence",
    ),
    ("textract:analyze_document", [{"Blocks": []}, {"Pages": 2}], "$[1].Blocks"),
    ("comprehend:detect_sentiment", {"Sentiment": "POSITIVE"}, "$.SentimentScore"),
    ("comprehend:detect_sentiment", {"Sentiment": "POSITIVE", "SentimentScore": {"Negative": 0.9}}, "$.SentimentScore"),
    (
        "comprehend:detect_entities",
        {"Entities": [{"Type": "PERSON", "Text": "J", "Score": 1.5}]},
        "$.Entities[0].Score",
    ),
    ("comprehend:classify_document", {"Classes": [{"Name": "a"}]}, "$.Classes[0].Score"),
    ("sagemaker:invoke_endpoint", [{"label": "a", "score": 1.3}], "$[0].score"),
    ("sagemaker:invoke_endpoint", b"not json", "$.Body"),
    ("sagemaker:invoke_endpoint", {"probabilities": [0.5, 0.5], "labels": ["a"]}, "$.probabilities"),
    ("sagemaker:invoke_endpoint", [{"name": "a"}], "$[0]"),
    ("sagemaker:invoke_endpoint", {"predictions": "x"}, "$.predictions"),
    ("sagemaker:invoke_endpoint", 3.5, "$"),
]


@pytest.mark.parametrize(("source", "response", "path"), MALFORMED, ids=[f"{s}:{p}" for s, _, p in MALFORMED])
def test_malformed_responses_name_the_json_path(source: str, response: Any, path: str) -> None:
    # WHEN / THEN
    with pytest.raises(AdapterError) as info:
        from_response(source, response)
    assert info.value.path == path
    assert isinstance(info.value, ContractError)
    assert path in str(info.value)


def test_unknown_sources_and_options_are_clear_errors() -> None:
    # WHEN / THEN
    with pytest.raises(AdapterError, match="unknown source 'translate:x'"):
        from_response("translate:x", {})
    with pytest.raises(AdapterError, match="takes no option class_names"):
        from_response("comprehend:detect_sentiment", load_fixture("comprehend_sentiment.json"), class_names=["a"])


def test_builtin_a2i_source_names_are_accepted() -> None:
    # WHEN
    predictions = from_response(
        "AWS/Rekognition/DetectModerationLabels/Image/V3", load_fixture("rekognition_moderation.json")
    )
    # THEN
    assert len(predictions) == 3


def test_every_source_has_an_adapter_with_a_fixture() -> None:
    # THEN every documented source id appears in the cases above
    assert {source for source, _, _ in CASES} == set(SOURCES)


def test_boto3_response_metadata_is_ignored() -> None:
    # GIVEN
    response = {**load_fixture("comprehend_sentiment.json"), "ResponseMetadata": {"HTTPStatusCode": 200}}
    # WHEN / THEN
    assert _summary(from_response("comprehend:detect_sentiment", response)) == [("label", "POSITIVE", None, None, 0.58)]


FAST_PATHS = [
    ("truthloop.review.adapters.rekognition", "_fast_moderation"),
    ("truthloop.review.adapters.rekognition", "_fast_labels"),
    ("truthloop.review.adapters.textract", "_fast_blocks"),
    ("truthloop.review.adapters.comprehend", "_fast_sentiment"),
    ("truthloop.review.adapters.comprehend", "_fast_classes"),
    ("truthloop.review.adapters.comprehend", "_fast_entities"),
]


@pytest.mark.parametrize(("source", "name", "expected"), CASES, ids=[f"{s}:{n}" for s, n, _ in CASES])
def test_fast_paths_agree_with_the_contract_parsers(
    source: str, name: str, expected: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the adapters' fast paths (used for well-formed API responses)
    response = load_fixture(name)
    fast = adapt(source, response)
    # WHEN the contract-based parsers do the work instead
    import importlib

    for module, function in FAST_PATHS:
        monkeypatch.setattr(importlib.import_module(module), function, lambda *_args: None)
    slow = adapt(source, response)
    # THEN both give the same predictions, scores, locators and candidates
    assert fast == slow
    assert [(p.locator, p.scores) for p in fast.predictions] == [(p.locator, p.scores) for p in slow.predictions]


FAST_PATH_OF = {
    "rekognition:detect_moderation_labels": ("truthloop.review.adapters.rekognition", "_fast_moderation"),
    "rekognition:detect_labels": ("truthloop.review.adapters.rekognition", "_fast_labels"),
    "textract:analyze_document": ("truthloop.review.adapters.textract", "_fast_blocks"),
    "comprehend:detect_sentiment": ("truthloop.review.adapters.comprehend", "_fast_sentiment"),
    "comprehend:classify_document": ("truthloop.review.adapters.comprehend", "_fast_classes"),
    "comprehend:detect_entities": ("truthloop.review.adapters.comprehend", "_fast_entities"),
}
MALFORMED_WITH_FAST_PATH = [case for case in MALFORMED if case[0] in FAST_PATH_OF]


@pytest.mark.parametrize(
    ("source", "response", "path"), MALFORMED_WITH_FAST_PATH, ids=[f"{s}:{p}" for s, _, p in MALFORMED_WITH_FAST_PATH]
)
def test_fast_paths_decline_what_the_contract_parser_rejects(source: str, response: Any, path: str) -> None:
    # GIVEN the source's fast path
    import importlib

    module, function = FAST_PATH_OF[source]
    fast = getattr(importlib.import_module(module), function)
    # WHEN / THEN it declines (or, for Textract, leaves the dangling relationship to the shared resolver)
    result = fast(response if source != "textract:analyze_document" or isinstance(response, dict) else {})
    if source == "textract:analyze_document" and result is not None:
        with pytest.raises(AdapterError):
            from_response(source, response)
    else:
        assert result is None
