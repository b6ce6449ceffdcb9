"""Helpers to build real-shaped output-manifest lines for export tests."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest


def box_line(
    ref: str,
    boxes: list[tuple[Any, Any, Any, Any, Any]],
    *,
    attr: str = "bb",
    size: tuple[int, int] = (640, 480),
    names: dict[str, str] | None = None,
    confidences: list[Any] | None = None,
    **meta: Any,
) -> dict[str, Any]:
    """A ``groundtruth/object-detection`` line; boxes are ``(class_id, left, top, width, height)``."""
    metadata = {
        "objects": [{"confidence": c} for c in (confidences or [0.9] * len(boxes))],
        "class-map": names if names is not None else {"0": "person", "1": "car"},
        "type": "groundtruth/object-detection",
        "human-annotated": "yes",
        "creation-date": "2024-05-01T10:00:00.000000",
        "job-name": "street",
        **meta,
    }
    value = {
        "image_size": [{"width": size[0], "height": size[1], "depth": 3}],
        "annotations": [dict(zip(("class_id", "left", "top", "width", "height"), b, strict=True)) for b in boxes],
    }
    return {"source-ref": ref, attr: value, f"{attr}-metadata": metadata}


@pytest.fixture
def write_manifest(tmp_path: Path):  # type: ignore[no-untyped-def]
    def write(lines: Iterable[dict[str, Any] | str], name: str = "in.manifest") -> Path:
        path = tmp_path / name
        path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
        return path

    return write
