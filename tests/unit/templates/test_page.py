"""``render_page``: a complete offline page with a strict Content-Security-Policy; and the offline library's
element list matches what lint knows."""

from __future__ import annotations

import base64
import hashlib
import re
from html.parser import HTMLParser

import pytest

from truthloop.templates import ELEMENTS, STATIC_SCRIPTS, render_page, static_dir
from truthloop.templates.elements import REGION_TAGS

AWS_SCRIPT = '<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>'


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def _tags(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = _Tags()
    parser.feed(html)
    return parser.tags


def _policy(html: str) -> dict[str, list[str]]:
    meta = next(a for t, a in _tags(html) if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    return {d.split()[0]: d.split()[1:] for d in (meta["content"] or "").split("; ")}


def _meta(html: str, name: str) -> str | None:
    return next((a.get("content") for t, a in _tags(html) if t == "meta" and a.get("name") == name), None)


def test_page_wraps_a_fragment_and_carries_submit_url_and_csrf_token() -> None:
    # WHEN
    html = render_page(
        AWS_SCRIPT + "<crowd-form><p>{{ task.input.t }}</p></crowd-form>",
        {"t": "hi"},
        submit_url="/portal/tasks/7/submit",
        csrf_token='tok"en',
        asset_base_url="/assets",
        title="Task <7>",
    )
    # THEN a complete document with the page metadata in its head
    assert html.startswith("<!DOCTYPE html>")
    assert "<title>Task &lt;7&gt;</title>" in html
    assert _meta(html, "truthloop-submit-url") == "/portal/tasks/7/submit"
    assert _meta(html, "truthloop-csrf") == 'tok"en'
    # AND the AWS script became the offline elements, each loaded once from the asset URL
    scripts = [a["src"] for t, a in _tags(html) if t == "script" and a.get("src")]
    assert scripts == [f"/assets/{name}" for name in STATIC_SCRIPTS]
    assert "assets.crowd.aws" not in html


def test_without_an_aws_script_tag_the_elements_are_still_loaded_once() -> None:
    html = render_page("<crowd-form></crowd-form>", {}, asset_base_url="/s")
    assert [a["src"] for t, a in _tags(html) if t == "script"] == [f"/s/{name}" for name in STATIC_SCRIPTS]


def test_a_full_document_template_gets_the_head_injected_not_wrapped() -> None:
    template = (
        '<html><head><meta charset="UTF-8" /><title>Rank</title>'
        '<script src="https://assets.crowd.aws/crowd-html-elements-v2.js"></script></head>'
        "<body><crowd-form></crowd-form></body></html>"
    )
    html = render_page(template, {})
    assert html.count("<html") == 1 and html.count("<head") == 1
    head = html[html.index("<head>") : html.index("</head>")]
    assert "Content-Security-Policy" in head
    assert head.index("Content-Security-Policy") < head.index("crowd-core.js")


def test_policy_allows_only_the_templates_own_scripts_and_loopback_images() -> None:
    # GIVEN a template with an inline script, an inline handler, a local script and a remote one
    template = (
        '<script>var a = 1;</script><button onclick="go(1)">b</button>'
        '<script src="/local.js"></script><script src="https://cdn.example.com/x.js"></script>'
        "<crowd-form></crowd-form>"
    )
    # WHEN
    html = render_page(template, {}, submit_url="http://127.0.0.1:9000/submit")
    policy = _policy(html)
    nonce = next(s for s in policy["script-src"] if s.startswith("'nonce-"))[len("'nonce-") : -1]
    scripts = [(a.get("src"), a.get("nonce")) for t, a in _tags(html) if t == "script"]
    # THEN the template's inline and same-host scripts carry the nonce, the remote one does not
    assert (None, nonce) in scripts
    assert ("/local.js", nonce) in scripts
    assert ("https://cdn.example.com/x.js", None) in scripts
    # AND the inline handler is allowed by its hash only, nothing is 'unsafe-inline' for scripts
    digest = base64.b64encode(hashlib.sha256(b"go(1)").digest()).decode()
    assert policy["script-src"] == [f"'nonce-{nonce}'", "'unsafe-hashes'", f"'sha256-{digest}'"]
    assert policy["default-src"] == ["'none'"]
    assert policy["img-src"] == ["'self'", "data:", "blob:", "http://127.0.0.1:*", "http://localhost:*"]
    assert policy["connect-src"] == ["'self'", "http://127.0.0.1:9000"]
    assert policy["object-src"] == ["'none'"] and policy["base-uri"] == ["'none'"]


def test_each_page_gets_a_fresh_nonce() -> None:
    first, second = (render_page("<crowd-form></crowd-form>", {}) for _ in range(2))
    assert _policy(first)["script-src"] != _policy(second)["script-src"]


def test_task_input_cannot_inject_a_script_that_carries_the_nonce() -> None:
    html = render_page("<p>{{ task.input.x }}</p>", {"x": "<script>alert(1)</script>"})
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --------------------------------------------------------------------------------------------- offline library


def _defined_elements() -> set[str]:
    names: set[str] = set()
    for path in static_dir().glob("*.js"):
        names |= set(re.findall(r"TC\.define\('([a-z-]+)'", path.read_text()))
    return names


ISSUE_ELEMENTS = [
    "crowd-form",
    "crowd-button",
    "crowd-classifier",
    "crowd-classifier-multi-select",
    "crowd-image-classifier",
    "crowd-image-classifier-multi-select",
    "crowd-bounding-box",
    "crowd-entity-annotation",
    "crowd-keypoint",
    "crowd-polygon",
    "crowd-input",
    "crowd-text-area",
    "crowd-checkbox",
    "crowd-radio-group",
    "crowd-radio-button",
    "crowd-slider",
    "crowd-toggle-button",
    "crowd-instructions",
    "short-instructions",
    "full-instructions",
    "crowd-alert",
    "crowd-card",
    "crowd-text-ranking",
    "crowd-textract-analyze-document",
    "crowd-rekognition-detect-moderation-labels",
]


@pytest.mark.parametrize("element", ISSUE_ELEMENTS)
def test_the_offline_library_defines_every_element_the_issue_lists(element: str) -> None:
    assert element in _defined_elements()


def test_lint_knows_exactly_which_elements_work_offline() -> None:
    defined = _defined_elements()
    offline = {name for name, spec in ELEMENTS.items() if spec.offline and spec.documented}
    assert defined - REGION_TAGS == offline
    assert {"short-instructions", "full-instructions"} <= defined


def test_every_static_script_exists_and_the_core_loads_first() -> None:
    assert STATIC_SCRIPTS[0] == "crowd-core.js"
    for name in STATIC_SCRIPTS:
        assert (static_dir() / name).is_file()
    assert {p.name for p in static_dir().glob("*.js")} == set(STATIC_SCRIPTS)
