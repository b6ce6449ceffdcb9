"""Worker actions shared by the browser tests: drag on an image in natural pixels, select text in an element."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "docs" / "img" / "templates"
#: Set to 1 to (re)write the screenshots shown in docs/templates.md; otherwise they go to the test's tmp_path.
UPDATE_SCREENSHOTS = os.environ.get("TRUTHLOOP_UPDATE_SCREENSHOTS") == "1"


def image_point(page: Any, host: str, x: float, y: float) -> tuple[float, float]:
    """Viewport coordinates of natural-pixel point (x, y) of the image inside ``host``'s shadow DOM."""
    box = page.evaluate(
        """([host]) => {
          const img = document.querySelector(host).shadowRoot.querySelector('img');
          const stage = img.closest('.stage') || img;
          const s = stage.getBoundingClientRect();
          if (s.top < 0 || s.bottom > innerHeight) stage.scrollIntoView({ block: 'center' });  // a worker scrolls to it
          const r = img.getBoundingClientRect();
          return { left: r.left, top: r.top, sx: r.width / img.naturalWidth, sy: r.height / img.naturalHeight };
        }""",
        [host],
    )
    return box["left"] + x * box["sx"], box["top"] + y * box["sy"]


def drag_on_image(page: Any, host: str, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Press at ``start``, move in steps, release at ``end`` (natural image pixels)."""
    x0, y0 = image_point(page, host, *start)
    x1, y1 = image_point(page, host, *end)
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x1, y1, steps=8)
    page.mouse.up()


def click_on_image(page: Any, host: str, x: float, y: float) -> None:
    page.mouse.click(*image_point(page, host, x, y))


def select_text(page: Any, host: str, phrase: str) -> None:
    """Select ``phrase`` in ``host``'s annotation text by dragging the mouse across it, as a worker does."""
    rects = page.evaluate(
        """([host, phrase]) => {
          const root = document.querySelector(host).shadowRoot;
          const segs = Array.from(root.querySelectorAll('.seg'));
          for (const seg of segs) {
            const node = seg.firstChild;
            const at = node ? node.data.indexOf(phrase) : -1;
            if (at < 0) continue;
            const range = document.createRange();
            range.setStart(node, at);
            range.setEnd(node, at + 1);
            const first = range.getBoundingClientRect();
            range.setStart(node, at + phrase.length - 1);
            range.setEnd(node, at + phrase.length);
            const last = range.getBoundingClientRect();
            return { x0: first.left + 1, y0: first.top + first.height / 2,
                     x1: last.right - 1, y1: last.top + last.height / 2 };
          }
          return null;
        }""",
        [host, phrase],
    )
    assert rects is not None, f"{phrase!r} is not in <{host}>'s text"
    page.mouse.move(rects["x0"], rects["y0"])
    page.mouse.down()
    page.mouse.move(rects["x1"], rects["y1"], steps=6)
    page.mouse.up()


def screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    """Save a full-page screenshot under docs/img/templates (when updating) or the test's tmp_path."""
    target = (SCREENSHOTS if UPDATE_SCREENSHOTS else tmp_path) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), full_page=True)
    return target


def capture_submit_events(page: Any) -> None:
    """Record every ``crowd-submit`` event's answer in ``window.__answers``."""
    page.evaluate(
        "() => { window.__answers = [];"
        " document.addEventListener('crowd-submit', (e) => window.__answers.push(e.detail)); }"
    )
