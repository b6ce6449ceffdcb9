"""The bounding-box tool as a worker meets it on small images: scaled up to fit, zoom and pan, undo/redo,
handles that stay smaller than the box, and label colours taken from label names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .conftest import SAMPLE_BUCKET, LocalS3, Site
from .helpers import click_on_image, drag_on_image, image_point
from .test_elements import open_page
from .test_templates import submit

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
SHAPES = ROOT / "sdk" / "truthloop" / "local" / "samples" / "images" / "shapes-01.png"  # 96 × 64 pixels
HOST = "crowd-bounding-box"
TEMPLATE = (
    '<script src="https://assets.crowd.aws/crowd-html-elements.js"></script><crowd-form>'
    '<crowd-bounding-box name="boxes" src="{{ task.input.img | grant_read_access }}" labels="{{ task.input.labels }}"'
    ' header="Box the shapes"></crowd-bounding-box></crowd-form>'
)


@pytest.fixture
def small(page: Any, site: Site, s3: LocalS3) -> str:
    """The demo's 96 × 64 image in a bounding-box task with the labels red and blue; returns the page token."""
    s3.ensure_samples()
    s3.client.put_object(Bucket=SAMPLE_BUCKET, Key="images/shapes-01.png", Body=SHAPES.read_bytes())
    task_input = {"img": f"s3://{SAMPLE_BUCKET}/images/shapes-01.png", "labels": ["red", "blue"]}
    return open_page(page, site, s3, TEMPLATE, task_input)


def _view(page: Any) -> dict[str, Any]:
    return page.evaluate(
        """() => {
          const root = document.querySelector('crowd-bounding-box').shadowRoot;
          const img = root.querySelector('img'), stage = root.querySelector('.stage');
          const r = img.getBoundingClientRect(), s = stage.getBoundingClientRect();
          return { width: r.width, height: r.height, left: r.left - s.left, top: r.top - s.top,
                   stageWidth: s.width, pixelated: img.classList.contains('pixelated'),
                   zoom: root.querySelector('.zoom').textContent,
                   undo: root.querySelector('.undo').disabled, redo: root.querySelector('.redo').disabled };
        }"""
    )


def _boxes(page: Any) -> list[dict[str, Any]]:
    return page.evaluate("() => document.querySelector('crowd-bounding-box').value.boundingBoxes")


def _button(page: Any, name: str) -> Any:
    return page.locator(HOST).get_by_role("button", name=name, exact=True)


def test_a_small_image_is_scaled_up_by_a_whole_factor_to_fit(page: Any, small: str) -> None:
    # WHEN the 96 × 64 image is shown in a 1400 px wide page
    view = _view(page)
    # THEN it is drawn several times larger, by a whole factor, with square pixels
    factor = view["width"] / 96
    assert factor >= 4 and factor == int(factor) and view["height"] == 64 * factor
    assert view["pixelated"] and view["zoom"] == f"{int(factor) * 100}%"


def test_boxes_drawn_on_the_scaled_image_are_in_image_pixels(page: Any, site: Site, small: str) -> None:
    # WHEN the worker boxes the blue rectangle (gold: left 14, top 13, 30 × 21) after choosing "blue"
    page.locator(HOST).get_by_role("radio", name="blue").click()
    drag_on_image(page, HOST, (14, 13), (44, 34))
    # THEN the answer is in the image's own pixels
    answer = submit(page, site, small).answer
    assert answer["boxes"]["boundingBoxes"] == [{"label": "blue", "left": 14, "top": 13, "width": 30, "height": 21}]
    assert answer["boxes"]["inputImageProperties"] == {"height": 64, "width": 96}


def test_label_names_that_name_a_colour_are_drawn_in_it(page: Any, small: str) -> None:
    # WHEN one box is drawn with each label
    drag_on_image(page, HOST, (61, 30), (89, 50))  # "red" is active first
    page.locator(HOST).get_by_role("radio", name="blue").click()
    drag_on_image(page, HOST, (14, 13), (44, 34))
    # THEN the red box is red and the blue one blue (outline and the label list's swatches)
    strokes = page.evaluate(
        """() => Array.from(document.querySelector('crowd-bounding-box').shadowRoot
              .querySelectorAll('rect.shape')).map(r => r.getAttribute('stroke'))"""
    )
    assert strokes == ["#dc2626", "#2563eb"]
    swatches = page.evaluate(
        """() => Array.from(document.querySelector('crowd-bounding-box').shadowRoot
              .querySelectorAll('.labels .swatch')).map(s => getComputedStyle(s).backgroundColor)"""
    )
    assert swatches == ["rgb(220, 38, 38)", "rgb(37, 99, 235)"]


