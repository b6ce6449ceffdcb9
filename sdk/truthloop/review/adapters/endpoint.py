"""SageMaker ``InvokeEndpoint`` adapter: the JSON body a custom model returns.

The body format is whatever the container defines, so this adapter recognises the common shapes and takes a
user-supplied ``extractor`` for anything else:

* label/score objects: ``[{"label": "cat", "score": 0.9}, ...]`` (Hugging Face pipelines), one object, or a list
  of such lists (one per input of a batch); the score key may be ``score``, ``confidence``, ``probability`` or
  ``prob`` and the label key ``label``, ``class``, ``predicted_label`` or ``name``;
* ``{"predictions": [...]}`` (TensorFlow Serving and many SageMaker containers) holding any of these per input;
* probability vectors with class names: ``{"probabilities": [...], "labels": [...]}`` (also ``scores``/``probs``
  and ``classes``/``class_names``), or a bare vector with ``class_names=`` given to the adapter.

A distribution yields one prediction per input, the best class (``multi_label=True`` instead yields every class
scoring at least ``multi_label_threshold``). Inputs of a batch carry ``locator.index``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from truthloop.exceptions import ConfigurationError
from truthloop.review.adapters._common import Adapted, fail, unit
from truthloop.review.types import Prediction

__all__ = ["Extractor", "decode_body", "invoke_endpoint"]

SOURCE = "sagemaker:invoke_endpoint"

#: A user function turning the decoded body into predictions: ``Prediction`` objects, ``(label, confidence)``
#: pairs or ``{"label", "confidence"}`` mappings (confidence 0..1).
Extractor = Callable[[Any], Iterable[Any]]

_LABEL_KEYS = ("label", "class", "predicted_label", "name")
_SCORE_KEYS = ("score", "confidence", "probability", "prob")
_VECTOR_KEYS = ("probabilities", "scores", "probs")
_NAMES_KEYS = ("labels", "classes", "class_names")


def decode_body(response: Any) -> Any:
    """The decoded JSON body of an endpoint response.

    Accepts the boto3 ``invoke_endpoint`` response (``Body`` is a streaming body), a streaming body or bytes, a
    JSON string, or an already-decoded object.
    """
    return _decode(response, strict=True)


def _decode(response: Any, *, strict: bool) -> Any:
    """:func:`decode_body`; with ``strict=False`` a body that is not UTF-8 stays bytes and one that is not JSON
    stays text (what an extractor gets) instead of failing."""
    body = response
    if isinstance(body, Mapping) and "Body" in body:
        body = body["Body"]
    read = getattr(body, "read", None)
    if callable(read):
        body = read()
    if isinstance(body, (bytes, bytearray)):
        try:
            body = body.decode("utf-8")
        except UnicodeDecodeError:
            if not strict:
                return bytes(body)
            raise fail("endpoint body is not UTF-8 text; pass an extractor for binary formats", "$.Body") from None
    if isinstance(body, str):
        try:
            return json.loads(body)
        except ValueError as exc:
            if not strict:
                return body
            raise fail(f"endpoint body is not JSON ({exc}); pass an extractor for other formats", "$.Body") from None
    return body


def _first(item: Mapping[str, Any], keys: Sequence[str]) -> str | None:
    for key in keys:
        if key in item:
            return key
    return None


def _is_vector(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    )


class _Reader:
    def __init__(self, class_names: Sequence[str] | None, multi_label: bool, threshold: float, scale: float) -> None:
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        self.multi_label = multi_label
        self.threshold = threshold
        self.scale = scale
        self.candidates: dict[str, None] = {}

    def pick(self, scored: list[tuple[str, float, Any]], index: int | None) -> list[Prediction]:
        for label, _score, _raw in scored:
            self.candidates.setdefault(label)
        scores = {label: score for label, score, _ in scored} if len(scored) > 1 else {}
        locator = {} if index is None else {"index": index}
        if self.multi_label:
            chosen = [s for s in scored if s[1] >= self.threshold]
        else:
            chosen = [max(scored, key=lambda s: s[1])] if scored else []
        return [
            Prediction(kind="label", label=label, confidence=score, locator=locator, scores=scores, raw=raw)
            for label, score, raw in chosen
        ]

    def vector(self, values: list[Any], names: Sequence[Any] | None, path: str, index: int | None) -> list[Prediction]:
        names = names if names is not None else self.class_names
        if names is None:
            names = [str(i) for i in range(len(values))]
        if len(names) != len(values):
            raise fail(f"{len(values)} probabilities but {len(names)} class names", path)
        scored = [(str(n), unit(v, f"{path}[{i}]", self.scale), v) for i, (n, v) in enumerate(zip(names, values))]
        return self.pick(scored, index)

    def scored_item(self, item: Mapping[str, Any], path: str) -> tuple[str, float, Any]:
        label_key = _first(item, _LABEL_KEYS)
        score_key = _first(item, _SCORE_KEYS)
        if label_key is None:
            raise fail(f"prediction has no label (expected one of {', '.join(_LABEL_KEYS)})", path)
        if score_key is None:
            raise fail(f"prediction has no score (expected one of {', '.join(_SCORE_KEYS)})", path)
        label = item[label_key]
        if isinstance(label, bool) or not isinstance(label, (str, int)):
            raise fail(f"label must be a string, got {type(label).__name__}", f"{path}.{label_key}")
        return str(label), unit(item[score_key], f"{path}.{score_key}", self.scale), item

    def one_input(self, value: Any, path: str, index: int | None) -> list[Prediction]:
        """Predictions for one input: a scored list, a scored object, a vector, or a vector object."""
        if _is_vector(value):
            return self.vector(value, None, path, index)
        if isinstance(value, list):
            scored = []
            for i, item in enumerate(value):
                if not isinstance(item, Mapping):
                    raise fail(f"expected a label/score object, got {type(item).__name__}", f"{path}[{i}]")
                scored.append(self.scored_item(item, f"{path}[{i}]"))
            return self.pick(scored, index)
        if isinstance(value, Mapping):
            vector_key = _first(value, _VECTOR_KEYS)
            if vector_key is not None and _is_vector(value[vector_key]):
                names_key = _first(value, _NAMES_KEYS)
                names = None if names_key is None else value[names_key]
                if names is not None and not isinstance(names, list):
                    raise fail("class names must be an array", f"{path}.{names_key}")
                return self.vector(value[vector_key], names, f"{path}.{vector_key}", index)
            return self.pick([self.scored_item(value, path)], index)
        raise fail(f"unrecognised prediction shape ({type(value).__name__}); pass an extractor for this endpoint", path)

    def body(self, body: Any) -> list[Prediction]:
        if isinstance(body, Mapping) and "predictions" in body:
            items = body["predictions"]
            if not isinstance(items, list):
                raise fail("predictions must be an array", "$.predictions")
            return self.batch(items, "$.predictions")
        if isinstance(body, list) and body and all(isinstance(x, list) for x in body):
            return self.batch(body, "$")
        return self.one_input(body, "$", None)

    def batch(self, items: list[Any], path: str) -> list[Prediction]:
        """Each item is one input's prediction (``{"predictions": [...]}``, or a list of lists)."""
        if len(items) == 1:
            return self.one_input(items[0], f"{path}[0]", None)
        out: list[Prediction] = []
        for i, item in enumerate(items):
            out.extend(self.one_input(item, f"{path}[{i}]", i))
        return out


