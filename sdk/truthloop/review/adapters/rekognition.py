"""Rekognition adapters: ``DetectModerationLabels`` and ``DetectLabels`` (confidences 0–100 → 0..1)."""

from __future__ import annotations

from typing import Any

from truthloop.contracts.services import DetectLabelsResponse, DetectModerationLabelsResponse
from truthloop.review.adapters._common import Adapted, as_contract, is_number
from truthloop.review.types import Prediction

__all__ = ["detect_labels", "detect_moderation_labels"]

MODERATION = "rekognition:detect_moderation_labels"
LABELS = "rekognition:detect_labels"


def _fast_moderation(response: Any) -> Adapted | None:
    """The common case (the API's PascalCase shape, all valid) without the contract parser; ``None`` otherwise."""
    items = response.get("ModerationLabels") if type(response) is dict else None
    if type(items) is not list:
        return None
    predictions = []
    for item in items:
        if type(item) is not dict:
            return None
        name, confidence, parent = item.get("Name"), item.get("Confidence"), item.get("ParentName", "")
        level = item.get("TaxonomyLevel")
        if type(name) is not str or not is_number(confidence, 100.0) or type(parent) is not str:
            return None
        locator: dict[str, Any] = {"parentName": parent}
        if level is not None:
            if type(level) is not int:
                return None
            locator["taxonomyLevel"] = level
        predictions.append(
            Prediction(kind="label", label=name, confidence=confidence / 100.0, locator=locator, raw=item)
        )
    return Adapted(MODERATION, tuple(predictions))


def detect_moderation_labels(response: Any) -> Adapted:
    """One ``label`` prediction per moderation label; ``locator`` keeps the parent and the taxonomy level."""
    fast = _fast_moderation(response)
    if fast is not None:
        return fast
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


def _names_of(items: Any) -> list[str] | None:
    if items is None:
        return []
    if type(items) is not list:
        return None
    out = []
    for item in items:
        name = item.get("Name") if type(item) is dict else None
        if type(name) is not str:
            return None
        out.append(name)
    return out


def _fast_labels(response: Any) -> Adapted | None:
    items = response.get("Labels") if type(response) is dict else None
    if type(items) is not list:
        return None
    predictions = []
    for item in items:
        if type(item) is not dict:
            return None
        name, confidence, instances = item.get("Name"), item.get("Confidence"), item.get("Instances") or []
        parents = _names_of(item.get("Parents"))
        if type(name) is not str or not is_number(confidence, 100.0) or type(instances) is not list or parents is None:
            return None
        if _names_of(item.get("Aliases")) is None or _names_of(item.get("Categories")) is None:
            return None
        locator: dict[str, Any] = {}
        boxes = []
        for inst in instances:
            box = inst.get("BoundingBox") if type(inst) is dict else None
            inst_confidence = inst.get("Confidence") if type(inst) is dict else None
            if type(box) is not dict or not is_number(inst_confidence, 100.0):
                return None
            sides = {k: box[k] for k in ("Width", "Height", "Left", "Top") if k in box}
            if not all(type(v) in (int, float) for v in sides.values()):
                return None
            boxes.append(
                {"boundingBox": {k: float(v) for k, v in sides.items()}, "confidence": inst_confidence / 100.0}
            )
        if boxes:
            locator["instances"] = boxes
        if parents:
            locator["parents"] = parents
        predictions.append(
            Prediction(kind="label", label=name, confidence=confidence / 100.0, locator=locator, raw=item)
        )
    return Adapted(LABELS, tuple(predictions))


def detect_labels(response: Any) -> Adapted:
    """One ``label`` prediction per detected label; ``locator.instances`` holds its boxes (ratios) if any."""
    fast = _fast_labels(response)
    if fast is not None:
        return fast
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
