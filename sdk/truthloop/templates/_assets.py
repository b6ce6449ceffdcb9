"""Where truthloop's templates and offline crowd elements live, and how AWS's script tags are swapped for them."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Final

from truthloop.exceptions import TemplateError

__all__ = [
    "AWS_ASSET_TAG",
    "STATIC_SCRIPTS",
    "STATIC_STYLESHEET",
    "TEMPLATES_DIR_ENV",
    "offline_asset_tags",
    "replace_aws_assets",
    "static_dir",
    "templates_dir",
]

#: Environment variable that points truthloop at another templates directory (``gt/``, ``a2i/``, ``static/``).
TEMPLATES_DIR_ENV: Final = "TRUTHLOOP_TEMPLATES_DIR"

#: The offline elements, in load order (plain scripts, no build step; crowd-core.js defines the shared base).
STATIC_SCRIPTS: Final[tuple[str, ...]] = (
    "crowd-core.js",
    "crowd-layout.js",
    "crowd-inputs.js",
    "crowd-classifiers.js",
    "crowd-image-tools.js",
    "crowd-entity-annotation.js",
    "crowd-text-ranking.js",
    "crowd-review.js",
)
STATIC_STYLESHEET: Final = "crowd-elements.css"

#: ``<script src="https://assets.crowd.aws/crowd-html-elements[-v2].js"></script>`` and the V2 stylesheet link.
AWS_ASSET_TAG: Final = re.compile(
    r"""<script\b[^>]*\bsrc\s*=\s*["']?https?://assets\.crowd\.aws/crowd-html-elements(?:-v2)?\.js["']?[^>]*>\s*</script\s*>"""
    r"""|<link\b[^>]*\bhref\s*=\s*["']?https?://assets\.crowd\.aws/css/crowd-html-elements[^"'\s>]*["']?[^>]*>""",
    re.IGNORECASE,
)


def templates_dir() -> Path:
    """The templates root: ``$TRUTHLOOP_TEMPLATES_DIR``, else the copy shipped in the package.

    ``truthloop/templates/bundled`` is a link to the repository's ``templates/`` in a checkout, and setuptools copies
    its files into wheels, so an installed truthloop finds the same catalogue and offline elements.
    """
    override = os.environ.get(TEMPLATES_DIR_ENV)
    bundled = Path(__file__).resolve().parent / "bundled"
    root = (
        Path(override)
        if override
        else bundled
        if bundled.is_dir()
        else Path(__file__).resolve().parents[3] / "templates"
    )
    if not (root / "static").is_dir():
        raise TemplateError(
            f"templates directory {root} not found (it needs static/); set {TEMPLATES_DIR_ENV} to the directory "
            "holding gt/, a2i/ and static/"
        )
    return root


def static_dir() -> Path:
    """The directory holding the offline crowd elements (served as-is under ``asset_base_url``)."""
    return templates_dir() / "static"


def _join(base: str, name: str) -> str:
    return f"{base.rstrip('/')}/{name}"


def offline_asset_tags(asset_base_url: str, *, nonce: str | None = None) -> str:
    """The ``<link>`` and ``<script>`` tags that load truthloop's offline elements from ``asset_base_url``."""
    attr = f' nonce="{nonce}"' if nonce else ""
    tags = [f'<link rel="stylesheet" href="{_join(asset_base_url, STATIC_STYLESHEET)}">']
    tags += [f'<script src="{_join(asset_base_url, name)}"{attr}></script>' for name in STATIC_SCRIPTS]
    return "\n".join(tags)


def replace_aws_assets(html: str, asset_base_url: str, *, nonce: str | None = None) -> tuple[str, int]:
    """Swap AWS's crowd-html-elements tags for ours (the first becomes ours, later ones are dropped).

    Returns the new HTML and how many AWS tags were found.
    """
    found = 0

    def _swap(_match: re.Match[str]) -> str:
        nonlocal found
        found += 1
        return offline_asset_tags(asset_base_url, nonce=nonce) if found == 1 else ""

    return AWS_ASSET_TAG.sub(_swap, html), found
