"""Fixtures for the CDK tests (helpers live in tests/infra/support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def outdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cloud-assembly directory per test module (each module synthesizes its app once)."""
    return tmp_path_factory.mktemp("cdk.out")
