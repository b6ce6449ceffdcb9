"""docs/review.md is code: its Python blocks run in order, in one namespace, and their assertions hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "review.md"


def test_the_review_guide_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the guide's Python blocks, run from the repository root
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 8
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {"__name__": "docs_review"}
    # WHEN / THEN every block runs (each carries its own assertions)
    for number, block in enumerate(blocks, start=1):
        try:
            exec(compile(block, f"{DOC.name}:python-block-{number}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message is the point
            raise AssertionError(f"docs/review.md Python block {number} failed: {exc!r}\n{block}") from exc
    stubber = namespace["stubber"]
    stubber.assert_no_pending_responses()  # type: ignore[attr-defined]
    stubber.deactivate()  # type: ignore[attr-defined]
