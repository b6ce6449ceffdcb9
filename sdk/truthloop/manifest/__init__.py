"""Streaming reader/writer, merge, filter and stats for SageMaker Ground Truth augmented manifests."""

from __future__ import annotations

from truthloop.manifest.io import Location, open_output, parse_location
from truthloop.manifest.reader import ManifestReader, Record, read_manifest

__all__ = ["Location", "ManifestReader", "Record", "open_output", "parse_location", "read_manifest"]
