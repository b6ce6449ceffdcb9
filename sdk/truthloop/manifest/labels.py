"""Typed label values from output-manifest lines, with a fast path and the contract path.

Every extractor takes a decoded line (``dict``) and a label attribute name and returns a small typed value
(:class:`BoxLabel`, :class:`ClassLabel`, :class:`SpanLabel`, :class:`MaskLabel`, :class:`LabelInfo`).

Two implementations give the same answers:

* the **contract path** (``fast=False``) validates the attribute pair with
  :class:`truthloop.contracts.LabelAttribute` / :class:`~truthloop.contracts.LabelMetadata` (which tolerate both
  job-name spellings, int or string class ids, numeric strings, extra metadata keys) and reads the values from it;
* the **fast path** (the default) reads the keys directly and checks only the types it uses. Whenever it meets
  anything it does not expect (a string class id, a missing key, a wrong type) it gives up and the contract
  path decides, so it never accepts or rejects a line differently; it just skips the validation cost on the
  well-formed lines that make up nearly every real manifest.

Problems are raised as :class:`~truthloop.exceptions.ContractError` whose ``path`` is the JSON path inside the
line, e.g. ``$.bb.annotations[2].width``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from truthloop.contracts import LabelAttribute, LabelMetadata
from truthloop.contracts._reader import Obj, as_int, as_number, as_str, child_path, type_name
from truthloop.exceptions import ContractError
from truthloop.manifest._json import encode

__all__ = [
    "BOX_TYPES",
    "CLASS_TYPES",
    "CUSTOM_TYPES",
    "MASK_TYPES",
    "SPAN_TYPES",
    "Box",
    "BoxLabel",
    "ClassLabel",
    "Entity",
    "LabelInfo",
    "MaskClass",
    "MaskLabel",
    "SpanLabel",
    "attributes",
    "boxes",
    "classes",
    "find_attribute",
    "label_info",
    "line_source",
    "mask",
    "normalise_type",
    "spans",
]

BOX_TYPES = frozenset({"object-detection"})
CLASS_TYPES = frozenset(
    {
        "image-classification",
        "text-classification",
        "image-classification-multilabel",
        "text-classification-multilabel",
        "label-verification",
    }
)
SPAN_TYPES = frozenset({"text-span"})
MASK_TYPES = frozenset({"semantic-segmentation"})
CUSTOM_TYPES = frozenset({"custom"})

_META = "-metadata"
_NUMBER = (int, float)


class _Fallback(Exception):
    """The fast path met something it does not handle; let the contract path decide."""


# --------------------------------------------------------------------------------------------- attributes


def normalise_type(raw: Any) -> str:
    """The task part of a metadata ``type``: ``groundtruth/object-detection`` → ``object-detection``.

    ``groundTruth/custom`` (any case) → ``custom``; a missing or non-string type → ``""``.
    """
    if type(raw) is not str:
        return ""
    text = raw.strip().lower()
    if text.startswith("groundtruth/"):
        return text[len("groundtruth/") :]
    return text


def attributes(data: Mapping[str, Any]) -> list[str]:
    """Label attribute names on a line, in line order (every ``<attr>`` with an ``<attr>-metadata`` key)."""
    return [k[: -len(_META)] for k in data if k.endswith(_META) and len(k) > len(_META)]


def find_attribute(data: Mapping[str, Any], types: Iterable[str], preferred: str | None = None) -> str | None:
    """The first label attribute whose metadata ``type`` is one of ``types`` (``preferred`` is tried first)."""
    wanted = frozenset(types)
    if preferred is not None:
        meta = data.get(preferred + _META)
        if type(meta) is dict and normalise_type(meta.get("type")) in wanted:
            return preferred
    for key, meta in data.items():
        if key.endswith(_META) and type(meta) is dict and normalise_type(meta.get("type")) in wanted:
            name = key[: -len(_META)]
            if name:
                return name
    return None


def line_source(data: Mapping[str, Any]) -> str:
    """``source-ref`` (an S3 URI) or else ``source`` (inline text or data) of a line, as a string."""
    ref = data.get("source-ref")
    if type(ref) is str:
        return ref
    source = data.get("source")
    if type(source) is str:
        return source
    if source is None:
        raise ContractError("a manifest line needs source or source-ref", "$")
    return encode(source).decode()


def _pair(data: Mapping[str, Any], attr: str) -> tuple[Any, dict[str, Any]]:
    meta = data.get(attr + _META)
    if meta is None:
        raise ContractError(f"the line has no {attr!r} label (no {attr}-metadata key)", "$")
    if type(meta) is not dict:
        raise ContractError(f"expected an object, got {type_name(meta)}", child_path("$", attr + _META))
    return data.get(attr), meta


def _parse_attribute(data: Mapping[str, Any], attr: str) -> LabelAttribute:
    value, meta = _pair(data, attr)
    return LabelAttribute.parse(attr, value, meta, "$")


def _num(value: Any, path: str) -> float:
    """A finite number; ints stay ints (so ``111`` is written back as ``111``), numeric strings become floats."""
    if type(value) is int:
        return value
    return as_number(value, path)


# --------------------------------------------------------------------------------------------- label info


@dataclass(frozen=True, slots=True)
class LabelInfo:
    """The common metadata of one label attribute."""

    attribute: str
    type: str
    job_name: str | None
    human_annotated: bool | None
    creation_date: str | None


def _strip_job(name: str) -> str:
    return name[len("labeling-job/") :] if name.startswith("labeling-job/") else name


def label_info(data: Mapping[str, Any], attr: str, *, fast: bool = True) -> LabelInfo:
    """Type, job name (either spelling, ``labeling-job/`` prefix removed), human-annotated and creation date."""
    _value, meta = _pair(data, attr)
    if fast:
        try:
            job = meta.get("job-name", meta.get("job_name"))
            human = meta.get("human-annotated", meta.get("human_annotated"))
            created = meta.get("creation-date", meta.get("creation_date"))
            if job is not None and type(job) is not str:
                raise _Fallback
            if created is not None and type(created) is not str:
                raise _Fallback
            if human == "yes" or human is True:
                annotated: bool | None = True
            elif human == "no" or human is False:
                annotated = False
            elif human is None:
                annotated = None
            else:
                raise _Fallback
            return LabelInfo(
                attr, normalise_type(meta.get("type")), None if job is None else _strip_job(job), annotated, created
            )
        except _Fallback:
            pass
    parsed = LabelMetadata.parse(Obj(meta, child_path("$", attr + _META)))
    return LabelInfo(attr, normalise_type(parsed.type), parsed.job_name, parsed.human_annotated, parsed.creation_date)


# --------------------------------------------------------------------------------------------- boxes


class Box(NamedTuple):
    """One bounding box in pixels, origin at the top-left corner (GT's convention)."""

    class_id: int
    left: float
    top: float
    width: float
    height: float
    confidence: float | None


class BoxLabel(NamedTuple):
    """A bounding-box label: the image size from ``image_size`` and the boxes with their confidences."""

    width: float | None
    height: float | None
    depth: int | None
    boxes: tuple[Box, ...]
    class_map: dict[str, str]

    def class_name(self, class_id: int) -> str | None:
        return self.class_map.get(str(class_id))


def _check_box(box: Box, index: int, attr: str) -> None:
    if box.width <= 0 or box.height <= 0:
        path = child_path(child_path(child_path("$", attr), "annotations"), index)
        raise ContractError(f"box has a non-positive size ({box.width} x {box.height})", path)


_new_box = tuple.__new__  # Box(...) runs a Python-level __new__; this is the C constructor it wraps


def _boxes_fast(value: Any, meta: dict[str, Any]) -> BoxLabel:
    size = value.get("image_size")
    if size:
        first = size[0]
        width = first["width"]
        height = first["height"]
        depth = first.get("depth")
        if type(width) not in _NUMBER or type(height) not in _NUMBER or (depth is not None and type(depth) is not int):
            raise _Fallback
    else:
        width = height = depth = None
    objects = meta.get("objects")
    class_map = meta.get("class-map") or {}
    if type(class_map) is not dict:
        raise _Fallback
    for name in class_map.values():
        if type(name) is not str:
            raise _Fallback
    out: list[Box] = []
    append = out.append
    number = _NUMBER
    for index, item in enumerate(value["annotations"]):
        class_id = item["class_id"]
        left = item["left"]
        top = item["top"]
        w = item["width"]
        h = item["height"]
        if (
            type(class_id) is not int
            or type(left) not in number
            or type(top) not in number
            or type(w) not in number
            or type(h) not in number
            or w <= 0
            or h <= 0
        ):
            raise _Fallback
        if objects is None:
            confidence = None
        else:
            confidence = objects[index]["confidence"]
            if type(confidence) not in number:
                raise _Fallback
        append(_new_box(Box, (class_id, left, top, w, h, confidence)))
    if objects is not None and len(objects) != len(out):
        raise _Fallback
    return _new_box(BoxLabel, (width, height, depth, tuple(out), class_map))


def _boxes_contract(data: Mapping[str, Any], attr: str) -> BoxLabel:
    parsed = _parse_attribute(data, attr)
    value_path = child_path("$", attr)
    value = Obj(parsed.value, value_path)
    width = height = None
    depth = None
    sizes = value.opt_list("image_size")
    if sizes:
        first = Obj(sizes[0], child_path(value.key_path("image_size"), 0))
        width = _num(first.raw("width"), first.key_path("width"))
        height = _num(first.raw("height"), first.key_path("height"))
        depth = first.opt_int("depth")
    meta = parsed.metadata
    confidences = None if meta is None else meta.objects
    boxes = []
    for index, item in enumerate(value.objs("annotations", required=True)):
        confidence = None
        if confidences is not None and index < len(confidences):
            confidence = confidences[index]
        boxes.append(
            Box(
                item.integer("class_id"),
                _num(item.raw("left"), item.key_path("left")),
                _num(item.raw("top"), item.key_path("top")),
                _num(item.raw("width"), item.key_path("width")),
                _num(item.raw("height"), item.key_path("height")),
                confidence,
            )
        )
    class_map = {} if meta is None or meta.class_map is None else dict(meta.class_map)
    return BoxLabel(width, height, depth, tuple(boxes), class_map)


def boxes(data: Mapping[str, Any], attr: str, *, fast: bool = True) -> BoxLabel:
    """The bounding-box label ``attr`` of a line (``groundtruth/object-detection``).

    A box with a non-positive width or height is an error. ``width``/``height`` are ``None`` when the line
    has no ``image_size``. When ``objects`` (the per-box confidences) has a different length than the boxes,
    the missing confidences are ``None``.
    """
    if fast:
        try:
            return _boxes_fast(data[attr], data[attr + _META])
        except Exception:  # any surprise (KeyError, TypeError, a bad box, _Fallback): the contract path decides
            pass
    label = _boxes_contract(data, attr)
    for index, box in enumerate(label.boxes):
        _check_box(box, index, attr)
    return label


# --------------------------------------------------------------------------------------------- classes


@dataclass(frozen=True, slots=True)
class ClassLabel:
    """A classification label: one class id (single-label, verification) or several (multi-label)."""

    class_ids: tuple[int, ...]
    names: tuple[str | None, ...]
    confidences: tuple[float | None, ...]
    multilabel: bool


def _classes_fast(value: Any, meta: dict[str, Any], task: str) -> ClassLabel:
    if task.endswith("-multilabel"):
        if type(value) is not list:
            raise _Fallback
        class_map = meta.get("class-map") or {}
        confidence_map = meta.get("confidence-map") or {}
        ids = []
        names: list[str | None] = []
        confidences: list[float | None] = []
        for class_id in value:
            if type(class_id) is not int:
                raise _Fallback
            key = str(class_id)
            name = class_map.get(key)
            confidence = confidence_map.get(key)
            if (name is not None and type(name) is not str) or (
                confidence is not None and type(confidence) not in _NUMBER
            ):
                raise _Fallback
            ids.append(class_id)
            names.append(name)
            confidences.append(confidence)
        for other in class_map.values():
            if type(other) is not str:
                raise _Fallback
        for other in confidence_map.values():
            if type(other) not in _NUMBER:
                raise _Fallback
        return ClassLabel(tuple(ids), tuple(names), tuple(confidences), True)
    if type(value) is not int:
        raise _Fallback
    name = meta.get("class-name")
    confidence = meta.get("confidence")
    if (name is not None and type(name) is not str) or (confidence is not None and type(confidence) not in _NUMBER):
        raise _Fallback
    return ClassLabel((value,), (name,), (confidence,), False)


def _classes_contract(data: Mapping[str, Any], attr: str, task: str) -> ClassLabel:
    parsed = _parse_attribute(data, attr)
    meta = parsed.metadata
    assert meta is not None
    path = child_path("$", attr)
    if parsed.value is None:
        raise ContractError("required field is missing", path)
    if task.endswith("-multilabel"):
        ids = tuple(parsed.class_ids())
        class_map = meta.class_map or {}
        confidence_map = meta.confidence_map or {}
        return ClassLabel(
            ids,
            tuple(class_map.get(str(i)) for i in ids),
            tuple(confidence_map.get(str(i)) for i in ids),
            True,
        )
    return ClassLabel((as_int(parsed.value, path),), (meta.class_name,), (meta.confidence,), False)


def classes(data: Mapping[str, Any], attr: str, *, fast: bool = True) -> ClassLabel:
    """The classification label ``attr`` (single, multi-label or label verification) of a line."""
    value, meta = _pair(data, attr)
    task = normalise_type(meta.get("type"))
    if fast:
        try:
            return _classes_fast(value, meta, task)
        except Exception:  # see boxes(): the contract path decides
            pass
    return _classes_contract(data, attr, task)


# --------------------------------------------------------------------------------------------- spans (NER)


class Entity(NamedTuple):
    """One named-entity span: ``start`` inclusive, ``end`` exclusive, in Unicode code points."""

    label: str
    start: int
    end: int
    confidence: float | None


@dataclass(frozen=True, slots=True)
class SpanLabel:
    """A NER label: the text (``source``) and its entity spans, sorted by start offset."""

    text: str | None
    entities: tuple[Entity, ...]
    labels: tuple[str, ...]


def _check_spans(label: SpanLabel, attr: str) -> SpanLabel:
    entities = tuple(sorted(label.entities, key=lambda e: (e.start, e.end)))
    base = child_path(child_path(child_path("$", attr), "annotations"), "entities")
    for index, entity in enumerate(label.entities):
        limit = len(label.text) if label.text is not None else None
        if entity.start < 0 or entity.end <= entity.start or (limit is not None and entity.end > limit):
            bound = f" of a {limit}-character text" if limit is not None else ""
            raise ContractError(
                f"entity offsets [{entity.start}, {entity.end}) are not a non-empty span{bound}",
                child_path(base, index),
            )
    return SpanLabel(label.text, entities, label.labels)


def _spans_contract(data: Mapping[str, Any], attr: str) -> SpanLabel:
    parsed = _parse_attribute(data, attr)
    meta = parsed.metadata
    value = Obj(parsed.value, child_path("$", attr))
    annotations = value.obj("annotations")
    confidences = None if meta is None else meta.entities
    entities = []
    for index, item in enumerate(annotations.objs("entities")):
        confidence = confidences[index] if confidences is not None and index < len(confidences) else None
        entities.append(
            Entity(item.string("label"), item.integer("startOffset"), item.integer("endOffset"), confidence)
        )
    labels = tuple(item.string("label") for item in annotations.objs("labels"))
    source = data.get("source")
    return SpanLabel(source if isinstance(source, str) else None, tuple(entities), labels)


def spans(data: Mapping[str, Any], attr: str, *, fast: bool = True) -> SpanLabel:
    """The NER label ``attr`` (``groundtruth/text-span``) of a line; the text is the line's ``source``."""
    if fast:
        try:
            value, meta = _pair(data, attr)
            annotations = value["annotations"]
            confidences = meta.get("entities")
            entities = []
            for index, item in enumerate(annotations.get("entities") or ()):
                label, start, end = item["label"], item["startOffset"], item["endOffset"]
                if type(label) is not str or type(start) is not int or type(end) is not int:
                    raise _Fallback
                confidence = None
                if confidences is not None and index < len(confidences):
                    confidence = confidences[index]["confidence"]
                    if type(confidence) not in _NUMBER:
                        raise _Fallback
                entities.append(Entity(label, start, end, confidence))
            if confidences is not None and len(confidences) > len(entities):
                for extra in confidences[len(entities) :]:
                    if type(extra["confidence"]) not in _NUMBER:
                        raise _Fallback
            labels = []
            for item in annotations.get("labels") or ():
                if type(item["label"]) is not str:
                    raise _Fallback
                labels.append(item["label"])
            source = data.get("source")
            return _check_spans(
                SpanLabel(source if type(source) is str else None, tuple(entities), tuple(labels)), attr
            )
        except ContractError:
            raise
        except Exception:  # see boxes(): the contract path decides
            pass
    return _check_spans(_spans_contract(data, attr), attr)


# --------------------------------------------------------------------------------------------- masks


class MaskClass(NamedTuple):
    """One entry of ``internal-color-map``: the class at a mask index."""

    name: str
    hex_color: str | None
    confidence: float | None


@dataclass(frozen=True, slots=True)
class MaskLabel:
    """A semantic-segmentation label: the S3 URI of the label PNG and its index → class map."""

    uri: str
    classes: dict[int, MaskClass]


def mask(data: Mapping[str, Any], attr: str, *, fast: bool = True) -> MaskLabel:
    """The semantic-segmentation label ``attr`` (``groundtruth/semantic-segmentation``, attribute ends ``-ref``)."""
    del fast  # one small dict per line: the contract path is cheap enough and the only implementation
    parsed = _parse_attribute(data, attr)
    path = child_path("$", attr)
    if parsed.value is None:
        raise ContractError("required field is missing", path)
    uri = as_str(parsed.value, path)
    meta = parsed.metadata
    colors = {} if meta is None or meta.internal_color_map is None else meta.internal_color_map
    base = child_path(child_path("$", attr + _META), "internal-color-map")
    out: dict[int, MaskClass] = {}
    for key, entry in colors.items():
        o = Obj(entry, child_path(base, key))
        index = as_int(key, child_path(base, key))
        out[index] = MaskClass(o.string("class-name"), o.opt_str("hex-color"), o.opt_number("confidence"))
    return MaskLabel(uri, dict(sorted(out.items())))
