"""The ``>>>`` examples in the consolidation, labeling and leaderboard docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import truthloop.consolidation
import truthloop.labeling
import truthloop.leaderboard

SUBMODULES = sorted(
    name
    for package in (truthloop.consolidation, truthloop.labeling, truthloop.leaderboard)
    for _, name, _ in pkgutil.iter_modules(package.__path__, package.__name__ + ".")
)
MODULES = ["truthloop.consolidation", "truthloop.labeling", "truthloop.leaderboard", *SUBMODULES]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
