"""The response-shape guard over the whole functional suite (tests/support/shape_guard.py).

Every SageMaker and A2I runtime response a boto3 client receives from a loopback endpoint (the local backend) is
checked against botocore's model; a test during which a response did not fit fails with the list of misfits.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.shape_guard import ShapeGuard

GUARD = ShapeGuard()


@pytest.fixture(scope="session", autouse=True)
def _shape_guard_installed() -> Iterator[ShapeGuard]:
    with GUARD.installed():
        yield GUARD


@pytest.fixture(autouse=True)
def shape_guard(_shape_guard_installed: ShapeGuard) -> Iterator[ShapeGuard]:
    """Fails the test when a response received while it ran (its fixtures included) does not fit its shape."""
    before = len(GUARD.misfits)
    yield GUARD
    found = GUARD.misfits[before:]
    if found:
        listed = "\n  ".join(str(m) for m in found[:20])
        pytest.fail(f"{len(found)} response(s) do not fit botocore's model:\n  {listed}", pytrace=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if GUARD.checked:
        terminalreporter.write_line(
            f"shape guard: {GUARD.checked} responses checked over {len(GUARD.operations)} operations, "
            f"{len(GUARD.misfits)} misfit(s)"
        )