@pytest.mark.parametrize(("box", "expected_max"), [((10, 10, 40, 40), 10.0), ((10, 10, 16, 14), 4 / 3)])
def test_resize_handles_never_cover_a_small_box(
    page: Any, small: str, box: tuple[int, int, int, int], expected_max: float
) -> None:
    # GIVEN a box (30 × 30, or 6 × 4 image pixels)
    x0, y0, x1, y1 = box
    drag_on_image(page, HOST, (x0, y0), (x1, y1))
    # WHEN it is selected
    click_on_image(page, HOST, (x0 + x1) / 2, (y0 + y1) / 2)
    # THEN its four handles are at most a third of its shorter side (and never below 4 screen pixels)
    sizes = page.evaluate(
        """() => { const root = document.querySelector('crowd-bounding-box').shadowRoot;
             const img = root.querySelector('img');
             const unit = img.naturalWidth / img.getBoundingClientRect().width;
             const handles = Array.from(root.querySelectorAll('rect.handle'));
             return { unit, sizes: handles.map(h => +h.getAttribute('width')) }; }"""
    )
    assert len(sizes["sizes"]) == 4
    shorter = min(x1 - x0, y1 - y0)
    for size in sizes["sizes"]:
        assert size <= max(shorter / 3, 4 * sizes["unit"]) + 1e-9
        assert size <= 10 * sizes["unit"] + 1e-9
    assert max(sizes["sizes"]) <= max(expected_max, 4 * sizes["unit"]) + 1e-9


def test_undo_and_redo_step_through_every_change(page: Any, site: Site, small: str) -> None:
    # GIVEN nothing to undo yet
    assert _view(page)["undo"] and _view(page)["redo"]
    # WHEN the worker draws two boxes, then deletes the first with the keyboard
    drag_on_image(page, HOST, (61, 30), (89, 50))
    drag_on_image(page, HOST, (14, 13), (44, 34))
    click_on_image(page, HOST, 75, 40)
    page.keyboard.press("Delete")
    assert [b["left"] for b in _boxes(page)] == [14]
    # THEN Undo brings the deleted box back, Ctrl+Z removes the second box, and Redo / Ctrl+Shift+Z replay them
    _button(page, "Undo").click()
    assert [b["left"] for b in _boxes(page)] == [61, 14]
    page.locator(HOST).locator(".stage").focus()
    page.keyboard.press("Control+z")
    assert [b["left"] for b in _boxes(page)] == [61]
    _button(page, "Redo").click()
    assert [b["left"] for b in _boxes(page)] == [61, 14]
    page.keyboard.press("Control+Shift+z")  # the Redo button has the focus: the shortcut works there too
    assert [b["left"] for b in _boxes(page)] == [14]
    assert _view(page)["redo"]  # nothing left to redo
    # AND what is submitted is what is on screen
    answer = submit(page, site, small).answer
    assert [b["left"] for b in answer["boxes"]["boundingBoxes"]] == [14]


def test_zoom_and_pan_keep_boxes_in_image_pixels(page: Any, site: Site, small: str) -> None:
    # GIVEN the image zoomed in twice with the toolbar (1.25 × 1.25) and panned with the middle button
    before = _view(page)
    _button(page, "Zoom in").click()
    _button(page, "Zoom in").click()
    zoomed = _view(page)
    assert zoomed["width"] == pytest.approx(before["width"] * 1.5625)
    assert zoomed["stageWidth"] == before["stageWidth"]  # the view stays the same size: the image grows in it
    x, y = image_point(page, HOST, 48, 32)
    page.mouse.move(x, y)
    page.mouse.down(button="middle")
    page.mouse.move(x - 120, y - 60, steps=5)
    page.mouse.up(button="middle")
    panned = _view(page)
    assert panned["left"] == pytest.approx(zoomed["left"] - 120) and panned["top"] == pytest.approx(zoomed["top"] - 60)
    # WHEN a box is drawn on the zoomed, panned image (the red rectangle: left 61, top 30, 28 × 20)
    drag_on_image(page, HOST, (61, 30), (89, 50))
    # THEN it is in image pixels; Fit shows the whole image again
    assert _boxes(page) == [{"label": "red", "left": 61, "top": 30, "width": 28, "height": 20}]
    _button(page, "Fit").click()
    assert _view(page)["width"] == pytest.approx(before["width"]) and _view(page)["left"] == 0


def test_ctrl_wheel_zooms_around_the_pointer(page: Any, small: str) -> None:
    # GIVEN the pointer over image pixel (72, 48)
    width = _view(page)["width"]
    x, y = image_point(page, HOST, 72, 48)
    page.mouse.move(x, y)
    # WHEN the worker zooms with Ctrl+wheel
    page.keyboard.down("Control")
    page.mouse.wheel(0, -100)
    page.keyboard.up("Control")
    # THEN the image grew and the same image pixel is still under the pointer
    after = image_point(page, HOST, 72, 48)
    assert after[0] == pytest.approx(x, abs=1) and after[1] == pytest.approx(y, abs=1)
    assert _view(page)["width"] == pytest.approx(width * 1.25)
