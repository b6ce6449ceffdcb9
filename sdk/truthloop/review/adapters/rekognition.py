"""Rekognition adapters: ``DetectModerationLabels`` and ``DetectLabels`` (confidences 0–100 → 0..1)."""

from __future__ import annotations

from typing import Any

from truthloop.contracts.services import DetectLabelsResponse, DetectModerationLabelsResponse
from truthloop.review.adapters._common import Adapted, as_contract
from truthloop.review.types import Prediction

__all__ = ["detect_labels", "detect_moderation_labels"]

MODERATION = "rekognition:detect_moderation_labels"
LABELS = "rekognition:detect_labels"


def detect_moderation_labels(response: Any) -> Adapted:
    """One ``label`` prediction per moderation label; ``locator`` keeps the parent and the taxonomy level."""
    with as_contract(MODERATION):
        parsed = DetectModerationLabelsResponse.parse(response)
    predictions = []
    for item in parsed.moderation_labels:
        locator: dict[str, Any] = {"parentName": item.parent_name}
        if item.taxonomy_level is not None:
            locator["taxonomyLevel"] = item.taxonomy_level
        predictions.append(
            Prediction(kind="label", label=item.name, confidence=item.confidence / 100.0, locator=locator, raw=item)
        )
    return Adapted(MODERATION, tuple(predictions))


def detect_labels(response: Any) -> Adapted:
    """One ``label`` prediction per detected label; ``locator.instances`` holds its boxes (ratios) if any."""
    with as_contract(LABELS):
        parsed = DetectLabelsResponse.parse(response)
    predictions = []
    for item in parsed.labels:
        locator: dict[str, Any] = {}
        if item.instances:
            locator["instances"] = [
                {"boundingBox": dict(inst.bounding_box), "confidence": inst.confidence / 100.0}
                for inst in item.instances
            ]
        if item.parents:
            locator["parents"] = list(item.parents)
        predictions.append(
            Prediction(kind="label", label=item.name, confidence=item.confidence / 100.0, locator=locator, raw=item)
        )
    return Adapted(LABELS, tuple(predictions))
