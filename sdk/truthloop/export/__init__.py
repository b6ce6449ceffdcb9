"""Streaming exporters from GT output manifests (and A2I results) to training formats."""

from __future__ import annotations

from truthloop.export.base import FORMATS, Exporter, ExportReport, export, get_format, register

__all__ = ["FORMATS", "ExportReport", "Exporter", "export", "get_format", "register"]
