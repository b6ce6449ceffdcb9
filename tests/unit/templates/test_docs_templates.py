"""docs/templates.md is code: its Python blocks run in order, in one namespace, and their assertions hold;
every catalogue template appears in its table and screenshot gallery, and every screenshot exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from truthloop.templates import catalogue

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "templates.md"


def test_the_templates_guide_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) >= 4
    monkeypatch.chdir(ROOT)
    namespace: dict[str, object] = {"__name__": "docs_templates"}
    for number, block in enumerate(blocks, start=1):
        try:
            exec(compile(block, f"{DOC.name}:python-block-{number}", "exec"), namespace)
        except Exception as exc:  # pragma: no cover - the message is the point
            raise AssertionError(f"docs/templates.md Python block {number} failed: {exc!r}\n{block}") from exc


@pytest.mark.parametrize("template", catalogue.all_templates(), ids=lambda t: t.id)
def test_every_template_is_documented_with_its_screenshot(template: catalogue.CatalogueTemplate) -> None:
    text = DOC.read_text()
    assert f"| `{template.id}` |" in text
    assert f"`{template.id}` ![](img/templates/{template.screenshot_name})" in text
    assert (ROOT / "docs" / "img" / "templates" / template.screenshot_name).is_file()
