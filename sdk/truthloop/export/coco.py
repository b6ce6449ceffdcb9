"""Bounding boxes → one COCO detection JSON file.

Layout: ``{"info", "licenses", "images", "annotations", "categories"}``. Each manifest line becomes one image
(``id`` = 1, 2, … in line order; ``file_name`` = the line's ``source-ref``; ``width``/``height`` from
``image_size``), each box one annotation (``bbox`` = ``[left, top, width, height]`` in pixels exactly as GT
wrote them, ``area`` = width × height, ``iscrowd`` = 0). ``category_id`` is GT's ``class_id`` unchanged and
the category names come from the ``class-map`` metadata (the id as text when a class has no name anywhere).

Numbers are written by msgspec's JSON encoder (as every other truthloop output), so a float prints in its
shortest round-trip form without an exponent sign (``1e-5``, ``1e16``); ints stay ints.

Streaming: images go straight to the output, annotations to a temporary file next to it that is appended at
the end, and only the category table is kept in memory. Entries are small msgspec structs encoded a few
thousand at a time, which is several times cheaper than formatting each one in Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import msgspec

from truthloop.export._files import AtomicFile, SpoolFile
from truthloop.export.base import Exporter, OnSkip, register
from truthloop.manifest._json import encode as dumps
from truthloop.manifest._typed import box_line_decoder
from truthloop.manifest.labels import BOX_TYPES, boxes
from truthloop.manifest.reader import ManifestReader, Record

__all__ = ["CocoExporter"]

_HEADER = (
    b'{"info":{"description":"Exported by truthloop from a SageMaker Ground Truth output manifest",'
    b'"version":"1.0"},"licenses":[],"images":['
)


class CategoryTable:
    """class id → name, filled from every line's ``class-map``; conflicting names are reported per line."""

    def __init__(self) -> None:
        self.names: dict[int, str | None] = {}
        self._last_map: dict[str, str] | None = None

    def update(self, class_map: dict[str, str], class_ids: set[int]) -> str | None:
        """Record the names of ``class_ids``; return why the line conflicts with earlier lines, or None."""
        names = self.names
        if class_map == self._last_map and class_ids.issubset(names):
            return None  # the usual case: the same class-map as the line before
        for class_id in class_ids:
            name = class_map.get(str(class_id))
            known = names.get(class_id)
            if name is not None and known is not None and known != name:
                return f"class {class_id} is named {name!r} here but {known!r} on an earlier line"
        for class_id in class_ids:
            name = class_map.get(str(class_id))
            if name is not None or class_id not in names:
                names[class_id] = name if name is not None else names.get(class_id)
        if all(names.get(i) is not None for i in class_ids):
            self._last_map = class_map
        return None

    def table(self) -> list[tuple[int, str]]:
        return [(i, self.names[i] or str(i)) for i in sorted(self.names)]


_FLUSH_ITEMS = 8192


class _Image(msgspec.Struct, gc=False):
    """A COCO ``images`` entry; encoded with its fields in this order."""

    id: int
    file_name: str
    width: int | float
    height: int | float


class _Annotation(msgspec.Struct, gc=False):
    """A COCO ``annotations`` entry; encoded with its fields in this order."""

    id: int
    image_id: int
    category_id: int
    bbox: tuple[int | float, int | float, int | float, int | float]
    area: int | float
    iscrowd: int = 0


#: human-annotated values the fast path takes as they are; other spellings go through the contract path.
_HUMAN_COMMON = frozenset({"yes", "no", True, False, None})


class _Fallback(Exception):
    """The fast path met an unusual line; the general path handles it."""


