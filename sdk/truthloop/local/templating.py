"""The seam to :mod:`truthloop.templates`: task rendering for RenderUiTemplate and the worker portal.

The emulator never renders templates itself: GT/A2I Liquid semantics (autoescape, ``to_json``,
``grant_read_access``, JSON output of objects) and the offline crowd elements belong to the templates area.
Only the syntax check at ``CreateHumanTaskUi`` uses python-liquid's parser directly.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from truthloop.exceptions import LocalBackendError

__all__ = ["STATIC_DIR", "catalogue_template", "render", "render_page", "syntax_errors"]

#: offline crowd-* elements served by the portal (``templates/static`` in the repository)
STATIC_DIR = Path(__file__).resolve().parents[3] / "templates" / "static"


def _templates() -> Any:
    try:
        return importlib.import_module("truthloop.templates")
    except ImportError as exc:
        raise LocalBackendError(f"truthloop.templates is needed to render worker task templates: {exc}") from None


def syntax_errors(content: str) -> list[str]:
    """Liquid syntax errors of ``content`` (empty when it parses), as AWS checks at CreateHumanTaskUi."""
    from liquid import Environment
    from liquid.exceptions import LiquidError

    try:
        Environment().parse(content)
    except LiquidError as exc:
        return [str(exc)]
    return []


def render(content: str, task_input: Any, *, s3_client: Any = None, asset_base_url: str | None = None) -> str:
    """Render a worker task template with GT/A2I semantics (``task.input`` = ``task_input``)."""
    result: str = _templates().render(content, task_input, s3_client=s3_client, asset_base_url=asset_base_url)
    return result


def render_page(
    content: str,
    task_input: Any,
    *,
    submit_url: str,
    asset_base_url: str,
    csrf_token: str | None = None,
    s3_client: Any = None,
    title: str = "truthloop task",
) -> str:
    """A full portal page whose crowd-form POSTs the answer object as JSON to ``submit_url``.

    The page sends ``csrf_token`` back in the ``X-Truthloop-CSRF`` header and follows the ``next`` URL of the reply.
    """
    result: str = _templates().render_page(
        content,
        task_input,
        submit_url=submit_url,
        asset_base_url=asset_base_url,
        csrf_token=csrf_token,
        s3_client=s3_client,
        title=title,
    )
    return result


def catalogue_template(name: str) -> str:
    """The text of a template from truthloop's catalogue (``gt/ner``, ``a2i/comprehend-sentiment-review``)."""
    text: str = _templates().catalogue.load(name).text()
    return text
