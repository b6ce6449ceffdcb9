"""Comprehend adapters: ``DetectSentiment``, ``ClassifyDocument`` and ``DetectEntities`` (scores already 0..1)."""

from __future__ import annotations

from typing import Any

from truthloop.contracts.services import (
    ClassifyDocumentResponse,
    DetectEntitiesResponse,
    DetectSentimentResponse,
    DocumentClass,
)
from truthloop.exceptions import ConfigurationError
from truthloop.review.adapters._common import Adapted, as_contract, fail, is_number
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


def _fast_sentiment(response: Any) -> Adapted | None:
    if type(response) is not dict:
        return None
    sentiment, scores = response.get("Sentiment"), response.get("SentimentScore")
    if sentiment not in SENTIMENTS or type(scores) is not dict or not scores:
        return None
    upper = {}
    for name, value in scores.items():
        key = _SCORE_NAMES.get(name)
        if key is None or not is_number(value, 1.0):
            return None
        upper[key] = float(value) if type(value) is int else value
    confidence = upper.get(sentiment)
    if confidence is None:
        return None
    return Adapted(
        SENTIMENT,
        (Prediction(kind="label", label=sentiment, confidence=confidence, scores=upper, raw=response),),
        SENTIMENTS,
    )


_SCORE_NAMES = {"Positive": "POSITIVE", "Negative": "NEGATIVE", "Neutral": "NEUTRAL", "Mixed": "MIXED"}


def detect_sentiment(response: Any) -> Adapted:
    """One ``label`` prediction: the reported sentiment with its own score; every score is kept in ``scores``."""
    fast = _fast_sentiment(response)
    if fast is not None:
        return fast
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


def _fast_classes(response: Any) -> tuple[bool, list[DocumentClass]] | None:
    if type(response) is not dict:
        return None
    classes, labels = response.get("Classes"), response.get("Labels")
    if classes is not None and labels is not None:
        return None
    items = classes if classes is not None else labels
    if type(items) is not list:
        return None
    out = []
    for item in items:
        if type(item) is not dict:
            return None
        name, score, page = item.get("Name"), item.get("Score"), item.get("Page")
        if type(name) is not str or not is_number(score, 1.0) or (page is not None and type(page) is not int):
            return None
        out.append(DocumentClass(name=name, score=float(score), page=page))
    return classes is None, out


def classify_document(response: Any, *, multi_label_threshold: float = 0.5) -> Adapted:
    """Multi-class ``Classes``: one prediction, the best class. Multi-label ``Labels``: one per label scoring at
    least ``multi_label_threshold`` (the labels the model asserts). Every name is a candidate."""
    if not 0.0 <= multi_label_threshold <= 1.0:
        raise ConfigurationError(f"multi_label_threshold must be within 0..1, got {multi_label_threshold}")
    fast = _fast_classes(response)
    if fast is not None:
        multi_label, items = fast
    else:
        with as_contract(CLASSIFY):
            parsed = ClassifyDocumentResponse.parse(response)
        multi_label, items = parsed.multi_label, list(parsed.labels if parsed.multi_label else parsed.classes)
    candidates = tuple(dict.fromkeys(item.name for item in items))
    scores = {item.name: item.score for item in items}

    def make(item: Any) -> Prediction:
        locator = {} if item.page is None else {"page": item.page}
        return Prediction(
            kind="label", label=item.name, confidence=item.score, locator=locator, scores=scores, raw=item
        )

    if multi_label:
        predictions = tuple(make(item) for item in items if item.score >= multi_label_threshold)
    elif items:
        predictions = (make(max(items, key=lambda item: item.score)),)
    else:
        predictions = ()
    return Adapted(CLASSIFY, predictions, candidates)


def _fast_entities(response: Any) -> Adapted | None:
    items = response.get("Entities") if type(response) is dict else None
    if type(items) is not list:
        return None
    predictions = []
    for entity in items:
        if type(entity) is not dict:
            return None
        kind, text, score = entity.get("Type"), entity.get("Text"), entity.get("Score")
        begin, end = entity.get("BeginOffset"), entity.get("EndOffset")
        if type(kind) is not str or type(text) is not str or not is_number(score, 1.0):
            return None
        locator: dict[str, Any] = {}
        if begin is not None:
            if type(begin) is not int:
                return None
            locator["beginOffset"] = begin
        if end is not None:
            if type(end) is not int:
                return None
            locator["endOffset"] = end
        predictions.append(
            Prediction(kind="entity", label=kind, value=text, confidence=float(score), locator=locator, raw=entity)
        )
    candidates = tuple(dict.fromkeys([*ENTITY_TYPES, *(p.label or "" for p in predictions)]))
    return Adapted(ENTITIES, tuple(predictions), candidates)


def detect_entities(response: Any) -> Adapted:
    """One ``entity`` prediction per entity: ``label`` = type, ``value`` = text, ``locator`` = offsets."""
    fast = _fast_entities(response)
    if fast is not None:
        return fast
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
