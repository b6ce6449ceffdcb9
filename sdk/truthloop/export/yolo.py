"""Bounding boxes → YOLO: one ``labels/<bucket>/<key>.txt`` per image plus ``images.txt`` and ``data.yaml``.

Each label line is ``class cx cy w h`` with the box centre and size divided by the image width/height (from
``image_size``), six decimals, as Ultralytics and darknet read them. Label files mirror the image's bucket and
key, so after copying the images to ``images/<bucket>/<key>`` (e.g. ``aws s3 sync s3://bucket/ images/bucket/``)
YOLO's images → labels path rule finds every label. Boxes are not clipped to the image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from truthloop.exceptions import ExportError
from truthloop.export._files import AtomicFile, json_str, path_for_source
from truthloop.export.base import Exporter, register
from truthloop.export.coco import CategoryTable
from truthloop.manifest.labels import BOX_TYPES, boxes
from truthloop.manifest.reader import Record

__all__ = ["YoloExporter"]


@register
class YoloExporter(Exporter):
    name: ClassVar[str] = "yolo"
    summary: ClassVar[str] = "bounding boxes → YOLO label files (normalised cx cy w h), images.txt and data.yaml"
    label_types = BOX_TYPES
    writes: ClassVar[str] = "directory"

    def __init__(self, out: Path, *, attribute: str | None = None, **options: Any) -> None:
        super().__init__(out, attribute=attribute, **options)
        try:
            (out / "labels").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"{out}: cannot create the output folder: {exc.strerror or exc}") from None
        self._images = AtomicFile(out / "images.txt")
        self._categories = CategoryTable()

    def add(self, record: Record) -> int:
        attr = self.label_attribute(record)
        source = record.data.get("source-ref")
        if type(source) is not str:
            raise record.error("YOLO needs an image: the line has no source-ref")
        label = boxes(record.data, attr)
        if not label.width or not label.height:
            raise record.error(f"{attr}: no image_size; YOLO normalises boxes by the image width and height")
        conflict = self._categories.update(label.class_map, {box.class_id for box in label.boxes})
        if conflict is not None:
            raise record.error(f"{attr}: {conflict}")
        relative = path_for_source(source, ".txt")
        width, height = float(label.width), float(label.height)
        rows = [
            f"{box.class_id} {(box.left + box.width / 2) / width:.6f} {(box.top + box.height / 2) / height:.6f} "
            f"{box.width / width:.6f} {box.height / height:.6f}\n"
            for box in label.boxes
        ]
        target = self.out / "labels" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(rows), encoding="utf-8")
        image = (Path("images") / relative).with_suffix(Path(source).suffix or ".jpg")
        self._images.write(f"./{image.as_posix()}\n".encode())
        return len(rows)

    def close(self) -> list[Path]:
        self._images.commit()
        # YOLO class ids run 0..nc-1: a gap in GT's class ids gets the id itself as its name.
        known = dict(self._categories.table())
        table = [(i, known.get(i, str(i))) for i in range(max(known) + 1)] if known else []
        names = "".join(f"\n  {class_id}: {json_str(name)}" for class_id, name in table) if table else " {}"
        data_yaml = (
            "# YOLO dataset written by truthloop from a SageMaker Ground Truth output manifest.\n"
            "# Copy the images to images/<bucket>/<key> (aws s3 sync s3://<bucket>/ images/<bucket>/);\n"
            "# labels/ mirrors that layout.\n"
            "path: .\n"
            "train: images.txt\n"
            "val: images.txt\n"
            f"nc: {len(table)}\n"
            f"names:{names}\n"
        )
        (self.out / "data.yaml").write_text(data_yaml, encoding="utf-8")
        return [self.out]

    def abort(self) -> None:
        super().abort()
        self._images.discard()
