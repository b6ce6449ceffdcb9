"""Task-page layout and guidance: ranking responses keep a readable width, the Textract review does not invite
a second copy of a key it already found."""

from __future__ import annotations

from typing import Any

import pytest

from truthloop.templates import catalogue

from .conftest import LocalS3, Site
from .test_templates import open_task

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("width", [1024, 1400, 1920])
def test_ranking_shows_the_responses_at_a_readable_width(page: Any, site: Site, s3: LocalS3, width: int) -> None:
    # GIVEN the ranking task in a window of this width
    page.set_viewport_size({"width": width, "height": 900})
    open_task(page, site, s3, catalogue.load("gt/text-ranking"))
    # WHEN it is laid out
    layout = page.evaluate(
        """() => { const root = document.querySelector('crowd-text-ranking').shadowRoot;
             const main = root.querySelector('.fp-body').getBoundingClientRect();
             const side = root.querySelector('.fp-side').getBoundingClientRect();
             const cards = Array.from(root.querySelectorAll('.response'));
             return { main: main.width, side: side.width, sideTop: side.top, workTop: main.top,
                      responses: cards.map(r => r.getBoundingClientRect().width) }; }"""
    )
    # THEN every response is at least 480 px wide (beside the ranking when there is room, above it otherwise)
    assert len(layout["responses"]) == 3
    assert min(layout["responses"]) >= min(480, layout["main"]) - 1, layout


def _textract_input(**context: Any) -> dict[str, Any]:
    template = catalogue.load("a2i/textract-forms-review")
    task_input = template.task_input()
    task_input["humanLoopContext"] = {**task_input["humanLoopContext"], **context}
    return task_input


def _missing_keys(page: Any) -> list[str]:
    return page.evaluate(
        """() => Array.from(document.querySelector('crowd-textract-analyze-document').shadowRoot
              .querySelectorAll('.missing .kname')).map(k => k.textContent)"""
    )


def test_textract_does_not_offer_a_key_it_found_under_another_spelling(page: Any, site: Site, s3: LocalS3) -> None:
    # GIVEN important keys spelled differently from the detected "Pay Date:" and "Net Pay:"
    keys = [
        {"importantFormKey": "pay-date", "importantFormKeyAliases": []},
        {"importantFormKey": "NetPay", "importantFormKeyAliases": []},
        {"importantFormKey": "Bank Account", "importantFormKeyAliases": ["Account"]},
    ]
    # WHEN the review page opens
    template = catalogue.load("a2i/textract-forms-review")
    open_task(page, site, s3, template, task_input=_textract_input(importantFormKeys=keys))
    # THEN only the key the document really lacks is offered to fill in
    assert _missing_keys(page) == ["Bank Account"]


def test_textract_says_when_a_missing_key_repeats_a_listed_value(page: Any, site: Site, s3: LocalS3) -> None:
    # GIVEN the review page with "Bank Account" not found
    open_task(page, site, s3, catalogue.load("a2i/textract-forms-review"))
    card = page.locator("crowd-textract-analyze-document .missing .pair").filter(has_text="Bank Account")
    hint = card.locator(".dup")
    # WHEN the reviewer types the net pay's value into it
    page.get_by_role("textbox", name="Value for Bank Account").fill("$2,450.00")
    # THEN the page points at the pair that already holds it; a different value clears the hint
    assert "Already listed for “Net Pay:”" in hint.inner_text()
    page.get_by_role("textbox", name="Value for Bank Account").fill("DE89 3704 0044 0532 0130 00")
    assert hint.inner_text() == ""


def test_textract_refuses_two_pairs_with_one_key(page: Any, site: Site, s3: LocalS3) -> None:
    from .test_templates import submit

    # GIVEN the review with editable keys (the template without no-key-edit)
    template = catalogue.load("a2i/textract-forms-review")
    text = template.text().replace("    no-key-edit\n", "")
    assert "no-key-edit" not in text
    from .test_elements import open_page

    token = open_page(page, site, s3, text, template.task_input())
    # WHEN the reviewer renames the second key ("Net Pay:") to the first one's ("Pay Date:") and submits
    page.get_by_role("textbox", name="Key 2").fill("pay date")
    page.get_by_role("button", name="Submit", exact=True).click()
    # THEN the page says which key is doubled and nothing is sent
    page.get_by_role("alert").filter(has_text="is listed twice").first.wait_for()
    assert not site.answers.get(token)
    page.get_by_role("textbox", name="Key 2").fill("Net Pay:")
    assert submit(page, site, token).answer is not None
