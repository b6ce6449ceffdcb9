"""Semantic segmentation → ``masks.csv`` (image, mask PNG URI) and ``class_map.json`` (mask index → class).

GT stores each mask as a PNG in S3 (the ``<attr>-ref`` value) and its colours in ``internal-color-map``; the
masks themselves are not copied. ``class_map.json`` is ``{"<index>": {"name", "color"}}`` merged over all lines;
a line that gives an index a different class name than an earlier line is skipped with the reason.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, ClassVar

from truthloop.exceptions import ExportError
from truthloop.export._files import AtomicFile
from truthloop.export.base import Exporter, register
from truthloop.manifest._json import encode
from truthloop.manifest.labels import MASK_TYPES, MaskClass, line_source, mask
from truthloop.manifest.reader import Record

__all__ = ["SegmentationExporter"]


@register
class SegmentationExporter(Exporter):
    name: ClassVar[str] = "semseg"
    summary: ClassVar[str] = "semantic segmentation → masks.csv (image, mask URI) and class_map.json"
    label_types = MASK_TYPES
    writes: ClassVar[str] = "directory"

    def __init__(self, out: Path, *, attribute: str | None = None, **options: Any) -> None:
        super().__init__(out, attribute=attribute, **options)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"{out}: cannot create the output folder: {exc.strerror or exc}") from None
        self._file = AtomicFile(out / "masks.csv")
        self._file.write(b"source,mask\n")
        self._classes: dict[int, MaskClass] = {}

    def add(self, record: Record) -> int:
        attr = self.label_attribute(record)
        label = mask(record.data, attr)
        for index, entry in label.classes.items():
            known = self._classes.get(index)
            if known is not None and known.name != entry.name:
                raise record.error(f"{attr}: mask index {index} is {entry.name!r} here but {known.name!r} earlier")
        for index, entry in label.classes.items():
            self._classes.setdefault(index, entry)
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow((line_source(record.data), label.uri))
        self._file.write(buffer.getvalue().encode())
        return 1

    def close(self) -> list[Path]:
        self._file.commit()
        table = {str(i): {"name": c.name, "color": c.hex_color} for i, c in sorted(self._classes.items())}
        (self.out / "class_map.json").write_bytes(encode(table) + b"\n")
        return [self.out]

    def abort(self) -> None:
        super().abort()
        self._file.discard()
