"""Categorical methods by short name (``mv``, ``wawa``, ``ds``, ``ods``, ``glad``, ``mace``, ``auto``), the default."""

from __future__ import annotations

from collections.abc import Callable

from truthloop.consolidation._base import CategoricalAggregator
from truthloop.consolidation.auto import AutoSelect
from truthloop.consolidation.dawid_skene import DawidSkene, OneCoinDawidSkene
from truthloop.consolidation.glad import GLAD
from truthloop.consolidation.mace import MACE
from truthloop.consolidation.majority import MajorityVote, Wawa
from truthloop.exceptions import ConsolidationError

__all__ = ["DEFAULT_METHOD", "METHODS", "make_aggregator"]

#: Short name → factory of a categorical aggregator with truthloop's default parameters.
METHODS: dict[str, Callable[[], CategoricalAggregator]] = {
    "mv": MajorityVote,
    "wawa": Wawa,
    "ds": DawidSkene,
    "ods": OneCoinDawidSkene,
    "glad": GLAD,
    "mace": MACE,
    "auto": AutoSelect,
}

#: Used when a job names no method; chosen from bench/consolidation.py (see docs/labeling.md).
DEFAULT_METHOD = "auto"


def make_aggregator(name: str | None = None) -> CategoricalAggregator:
    """A fresh aggregator for ``name`` (``None`` → :data:`DEFAULT_METHOD`); raises listing the known names."""
    key = (name or DEFAULT_METHOD).strip().lower()
    if key not in METHODS:
        raise ConsolidationError(f"unknown consolidation method {name!r}; known: {', '.join(METHODS)}")
    return METHODS[key]()
