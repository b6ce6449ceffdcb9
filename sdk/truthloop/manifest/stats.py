"""Counts over a manifest: labels per class, a confidence histogram, human vs auto labels, objects per worker."""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from truthloop.exceptions import ContractError, ManifestLineError
from truthloop.manifest.labels import (
    BOX_TYPES,
    CLASS_TYPES,
    MASK_TYPES,
    SPAN_TYPES,
    attributes,
    boxes,
    classes,
    label_info,
    mask,
    spans,
)
from truthloop.manifest.reader import ManifestReader, OnError, OnProgress

__all__ = ["BINS", "AttributeStats", "ManifestStats", "label_confidences", "manifest_stats"]

#: Confidence histogram bins: [0, 0.1), [0.1, 0.2), … [0.9, 1.0].
BINS = 10


@dataclass
class AttributeStats:
    """Counts for one label attribute."""

    type: str
    lines: int = 0
    human: int = 0
    auto: int = 0
    objects: int = 0
    classes: Counter[str] = field(default_factory=Counter)
    jobs: Counter[str] = field(default_factory=Counter)
    histogram: list[int] = field(default_factory=lambda: [0] * BINS)
    workers: Counter[str] = field(default_factory=Counter)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "lines": self.lines,
            "human_annotated": self.human,
            "auto_labeled": self.auto,
            "objects": self.objects,
            "classes": dict(sorted(self.classes.items())),
            "jobs": dict(sorted(self.jobs.items())),
            "confidence_histogram": {f"{i / BINS:.1f}-{(i + 1) / BINS:.1f}": n for i, n in enumerate(self.histogram)},
            "objects_per_worker": dict(sorted(self.workers.items())),
        }


@dataclass
class ManifestStats:
    """Counts over a whole manifest, per label attribute."""

    lines: int = 0
    skipped: int = 0
    attributes: dict[str, AttributeStats] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "skipped": self.skipped,
            "attributes": {name: s.to_dict() for name, s in self.attributes.items()},
        }


def label_confidences(data: dict[str, Any], attr: str, task: str) -> tuple[list[float], list[str]]:
    """The confidences and class names of one label (one entry per object for boxes and entities)."""
    if task in BOX_TYPES:
        label = boxes(data, attr)
        return (
            [b.confidence for b in label.boxes if b.confidence is not None],
            [label.class_name(b.class_id) or str(b.class_id) for b in label.boxes],
        )
    if task in CLASS_TYPES:
        cls = classes(data, attr)
        names = [n if n is not None else str(i) for i, n in zip(cls.class_ids, cls.names, strict=True)]
        return [c for c in cls.confidences if c is not None], names
    if task in SPAN_TYPES:
        span = spans(data, attr)
        return [e.confidence for e in span.entities if e.confidence is not None], [e.label for e in span.entities]
    if task in MASK_TYPES:
        seg = mask(data, attr)
        return [c.confidence for c in seg.classes.values() if c.confidence is not None], [
            c.name for c in seg.classes.values()
        ]
    return [], []


def _workers(value: Any) -> list[str]:
    """Worker ids of per-worker answers kept in a custom label value (pass-through consolidation)."""
    if not isinstance(value, dict):
        return []
    for key in ("annotationsFromAllWorkers", "annotations", "answers"):
        items = value.get(key)
        if isinstance(items, list):
            return [i["workerId"] for i in items if isinstance(i, dict) and isinstance(i.get("workerId"), str)]
    return []


def manifest_stats(
    uri: str | os.PathLike[str],
    *,
    s3_client: Any | None = None,
    on_error: OnError | None = None,
    on_progress: OnProgress | None = None,
) -> ManifestStats:
    """Stream ``uri`` once and count, per label attribute, classes, confidences, human/auto labels and workers.

    A line whose label is malformed is passed to ``on_error`` (raised when it is None) and counted as skipped.
    """
    stats = ManifestStats()

    def report(error: ManifestLineError) -> None:
        stats.skipped += 1
        if on_error is None:
            raise error
        on_error(error)

    reader = ManifestReader(uri, s3_client=s3_client, on_error=report, require_source=True, on_progress=on_progress)
    for record in reader:
        try:  # read every label of the line first, so a malformed line leaves no partial counts
            labels = []
            for attr in attributes(record.data):
                info = label_info(record.data, attr)
                labels.append((attr, info, *label_confidences(record.data, attr, info.type)))
        except ContractError as exc:
            report(record.error(str(exc)))
            continue
        for attr, info, confidences, names in labels:
            entry = stats.attributes.get(attr)
            if entry is None:
                entry = stats.attributes[attr] = AttributeStats(info.type or "unknown")
            entry.lines += 1
            entry.human += info.human_annotated is True
            entry.auto += info.human_annotated is False
            entry.objects += len(names)
            entry.classes.update(names)
            if info.job_name:
                entry.jobs[info.job_name] += 1
            for confidence in confidences:
                entry.histogram[min(BINS - 1, max(0, int(confidence * BINS)))] += 1
            entry.workers.update(_workers(record.data.get(attr)))
    stats.lines = reader.lines_read
    return stats