@register
class CocoExporter(Exporter):
    name: ClassVar[str] = "coco"
    summary: ClassVar[str] = "bounding boxes → COCO detection JSON (images, annotations, categories)"
    label_types = BOX_TYPES
    option_help: ClassVar[Mapping[str, str]] = {
        "fast": "true (default) reads well-formed lines directly; false validates every line through the contracts"
    }

    def __init__(self, out: Path, *, attribute: str | None = None, **options: Any) -> None:
        super().__init__(out, attribute=attribute, **options)
        self._file = AtomicFile(out)
        self._file.write(_HEADER)
        self._annotations = SpoolFile(out)
        self._categories = CategoryTable()
        self._image_id = 0
        self._annotation_id = 0
        # Entries are collected as structs and written in batches: one encode/write per few thousand entries.
        self._images: list[_Image] = []
        self._boxes: list[_Annotation] = []
        self._images_written = False
        self._boxes_written = False
        self.fast = bool(options.get("fast", True))

    def add(self, record: Record) -> int:
        """The general path: :func:`truthloop.manifest.labels.boxes` validates the label through the contracts."""
        data = record.data
        attr = self.label_attribute(record)
        source = data.get("source-ref")
        if type(source) is not str:
            raise record.error("COCO needs an image: the line has no source-ref")
        label = boxes(data, attr, fast=False)
        if label.width is None or label.height is None:
            raise record.error(f"{attr}: no image_size; COCO images need a width and height")
        conflict = self._categories.update(label.class_map, {box[0] for box in label.boxes})
        if conflict is not None:
            raise record.error(f"{attr}: {conflict}")
        return self._write(source, label.width, label.height, [box[:5] for box in label.boxes])

    def consume(self, reader: ManifestReader, skip: OnSkip) -> tuple[int, int]:
        """The hot path: each line is decoded by a typed msgspec decoder (validation in C) and written in this
        one loop. A line it rejects (a string class id, a missing key, the first line, a new class name…) is
        decoded generically and goes through :meth:`add`, which decides and names any problem.

        Both paths write exactly the same thing for the same line (tests export a corpus both ways).
        """
        if not self.fast:
            return super().consume(reader, skip)
        exported = written = 0
        categories = self._categories
        images = self._images
        annotations = self._boxes
        decoder: Any = None
        last_type: Any = None
        image_id = self._image_id
        annotation_id = self._annotation_id
        decode_record = reader.decode
        new_image = _Image
        new_annotation = _Annotation
        for source, first, batch in reader.batches():
            for number, raw in enumerate(batch, first):
                try:
                    if not raw.isascii():
                        raw.decode()  # msgspec checks UTF-8 only in the strings it decodes; the general path in all
                    line = decoder.decode(raw)
                    meta = line.meta
                    if (
                        meta.f_type != last_type
                        or meta.f_human__annotated not in _HUMAN_COMMON
                        or meta.f_human__annotated_alt is not None
                        or meta.f_human_annotated is not None
                        or meta.f_human_annotated_alt is not None
                    ):
                        raise _Fallback
                    value = line.value
                    size = value.image_size[0]
                    boxes_ = value.annotations
                    objects = meta.f_objects
                    if objects is not None and len(objects) != len(boxes_):
                        raise _Fallback
                    ids = set()
                    for box in boxes_:
                        if box.width <= 0 or box.height <= 0:
                            raise _Fallback
                        ids.add(box.class_id)
                    if categories.update(meta.f_class__map or {}, ids) is not None:
                        raise _Fallback  # a naming conflict: the general path reports it
                except Exception:  # not the common shape (or no decoder yet): the general path decides
                    record = decode_record((source, number, raw))
                    if record is None:
                        continue
                    self._image_id = image_id
                    self._annotation_id = annotation_id
                    items = self.add_or_skip(record, skip)
                    if items is not None:
                        exported += 1
                        written += items
                        if self._last_type != last_type or decoder is None:
                            last_type = self._last_type
                            decoder = box_line_decoder(self._last_attribute or "")
                    image_id = self._image_id
                    annotation_id = self._annotation_id
                    continue
                image_id += 1
                images.append(new_image(image_id, line.source_ref, size.width, size.height))
                for box in boxes_:
                    annotation_id += 1
                    w = box.width
                    h = box.height
                    annotations.append(
                        new_annotation(annotation_id, image_id, box.class_id, (box.left, box.top, w, h), w * h)
                    )
                exported += 1
                written += len(boxes_)
                if len(annotations) >= _FLUSH_ITEMS:
                    self._flush_boxes()
                if len(images) >= _FLUSH_ITEMS:
                    self._flush_images()
        self._image_id = image_id
        self._annotation_id = annotation_id
        return exported, written

    def _write(
        self, source: str, width: float, height: float, found: list[tuple[int, float, float, float, float]]
    ) -> int:
        self._image_id = image_id = self._image_id + 1
        self._images.append(_Image(image_id, source, width, height))
        if len(self._images) >= _FLUSH_ITEMS:
            self._flush_images()
        annotation_id = self._annotation_id
        append = self._boxes.append
        for class_id, left, top, w, h in found:
            annotation_id += 1
            append(_Annotation(annotation_id, image_id, class_id, (left, top, w, h), w * h))
        self._annotation_id = annotation_id
        if len(self._boxes) >= _FLUSH_ITEMS:
            self._flush_boxes()
        return len(found)

    def _flush_images(self) -> None:
        if self._images:
            encoded = dumps(self._images)  # [{…},{…}]: the entries, comma-separated, in brackets
            self._file.write(b"," + encoded[1:-1] if self._images_written else encoded[1:-1])
            self._images_written = True
            self._images.clear()

    def _flush_boxes(self) -> None:
        if self._boxes:
            encoded = dumps(self._boxes)
            self._annotations.write(b"," + encoded[1:-1] if self._boxes_written else encoded[1:-1])
            self._boxes_written = True
            self._boxes.clear()

    def close(self) -> list[Path]:
        self._flush_images()
        self._flush_boxes()
        self._file.write(b'],"annotations":[')
        self._annotations.copy_to(self._file)
        self._annotations.close()
        categories = ",".join(f'{{"id":{i},"name":{dumps(name).decode()}}}' for i, name in self._categories.table())
        self._file.write(f'],"categories":[{categories}]}}\n'.encode())
        return [self._file.commit()]

    def abort(self) -> None:
        self._annotations.close()
        self._file.discard()
