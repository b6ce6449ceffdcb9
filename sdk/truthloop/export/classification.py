"""Classification (single, multi-label, verification) → CSV or JSON Lines.

CSV is long format, one row per (item, label): ``source,label,class_id,confidence,human_annotated,job_name``;
a multi-label item gives one row per label. JSONL is one object per item: ``{"source", "label", "class_id",
"confidence", "human_annotated", "job_name"}`` for single-label items and ``{"source", "labels", "class_ids",
"confidences", …}`` for multi-label items. ``source`` is ``source-ref`` or the inline ``source`` text; a class
without a name in the metadata is written as its id.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, ClassVar

from truthloop.export._files import AtomicFile
from truthloop.export.base import Exporter, register
from truthloop.manifest._json import dumps_line
from truthloop.manifest.labels import CLASS_TYPES, classes, label_info, line_source
from truthloop.manifest.reader import Record

__all__ = ["CsvExporter", "JsonlExporter"]

CSV_HEADER = ("source", "label", "class_id", "confidence", "human_annotated", "job_name")


def _flag(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


class _ClassificationExporter(Exporter):
    label_types = CLASS_TYPES

    def __init__(self, out: Path, *, attribute: str | None = None, **options: Any) -> None:
        super().__init__(out, attribute=attribute, **options)
        self._file = AtomicFile(out)

    def close(self) -> list[Path]:
        return [self._file.commit()]

    def abort(self) -> None:
        self._file.discard()


@register
class CsvExporter(_ClassificationExporter):
    name: ClassVar[str] = "csv"
    summary: ClassVar[str] = "classification → CSV, one row per item and label"

    def __init__(self, out: Path, *, attribute: str | None = None, **options: Any) -> None:
        super().__init__(out, attribute=attribute, **options)
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer, lineterminator="\n")
        self._writer.writerow(CSV_HEADER)
        self._flush()

    def _flush(self) -> None:
        self._file.write(self._buffer.getvalue().encode())
        self._buffer.seek(0)
        self._buffer.truncate()

    def add(self, record: Record) -> int:
        attr = self.label_attribute(record)
        label = classes(record.data, attr)
        info = label_info(record.data, attr)
        source = line_source(record.data)
        for class_id, name, confidence in zip(label.class_ids, label.names, label.confidences, strict=True):
            self._writer.writerow(
                (
                    source,
                    name if name is not None else str(class_id),
                    class_id,
                    "" if confidence is None else confidence,
                    _flag(info.human_annotated),
                    info.job_name or "",
                )
            )
        self._flush()
        return len(label.class_ids)


@register
class JsonlExporter(_ClassificationExporter):
    name: ClassVar[str] = "jsonl"
    summary: ClassVar[str] = "classification → JSON Lines, one object per item"

    def add(self, record: Record) -> int:
        attr = self.label_attribute(record)
        label = classes(record.data, attr)
        info = label_info(record.data, attr)
        names = [n if n is not None else str(i) for i, n in zip(label.class_ids, label.names, strict=True)]
        row: dict[str, Any] = {"source": line_source(record.data)}
        if label.multilabel:
            row.update(labels=names, class_ids=list(label.class_ids), confidences=list(label.confidences))
        else:
            row.update(label=names[0], class_id=label.class_ids[0], confidence=label.confidences[0])
        row.update(human_annotated=info.human_annotated, job_name=info.job_name)
        self._file.write(dumps_line(row))
        return 1
