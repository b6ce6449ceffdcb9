"""Imports every built-in exporter so that each registers itself in :data:`truthloop.export.base.FORMATS`."""

from __future__ import annotations

from truthloop.export import coco

__all__ = ["coco"]
