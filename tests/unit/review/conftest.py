"""Fixtures for the review tests: service responses written from aws-contracts.md §9–§10."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REVIEW_FIXTURES = Path(__file__).resolve().parent / "fixtures"


def load_fixture(name: str) -> Any:
    return json.loads((REVIEW_FIXTURES / name).read_text())


@pytest.fixture
def fixture() -> Any:
    return load_fixture
