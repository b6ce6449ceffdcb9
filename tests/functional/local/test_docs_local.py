"""docs/local.md's Python examples run as written."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import httpx

DOC = Path(__file__).resolve().parents[3] / "docs" / "local.md"
BLOCKS = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


def test_the_doc_has_the_examples_these_tests_run() -> None:
    assert len(BLOCKS) == 2


def test_python_example_runs() -> None:
    code = BLOCKS[0]
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


def test_ranking_job_example_runs_end_to_end() -> None:
    # WHEN the custom ranking job example runs
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(BLOCKS[1], str(DOC), "exec"), {"__name__": "docs_example"})
    # THEN it prints what its comments say
    assert output.getvalue().splitlines() == ["Completed 2", "True"]


def test_the_documented_lambda_options_parse() -> None:
    from truthloop.local.cli import _parse_lambda

    # GIVEN the --lambda values of the doc's `local up` command
    values = re.findall(r"--lambda (arn:\S+)", DOC.read_text())
    # WHEN they are parsed / THEN each maps an ARN to a handler with the task type in its environment
    parsed = _parse_lambda(tuple(values))
    assert len(parsed) == 2
    assert all(c.environment == {"TRUTHLOOP_TASK_TYPE": "text-ranking"} for c in parsed.values())


def test_every_cli_option_in_the_doc_exists() -> None:
    from click.testing import CliRunner

    from truthloop.cli import main

    help_text = CliRunner().invoke(main, ["local", "up", "--help"]).output
    for option in re.findall(r"`(--[a-z-]+)", DOC.read_text()):
        if option in ("--count", "--accuracy", "--seed", "--gold", "--follow"):
            continue  # options of `truthloop local workers`
        assert option in help_text, option
