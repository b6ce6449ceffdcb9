"""docs/service.md's Python examples run as written and print what their ``# comments`` say."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[3] / "docs" / "service.md"
#: the section whose before/after programs need a deployed (or signed, emulated) service: run by
#: tests/functional/service/test_signed_client.py instead
_SIGNED_SECTION = re.compile(r"^## From A2I: the one line that changes\n.*?(?=^## )", flags=re.S | re.M)
BLOCKS = re.findall(r"```python\n(.*?)```", _SIGNED_SECTION.sub("", DOC.read_text()), flags=re.S)


def _expected(code: str) -> list[str]:
    """What the block's ``print(...)  # shown`` lines say they print, in order."""
    return [m.group(1) for m in re.finditer(r"^\s*print\(.*\)\s+# (.+)$", code, flags=re.M)]


def test_the_doc_has_examples() -> None:
    assert BLOCKS and all(_expected(code) for code in BLOCKS)


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block-{i}" for i in range(len(BLOCKS))])
def test_python_example_prints_what_its_comments_say(code: str) -> None:
    # WHEN the example runs
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        exec(compile(code, str(DOC), "exec"), {"__name__": "docs_example"})
    # THEN each print shows what its comment says
    assert output.getvalue().splitlines() == _expected(code)
