"""The ```python examples in docs/export.md run and their assertions hold."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BLOCKS = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "export.md").read_text(), flags=re.S)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_python_example_runs(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the repository root as working directory, as in the docs
    monkeypatch.chdir(ROOT)
    # WHEN / THEN
    exec(compile(code, "docs/export.md", "exec"), {})