def _from_extractor(extractor: Extractor, body: Any) -> list[Prediction]:
    out = []
    try:
        produced = list(extractor(body))
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise fail(f"extractor failed: {type(exc).__name__}: {exc}", "$") from None
    for i, item in enumerate(produced):
        path = f"extractor[{i}]"
        if isinstance(item, Prediction):
            out.append(item)
        elif isinstance(item, tuple) and len(item) == 2:
            out.append(Prediction(kind="label", label=str(item[0]), confidence=unit(item[1], path)))
        elif isinstance(item, Mapping) and "label" in item:
            confidence = item.get("confidence", item.get("score"))
            out.append(
                Prediction(
                    kind="label",
                    label=str(item["label"]),
                    confidence=unit(confidence, f"{path}.confidence"),
                    locator=dict(item.get("locator") or {}),
                    raw=item,
                )
            )
        else:
            raise fail("extractor items must be Prediction, (label, confidence) or {label, confidence}", path)
    return out


def invoke_endpoint(
    response: Any,
    *,
    class_names: Sequence[str] | None = None,
    extractor: Extractor | None = None,
    multi_label: bool = False,
    multi_label_threshold: float = 0.5,
    score_scale: float = 1.0,
) -> Adapted:
    """Predictions from an endpoint response (see the module docstring for the shapes understood)."""
    if not 0.0 <= multi_label_threshold <= 1.0:
        raise ConfigurationError(f"multi_label_threshold must be within 0..1, got {multi_label_threshold}")
    if score_scale <= 0:
        raise ConfigurationError(f"score_scale must be positive, got {score_scale}")
    if extractor is not None:
        predictions = _from_extractor(extractor, _decode(response, strict=False))
        return Adapted(SOURCE, tuple(predictions), tuple(class_names or ()))
    reader = _Reader(class_names, multi_label, multi_label_threshold, score_scale)
    predictions = reader.body(decode_body(response))
    candidates = tuple(class_names) if class_names is not None else tuple(reader.candidates)
    return Adapted(SOURCE, tuple(predictions), candidates)
