"""Typed msgspec schemas for the fast path of bounding-box lines.

A line is decoded straight into structs, validated in C. The schema is at least as strict as the contract path
(:class:`truthloop.contracts.LabelAttribute` / :class:`~truthloop.contracts.LabelMetadata`) on every field
those validate — including the capitalised key variants the contract reader also looks up — so a line the fast
path accepts is one the contract path accepts with the same values. Anything the schema rejects (a numeric
string, a ``labeling-job/`` quirk the contracts tolerate, a bad field) falls back to the contract path, which
decides and names the problem.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import msgspec

__all__ = ["box_line_decoder"]

Number = int | float


class Size(msgspec.Struct, gc=False):
    width: Number
    height: Number
    depth: int | None = None


class BoxItem(msgspec.Struct, gc=False):
    class_id: int
    left: Number
    top: Number
    width: Number
    height: Number


class BoxValue(msgspec.Struct, gc=False):
    annotations: list[BoxItem]
    image_size: list[Size] = []


class Confidence(msgspec.Struct, gc=False):
    confidence: Number


class Feedback(msgspec.Struct, gc=False):
    comment: str | None = None


# Metadata fields the contract path validates, with a type at least as strict. ``human-annotated`` is a str or
# bool here; callers accept only the common values ("yes"/"no"/bool) and fall back otherwise.
_META_FIELDS: list[tuple[str, Any, Any]] = [
    ("type", str, msgspec.field(default="")),
    ("job-name", str | None, None),
    ("job_name", str | None, None),
    ("human-annotated", str | bool | None, None),
    ("human_annotated", str | bool | None, None),
    ("creation-date", str | None, None),
    ("creation_date", str | None, None),
    ("confidence", Number | None, None),
    ("class-name", str | Number | None, None),
    ("class-map", dict[str, str] | None, None),
    ("confidence-map", dict[str, Number] | None, None),
    ("objects", list[Confidence] | None, None),
    ("entities", list[Confidence] | None, None),
    ("internal-color-map", dict[str, dict[str, Any]] | None, None),
    ("worker-feedback", list[Feedback] | None, None),
    ("adjustment-status", str | None, None),
    ("worker-response-ref", str | None, None),
]


def _ident(key: str) -> str:
    """A Python field name for a JSON key: ``job-name`` → ``f_job__name``, ``job_name`` → ``f_job_name``."""
    return "f_" + key.replace("-", "__")


def _variants(key: str) -> list[str]:
    swapped = key[:1].upper() + key[1:] if key[:1].islower() else key[:1].lower() + key[1:]
    return [key] if swapped == key else [key, swapped]


def _meta_struct() -> type[msgspec.Struct]:
    fields: list[tuple[str, Any, Any]] = []
    rename: dict[str, str] = {}
    for key, kind, default in _META_FIELDS:
        for index, variant in enumerate(_variants(key)):
            name = _ident(key) + ("_alt" if index else "")
            fields.append((name, kind, default if index == 0 else None))
            rename[name] = variant
    return msgspec.defstruct("BoxMeta", fields, rename=rename, gc=False)


BoxMeta = _meta_struct()


@lru_cache(maxsize=32)
def box_line_decoder(attribute: str) -> msgspec.json.Decoder[Any]:
    """A decoder of lines carrying the bounding-box attribute ``attribute`` (``source-ref``, value, metadata)."""
    line = msgspec.defstruct(
        "BoxLine",
        [("source_ref", str), ("value", BoxValue), ("meta", BoxMeta)],
        rename={"source_ref": "source-ref", "value": attribute, "meta": attribute + "-metadata"},
        gc=False,
    )
    return msgspec.json.Decoder(line)
