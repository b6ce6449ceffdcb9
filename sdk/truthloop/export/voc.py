"""Bounding boxes → Pascal VOC: one ``Annotations/<bucket>/<key>.xml`` per image plus ``labels.txt``.

``xmin = left``, ``ymin = top``, ``xmax = left + width``, ``ymax = top + height`` in pixels, rounded to whole
pixels (VOC tools read integers); ``pose`` is ``Unspecified`` and ``truncated``/``difficult`` are 0 because GT
records neither. Text is escaped by :mod:`xml.etree.ElementTree`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, ClassVar

from truthloop.exceptions import ExportError
from truthloop.export._files import path_for_source
from truthloop.export.base import Exporter, register
from truthloop.export.coco import CategoryTable
from truthloop.manifest.labels import BOX_TYPES, boxes
from truthloop.manifest.reader import Record

__all__ = ["VocExporter"]


def _text(parent: ET.Element, tag: str, value: object) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = str(value)
    return element


def _pixel(value: float) -> int:
    return round(value)


@register
class VocExporter(Exporter):
    name: ClassVar[str] = "voc"
    summary: ClassVar[str] = "bounding boxes → Pascal VOC XML, one file per image, and labels.txt"
    label_types = BOX_TYPES
    writes: ClassVar[str] = "directory"

    def __init__(self, out: Path, *, attribute: str | None = None, **options: Any) -> None:
        super().__init__(out, attribute=attribute, **options)
        try:
            (out / "Annotations").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"{out}: cannot create the output folder: {exc.strerror or exc}") from None
        self._categories = CategoryTable()

    def add(self, record: Record) -> int:
        attr = self.label_attribute(record)
        source = record.data.get("source-ref")
        if type(source) is not str:
            raise record.error("VOC needs an image: the line has no source-ref")
        label = boxes(record.data, attr)
        if label.width is None or label.height is None:
            raise record.error(f"{attr}: no image_size; VOC records the image width and height")
        conflict = self._categories.update(label.class_map, {box.class_id for box in label.boxes})
        if conflict is not None:
            raise record.error(f"{attr}: {conflict}")
        relative = path_for_source(source, ".xml")
        root = ET.Element("annotation")
        _text(root, "folder", relative.parent.as_posix())
        _text(root, "filename", source.rsplit("/", 1)[-1])
        _text(root, "path", source)
        _text(ET.SubElement(root, "source"), "database", "SageMaker Ground Truth")
        size = ET.SubElement(root, "size")
        _text(size, "width", _pixel(label.width))
        _text(size, "height", _pixel(label.height))
        _text(size, "depth", label.depth if label.depth is not None else 3)
        _text(root, "segmented", 0)
        for box in label.boxes:
            item = ET.SubElement(root, "object")
            _text(item, "name", label.class_name(box.class_id) or str(box.class_id))
            _text(item, "pose", "Unspecified")
            _text(item, "truncated", 0)
            _text(item, "difficult", 0)
            bndbox = ET.SubElement(item, "bndbox")
            _text(bndbox, "xmin", _pixel(box.left))
            _text(bndbox, "ymin", _pixel(box.top))
            _text(bndbox, "xmax", _pixel(box.left + box.width))
            _text(bndbox, "ymax", _pixel(box.top + box.height))
        ET.indent(root)
        target = self.out / "Annotations" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(ET.tostring(root, encoding="utf-8", xml_declaration=False) + b"\n")
        return len(label.boxes)

    def close(self) -> list[Path]:
        names = [name for _, name in self._categories.table()]
        (self.out / "labels.txt").write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
        return [self.out]
