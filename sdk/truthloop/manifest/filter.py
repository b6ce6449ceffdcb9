"""Keep the lines of a manifest that match: confidence range, human-annotated or not, classes present.

A line's confidence is the lowest confidence of its label (the label's ``confidence``, or the lowest per-object /
per-class confidence for boxes, entities, multi-label and masks); a line without any confidence fails a
confidence bound. Lines are written back byte for byte as they were read.
"""

from __future__ import annotations

import os
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from truthloop.exceptions import ContractError
from truthloop.manifest.io import open_output
from truthloop.manifest.labels import attributes, label_info
from truthloop.manifest.reader import ManifestReader, OnError, OnProgress
from truthloop.manifest.stats import label_confidences

__all__ = ["FilterReport", "filter_manifest"]


@dataclass
class FilterReport:
    """What a filter read, kept and skipped."""

    lines_read: int = 0
    lines_kept: int = 0
    skipped: int = 0


def filter_manifest(
    uri: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    attribute: str | None = None,
    min_confidence: float | None = None,
    max_confidence: float | None = None,
    human: bool | None = None,
    classes: Collection[str] = (),
    s3_client: Any | None = None,
    on_error: OnError | None = None,
    on_progress: OnProgress | None = None,
) -> FilterReport:
    """Write the lines of ``uri`` whose label ``attribute`` (default: the line's first) passes every condition."""
    report = FilterReport()
    wanted = set(classes)

    def skip(error: Any) -> None:
        report.skipped += 1
        if on_error is None:
            raise error
        on_error(error)

    reader = ManifestReader(uri, s3_client=s3_client, on_error=skip, require_source=True, on_progress=on_progress)
    with open_output(out, s3_client=s3_client) as handle:
        for item in reader.raw():
            record = reader.decode(item)
            if record is None:
                continue
            names = [attribute] if attribute is not None else attributes(record.data)[:1]
            if not names or f"{names[0]}-metadata" not in record.data:
                skip(record.error(f"no {attribute or 'label'} attribute on this line"))
                continue
            try:
                info = label_info(record.data, names[0])
                confidences, labels = label_confidences(record.data, names[0], info.type)
            except ContractError as exc:
                skip(record.error(str(exc)))
                continue
            confidence = min(confidences) if confidences else None
            if min_confidence is not None and (confidence is None or confidence < min_confidence):
                continue
            if max_confidence is not None and (confidence is None or confidence > max_confidence):
                continue
            if human is not None and info.human_annotated is not human:
                continue
            if wanted and not wanted.intersection(labels):
                continue
            raw = item[2]
            handle.write(raw if raw.endswith(b"\n") else raw + b"\n")
            report.lines_kept += 1
    report.lines_read = reader.lines_read
    return report
