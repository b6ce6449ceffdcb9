"""Parse a worker's crowd-form answer into a typed answer, by shape rather than by element name.

AWS's built-in templates and users' templates name their elements differently (``crowd-classifier``,
``category``, ``annotatedResult``, …), so each parser looks for the first value with the right *shape* (a
``label``, ``labels``, ``boundingBoxes``, ``entities``, ``rankings`` … key) and prefers the documented names
when several match. Junk raises :class:`~truthloop.exceptions.ContractError` with the JSON path of the problem.

>>> parse_answer("text-classification", {"crowd-classifier": {"label": "travel"}})
ClassAnswer(label='travel', comment=None)
>>> parse_answer("ner", '{"x": {"entities": [{"label": "PER", "startOffset": 0, "endOffset": 3}]}}').entities
(Span(label='PER', start=0, end=3),)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from truthloop.contracts._reader import Obj, as_int, as_list, as_mapping, as_number, as_str, child_path, type_name
from truthloop.exceptions import ContractError
from truthloop.labeling.task_types import TaskType, get_task_type

__all__ = [
    "Answer",
    "Box",
    "BoxesAnswer",
    "ClassAnswer",
    "EntitiesAnswer",
    "FreeTextAnswer",
    "MultiLabelAnswer",
    "PairwiseAnswer",
    "RankingAnswer",
    "SegmentationAnswer",
    "Span",
    "parse_answer",
]


@dataclass(frozen=True)
class ClassAnswer:
    """A single label (classification, bounding-box verification)."""

    label: str
    comment: str | None = None


@dataclass(frozen=True)
class MultiLabelAnswer:
    labels: tuple[str, ...]


@dataclass(frozen=True)
class Box:
    """A box in pixels, origin top-left."""

    label: str
    left: float
    top: float
    width: float
    height: float

    @property
    def corners(self) -> tuple[float, float, float, float]:
        return (self.left, self.top, self.left + self.width, self.top + self.height)


@dataclass(frozen=True)
class BoxesAnswer:
    boxes: tuple[Box, ...]
    image_width: float | None = None
    image_height: float | None = None
    initial_value_modified: bool | None = None


@dataclass(frozen=True)
class Span:
    """A labelled span of text: Unicode offsets, ``end`` exclusive."""

    label: str
    start: int
    end: int


@dataclass(frozen=True)
class EntitiesAnswer:
    entities: tuple[Span, ...]


@dataclass(frozen=True)
class SegmentationAnswer:
    png_base64: str
    label_colors: dict[str, str]
    image_width: float | None = None
    image_height: float | None = None


@dataclass(frozen=True)
class FreeTextAnswer:
    text: str


@dataclass(frozen=True)
class RankingAnswer:
    """Per dimension, the rank of each response in input order (1 = best; equal numbers are ties)."""

    rankings: dict[str, tuple[int, ...]]


@dataclass(frozen=True)
class PairwiseAnswer:
    """A preference between two responses; ``preference`` is the *displayed* position (``A``, ``B`` or ``Tie``)."""

    preference: Literal["A", "B", "Tie"]
    strength: float | None = None
    rationale: str | None = None
    display_order: Literal["ab", "ba"] | None = None

    def preferred(self, display_order: Literal["ab", "ba"] | None = None) -> Literal["responseA", "responseB"] | None:
        """Which input response won, mapping the displayed position back with ``display_order``.

        The order echoed in the answer wins over the argument (the argument is the fallback recomputed from
        the data object); ``None`` means a tie.
        """
        if self.preference == "Tie":
            return None
        order = self.display_order or display_order or "ab"
        shows_a_first = order == "ab"
        if self.preference == "A":
            return "responseA" if shows_a_first else "responseB"
        return "responseB" if shows_a_first else "responseA"


Answer = (
    ClassAnswer
    | MultiLabelAnswer
    | BoxesAnswer
    | EntitiesAnswer
    | SegmentationAnswer
    | FreeTextAnswer
    | RankingAnswer
    | PairwiseAnswer
)

# ------------------------------------------------------------------ shape search

#: Documented element names, preferred when several values have the right shape.
_PREFERRED: dict[str, tuple[str, ...]] = {
    "class": ("crowd-classifier", "crowd-image-classifier", "category", "label"),
    "multilabel": ("crowd-classifier-multi-select", "crowd-image-classifier-multi-select", "category"),
    "boxes": ("annotatedResult", "crowd-bounding-box", "boundingBox"),
    "entities": ("crowd-entity-annotation", "annotatedResult", "entities"),
    "segmentation": ("crowd-semantic-segmentation", "annotatedResult"),
    "ranking": ("ranking", "crowd-text-ranking"),
    "pairwise": ("preference",),
    "free-text": ("answer", "crowd-text-area"),
}


def _find(content: dict[str, Any], kind: str, fits: Callable[[Any], bool], what: str) -> tuple[Any, str]:
    """The value of ``content`` (or ``content`` itself) with the right shape, and its JSON path."""
    if fits(content):
        return content, "$"
    candidates = [key for key, value in content.items() if fits(value)]
    if not candidates:
        keys = ", ".join(sorted(content)) or "none"
        raise ContractError(f"no {what} in the answer (keys: {keys})"[:300], "$")
    for name in _PREFERRED.get(kind, ()):
        if name in candidates:
            return content[name], child_path("$", name)
    return content[candidates[0]], child_path("$", candidates[0])


def _has(key: str) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, Mapping) and key in value


def _load(answer_content: Any) -> dict[str, Any]:
    if isinstance(answer_content, (str, bytes, bytearray)):
        try:
            answer_content = json.loads(answer_content)
        except (ValueError, RecursionError) as exc:
            raise ContractError(f"answer is not valid JSON: {exc}", "$") from None
    # crowd-form answers are sometimes shown wrapped in a one-item array
    if isinstance(answer_content, list) and len(answer_content) == 1 and isinstance(answer_content[0], Mapping):
        answer_content = answer_content[0]
    return as_mapping(answer_content, "$")


def _label(value: Any, path: str) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    text = as_str(value, path)
    if not text.strip():
        raise ContractError("label is empty", path)
    return text


def _parse_class(content: dict[str, Any]) -> ClassAnswer:
    fits = _has("label")
    value, path = _find(content, "class", lambda v: fits(v) and not _has("labels")(v), "label (crowd-classifier)")
    o = Obj(value, path)
    comment = o.opt_str("workerComment", "comment")
    return ClassAnswer(label=_label(o.raw("label"), o.key_path("label")), comment=comment)


def _parse_multilabel(content: dict[str, Any]) -> MultiLabelAnswer:
    value, path = _find(content, "multilabel", _has("labels"), "labels list (crowd-classifier-multi-select)")
    labels = [_label(item, p) for item, p in Obj(value, path).items("labels", required=True)]
    return MultiLabelAnswer(labels=tuple(dict.fromkeys(labels)))


def _parse_boxes(content: dict[str, Any]) -> BoxesAnswer:
    value, path = _find(content, "boxes", _has("boundingBoxes"), "boundingBoxes (crowd-bounding-box)")
    o = Obj(value, path)
    boxes = []
    for box in o.objs("boundingBoxes", required=True):
        width, height = box.number("width"), box.number("height")
        if width < 0 or height < 0:
            raise ContractError("box width and height must not be negative", box.path)
        boxes.append(
            Box(
                label=_label(box.raw("label"), box.key_path("label")),
                left=box.number("left"),
                top=box.number("top"),
                width=width,
                height=height,
            )
        )
    props = o.opt_obj("inputImageProperties")
    return BoxesAnswer(
        boxes=tuple(boxes),
        image_width=None if props is None else props.opt_number("width"),
        image_height=None if props is None else props.opt_number("height"),
        initial_value_modified=o.opt_bool("initialValueModified"),
    )


def _parse_entities(content: dict[str, Any]) -> EntitiesAnswer:
    value, path = _find(content, "entities", _has("entities"), "entities (crowd-entity-annotation)")
    spans = []
    for ent in Obj(value, path).objs("entities", required=True):
        start, end = ent.integer("startOffset"), ent.integer("endOffset")
        if start < 0 or end <= start:
            raise ContractError(f"span [{start}, {end}) is empty or negative", ent.path)
        spans.append(Span(label=_label(ent.raw("label"), ent.key_path("label")), start=start, end=end))
    return EntitiesAnswer(entities=tuple(spans))


def _parse_segmentation(content: dict[str, Any]) -> SegmentationAnswer:
    value, path = _find(content, "segmentation", _has("labeledImage"), "labeledImage (crowd-semantic-segmentation)")
    o = Obj(value, path)
    png = o.obj("labeledImage").string("pngImageData")
    colors = {}
    mappings = o.opt_mapping("labelMappings") or {}
    for label, mapping in mappings.items():
        mpath = child_path(o.key_path("labelMappings"), label)
        colors[label] = Obj(mapping, mpath).string("color")
    props = o.opt_obj("inputImageProperties")
    return SegmentationAnswer(
        png_base64=png,
        label_colors=colors,
        image_width=None if props is None else props.opt_number("width"),
        image_height=None if props is None else props.opt_number("height"),
    )


def _parse_free_text(content: dict[str, Any]) -> FreeTextAnswer:
    value, path = _find(
        content, "free-text", lambda v: isinstance(v, str) and bool(v.strip()), "non-empty text (crowd-text-area)"
    )
    return FreeTextAnswer(text=as_str(value, path))


def _parse_ranking(content: dict[str, Any]) -> RankingAnswer:
    value, path = _find(content, "ranking", _has("rankings"), "rankings (crowd-text-ranking)")
    o = Obj(value, path)
    rankings_path = o.key_path("rankings")
    rankings: dict[str, tuple[int, ...]] = {}
    for dimension, ranks in o.mapping("rankings").items():
        dpath = child_path(rankings_path, dimension)
        values = tuple(as_int(r, child_path(dpath, i)) for i, r in enumerate(as_list(ranks, dpath)))
        for i, rank in enumerate(values):
            if rank < 1:
                raise ContractError(f"ranks start at 1, got {rank}", child_path(dpath, i))
        if not values:
            raise ContractError("no ranks given", dpath)
        rankings[dimension] = values
    if not rankings:
        raise ContractError("rankings has no dimension", rankings_path)
    return RankingAnswer(rankings=rankings)


_PREFERENCES: dict[str, Literal["A", "B", "Tie"]] = {"a": "A", "b": "B", "tie": "Tie"}


def _parse_pairwise(content: dict[str, Any]) -> PairwiseAnswer:
    def is_preference(v: Any) -> bool:
        return _has("label")(v) and isinstance(v.get("label"), str) and v["label"].strip().lower() in _PREFERENCES

    value, path = _find(content, "pairwise", is_preference, "preference with label A, B or Tie (crowd-classifier)")
    if path == "$":
        # the whole answer is {"label": ...}: no strength/rationale/displayOrder siblings
        content = {}
    preference = _PREFERENCES[as_str(value["label"], child_path(path, "label")).strip().lower()]
    strength = None
    if "strength" in content:
        strength = as_number(content["strength"], "$.strength")
    else:
        numbers = [(k, v) for k, v in content.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers:
            strength = as_number(numbers[0][1], child_path("$", numbers[0][0]))
    if strength is not None and not 1 <= strength <= 5:
        raise ContractError(f"strength must be between 1 and 5, got {strength:g}", "$.strength")
    rationale = content.get("rationale")
    if rationale is not None and not isinstance(rationale, str):
        raise ContractError(f"rationale must be text, got {type_name(rationale)}", "$.rationale")
    order = content.get("displayOrder")
    if order is not None and order not in ("ab", "ba"):
        raise ContractError(f"displayOrder must be 'ab' or 'ba', got {order!r}"[:200], "$.displayOrder")
    return PairwiseAnswer(preference=preference, strength=strength, rationale=rationale or None, display_order=order)


_PARSERS: dict[str, Callable[[dict[str, Any]], Answer]] = {
    "class": _parse_class,
    "verification": _parse_class,
    "multilabel": _parse_multilabel,
    "boxes": _parse_boxes,
    "entities": _parse_entities,
    "segmentation": _parse_segmentation,
    "free-text": _parse_free_text,
    "ranking": _parse_ranking,
    "pairwise": _parse_pairwise,
}


def parse_answer(task_type: str | TaskType, answer_content: Any) -> Answer:
    """Parse one worker's answer (a dict or its JSON text) for ``task_type`` (a truthloop task-type id).

    Raises :class:`ContractError` naming the JSON path when the answer has no value of the expected shape or a
    field is malformed; :class:`~truthloop.exceptions.UnsupportedTaskTypeError` for an unknown task type.
    """
    kind = get_task_type(task_type).answer
    return _PARSERS[kind](_load(answer_content))
