"""Shared pytest fixtures for every test tier."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach AWS: dummy credentials and a fixed region."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL") or name == "AWS_PROFILE":
            monkeypatch.delenv(name, raising=False)


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(autouse=True)
def _no_leftover_metrics() -> None:
    """powertools' ``Metrics`` instances share one metric set per process: metrics an earlier test's in-process
    handler added without a flush (the local backend runs the GT functions in-process) would otherwise be printed by
    the next handler that flushes, and counted by a test reading its EMF output."""
    from aws_lambda_powertools import Metrics

    Metrics().clear_metrics()


@pytest.fixture
def service_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The environment of a test that starts the truthloop service in-process (``LocalService``): the dummy
    credentials its signature checks know, quiet powertools logs, and afterwards every variable put back as it was,
    whatever the service (or the test) set: its endpoints, table, bucket, queue, user pool, ... -- no list to keep in
    step with the service. Yields ``monkeypatch`` for the test's own changes."""
    saved = dict(os.environ)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "truthloop-test")
    yield monkeypatch
    os.environ.clear()
    os.environ.update(saved)
