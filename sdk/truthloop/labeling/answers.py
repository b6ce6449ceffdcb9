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
from dataclasses import dataclass, field
from typing import Any, Literal

from truthloop.contracts._reader import Obj, as_list, as_mapping, as_number, as_str, child_path, type_name
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
    "parse_pairwise",
    "parse_ranking",
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
    #: JSON path of the ``rankings`` object inside the answer (for error messages).
    path: str = field(default="$.rankings", compare=False, repr=False)


@dataclass(frozen=True)
class PairwiseAnswer:
    """A preference between two responses; ``preference`` is the *displayed* position (``A``, ``B`` or ``Tie``)."""

    preference: Literal["A", "B", "Tie"]
    strength: float | None = None
    rationale: str | None = None
    display_order: Literal["ab", "ba"] | None = None

    def preferred(self, display_order: Literal["ab", "ba"] | None = None) -> Literal["responseA", "responseB"] | None:
        """Which input response won, mapping the displayed position back with the display order.

        The order echoed in the answer wins over ``display_order`` (the order recomputed from the data object,
        :func:`truthloop.labeling.order.display_order_of`); ``None`` means a tie. With neither, raises
        :class:`ContractError` rather than guess: a guessed ``"ab"`` inverts the winner of every ``"ba"`` item.
        """
        if self.preference == "Tie":
            return None
        order = self.display_order or display_order
        if order not in ("ab", "ba"):
            raise ContractError(
                "the answer has no displayOrder and none was recomputed: cannot tell which response the displayed "
                f"{self.preference} was",
                "$.displayOrder",
            )
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


def _load(answer_content: Any, path: str = "$") -> dict[str, Any]:
    if isinstance(answer_content, (str, bytes, bytearray)):
        try:
            answer_content = json.loads(answer_content)
        except (ValueError, RecursionError) as exc:
            raise ContractError(f"answer is not valid JSON: {exc}", path) from None
    # crowd-form answers are sometimes shown wrapped in a one-item array
    if isinstance(answer_content, list) and len(answer_content) == 1 and isinstance(answer_content[0], Mapping):
        answer_content = answer_content[0]
    return as_mapping(answer_content, path)


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


def _find_deep(content: Any, fits: Callable[[Any], bool], path: str, names: tuple[str, ...]) -> tuple[Any, str] | None:
    """``content`` itself, else the first value nested at most two levels down that ``fits`` (documented names
    first at each level)."""
    if fits(content):
        return content, path
    if not isinstance(content, Mapping):
        return None
    keys = [k for k in names if k in content] + [k for k in content if k not in names]
    for key in keys:
        if fits(content[key]):
            return content[key], child_path(path, key)
    for key in keys:
        value = content[key]
        if isinstance(value, Mapping):
            for inner, inner_value in value.items():
                if fits(inner_value):
                    return inner_value, child_path(child_path(path, key), inner)
    return None


def _rank(value: Any, path: str) -> int:
    """A rank from 1 (best); digit strings and integral floats are accepted, as some forms send them."""
    if type(value) is str and value.strip().isdigit():
        value = int(value)
    if type(value) is float and value.is_integer():
        value = int(value)
    if type(value) is not int or value < 1:
        raise ContractError(f"a rank is an integer from 1 (best), got {value!r}"[:120], path)
    return value


def parse_ranking(content: Any, path: str = "$") -> RankingAnswer:
    """The one ranking parser (post-annotation Lambda, preference export, review results).

    ``content`` is the answer object or its JSON text; the ``rankings`` holder may sit up to two levels down.
    """
    content = _load(content, path)
    found = _find_deep(content, _has("rankings"), path, _PREFERRED["ranking"])
    if found is None:
        keys = ", ".join(sorted(map(str, content))) or "none"
        raise ContractError(
            f"no rankings in the answer (expected {{…: {{'rankings': {{dimension: [ranks]}}}}}}; keys: {keys})"[:300],
            path,
        )
    value, holder_path = found
    rankings_path = child_path(holder_path, "rankings")
    raw = value["rankings"]
    if not isinstance(raw, Mapping) or not raw:
        raise ContractError("rankings must map each dimension to the ranks of the responses", rankings_path)
    rankings: dict[str, tuple[int, ...]] = {}
    for dimension, ranks in raw.items():
        dpath = child_path(rankings_path, dimension)
        values = tuple(_rank(r, child_path(dpath, i)) for i, r in enumerate(as_list(ranks, dpath)))
        if not values:
            raise ContractError("no ranks given", dpath)
        rankings[str(dimension)] = values
    return RankingAnswer(rankings=rankings, path=rankings_path)


_PREFERENCES: dict[str, Literal["A", "B", "Tie"]] = {"a": "A", "b": "B", "tie": "Tie"}
#: The strength scale of the bundled template's slider (templates/gt/pairwise-preference.liquid.html).
STRENGTH_RANGE = (1.0, 5.0)


def _is_preference(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and isinstance(value.get("label"), str)
        and value["label"].strip().lower() in _PREFERENCES
    )


def parse_pairwise(content: Any, path: str = "$") -> PairwiseAnswer:
    """The one pairwise-preference parser (post-annotation Lambda, preference export, review results).

    The preference is ``{"label": "A" | "B" | "Tie"}`` (the *displayed* position) found up to two levels down;
    ``strength`` (1–5), ``rationale`` and ``displayOrder`` sit beside it at the top of the answer.
    """
    content = _load(content, path)
    found = _find_deep(content, _is_preference, path, _PREFERRED["pairwise"])
    if found is None:
        keys = ", ".join(sorted(map(str, content))) or "none"
        raise ContractError(f"no preference with label A, B or Tie in the answer (keys: {keys})"[:300], path)
    value = found[0]
    siblings: Mapping[str, Any] = content
    preference = _PREFERENCES[value["label"].strip().lower()]
    strength = None
    if "strength" in siblings:
        if siblings["strength"] is not None and siblings["strength"] != "":
            strength = as_number(siblings["strength"], child_path(path, "strength"))
    else:
        numbers = [(k, v) for k, v in siblings.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if numbers:
            strength = as_number(numbers[0][1], child_path(path, numbers[0][0]))
    low, high = STRENGTH_RANGE
    if strength is not None and not low <= strength <= high:
        raise ContractError(
            f"strength must be between {low:g} and {high:g}, got {strength:g}", child_path(path, "strength")
        )
    rationale = siblings.get("rationale")
    if rationale is not None and not isinstance(rationale, str):
        raise ContractError(f"rationale must be text, got {type_name(rationale)}", child_path(path, "rationale"))
    order = siblings.get("displayOrder")
    if order is not None and order not in ("ab", "ba"):
        raise ContractError(
            f"displayOrder must be 'ab' or 'ba', got {order!r}: cannot tell which response the displayed A/B was"[:200],
            child_path(path, "displayOrder"),
        )
    return PairwiseAnswer(preference=preference, strength=strength, rationale=rationale or None, display_order=order)


def _parse_ranking(content: dict[str, Any]) -> RankingAnswer:
    return parse_ranking(content)


def _parse_pairwise(content: dict[str, Any]) -> PairwiseAnswer:
    return parse_pairwise(content)


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
