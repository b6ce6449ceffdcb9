"""Docs are code: the README's console examples run and print what they claim."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from truthloop.cli import main

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _console_blocks(path: Path) -> list[tuple[str, str]]:
    text = path.read_text()
    blocks = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.S):
        lines = block.splitlines()
        command = lines[0].removeprefix("$ ")
        blocks.append((command, "\n".join(lines[1:]).strip()))
    return blocks


CASES = [(p.name, cmd, out) for p in DOCS for cmd, out in _console_blocks(p)]


@pytest.mark.parametrize(("doc", "command", "expected"), CASES, ids=[f"{d}:{c[:40]}" for d, c, _ in CASES])
def test_console_examples_print_what_the_docs_show(
    doc: str, command: str, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the repository root as working directory
    monkeypatch.chdir(ROOT)
    argv = shlex.split(command)
    assert argv[0] == "truthloop"
    # WHEN
    result = CliRunner().invoke(main, argv[1:], catch_exceptions=False)
    # THEN
    assert result.exit_code == 0, result.output
    assert result.output.strip() == expected
