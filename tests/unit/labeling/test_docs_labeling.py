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


REFERENCE = ROOT / "bench" / "reference" / "consolidation-lodo-batches-corroborated-2026-12-05.json"


def _table(text: str, header: str) -> dict[str, list[str]]:
    """Rows of the markdown table whose header line starts with ``header``, keyed by their first cell."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows: dict[str, list[str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


@pytest.mark.parametrize(
    ("header", "section", "columns"),
    [
        ("| held-out set |", "lodo", ["chosen", "accuracy", "mv", "vs_mv", "best_reference", "gap"]),
        ("| dataset | batches |", "batches", ["batches", "carried", "whole_job", "batch_default", "batch_mv"]),
    ],
    ids=["leave-one-dataset-out", "skills-across-batches"],
)
def test_quoted_tables_match_the_reference_run(header: str, section: str, columns: list[str]) -> None:
    # GIVEN the reference run the page names and the table it quotes from it
    import json

    reference = json.loads(REFERENCE.read_text(encoding="utf-8"))[section]["per_dataset"]
    rows = _table(DOC.read_text(encoding="utf-8"), header)
    # WHEN / THEN every dataset's row shows the run's figures, rounded as printed
    assert set(rows) == set(reference)
    for name, cells in rows.items():
        expected = [
            v if isinstance(v, str | int) else (f"{v:+.4f}" if cells[i].startswith(("+", "-")) else f"{v:.4f}")
            for i, v in enumerate(reference[name][c] for c in columns)
        ]
        assert cells == [str(e) for e in expected], name
