"""docs/local.md's Python examples run as written."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "local.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block-{i}" for i in range(len(BLOCKS))])
def test_python_example_runs(code: str) -> None:
    # WHEN the example runs
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(code, str(DOC), "exec"), {"__name__": "docs_example"})
    # THEN it prints what its comments say
    lines = output.getvalue().splitlines()
    assert lines[0] == "InProgress"
    assert lines[1].startswith("label it at http://127.0.0.1:")


def test_every_cli_option_in_the_doc_exists() -> None:
    from click.testing import CliRunner

    from truthloop.cli import main

    help_text = CliRunner().invoke(main, ["local", "up", "--help"]).output
    for option in re.findall(r"`(--[a-z-]+)", DOC.read_text()):
        if option in ("--count", "--accuracy", "--seed", "--gold", "--follow"):
            continue  # options of `truthloop local workers`
        assert option in help_text, option
