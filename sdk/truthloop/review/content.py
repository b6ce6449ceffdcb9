"""The uniform A2I review input (``InputContent``) of docs/interfaces.md, and what it needs from each source.

    {"truthloop": 1, "source": "comprehend:detect_sentiment", "input": {"text": "I love it"},
     "predictions": [{"kind": "label", "label": "POSITIVE", "confidence": 0.58, "value": null, "key": null,
                      "locator": {}, "flagged": true}],
     "candidates": ["POSITIVE", "NEGATIVE", "NEUTRAL", "MIXED"],
     "reasons": ["POSITIVE: confidence 0.58 is below the 0.70 threshold"], "rules": ["threshold"]}

Textract and Rekognition inputs also carry A2I's built-in keys (``aiServiceRequest``, ``aiServiceResponse``,
``selectedAiServiceResponse`` and, for Textract, ``humanLoopContext.importantFormKeys``) in camelCase, so the
templates written for the built-in flows work unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from truthloop.contracts._base import canonical_json
from truthloop.review.types import ReviewDecision, normalise_key

__all__ = ["CONTENT_VERSION", "MAX_INPUT_CONTENT_BYTES", "build_input_content", "camel_case", "s3_object", "size_of"]

CONTENT_VERSION = 1
#: ``HumanLoopInput.InputContent`` is at most this many characters (StartHumanLoop, aws-contracts.md §5).
MAX_INPUT_CONTENT_BYTES = 3145728

_REQUEST_KEY = {
    "textract:analyze_document": "document",
    "rekognition:detect_moderation_labels": "image",
    "rekognition:detect_labels": "image",
}
_DROPPED = frozenset({"ResponseMetadata", "HumanLoopActivationOutput"})


def camel_case(value: Any) -> Any:
    """``value`` with every object key's first letter lower-cased (A2I writes service responses this way)."""
    if isinstance(value, Mapping):
        return {
            (k[:1].lower() + k[1:] if isinstance(k, str) else k): camel_case(v)
            for k, v in value.items()
            if k not in _DROPPED
        }
    if isinstance(value, list):
        return [camel_case(v) for v in value]
    return value


def s3_object(input_value: Any) -> dict[str, str] | None:
    """``{"bucket", "name"}`` when ``input_value`` names one S3 object, in any of the usual spellings.

    Accepted: ``{"s3Uri"|"source-ref"|"uri": "s3://b/k"}``, the API request form ``{"Document"|"Image":
    {"S3Object": {"Bucket", "Name"}}}`` (either case), or ``{"s3Object": {"bucket", "name"}}``.
    """
    if not isinstance(input_value, Mapping):
        return None
    for key in ("s3Uri", "S3Uri", "source-ref", "uri"):
        uri = input_value.get(key)
        if isinstance(uri, str) and uri.startswith("s3://") and "/" in uri[5:]:
            bucket, name = uri[5:].split("/", 1)
            return {"bucket": bucket, "name": name}
    for key in ("S3Object", "s3Object"):
        obj = input_value.get(key)
        if isinstance(obj, Mapping):
            bucket = obj.get("Bucket", obj.get("bucket"))
            name = obj.get("Name", obj.get("name"))
            if isinstance(bucket, str) and isinstance(name, str):
                return {"bucket": bucket, "name": name}
    for key in ("Document", "document", "Image", "image"):
        found = s3_object(input_value.get(key))
        if found is not None:
            return found
    return None


def _selected_blocks(response: Mapping[str, Any], decision: ReviewDecision) -> list[dict[str, Any]]:
    """The camelCase blocks of the flagged form fields: key and value blocks with their child words."""
    blocks = response.get("blocks") or []
    by_id = {b.get("id"): b for b in blocks if isinstance(b, Mapping)}
    wanted: dict[str, None] = {}

    def add(block_id: Any) -> None:
        block = by_id.get(block_id)
        if block is None or block_id in wanted:
            return
        wanted[block_id] = None
        for rel in block.get("relationships") or []:
            if rel.get("type") in ("CHILD", "VALUE", "ANSWER"):
                for child in rel.get("ids") or []:
                    add(child)

    for prediction in decision.flagged_predictions:
        for field in ("keyBlockId", "valueBlockId", "queryBlockId", "answerBlockId"):
            add(prediction.locator.get(field))
    return [dict(by_id[i]) for i in wanted]


def _builtin_keys(
    source: str, response: Any, input_value: Any, decision: ReviewDecision, important_form_keys: Sequence[Any]
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    request_key = _REQUEST_KEY.get(source)
    if request_key is None:
        return out
    obj = s3_object(input_value)
    if obj is not None:
        out["aiServiceRequest"] = {request_key: {"s3Object": obj}}
    camel = camel_case(response) if isinstance(response, (Mapping, list)) else {}
    if isinstance(camel, list):  # paginated Textract responses
        camel = {"blocks": [b for page in camel if isinstance(page, Mapping) for b in page.get("blocks") or []]}
    out["aiServiceResponse"] = camel
    if source == "textract:analyze_document":
        out["selectedAiServiceResponse"] = {"blocks": _selected_blocks(camel, decision)}
        keys = list(important_form_keys)
        known = {normalise_key(k["importantFormKey"]) for k in keys}
        for prediction in decision.flagged_predictions:
            key = prediction.key
            if prediction.kind in ("form_field", "missing_key") and key and normalise_key(key) not in known:
                known.add(normalise_key(key))
                keys.append({"importantFormKey": key, "importantFormKeyAliases": []})
        out["humanLoopContext"] = {"importantFormKeys": keys}
    elif source == "rekognition:detect_moderation_labels":
        flagged = {p.label for p in decision.flagged_predictions}
        labels = camel.get("moderationLabels") or []
        out["selectedAiServiceResponse"] = {"moderationLabels": [x for x in labels if x.get("name") in flagged]}
    else:
        flagged = {p.label for p in decision.flagged_predictions}
        labels = camel.get("labels") or []
        out["selectedAiServiceResponse"] = {"labels": [x for x in labels if x.get("name") in flagged]}
    return out


def build_input_content(
    source: str,
    decision: ReviewDecision,
    *,
    input: Any = None,
    candidates: Sequence[str] = (),
    response: Any = None,
    important_form_keys: Sequence[Any] = (),
) -> dict[str, Any]:
    """The InputContent object for a routed decision (serialise it with :func:`canonical_json`)."""
    flagged = set(decision.flagged)
    content: dict[str, Any] = {
        "truthloop": CONTENT_VERSION,
        "source": source,
        "input": input if input is not None else {},
        "predictions": [p.to_input(i in flagged) for i, p in enumerate(decision.predictions)],
        "candidates": list(candidates),
        "reasons": list(decision.reasons),
        "rules": list(decision.rules),
    }
    if response is not None:
        content.update(_builtin_keys(source, response, input, decision, important_form_keys))
    return content


def size_of(content: Mapping[str, Any]) -> tuple[str, int]:
    """The canonical JSON string sent as InputContent, and its size in UTF-8 bytes."""
    text = canonical_json(content)
    return text, len(text.encode("utf-8"))
