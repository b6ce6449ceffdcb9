"""Which response a pairwise task shows first, as a function of what *both* Ground Truth Lambdas can see.

The pre-annotation Lambda receives the whole manifest line; the post-annotation Lambda only the data object
(``{"content": <source>}`` or ``{"s3Uri": <source-ref>}``, aws-contracts.md §2). So the order is derived from the
data object alone, and the post-annotation Lambda recomputes it when a worker's answer does not echo it:

>>> display_order_of({"source": "Which summary?", "responseA": "long", "responseB": "short"})
'ba'
>>> display_order_of({"content": "Which summary?"})  # the same object as the consolidation payload holds it
'ba'
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Literal

from truthloop.contracts._base import canonical_json

__all__ = ["DisplayOrder", "display_order", "display_order_of", "legacy_display_order"]

DisplayOrder = Literal["ab", "ba"]


def _from_digest(payload: Any) -> DisplayOrder:
    digest = hashlib.sha256(canonical_json(payload).encode("utf-8")).digest()
    return "ba" if digest[0] & 1 else "ab"


def display_order(source: str, *, ref: bool = False) -> DisplayOrder:
    """The deterministic left/right order of a pairwise task whose data object is ``source`` (``"ba"``: B first).

    ``ref=True`` when the object is a ``source-ref`` URI rather than inline ``source`` text. A SHA-256 of the
    object flips about half of the tasks, which cancels position bias across prompts.
    """
    return _from_digest(["source-ref" if ref else "source", source])


def display_order_of(data_object: Mapping[str, Any]) -> DisplayOrder | None:
    """:func:`display_order` of a manifest line (``source``/``source-ref``) or a payload ``dataObject``
    (``content``/``s3Uri``); ``None`` when it holds neither as text."""
    for text_key, ref_key in (("source", "source-ref"), ("content", "s3Uri")):
        text, ref = data_object.get(text_key), data_object.get(ref_key)
        if isinstance(text, str):
            return display_order(text)
        if isinstance(ref, str):
            return display_order(ref, ref=True)
    return None


def legacy_display_order(prompt: str, response_a: str, response_b: str) -> DisplayOrder:
    """The order truthloop's pre-annotation Lambda chose before it depended on the data object alone.

    Only to read outputs that an earlier post-annotation Lambda wrote with ``displayOrderKnown: false``.
    """
    return _from_digest([prompt, response_a, response_b])
