"""Every catalogue template, rendered from its fixture and worked through in Chromium like a worker would.

For each template: render the page offline (assets from 127.0.0.1, images presigned through the local S3), act
(click a category, drag a box, select a span, reorder a ranking, type text), submit, and check that the answer
POSTed to the server and the ``crowd-submit`` event both equal the documented ``<name>.answer.json`` and that
the template's parser accepts it. A screenshot of each filled-in task is taken (docs/img/templates/ with
``TRUTHLOOP_UPDATE_SCREENSHOTS=1``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from truthloop.templates import catalogue

from .conftest import LocalS3, Site, Submission, ready
from .helpers import capture_submit_events, drag_on_image, screenshot, select_text

pytestmark = pytest.mark.browser


def _radio(page: Any, name: str) -> None:
    page.get_by_role("radio", name=name, exact=True).click()


def _checkbox(page: Any, name: str) -> None:
    page.get_by_role("checkbox", name=name, exact=True).click()


def text_classification(page: Any) -> None:
    _radio(page, "negative")


def text_multilabel(page: Any) -> None:
    for name in ("product quality", "shipping", "packaging"):
        _checkbox(page, name)


def image_classification(page: Any) -> None:
    page.keyboard.press("1")  # keyboard shortcut for the first category


def image_multilabel(page: Any) -> None:
    for name in ("car", "tree", "sun"):
        _checkbox(page, name)


def bounding_box(page: Any) -> None:
    host = "crowd-bounding-box"
    drag_on_image(page, host, (96, 204), (372, 328))  # "car" is the active label at first
    _radio(page, "tree")
    drag_on_image(page, host, (402, 108), (552, 300))


def bounding_box_verification(page: Any) -> None:
    _radio(page, "bad")
    page.get_by_role("button", name="Explain your choice").click()
    page.get_by_role("textbox", name="Comment").fill("The box misses the front of the car.")


def ner(page: Any) -> None:
    host = "crowd-entity-annotation"
    for phrase, label in (
        ("Zoë Schmidt", "person"),
        ("Berlin", "location"),
        ("3 May", "date"),
        ("Acme Corp.", "organization"),
    ):
        select_text(page, host, phrase)
        page.get_by_role("button", name=label, exact=True).click()
    select_text(page, host, "Lisbon")
    page.keyboard.press("2")  # the label's digit applies it to the selection


def free_text(page: Any) -> None:
    page.get_by_role("textbox", name="Your answer").fill("A consolidation Lambda merges them into a single label.")


def text_ranking(page: Any) -> None:
    helpfulness = page.locator('section[aria-label="Ranking for helpfulness"]')
    # drag response 3 by its handle above response 1
    handle = helpfulness.locator('li[data-resp="2"] .handle').bounding_box()
    first = helpfulness.locator('li[data-resp="0"]').bounding_box()
    page.mouse.move(handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2)
    page.mouse.down()
    page.mouse.move(first["x"] + 40, first["y"] + 2, steps=10)
    page.mouse.up()
    helpfulness.locator('li[data-resp="0"]').get_by_role("checkbox", name="tie with above").check()
    accuracy = page.locator('section[aria-label="Ranking for accuracy"]')
    accuracy.locator('li[data-resp="2"]').get_by_role("button", name="Move up").click()
    accuracy.locator('li[data-resp="2"]').get_by_role("button", name="Move up").click()


def pairwise_preference(page: Any) -> None:
    _radio(page, "A")
    slider = page.get_by_role("slider")
    slider.focus()
    for _ in range(3):
        slider.press("ArrowRight")
    page.get_by_role("textbox", name="Why?").fill("A names the component and says what changed; B is vague.")


def comprehend_sentiment_review(page: Any) -> None:
    _radio(page, "incorrect")
    _radio(page, "MIXED")
    page.get_by_role("textbox", name="Comment (optional)").fill("Disappointment and praise in one sentence.")


def comprehend_classification_review(page: Any) -> None:
    _radio(page, "correct")


def comprehend_entities_review(page: Any) -> None:
    page.get_by_label("Type of Acme Robotics").select_option("ORGANIZATION")
    _radio(page, "incorrect")


def textract_forms_review(page: Any) -> None:
    value = page.get_by_role("textbox", name="Value for Pay Date:")
    value.fill("2024-03-31")


def textract_queries_review(page: Any) -> None:
    page.get_by_role("textbox", name="Answer to NET_PAY").fill("$2,450.00")
    _radio(page, "incorrect")


def rekognition_moderation_review(page: Any) -> None:
    _checkbox(page, "Alcohol")
    _checkbox(page, "Alcoholic Beverages in Alcohol")


def endpoint_prediction_review(page: Any) -> None:
    _radio(page, "incorrect")
    _radio(page, "car")


ACTIONS: dict[str, Callable[[Any], None]] = {
    "gt/text-classification": text_classification,
    "gt/text-multilabel": text_multilabel,
    "gt/image-classification": image_classification,
    "gt/image-multilabel": image_multilabel,
    "gt/bounding-box": bounding_box,
    "gt/bounding-box-verification": bounding_box_verification,
    "gt/ner": ner,
    "gt/free-text": free_text,
    "gt/text-ranking": text_ranking,
    "gt/pairwise-preference": pairwise_preference,
    "a2i/comprehend-sentiment-review": comprehend_sentiment_review,
    "a2i/comprehend-classification-review": comprehend_classification_review,
    "a2i/comprehend-entities-review": comprehend_entities_review,
    "a2i/textract-forms-review": textract_forms_review,
    "a2i/textract-queries-review": textract_queries_review,
    "a2i/rekognition-moderation-review": rekognition_moderation_review,
    "a2i/endpoint-prediction-review": endpoint_prediction_review,
}
TEMPLATES = catalogue.all_templates()


def open_task(page: Any, site: Site, s3: LocalS3, template: catalogue.CatalogueTemplate, **options: Any) -> str:
    """Render ``template`` into an offline page served by ``site``, open it and wait for the elements."""
    token = site.token()
    html = template.render_page(
        submit_url=site.submit_url(token),
        csrf_token=site.csrf_for(token),
        asset_base_url=site.static_url,
        s3_client=s3.client,
        **options,
    )
    page.goto(site.add_page(html, token))
    ready(page)
    capture_submit_events(page)
    return token


def submit(page: Any, site: Site, token: str, button: str = "Submit") -> Submission:
    """Click the submit button, wait for the page to confirm, and return what the server received."""
    page.get_by_role("button", name=button, exact=True).click()
    banner = page.locator("#truthloop-banner")
    banner.get_by_text("Submitted", exact=False).wait_for(timeout=15000)
    return site.wait_answer(token, timeout=5)


def test_every_catalogue_template_has_a_worker_action() -> None:
    assert sorted(ACTIONS) == sorted(t.id for t in TEMPLATES)


@pytest.mark.parametrize("template", TEMPLATES, ids=[t.id for t in TEMPLATES])
def test_a_worker_completes_the_template_and_submits_the_documented_answer(
    template: catalogue.CatalogueTemplate, page: Any, site: Site, s3: LocalS3, tmp_path: Path
) -> None:
    # GIVEN the template rendered from its fixture, offline
    token = open_task(page, site, s3, template)
    # WHEN a worker does the task and submits
    ACTIONS[template.id](page)
    screenshot(page, template.screenshot_name, tmp_path)
    submission = submit(page, site, token)
    # THEN the server got exactly the documented answer, with the page's CSRF token
    assert submission.answer == template.answer()
    assert submission.csrf == site.csrf_for(token)
    # AND the crowd-submit event carried the same object
    assert page.evaluate("() => window.__answers") == [template.answer()]
    # AND the template's parser accepts what the browser produced
    assert template.parse_answer(submission.answer) is not None


def test_bounding_box_adjustment_moves_and_resizes_an_initial_box(page: Any, site: Site, s3: LocalS3) -> None:
    # GIVEN the bounding-box template with a prior job's box (what pre_annotate gives an adjustment job)
    template = catalogue.load("gt/bounding-box")
    task_input = {
        **template.task_input(),
        "initialValue": [{"label": "car", "left": 150, "top": 200, "width": 230, "height": 130}],
        "priorAttribute": "vehicles",
    }
    token = open_task(page, site, s3, template, task_input=task_input)
    # WHEN the worker selects it, nudges it left with the keyboard and drags its bottom-right corner
    drag_on_image(page, "crowd-bounding-box", (250, 260), (250, 260))  # a click on the box selects it
    for _ in range(5):
        page.keyboard.press("Shift+ArrowLeft")
    for _ in range(4):
        page.keyboard.press("ArrowLeft")
    drag_on_image(page, "crowd-bounding-box", (326, 330), (372, 328))
    answer = submit(page, site, token).answer
    # THEN
    assert answer == {
        "annotatedResult": {
            "boundingBoxes": [{"label": "car", "left": 96, "top": 200, "width": 276, "height": 128}],
            "inputImageProperties": {"height": 400, "width": 640},
            "initialValueModified": True,
        }
    }
    assert template.parse_answer(answer).initial_value_modified is True
