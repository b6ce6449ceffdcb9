"""Adapters: a service response in, a list of :class:`~truthloop.review.types.Prediction` out.

    >>> from truthloop.review.adapters import from_response
    >>> response = {"Sentiment": "POSITIVE", "SentimentScore": {"Positive": 0.58, "Negative": 0.02,
    ...             "Neutral": 0.38, "Mixed": 0.02}}
    >>> [(p.label, p.confidence) for p in from_response("comprehend:detect_sentiment", response)]
    [('POSITIVE', 0.58)]

One module per service. Confidences are normalised to 0..1 (Rekognition and Textract report 0–100). A malformed
response raises :class:`~truthloop.exceptions.AdapterError` whose ``path`` names the bad field.
"""

from __future__ import annotations

import inspect
from functools import cache
from typing import Any

from truthloop.exceptions import AdapterError
from truthloop.review.adapters import comprehend, endpoint, rekognition, textract
from truthloop.review.adapters._common import Adapted, AdapterFn, strip_metadata
from truthloop.review.types import SOURCES, Prediction

__all__ = ["ADAPTERS", "SOURCE_ALIASES", "Adapted", "adapt", "canonical_source", "from_response"]

#: source id → adapter function.
ADAPTERS: dict[str, AdapterFn] = {
    "rekognition:detect_moderation_labels": rekognition.detect_moderation_labels,
    "rekognition:detect_labels": rekognition.detect_labels,
    "textract:analyze_document": textract.analyze_document,
    "comprehend:detect_sentiment": comprehend.detect_sentiment,
    "comprehend:classify_document": comprehend.classify_document,
    "comprehend:detect_entities": comprehend.detect_entities,
    "sagemaker:invoke_endpoint": endpoint.invoke_endpoint,
}
assert tuple(ADAPTERS) == SOURCES

#: Other spellings accepted for a source: A2I's built-in request sources.
SOURCE_ALIASES: dict[str, str] = {
    "AWS/Rekognition/DetectModerationLabels/Image/V3": "rekognition:detect_moderation_labels",
    "AWS/Textract/AnalyzeDocument/Forms/V1": "textract:analyze_document",
}


def canonical_source(source: str) -> str:
    """The truthloop source id for ``source`` (an id or an A2I built-in source); raises for unknown sources."""
    if source in ADAPTERS:
        return source
    alias = SOURCE_ALIASES.get(source)
    if alias is not None:
        return alias
    raise AdapterError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}", "$")


def adapt(source: str, response: Any, **options: Any) -> Adapted:
    """Predictions plus the candidate labels the source defines. ``options`` go to the source's adapter
    (``class_names``, ``extractor``, ``multi_label`` for endpoints; ``multi_label_threshold`` for Comprehend)."""
    canonical = canonical_source(source)
    if options:
        unknown = sorted(set(options) - _option_names(canonical))
        if unknown:
            allowed = ", ".join(sorted(_option_names(canonical))) or "none"
            raise AdapterError(f"{canonical} takes no option {', '.join(unknown)} (options: {allowed})", "$")
    return ADAPTERS[canonical](strip_metadata(response), **options)


@cache
def _option_names(source: str) -> frozenset[str]:
    parameters = inspect.signature(ADAPTERS[source]).parameters.values()
    return frozenset(p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY)


def from_response(source: str, response: Any, **options: Any) -> list[Prediction]:
    """The predictions in ``response`` of ``source`` (one of :data:`~truthloop.review.types.SOURCES`)."""
    return list(adapt(source, response, **options).predictions)
