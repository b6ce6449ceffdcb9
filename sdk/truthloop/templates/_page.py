"""``render_page``: a rendered template wrapped into a complete, offline, locked-down HTML page.

The page loads truthloop's offline crowd elements (``templates/static/``) from ``asset_base_url`` instead of
``assets.crowd.aws``; its ``crowd-form`` POSTs the bare answer object as JSON to ``submit_url`` (header
``X-Truthloop-CSRF`` from ``<meta name="truthloop-csrf">``) and follows ``next`` in a 2xx JSON reply.

A Content-Security-Policy ``<meta>`` keeps the page offline and inert: scripts run only when the template
itself wrote them (each ``<script>`` of the template source gets a per-page nonce, except scripts from other
hosts, which an offline page must not fetch; its inline ``on…=`` handlers are allowed by hash), so nothing a
task input smuggles in (a ``<script>`` through ``skip_autoescape``, a ``javascript:`` URL in an ``href``)
executes, and images load only from the page's own origin, ``data:``/``blob:`` and the loopback addresses (the
local emulator's S3).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from html.parser import HTMLParser
from typing import Any, Final
from urllib.parse import urlsplit

import markupsafe

from truthloop.templates._assets import offline_asset_tags, replace_aws_assets
from truthloop.templates._render import render

__all__ = ["LOOPBACK_SOURCES", "asset_content_security_policy", "content_security_policy", "render_page"]

#: Where a local page may load images and media from besides its own origin.
LOOPBACK_SOURCES: Final[tuple[str, ...]] = ("http://127.0.0.1:*", "http://localhost:*")

_SCRIPT_TAG = re.compile(r"<script\b([^>]*)>", re.IGNORECASE)
_SRC = re.compile(r"""\bsrc\s*=\s*["']?([^"'\s>]+)""", re.IGNORECASE)
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_HEAD_OPEN = re.compile(r"<head\b[^>]*>", re.IGNORECASE)
_HTML_OPEN = re.compile(r"<html\b", re.IGNORECASE)


class _HandlerCollector(HTMLParser):
    """Collects the values of inline ``on…=`` event-handler attributes a template source writes."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on") and value and "{{" not in value and "{%" not in value:
                self.handlers.append(value)


def _inline_handlers(template_text: str) -> list[str]:
    collector = _HandlerCollector()
    collector.feed(template_text)
    collector.close()
    return collector.handlers


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc}"
    return None


def content_security_policy(
    nonce: str,
    *,
    handler_hashes: Iterable[str] = (),
    asset_base_url: str | None = None,
    submit_url: str | None = None,
    image_sources: Iterable[str] = LOOPBACK_SOURCES,
) -> str:
    """The policy ``render_page`` puts in its ``<meta http-equiv="Content-Security-Policy">``."""
    hashes = sorted({f"'sha256-{h}'" for h in handler_hashes})
    scripts = [f"'nonce-{nonce}'", *(["'unsafe-hashes'", *hashes] if hashes else [])]
    asset_origin = _origin(asset_base_url)
    styles = ["'self'", "'unsafe-inline'", *([asset_origin] if asset_origin else [])]
    media = ["'self'", "data:", "blob:", *image_sources]
    connect = ["'self'", *(o for o in (_origin(submit_url),) if o)]
    directives = {
        "default-src": ["'none'"],
        "script-src": scripts,
        "style-src": styles,
        "img-src": media,
        "media-src": media,
        "font-src": ["'self'", "data:"],
        "connect-src": connect,
        "form-action": ["'self'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
        "frame-src": ["'none'"],
    }
    return "; ".join(f"{k} {' '.join(v)}" for k, v in directives.items())


def asset_content_security_policy() -> str:
    """The policy the portal's static assets (the offline crowd elements) are served with, locally and by the
    hosted portal's CloudFront distribution: the task pages' directives, with the page's nonce replaced by ``'self'``
    (an asset has no inline script) and no loopback image sources (no emulator's S3 behind a distribution)."""
    policy = content_security_policy("x", image_sources=())
    return policy.replace("script-src 'nonce-x'", "script-src 'self'")


def _add_nonces(template_text: str, nonce: str) -> str:
    """Give the template's own ``<script>`` tags the page nonce, except scripts from other hosts (offline pages
    must not reach the network, so the policy refuses those before any request is made)."""

    def _tag(match: re.Match[str]) -> str:
        attrs = match.group(1)
        if re.search(r"\bnonce\s*=", attrs, re.IGNORECASE):
            return match.group(0)
        src = _SRC.search(attrs)
        if src is not None:
            parts = urlsplit(src.group(1))
            if parts.netloc and parts.hostname not in _LOOPBACK_HOSTS:
                return match.group(0)
        return f'<script nonce="{nonce}"{attrs}>'

    return _SCRIPT_TAG.sub(_tag, template_text)


def _hash(handler: str) -> str:
    return base64.b64encode(hashlib.sha256(handler.encode("utf-8")).digest()).decode("ascii")


def _with_lang(body: str) -> str:
    """A template's own ``<html>`` tag without ``lang`` gets ``lang="en"`` (screen readers need the language)."""
    match = _HTML_OPEN.search(body)
    if match is None:
        return body
    end = body.find(">", match.end())
    if end < 0 or re.search(r"\blang\s*=", body[match.end() : end], re.IGNORECASE):
        return body
    return body[: match.end()] + ' lang="en"' + body[match.end() :]


def render_page(
    template_text: str,
    task_input: Mapping[str, Any] | None,
    *,
    submit_url: str | None = None,
    asset_base_url: str = "/static",
    csrf_token: str | None = None,
    title: str = "truthloop task",
    s3_client: Any = None,
    name: str | None = None,
    image_sources: Iterable[str] = LOOPBACK_SOURCES,
) -> str:
    """Render ``template_text`` with ``task_input`` into a complete HTML page for a local worker.

    ``submit_url`` is where the crowd-form POSTs the answer (JSON); without it the page only fires the
    ``crowd-submit`` event. ``csrf_token`` goes into ``<meta name="truthloop-csrf">`` and comes back as the
    ``X-Truthloop-CSRF`` header. ``asset_base_url`` is where ``templates/static/`` is served. Raises
    :class:`~truthloop.exceptions.TemplateRenderError` like :func:`~truthloop.templates.render`.
    """
    nonce = secrets.token_urlsafe(18)
    handlers = _inline_handlers(template_text)
    body = render(_add_nonces(template_text, nonce), task_input, s3_client=s3_client, name=name)
    body, found = replace_aws_assets(body, asset_base_url, nonce=nonce)
    esc = markupsafe.escape
    policy = content_security_policy(
        nonce,
        handler_hashes=(_hash(h) for h in handlers),
        asset_base_url=asset_base_url,
        submit_url=submit_url,
        image_sources=image_sources,
    )
    head = [
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(policy)}">',
        '<meta name="referrer" content="no-referrer">',
    ]
    if submit_url:
        head.append(f'<meta name="truthloop-submit-url" content="{esc(submit_url)}">')
    if csrf_token:
        head.append(f'<meta name="truthloop-csrf" content="{esc(csrf_token)}">')
    if not found:
        head.append(offline_asset_tags(asset_base_url, nonce=nonce))
    head_html = "\n".join(head)
    body = _with_lang(body)
    head_match = _HEAD_OPEN.search(body)
    if head_match:
        insert = head_match.end()
        return body[:insert] + "\n" + head_html + "\n" + body[insert:]
    title_tag = f"<title>{esc(title)}</title>"
    if _HTML_OPEN.search(body):
        return f"<!DOCTYPE html>\n<head>\n{head_html}\n{title_tag}\n</head>\n{body}"
    head_block = f"<head>\n{head_html}\n{title_tag}\n</head>"
    return f'<!DOCTYPE html>\n<html lang="en">\n{head_block}\n<body>\n{body}\n</body>\n</html>\n'
