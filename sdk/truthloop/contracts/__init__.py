"""Typed models of every GT and A2I payload in aws-contracts.md: parse tolerantly, build strictly.

``load(obj)`` detects which documented payload ``obj`` is from its shape and returns the typed model;
``obj.kind`` is a stable identifier (``gt.consolidation_event``, ``a2i.output``, …).

    >>> from truthloop.contracts import load
    >>> arn = "arn:aws:sagemaker:us-east-1:111122223333:labeling-job/demo"
    >>> event = load({"version": "2018-10-06", "labelingJobArn": arn, "dataObject": {"source": "hello"}})
    >>> event.kind, event.job_name
    ('gt.pre_annotation_event', 'demo')
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from truthloop.contracts._base import Contract, arn_resource_name, canonical_json
from truthloop.contracts.a2i import (
    ActivationConditions,
    DescribeHumanLoopResponse,
    HumanLoopOutput,
    StartHumanLoopRequest,
)
from truthloop.contracts.events import (
    A2I_DETAIL_TYPE,
    GT_DETAIL_TYPE,
    A2ILoopStatusEvent,
    GTJobStateEvent,
    canonical_detail_type,
)
from truthloop.contracts.gt import (
    ConsolidationEvent,
    ConsolidationPayload,
    ConsolidationResponse,
    InputManifestLine,
    LabelAttribute,
    LabelCategoryConfig,
    LabelMetadata,
    OutputManifestLine,
    PreAnnotationEvent,
    PreAnnotationResponse,
    WorkerAnswer,
    WorkerResponse,
    job_name_from_arn,
)
from truthloop.contracts.services import (
    AnalyzeDocumentResponse,
    ClassifyDocumentResponse,
    DetectEntitiesResponse,
    DetectLabelsResponse,
    DetectModerationLabelsResponse,
    DetectSentimentResponse,
)
from truthloop.exceptions import ContractError, UnknownKindError

__all__ = [
    "KINDS",
    "A2ILoopStatusEvent",
    "ActivationConditions",
    "AnalyzeDocumentResponse",
    "ClassifyDocumentResponse",
    "ConsolidationEvent",
    "ConsolidationPayload",
    "ConsolidationResponse",
    "Contract",
    "ContractError",
    "DescribeHumanLoopResponse",
    "DetectEntitiesResponse",
    "DetectLabelsResponse",
    "DetectModerationLabelsResponse",
    "DetectSentimentResponse",
    "GTJobStateEvent",
    "HumanLoopOutput",
    "InputManifestLine",
    "LabelAttribute",
    "LabelCategoryConfig",
    "LabelMetadata",
    "OutputManifestLine",
    "PreAnnotationEvent",
    "PreAnnotationResponse",
    "StartHumanLoopRequest",
    "UnknownKindError",
    "WorkerAnswer",
    "WorkerResponse",
    "arn_resource_name",
    "canonical_json",
    "detect",
    "identify_file",
    "job_name_from_arn",
    "load",
]

_MODELS: tuple[type[Contract], ...] = (
    PreAnnotationEvent,
    PreAnnotationResponse,
    ConsolidationEvent,
    ConsolidationPayload,
    ConsolidationResponse,
    WorkerResponse,
    OutputManifestLine,
    InputManifestLine,
    LabelCategoryConfig,
    HumanLoopOutput,
    DescribeHumanLoopResponse,
    StartHumanLoopRequest,
    ActivationConditions,
    A2ILoopStatusEvent,
    GTJobStateEvent,
    DetectModerationLabelsResponse,
    DetectLabelsResponse,
    AnalyzeDocumentResponse,
    DetectSentimentResponse,
    ClassifyDocumentResponse,
    DetectEntitiesResponse,
)

#: kind string → model class, for every payload ``load`` recognises.
KINDS: dict[str, type[Contract]] = {m.kind: m for m in _MODELS}


def _pascal_keys(obj: Mapping[str, Any]) -> set[str]:
    return {k[:1].upper() + k[1:] for k in obj if isinstance(k, str)}


def _first_item(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, list) and value and isinstance(value[0], Mapping):
        return value[0]
    return None


def _detect_dict(obj: Mapping[str, Any]) -> type[Contract] | None:
    keys = {k for k in obj if isinstance(k, str)}
    pascal = _pascal_keys(obj)
    if "detail-type" in keys:
        detail_type = obj.get("detail-type")
        detail_type = canonical_detail_type(detail_type) if isinstance(detail_type, str) else detail_type
        if detail_type == A2I_DETAIL_TYPE:
            return A2ILoopStatusEvent
        if detail_type == GT_DETAIL_TYPE:
            return GTJobStateEvent
        return None
    if "labelingJobArn" in keys:
        if "payload" in keys or "labelAttributeName" in keys:
            return ConsolidationEvent
        if "dataObject" in keys:
            return PreAnnotationEvent
        return None
    if "taskInput" in keys or "isHumanAnnotationRequired" in keys or "humanAnnotationRequired" in keys:
        return PreAnnotationResponse
    if "humanAnswers" in keys or ("humanLoopName" in keys and "flowDefinitionArn" in keys and "inputContent" in keys):
        return HumanLoopOutput
    if "answers" in keys:
        return WorkerResponse
    if "HumanLoopStatus" in pascal:
        return DescribeHumanLoopResponse
    if "HumanLoopInput" in pascal:
        return StartHumanLoopRequest
    if "Conditions" in keys:
        return ActivationConditions
    if "document-version" in keys and "labels" in keys:
        return LabelCategoryConfig
    if "source" in keys or "source-ref" in keys:
        if any(k.endswith("-metadata") for k in keys):
            return OutputManifestLine
        return InputManifestLine
    # service responses (PascalCase API form or camelCase A2I form)
    if "ModerationLabels" in pascal:
        return DetectModerationLabelsResponse
    if "Blocks" in pascal:
        return AnalyzeDocumentResponse
    if "Sentiment" in pascal and "SentimentScore" in pascal:
        return DetectSentimentResponse
    if "Entities" in pascal:
        return DetectEntitiesResponse
    if "Classes" in pascal:
        return ClassifyDocumentResponse
    if "Labels" in pascal:
        labels = obj.get("Labels", obj.get("labels"))
        first = _first_item(labels)
        if first is not None:
            item_keys = _pascal_keys(first)
            if "Score" in item_keys:
                return ClassifyDocumentResponse
            return DetectLabelsResponse
        if pascal & {"DocumentMetadata", "DocumentType", "Errors", "Warnings"}:
            return ClassifyDocumentResponse
        return DetectLabelsResponse
    return None


def _detect_list(obj: list[Any]) -> type[Contract] | None:
    first = _first_item(obj)
    if first is None:
        return None
    if "consolidatedAnnotation" in first:
        return ConsolidationResponse
    if "annotations" in first or "dataObject" in first:
        return ConsolidationPayload
    return None


def detect(obj: Any) -> type[Contract]:
    """The model class for ``obj`` judged by its shape; raises :class:`UnknownKindError` when none fits."""
    model: type[Contract] | None = None
    if isinstance(obj, Mapping):
        model = _detect_dict(obj)
    elif isinstance(obj, list):
        if not obj:
            raise UnknownKindError("an empty array could be a consolidation payload or response; cannot tell which")
        model = _detect_list(obj)
    if model is None:
        raise UnknownKindError("not a documented GT/A2I payload (no distinguishing keys found)")
    return model


def load(obj: Any) -> Contract:
    """Detect which documented payload ``obj`` is and parse it. Accepts a decoded object or JSON text/bytes."""
    if isinstance(obj, (str, bytes, bytearray)):
        try:
            obj = json.loads(obj)
        except (ValueError, RecursionError) as exc:
            raise ContractError(f"not valid JSON: {exc}") from None
    model = detect(obj)
    try:
        return model.parse(obj)
    except RecursionError:
        raise ContractError("payload is nested too deeply") from None


_JSONL_SUFFIXES = (".jsonl", ".manifest", ".ndjson")


def identify_file(path: str | Path) -> Iterator[tuple[str, Contract | ContractError]]:
    """Yield ``(label, contract_or_error)`` for a JSON file, or for each line of a JSON Lines/manifest file."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    if p.suffix.lower() in _JSONL_SUFFIXES:
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            label = f"{p}:{number}"
            try:
                yield label, load(line)
            except ContractError as exc:
                yield label, exc
        return
    try:
        yield str(p), load(text)
    except ContractError as exc:
        yield str(p), exc
