"""Worker task templates: render them like Ground Truth / A2I, lint them, preview them offline.

    >>> from truthloop.templates import render, lint
    >>> render('<crowd-classifier categories="{{ task.input.labels | to_json | escape }}">',
    ...        {"labels": ["a", "b"]})
    '<crowd-classifier categories="[&#34;a&#34;,&#34;b&#34;]">'
    >>> lint("<crowd-form><crowd-input name='q'></crowd-input></crowd-form>").codes("error")
    []

* :func:`render` — python-liquid with GT semantics (autoescape, JSON printing, ``to_json``, ``escape``,
  ``escape_once``, ``skip_autoescape``, ``grant_read_access``); errors carry the template line.
* :func:`render_page` — a complete offline page whose crowd-form POSTs the answer as JSON.
* :func:`lint` — size, crowd-form, names, unknown and V2 elements, Liquid syntax, task-input paths.
* :mod:`truthloop.templates.catalogue` — truthloop's templates (``templates/gt``, ``templates/a2i``) with
  their fixtures.
"""

from __future__ import annotations

from truthloop.templates import catalogue
from truthloop.templates._assets import STATIC_SCRIPTS, STATIC_STYLESHEET, static_dir, templates_dir
from truthloop.templates._literal import LiteralError, parse_literal
from truthloop.templates._page import content_security_policy, render_page
from truthloop.templates._render import render
from truthloop.templates.catalogue import CatalogueTemplate
from truthloop.templates.elements import ELEMENTS, ElementSpec
from truthloop.templates.lint import LintIssue, LintReport, lint

__all__ = [
    "ELEMENTS",
    "STATIC_SCRIPTS",
    "STATIC_STYLESHEET",
    "CatalogueTemplate",
    "ElementSpec",
    "LintIssue",
    "LintReport",
    "LiteralError",
    "catalogue",
    "content_security_policy",
    "lint",
    "parse_literal",
    "render",
    "render_page",
    "static_dir",
    "templates_dir",
]
