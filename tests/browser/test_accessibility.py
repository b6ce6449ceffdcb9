"""Every task page passes axe-core in Chromium: no serious or critical violation (WCAG 2.x A/AA rules).

axe-core comes from npm (``package.json``; ``make test`` installs it under ``node_modules/``); its script is
injected into each page from there, so nothing is fetched from the network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from truthloop.templates import catalogue

from .conftest import ROOT, LocalS3, Site
from .test_templates import ACTIONS, TEMPLATES, open_task

pytestmark = pytest.mark.browser

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """Run axe-core on the page (shadow DOM included) and return its serious and critical violations."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: `npm install` (make test runs it) installs axe-core from package.json")
    # evaluated through the DevTools protocol: the task pages' Content-Security-Policy refuses injected <script>s
    page.evaluate("source => { (0, eval)(source); }", AXE.read_text(encoding="utf-8"))
    result = page.evaluate(
        """async () => {
          const r = await axe.run(document, { resultTypes: ['violations'],
            runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] } });
          return r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
            nodes: v.nodes.slice(0, 5).map(n => ({ target: n.target, summary: n.failureSummary })) }));
        }"""
    )
    return [v for v in result if v["impact"] in BLOCKING]


def _report(violations: list[dict[str, Any]]) -> str:
    return json.dumps(violations, indent=1)[:4000]


@pytest.mark.parametrize("template", TEMPLATES, ids=[t.id for t in TEMPLATES])
def test_every_task_page_has_no_serious_accessibility_violation(
    template: catalogue.CatalogueTemplate, page: Any, site: Site, s3: LocalS3
) -> None:
    # GIVEN the task page rendered from its fixture
    open_task(page, site, s3, template)
    # WHEN axe-core checks it as it opens, and again after a worker filled it in
    before = axe_violations(page)
    ACTIONS[template.id](page)
    after = axe_violations(page)
    # THEN neither has a serious or critical violation
    assert not before, _report(before)
    assert not after, _report(after)


def test_axe_finds_a_violation_when_there_is_one(page: Any, site: Site) -> None:
    # GIVEN a page with an unlabeled text field and an image without alternative text (a check that can fail)
    page.goto(site.add_page('<!doctype html><html lang="en"><title>t</title><input type="text"><img src="x.png">'))
    # WHEN / THEN axe-core reports both
    found = {v["id"] for v in axe_violations(page)}
    assert {"label", "image-alt"} <= found


def test_axe_core_is_pinned_in_package_json() -> None:
    package = json.loads((ROOT / "package.json").read_text())
    assert package["devDependencies"]["axe-core"].split(".")[0] == "4"
    assert Path(AXE).parent.name == "axe-core"
