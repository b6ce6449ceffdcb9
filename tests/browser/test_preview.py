"""``truthloop templates preview`` end to end: the real command in a subprocess, a worker in Chromium."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from truthloop.templates import catalogue

from .conftest import ready

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "sdk"), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen(
        [sys.executable, "-m", "truthloop.cli", "templates", "preview", *args, "--timeout", "60"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    line = process.stderr.readline()
    match = re.match(r"Preview: (http://127\.0\.0\.1:\d+/[\w-]+/)$", line.strip())
    if match is None:
        process.kill()
        raise AssertionError(f"unexpected first line from preview: {line!r} {process.stderr.read()}")
    return process, match.group(1)


def test_preview_serves_the_page_and_prints_the_submitted_answer(page: Any) -> None:
    # GIVEN the preview command serving a catalogue template with its fixture
    process, url = _start("gt/text-classification")
    try:
        # WHEN a worker opens the URL, answers and submits
        page.goto(url)
        ready(page)
        page.get_by_role("radio", name="negative").click()
        page.get_by_role("button", name="Submit", exact=True).click()
        page.get_by_text("Answer received").wait_for()
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # THEN the command printed exactly the answer and exited cleanly
    assert process.returncode == 0, stderr
    assert json.loads(stdout) == catalogue.load("gt/text-classification").answer()


def test_preview_of_a_template_file_rereads_it_on_refresh(page: Any, tmp_path: Path) -> None:
    # GIVEN a template file and its input
    template = tmp_path / "task.liquid.html"
    template.write_text("<crowd-form><crowd-input name='q' label='{{ task.input.label }}'></crowd-input></crowd-form>")
    task_input = tmp_path / "input.json"
    task_input.write_text(json.dumps({"label": "First"}))
    process, url = _start(str(template), "--input", str(task_input))
    try:
        page.goto(url)
        ready(page)
        page.get_by_role("textbox", name="First").wait_for()
        # WHEN the file changes and the page is reloaded
        template.write_text(
            "<crowd-form><crowd-input name='answer' label='Edited {{ task.input.label }}'></crowd-input></crowd-form>"
        )
        page.reload()
        ready(page)
        page.get_by_role("textbox", name="Edited First").fill("42")
        page.get_by_role("button", name="Submit", exact=True).click()
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    # THEN the edited template was served and its answer printed
    assert process.returncode == 0, stderr
    assert json.loads(stdout) == {"answer": "42"}
