"""docs/local.md's Python examples run as written."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "local.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block-{i}" for i in range(len(BLOCKS))])
def test_python_example_runs(code: str) -> None:
    # WHEN the example runs
    output = io.StringIO()
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    try:
        with contextlib.redirect_stdout(output):
            exec(compile(code, str(DOC), "exec"), namespace)
        # THEN it prints what its comments say
        lines = output.getvalue().splitlines()
        assert lines[0] == "InProgress"
        url = re.match(r"label it at (\S+) with token (\S+)$", lines[1])
        assert url and url.group(1).startswith("http://127.0.0.1:")
        # AND the URL it printed still works after the example ended: the task is there to sign in to
        with httpx.Client(base_url=url.group(1).split("/portal")[0]) as client:
            page = client.get("/portal/")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert page.status_code == 200 and csrf
            home = client.post(
                "/portal/login", data={"token": url.group(2), "csrf": csrf.group(1)}, follow_redirects=True
            )
            assert "1 task(s) available" in home.text
    finally:
        backend = namespace.get("backend")
        if backend is not None:
            backend.stop()


def test_every_cli_option_in_the_doc_exists() -> None:
    from click.testing import CliRunner

    from truthloop.cli import main

    help_text = CliRunner().invoke(main, ["local", "up", "--help"]).output
    for option in re.findall(r"`(--[a-z-]+)", DOC.read_text()):
        if option in ("--count", "--accuracy", "--seed", "--gold", "--follow"):
            continue  # options of `truthloop local workers`
        assert option in help_text, option
