"""Hostile task input stays inert in the worker's browser, unless a template explicitly opts out; and the page
never reaches the network."""

from __future__ import annotations

from typing import Any

import pytest

from truthloop.templates import render, render_page

from .conftest import LocalS3, Site, guard_network, ready

pytestmark = pytest.mark.browser

HOSTILE = {
    "text": "<script>window.__pwned = 'script'</script><img src=x onerror=\"window.__pwned = 'onerror'\">",
    "double": '" onmouseover="window.__pwned = \'double-quote\'" data-x="',
    "single": "' onfocus='window.__pwned = \"single-quote\"' autofocus data-x='",
    "link": "javascript:window.__pwned = 'javascript-url'",
    "labels": ["ok", '"]}<script>window.__pwned = "json"</script>'],
}

TEMPLATE = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <p id="text">{{ task.input.text }}</p>
  <p id="double" title="{{ task.input.double }}">double</p>
  <p id="single" title='{{ task.input.single }}' tabindex="0">single</p>
  <a id="link" href="{{ task.input.link }}">link</a>
  <img id="img" alt="x" src="{{ task.input.link | grant_read_access }}">
  <crowd-card id="card" heading="{{ task.input.double }}" image="{{ task.input.link }}">card</crowd-card>
  <crowd-button id="open" href="{{ task.input.link }}">open</crowd-button>
  <crowd-input name="q" label="{{ task.input.text }}"></crowd-input>
  <crowd-classifier-multi-select name="c" categories="{{ task.input.labels | to_json | escape }}"
    header="{{ task.input.text }}"></crowd-classifier-multi-select>
</crowd-form>
"""


def _open(page: Any, site: Site, template: str, task_input: dict[str, Any]) -> str:
    token = site.token()
    html = render_page(template, task_input, submit_url=site.submit_url(token), asset_base_url=site.static_url)
    page.goto(site.add_page(html, token))
    ready(page)
    return token


def test_hostile_task_input_is_inert(page: Any, site: Site) -> None:
    # GIVEN task input full of markup, attribute-breaking quotes and javascript: URLs
    _open(page, site, TEMPLATE, HOSTILE)
    # WHEN the worker hovers, focuses and clicks everything
    page.locator("#double").hover()
    page.locator("#single").focus()
    page.locator("#link").click()
    page.locator("#open").click()
    page.locator("#card").click()
    # THEN nothing ran
    assert page.evaluate("() => window.__pwned") is None
    # AND the text shows literally, the quotes did not create attributes, the URL did not reach the image
    assert page.locator("#text").text_content() == HOSTILE["text"]
    assert page.evaluate("() => document.getElementById('text').children.length") == 0
    for element_id in ("double", "single"):
        names = page.evaluate(f"() => document.getElementById('{element_id}').getAttributeNames()")
        assert sorted(names) in (["id", "title"], ["id", "tabindex", "title"])
    assert page.locator("#img").get_attribute("src") == ""
    # AND JSON attributes carry the hostile label as data: it is just a category
    assert page.get_by_role("checkbox", name=HOSTILE["labels"][1]).count() == 1


def test_a_template_can_opt_out_with_skip_autoescape(page: Any, site: Site) -> None:
    # GIVEN a template that trusts its input as HTML
    template = "<crowd-form><div id='rich'>{{ task.input.html | skip_autoescape }}</div></crowd-form>"
    task_input = {"html": "<b id='bold'>bold</b><script>window.__pwned = 'opt-out'</script>"}
    # WHEN rendered
    html = render(template, task_input)
    # THEN the markup is emitted raw, as on AWS
    assert "<b id='bold'>bold</b><script>" in html
    # AND in the browser the markup is live, while the page's Content-Security-Policy still refuses the script
    _open(page, site, template, task_input)
    assert page.locator("#bold").text_content() == "bold"
    assert page.evaluate("() => window.__pwned") is None


def test_the_templates_own_scripts_and_inline_handlers_still_run(page: Any, site: Site) -> None:
    # GIVEN a template with an inline script and an inline event handler of its own
    template = (
        "<crowd-form><button type='button' id='b' onclick=\"window.__clicked = true\">b</button>"
        "<p id='x'></p></crowd-form><script>document.getElementById('x').textContent = 'script ran';</script>"
    )
    # WHEN
    _open(page, site, template, {})
    page.locator("#b").click()
    # THEN both run (they come from the template source: nonce and hash)
    assert page.locator("#x").text_content() == "script ran"
    assert page.evaluate("() => window.__clicked") is True


def test_remote_resources_in_a_template_are_refused_before_any_request(page: Any, site: Site, s3: LocalS3) -> None:
    # GIVEN a template that pulls a script, a stylesheet and an image from the internet
    template = (
        '<script src="https://cdn.example.com/lib.js"></script>'
        '<link rel="stylesheet" href="https://cdn.example.com/style.css">'
        '<crowd-form><img id="remote" src="https://images.example.com/cat.png">'
        '<img id="local" src="{{ task.input.img | grant_read_access }}">'
        '<crowd-input name="q"></crowd-input></crowd-form>'
    )
    token = site.token()
    html = render_page(
        template,
        {"img": "s3://truthloop-samples/images/bar.svg"},
        submit_url=site.submit_url(token),
        asset_base_url=site.static_url,
        s3_client=s3.client,
    )
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )
    # WHEN
    page.goto(site.add_page(html, token))
    page.wait_for_function("() => window.TruthloopCrowd && window.TruthloopCrowd.ready === true")
    # THEN the presigned image from the local S3 loads, the remote ones are blocked by the page's own policy
    page.wait_for_function("() => document.getElementById('local').naturalWidth > 0")
    assert page.evaluate("() => document.getElementById('remote').naturalWidth") == 0
    assert len(violations) >= 3, violations
    # (the page fixture checks at teardown that no request left 127.0.0.1)


def test_the_network_guard_catches_requests_that_leave_the_machine(browser: Any) -> None:
    # GIVEN a context guarded like every browser test's page
    context = browser.new_context()
    external = guard_network(context)
    page = context.new_page()
    # WHEN a page (without truthloop's policy) asks for something on the internet
    page.set_content("<img src='https://images.example.com/cat.png'>")
    page.wait_for_timeout(200)
    context.close()
    # THEN the guard aborted and recorded it
    assert external == ["https://images.example.com/cat.png"]
