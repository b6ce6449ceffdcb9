"""docs/labeling.md: every ```python block runs, in order, in one namespace, from the repository root."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "labeling.md"


def test_python_examples_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the guide's Python blocks
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) >= 6
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {"__name__": "docs_labeling"}
    # WHEN / THEN each runs without error (their asserts are the checks)
    for number, block in enumerate(blocks, start=1):
        exec(compile(block, f"{DOC.name}[python block {number}]", "exec"), namespace)


def test_benchmark_section_is_filled_in() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert "BENCHMARK_SECTION" not in text
    assert "| dataset |" in text
