"""Comprehend adapters: ``DetectSentiment``, ``ClassifyDocument`` and ``DetectEntities`` (scores already 0..1)."""

from __future__ import annotations

from typing import Any

from truthloop.contracts.services import ClassifyDocumentResponse, DetectEntitiesResponse, DetectSentimentResponse
from truthloop.review.adapters._common import Adapted, as_contract, fail
from truthloop.review.types import Prediction

__all__ = ["ENTITY_TYPES", "SENTIMENTS", "classify_document", "detect_entities", "detect_sentiment"]

SENTIMENT = "comprehend:detect_sentiment"
CLASSIFY = "comprehend:classify_document"
ENTITIES = "comprehend:detect_entities"

SENTIMENTS = ("POSITIVE", "NEGATIVE", "NEUTRAL", "MIXED")
#: The built-in entity types of DetectEntities (custom recognisers add their own).
ENTITY_TYPES = (
    "PERSON",
    "LOCATION",
    "ORGANIZATION",
    "COMMERCIAL_ITEM",
    "EVENT",
    "DATE",
    "QUANTITY",
    "TITLE",
    "OTHER",
)


def detect_sentiment(response: Any) -> Adapted:
    """One ``label`` prediction: the reported sentiment with its own score; every score is kept in ``scores``."""
    with as_contract(SENTIMENT):
        parsed = DetectSentimentResponse.parse(response)
    score_key = parsed.sentiment.title()
    if score_key not in parsed.scores:
        raise fail(f"SentimentScore has no score for the reported sentiment {parsed.sentiment}", "$.SentimentScore")
    scores = {name.upper(): value for name, value in parsed.scores.items()}
    prediction = Prediction(
        kind="label", label=parsed.sentiment, confidence=parsed.scores[score_key], scores=scores, raw=parsed
    )
    return Adapted(SENTIMENT, (prediction,), SENTIMENTS)


def classify_document(response: Any, *, multi_label_threshold: float = 0.5) -> Adapted:
    """Multi-class ``Classes``: one prediction, the best class. Multi-label ``Labels``: one per label scoring at
    least ``multi_label_threshold`` (the labels the model asserts). Every name is a candidate."""
    if not 0.0 <= multi_label_threshold <= 1.0:
        raise ValueError(f"multi_label_threshold must be within 0..1, got {multi_label_threshold}")
    with as_contract(CLASSIFY):
        parsed = ClassifyDocumentResponse.parse(response)
    items = parsed.labels if parsed.multi_label else parsed.classes
    candidates = tuple(dict.fromkeys(item.name for item in items))
    scores = {item.name: item.score for item in items}

    def make(item: Any) -> Prediction:
        locator = {} if item.page is None else {"page": item.page}
        return Prediction(
            kind="label", label=item.name, confidence=item.score, locator=locator, scores=scores, raw=item
        )

    if parsed.multi_label:
        predictions = tuple(make(item) for item in items if item.score >= multi_label_threshold)
    elif items:
        predictions = (make(max(items, key=lambda item: item.score)),)
    else:
        predictions = ()
    return Adapted(CLASSIFY, predictions, candidates)


def detect_entities(response: Any) -> Adapted:
    """One ``entity`` prediction per entity: ``label`` = type, ``value`` = text, ``locator`` = offsets."""
    with as_contract(ENTITIES):
        parsed = DetectEntitiesResponse.parse(response)
    predictions = []
    for entity in parsed.entities:
        locator: dict[str, Any] = {}
        if entity.begin_offset is not None:
            locator["beginOffset"] = entity.begin_offset
        if entity.end_offset is not None:
            locator["endOffset"] = entity.end_offset
        predictions.append(
            Prediction(
                kind="entity",
                label=entity.type,
                value=entity.text,
                confidence=entity.score,
                locator=locator,
                raw=entity,
            )
        )
    candidates = tuple(dict.fromkeys([*ENTITY_TYPES, *(p.label or "" for p in predictions)]))
    return Adapted(ENTITIES, tuple(predictions), candidates)
