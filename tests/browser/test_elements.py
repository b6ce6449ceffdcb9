"""The offline crowd elements in Chromium: the §11 answer shape of each, AWS-sample-style templates, validation,
``onsubmit`` vetoes, the ``next`` redirect and CSRF failures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from truthloop.templates import catalogue, render_page

from .conftest import LocalS3, Site, ready
from .helpers import capture_submit_events, click_on_image, drag_on_image, select_text
from .test_templates import open_task, submit

pytestmark = pytest.mark.browser

THIRD_PARTY = Path(__file__).resolve().parents[1] / "unit" / "templates" / "fixtures" / "third_party"


def open_page(
    page: Any, site: Site, s3: LocalS3 | None, template: str, task_input: dict[str, Any], *, next_url: str | None = None
) -> str:
    token = site.token()
    html = render_page(
        template,
        task_input,
        submit_url=site.submit_url(token),
        csrf_token=site.csrf_for(token),
        asset_base_url=site.static_url,
        s3_client=s3.client if s3 else None,
    )
    page.goto(site.add_page(html, token, next_url=next_url))
    ready(page)
    capture_submit_events(page)
    return token


def third_party(name: str) -> tuple[str, dict[str, Any]]:
    text = (THIRD_PARTY / f"{name}.liquid.html").read_text()
    return text, json.loads((THIRD_PARTY / f"{name}.input.json").read_text())


def test_form_inputs_submit_the_documented_shapes(page: Any, site: Site) -> None:
    # GIVEN a survey: radio buttons, checkboxes sharing a name, slider, toggle, native date input, two crowd-inputs
    template, task_input = third_party("survey")
    token = open_page(page, site, None, template, task_input)
    # WHEN the worker answers everything but the notes, and presses the template's own "Send" button
    page.get_by_role("radio", name="Misleading").check()
    page.get_by_role("checkbox", name="transport").check()
    page.get_by_role("checkbox", name="health").check()
    page.get_by_role("spinbutton", name="Value").fill("7")
    page.get_by_role("spinbutton", name="Value").press("Tab")
    page.get_by_role("switch").click()
    page.get_by_label("Publication date").fill("2024-05-01")
    page.get_by_role("textbox", name="Author (if shown)").fill("R. Lee")
    answer = submit(page, site, token, button="Send").answer
    # THEN each element contributes its §11 shape; the empty crowd-input "notes" is left out
    assert answer == {
        "accurate": {"yes": False},
        "misleading": {"misleading": True},
        "topics": {"transport": True, "politics": False, "health": True},
        "readability": 7,
        "sources": {"on": True},
        "published": "2024-05-01",
        "author": "R. Lee",
    }


def test_a_template_script_can_set_labels_on_ready_and_use_crowd_buttons(page: Any, site: Site, s3: LocalS3) -> None:
    # GIVEN an AWS-style template whose script empties the labels on all-crowd-elements-ready and adds new ones
    template, task_input = third_party("custom-labels")
    token = open_page(page, site, s3, template, task_input)
    assert page.evaluate("() => document.querySelector('crowd-bounding-box').labels") == []
    # WHEN the worker adds the label "car" and boxes the car
    page.get_by_role("textbox", name="New label").fill("car")
    page.get_by_role("button", name="Add").click()
    page.get_by_role("radio", name="car").click()
    drag_on_image(page, "crowd-bounding-box", (96, 204), (372, 328))
    answer = submit(page, site, token).answer
    # THEN the scratch input (emptied by the script) is left out and the box carries the new label
    assert answer == {
        "boxes": {
            "boundingBoxes": [{"label": "car", "left": 96, "top": 204, "width": 276, "height": 124}],
            "inputImageProperties": {"height": 400, "width": 640},
        }
    }


def test_keypoints_and_polygons_in_natural_pixels(page: Any, site: Site, s3: LocalS3) -> None:
    # GIVEN keypoint and polygon tools on the same image, in one form
    template = (
        '<script src="https://assets.crowd.aws/crowd-html-elements.js"></script><crowd-form>'
        '<crowd-keypoint name="points" src="{{ task.input.img | grant_read_access }}" labels="[\'wheel\']"'
        ' header="Click the wheel centres"></crowd-keypoint>'
        '<crowd-polygon name="shapes" src="{{ task.input.img | grant_read_access }}" labels="[\'window\']"'
        ' header="Outline the window"></crowd-polygon></crowd-form>'
    )
    token = open_page(page, site, s3, template, {"img": "s3://truthloop-samples/images/street.svg"})
    # WHEN the worker clicks two wheel centres and outlines the window, closing it on its first vertex
    click_on_image(page, "crowd-keypoint", 148, 304)
    click_on_image(page, "crowd-keypoint", 318, 304)
    for x, y in ((200, 216), (262, 216), (286, 242), (186, 242), (200, 216)):
        click_on_image(page, "crowd-polygon", x, y)
    answer = submit(page, site, token).answer
    # THEN
    image = {"height": 400, "width": 640}
    assert answer == {
        "points": {
            "keypoints": [{"label": "wheel", "x": 148, "y": 304}, {"label": "wheel", "x": 318, "y": 304}],
            "inputImageProperties": image,
        },
        "shapes": {
            "polygons": [
                {
                    "label": "window",
                    "vertices": [
                        {"x": 200, "y": 216},
                        {"x": 262, "y": 216},
                        {"x": 286, "y": 242},
                        {"x": 186, "y": 242},
                    ],
                }
            ],
            "inputImageProperties": image,
        },
    }


def test_entity_annotation_stands_alone_and_edits_entities(page: Any, site: Site) -> None:
    # GIVEN an AWS-sample-style NER template without a crowd-form (the element submits on its own)
    template, task_input = third_party("entities-standalone")
    token = open_page(page, site, None, template, task_input)
    host = "crowd-entity-annotation"
    # WHEN the worker arms "Product" first, selects two spans, relabels one and removes a mistake
    page.get_by_role("button", name="Product", exact=True).click()
    select_text(page, host, "Contoso Air 2")
    select_text(page, host, "Fabrikam Pro")
    page.get_by_role("button", name="Product", exact=True).click()  # disarm
    select_text(page, host, "looked")
    page.get_by_role("button", name="Brand", exact=True).click()
    page.get_by_role("button", name="Remove brand “looked”").click()
    select_text(page, host, "Contoso Air 2")  # the same span again: relabel, not duplicate
    page.get_by_role("button", name="Brand", exact=True).click()
    answer = submit(page, site, token).answer
    # THEN offsets are code points, end exclusive
    text = task_input["source"]
    assert answer == {
        "crowd-entity-annotation": {
            "entities": [
                {"label": "brand", "startOffset": text.index("Contoso"), "endOffset": text.index(" for")},
                {"label": "product", "startOffset": text.index("Fabrikam"), "endOffset": text.index(" and")},
            ]
        }
    }


def test_textract_element_with_aws_builtin_input(page: Any, site: Site, s3: LocalS3) -> None:
    # GIVEN AWS's built-in Textract review shape (no truthloop keys) in an AWS-sample-style template
    template, task_input = third_party("textract-builtin")
    token = open_page(page, site, s3, template, task_input)
    # WHEN the reviewer blanks the pay date, rejects the net-pay pair and fills in the missing bank account
    page.get_by_role("checkbox", name="Value is blank").first.check()
    page.get_by_role("checkbox", name="Not a key-value pair").nth(1).check()
    page.get_by_role("textbox", name="Value for Bank Account").fill("DE02 1203 0000 0000 2020 51")
    answer = submit(page, site, token).answer
    # THEN the element's fixed answer key holds the kept pairs and the new one
    blocks = answer["AWS/Textract/AnalyzeDocument/Forms/V1"]["blocks"]
    assert [(b["id"], b["entityTypes"], b["text"]) for b in blocks] == [
        ("pay-date-key", ["KEY"], "Pay Date:"),
        ("pay-date-value", ["VALUE"], ""),
        ("truthloop-key-1", ["KEY"], "Bank Account"),
        ("truthloop-value-1", ["VALUE"], "DE02 1203 0000 0000 2020 51"),
    ]
    assert blocks[2]["relationships"] == [{"type": "VALUE", "ids": ["truthloop-value-1"]}]
    # AND A2I's built-in result parsing reads it (no truthloop keys: the built-in path)
    result = catalogue.load("a2i/textract-forms-review").parse_answer(answer, task_input)
    assert {p.key: p.value for p in result.human_predictions or ()} == {
        "Pay Date:": "",
        "Bank Account": "DE02 1203 0000 0000 2020 51",
    }


def test_rekognition_element_with_js_literal_categories(page: Any, site: Site, s3: LocalS3) -> None:
    # GIVEN AWS's sample construct: categories written as a JavaScript literal by a Liquid loop
    template, task_input = third_party("rekognition-builtin")
    token = open_page(page, site, s3, template, task_input)
    # WHEN the reviewer keeps one category
    page.get_by_role("checkbox", name="Drinking in Alcohol").click()
    answer = submit(page, site, token).answer
    # THEN the full category object comes back under the element's fixed key
    assert answer == {
        "AWS/Rekognition/DetectModerationLabels/Image/V3": {
            "moderationLabels": [{"name": "Drinking", "parentName": "Alcohol"}]
        }
    }
    result = catalogue.load("a2i/rekognition-moderation-review").parse_answer(answer, task_input)
    assert result.human_labels == ("Drinking",)


def test_v2_text_ranking_page_with_confirmed_orders(page: Any, site: Site) -> None:
    # GIVEN a full-document V2 page (its own <html>, <head> and the V2 stylesheet link)
    template, task_input = third_party("text-ranking-v2")
    token = open_page(page, site, None, template, task_input)
    # WHEN the worker keeps the given order for both criteria, moving one row with the keyboard first
    row = page.locator('section[aria-label="Ranking for Tone"] li[data-resp="1"]')
    row.focus()
    row.press("Alt+ArrowUp")
    page.locator('section[aria-label="Ranking for Clarity"]').get_by_role("button", name="Keep this order").click()
    answer = submit(page, site, token).answer
    # THEN
    assert answer == {"textRanking": {"rankings": {"Clarity": [1, 2, 3], "Tone": [2, 1, 3]}}}


def test_required_answers_block_submission_until_given(page: Any, site: Site, s3: LocalS3) -> None:
    # GIVEN the text-classification task
    token = open_task(page, site, s3, catalogue.load("gt/text-classification"))
    # WHEN the worker submits without choosing
    page.get_by_role("button", name="Submit", exact=True).click()
    # THEN nothing is sent and the page says what is missing
    page.locator("#truthloop-banner").get_by_text("Choose a category.").wait_for()
    assert not site.answers.get(token)
    assert page.evaluate("() => window.__answers") == []
    # AND once a category is chosen with the keyboard (Tab to the options, arrows, Space) it goes through
    page.get_by_role("radio", name="positive").focus()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Space")
    assert submit(page, site, token).answer == {"crowd-classifier": {"label": "negative"}}


def test_the_error_banner_goes_away_once_the_problem_is_fixed(page: Any, site: Site, s3: LocalS3) -> None:
    # GIVEN a refused submit of the free-text task (no answer typed)
    token = open_task(page, site, s3, catalogue.load("gt/free-text"))
    page.get_by_role("button", name="Submit", exact=True).click()
    banner = page.locator("#truthloop-banner")
    banner.wait_for()
    assert banner.is_visible()
    # WHEN the worker types an answer (without pressing Submit again)
    page.get_by_role("textbox", name="Your answer").fill("A consolidation Lambda merges the answers.")
    # THEN the banner is gone, and the answer goes through when they submit
    banner.wait_for(state="hidden")
    assert not site.answers.get(token)
    assert submit(page, site, token).answer is not None


def test_a_template_onsubmit_handler_can_veto_submission(page: Any, site: Site) -> None:
    template = (
        '<script src="https://assets.crowd.aws/crowd-html-elements.js"></script><crowd-form>'
        '<crowd-input name="code" label="Code"></crowd-input></crowd-form>'
        "<div id='err'></div><script>document.querySelector('crowd-form').onsubmit = function (e) {"
        " if (document.querySelector('crowd-input').value !== '42') { e.preventDefault();"
        " document.getElementById('err').textContent = 'wrong code'; } };</script>"
    )
    token = open_page(page, site, None, template, {})
    page.get_by_role("textbox", name="Code").fill("41")
    page.get_by_role("button", name="Submit", exact=True).click()
    page.get_by_text("wrong code").wait_for()
    assert not site.answers.get(token)
    page.get_by_role("textbox", name="Code").fill("42")
    assert submit(page, site, token).answer == {"code": "42"}


def test_the_page_follows_next_from_the_server(page: Any, site: Site) -> None:
    template = "<crowd-form><crowd-input name='q' label='Q'></crowd-input></crowd-form>"
    token = open_page(page, site, None, template, {}, next_url="/done")
    page.get_by_role("textbox", name="Q").fill("x")
    page.get_by_role("button", name="Submit", exact=True).click()
    page.wait_for_url(f"{site.url}/done")
    assert site.wait_answer(token).answer == {"q": "x"}


def test_a_rejected_submission_keeps_the_answer_on_the_page(page: Any, site: Site) -> None:
    # GIVEN a page whose CSRF token the server does not accept
    token = site.token()
    html = render_page(
        "<crowd-form><crowd-input name='q' label='Q'></crowd-input></crowd-form>",
        {},
        submit_url=site.submit_url(token),
        csrf_token="not-the-token",
        asset_base_url=site.static_url,
    )
    site.csrf_for(token)
    page.goto(site.add_page(html, token))
    ready(page)
    page.get_by_role("textbox", name="Q").fill("kept")
    # WHEN
    page.get_by_role("button", name="Submit", exact=True).click()
    # THEN the worker sees why, nothing was recorded, and the input and the button are still usable
    page.locator("#truthloop-banner").get_by_text("HTTP 403: bad CSRF token").wait_for()
    assert not site.answers.get(token)
    assert page.get_by_role("textbox", name="Q").input_value() == "kept"
    assert page.get_by_role("button", name="Submit", exact=True).is_enabled()


@pytest.mark.parametrize("key", ["Delete", "Backspace"])
def test_keyboard_removes_the_selected_box(page: Any, site: Site, s3: LocalS3, key: str) -> None:
    template = catalogue.load("gt/bounding-box")
    token = open_task(page, site, s3, template)
    drag_on_image(page, "crowd-bounding-box", (100, 100), (200, 200))
    drag_on_image(page, "crowd-bounding-box", (300, 100), (400, 200))
    click_on_image(page, "crowd-bounding-box", 150, 150)  # select the first box
    page.keyboard.press(key)
    answer = submit(page, site, token).answer
    assert answer["annotatedResult"]["boundingBoxes"] == [
        {"label": "car", "left": 300, "top": 100, "width": 100, "height": 100}
    ]


def test_layout_elements_render_and_respond(page: Any, site: Site) -> None:
    # GIVEN every layout-only element in one form
    template = (
        '<script src="https://assets.crowd.aws/crowd-html-elements.js"></script><crowd-form>'
        '<crowd-alert type="warning" header="Heads up" dismissible>Read carefully.</crowd-alert>'
        '<crowd-badge label="3"></crowd-badge>'
        '<crowd-instructions link-text="How to do this task" link-type="button">'
        "<short-summary><p>Summary here.</p></short-summary>"
        "<detailed-instructions><p>Detailed steps.</p></detailed-instructions>"
        "<positive-example><p>Good one.</p></positive-example><negative-example><p>Bad one.</p></negative-example>"
        "</crowd-instructions>"
        '<full-instructions header="More detail"><p>Hidden until opened.</p></full-instructions>'
        '<crowd-tabs><crowd-tab header="First">one</crowd-tab><crowd-tab header="Second">two</crowd-tab></crowd-tabs>'
        '<crowd-card heading="Card"><crowd-input name="q" label="Q"></crowd-input></crowd-card>'
        "</crowd-form>"
    )
    token = open_page(page, site, None, template, {})
    # WHEN / THEN the instructions dialog opens and closes from the keyboard
    page.get_by_role("button", name="How to do this task").press("Enter")
    page.get_by_text("Detailed steps.").wait_for()
    page.get_by_role("button", name="Close").click()
    page.get_by_text("Detailed steps.").wait_for(state="hidden")
    # AND full instructions on their own are a disclosure
    assert not page.get_by_text("Hidden until opened.").is_visible()
    page.get_by_text("More detail").click()
    page.get_by_text("Hidden until opened.").wait_for()
    # AND tabs switch, the alert can be dismissed
    assert page.get_by_text("one", exact=True).is_visible() and not page.get_by_text("two", exact=True).is_visible()
    page.get_by_role("tab", name="Second").click()
    page.get_by_text("two", exact=True).wait_for()
    page.get_by_role("button", name="Dismiss").click()
    page.get_by_text("Read carefully.").wait_for(state="detached")
    # AND the form added its own Submit button and sends the one input
    page.get_by_role("textbox", name="Q").fill("done")
    assert submit(page, site, token).answer == {"q": "done"}
