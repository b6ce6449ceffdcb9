"""Imports every built-in exporter so that each registers itself in :data:`truthloop.export.base.FORMATS`."""

from __future__ import annotations

from truthloop.export import a2i, classification, coco, hf, ner, preferences, segmentation, voc, yolo

__all__ = ["a2i", "classification", "coco", "hf", "ner", "preferences", "segmentation", "voc", "yolo"]
