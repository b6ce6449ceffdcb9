"""``lint`` finds what AWS would reject or what would break a worker's task, and nothing else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from truthloop.exceptions import TemplateLintError
from truthloop.templates import lint, render
from truthloop.templates.lint import MAX_TEMPLATE_CHARS

THIRD_PARTY = Path(__file__).parent / "fixtures" / "third_party"
SCRIPT = '<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>\n'


def _findings(template: str, task_input: dict[str, Any] | None = None) -> list[tuple[str, str, int | None]]:
    return [(i.severity, i.code, i.line) for i in lint(template, task_input).issues]


@pytest.mark.parametrize(
    ("template", "task_input", "expected"),
    [
        pytest.param(
            SCRIPT + "<crowd-form>\n<crowd-input name='a'></crowd-input>\n</crowd-form>\n<crowd-form></crowd-form>",
            None,
            [("error", "multiple-crowd-forms", 5)],
            id="two-crowd-forms",
        ),
        pytest.param(
            SCRIPT + "<crowd-entity-annotation name='e' text='x' labels='[\"a\"]'></crowd-entity-annotation>",
            None,
            [("warning", "no-crowd-form", 2)],
            id="full-page-element-alone-is-a-warning",
        ),
        pytest.param(
            SCRIPT + "<crowd-input name='a'></crowd-input>",
            None,
            [("error", "no-crowd-form", None)],
            id="inputs-without-a-form-are-an-error",
        ),
        pytest.param(
            SCRIPT + "<crowd-form>\n<crowd-input name='a'></crowd-input>\n<crowd-text-area name='a'></crowd-text-area>"
            "\n</crowd-form>",
            None,
            [("error", "duplicate-name", 4)],
            id="duplicate-names",
        ),
        pytest.param(
            SCRIPT + "<crowd-form>\n<crowd-checkbox name='t' value='a'></crowd-checkbox>\n"
            "<crowd-checkbox name='t' value='b'></crowd-checkbox>\n<input type='radio' name='r' value='1'>"
            "<input type='radio' name='r' value='2'>\n<crowd-input name='_x'></crowd-input>"
            "<crowd-input name='_x'></crowd-input>\n</crowd-form>",
            None,
            [],
            id="shared-checkbox-and-radio-names-and-scratch-names-are-fine",
        ),
        pytest.param(
            SCRIPT + "<crowd-form>\n<crowd-clasifier name='c' categories='[\"a\"]'></crowd-clasifier>\n</crowd-form>",
            None,
            [("error", "unknown-element", 3)],
            id="unknown-crowd-element",
        ),
        pytest.param(
            SCRIPT + "<crowd-form>\n<crowd-classifier categories='[\"a\"]'></crowd-classifier>\n</crowd-form>",
            None,
            [("warning", "missing-name", 3)],
            id="answer-element-without-name",
        ),
        pytest.param(
            '<script src="https://assets.crowd.aws/crowd-html-elements-v2.js"></script>\n<crowd-form>\n'
            "<crowd-text-ranking name='r' responses='[\"a\",\"b\"]' ordinal-ranking-dimensions='[]'>"
            "<short-instructions>x</short-instructions></crowd-text-ranking>\n<crowd-button>b</crowd-button>\n"
            "<crowd-input name='q'></crowd-input>\n</crowd-form>",
            None,
            [("error", "v2-incompatible", 5)],
            id="v2-element-with-a-v1-input",
        ),
        pytest.param(
            SCRIPT + "<crowd-form>\n<crowd-text-ranking name='r' responses='[\"a\"]'></crowd-text-ranking>\n"
            "</crowd-form>",
            None,
            [("warning", "v2-script", 1)],
            id="v2-element-with-the-v1-script",
        ),
        pytest.param(
            SCRIPT + "<crowd-form>\n<crowd-classifier name='c'\n categories=\"['a', 'b'\"></crowd-classifier>\n"
            "</crowd-form>",
            None,
            [("error", "bad-attribute", 3)],
            id="attribute-that-is-not-json",
        ),
        pytest.param(
            SCRIPT
            + "<crowd-form>\n<crowd-bounding-box name='b' src='x.png' labels='"
            + json.dumps([str(i) for i in range(11)])
            + "'></crowd-bounding-box>\n</crowd-form>",
            None,
            [("error", "too-many-items", 3)],
            id="more-than-ten-labels",
        ),
        pytest.param(
            SCRIPT + "<crowd-form>\n{% if task.input.x %}\n{% endfor %}\n</crowd-form>",
            None,
            [("error", "liquid-syntax", 4)],
            id="liquid-syntax-error",
        ),
        pytest.param(
            SCRIPT + "<crowd-form>\n<p>{{ task.input.x | uppcase }}</p>\n</crowd-form>",
            None,
            [("error", "unknown-filter", 3)],
            id="unknown-filter",
        ),
        pytest.param(
            SCRIPT + "<crowd-form>\n<p>{{ task.input.text }}</p>\n<p>{{ task.input.meta.lang }}</p>\n"
            "<p>{{ task.input.labels[3] }}</p>\n</crowd-form>",
            {"text": "hi", "meta": {}, "labels": ["a"]},
            [("error", "missing-input", 4), ("error", "missing-input", 5)],
            id="paths-missing-from-the-fixture",
        ),
        pytest.param(
            SCRIPT + "<crowd-form>\n{% if task.input.hint %}<p>{{ task.input.hint }}</p>{% endif %}\n"
            "<p>{{ task.input.note | default: 'none' }}</p>\n<p>{{ task.input.labels.size }}"
            "{{ task.input.labels.first }}</p>\n</crowd-form>",
            {"labels": ["a"]},
            [("info", "optional-input", 3), ("info", "optional-input", 4)],
            id="guarded-paths-may-be-absent",
        ),
        pytest.param(
            SCRIPT + "<crowd-form>\n<p>{{ worker.id }}</p>\n</crowd-form>",
            None,
            [("warning", "unknown-variable", 3)],
            id="variables-other-than-task",
        ),
        pytest.param(
            SCRIPT + "<crowd-form>\n<div>{{ task.input.html | skip_autoescape }}</div>\n"
            "<div>{{ '<b>static</b>' | skip_autoescape }}</div>\n</crowd-form>",
            {"html": "<b>x</b>"},
            [("warning", "skip-autoescape", 3)],
            id="skip-autoescape-on-task-input",
        ),
        pytest.param(
            SCRIPT + "<crowd-form>\n<crowd-image-classifier name='c' categories='[\"a\"]'\n"
            " src='{{ task.input.taskObject }}'></crowd-image-classifier>\n</crowd-form>",
            {"taskObject": "s3://bucket/cat.jpg"},
            [("error", "s3-src", 3)],
            id="s3-uri-without-grant-read-access",
        ),
        pytest.param(
            "<crowd-form>\n<crowd-input name='a'></crowd-input>\n</crowd-form>",
            None,
            [("warning", "no-crowd-script", None)],
            id="no-crowd-elements-script",
        ),
        pytest.param(
            SCRIPT + '<script src="https://code.example.com/lib.js"></script>\n<crowd-form>\n'
            '<img src="https://example.com/a.png">\n<crowd-semantic-segmentation name="s" src="x" labels=\'["a"]\'>'
            "</crowd-semantic-segmentation>\n</crowd-form>",
            None,
            [("warning", "external-resource", 2), ("info", "external-resource", 4), ("info", "not-offline", 5)],
            id="network-resources-and-aws-only-elements",
        ),
        pytest.param(
            SCRIPT + "<crowd-form>\n{% for t in task.input.topics %}<crowd-checkbox name='{{ t }}'></crowd-checkbox>"
            "<crowd-input name='{{ t }}'></crowd-input>{% endfor %}\n</crowd-form>",
            {"topics": ["a", "b"]},
            [("error", "duplicate-name", 3), ("error", "duplicate-name", 3)],
            id="duplicates-made-by-a-loop-are-found-in-the-rendered-page",
        ),
        pytest.param(
            SCRIPT + "<crowd-form>\n{% comment %}<crowd-form></crowd-form><crowd-bogus></crowd-bogus>{% endcomment %}\n"
            "<!-- <crowd-bogus> --><crowd-input name='a'></crowd-input>\n<script>var x = '<crowd-bogus>';</script>\n"
            "</crowd-form>",
            None,
            [],
            id="comments-and-scripts-are-not-markup",
        ),
    ],
)
def test_lint_reports_exactly_these_findings(
    template: str, task_input: dict[str, Any] | None, expected: list[tuple[str, str, int | None]]
) -> None:
    # WHEN
    found = _findings(template, task_input)
    # THEN
    assert sorted(found, key=str) == sorted(expected, key=str)


def test_size_limit_is_128000_characters() -> None:
    # GIVEN a template exactly at the limit and one character over
    body = SCRIPT + "<crowd-form><crowd-input name='a'></crowd-input></crowd-form>"
    at_limit = body + " " * (MAX_TEMPLATE_CHARS - len(body))
    # WHEN / THEN
    assert "too-large" not in lint(at_limit).codes()
    assert lint(at_limit + " ").codes("error") == ["too-large"]


def test_raise_for_errors_lists_every_error_with_its_line() -> None:
    report = lint(SCRIPT + "<crowd-form></crowd-form>\n<crowd-form></crowd-form>\n{{ x | nope }}")
    with pytest.raises(TemplateLintError) as info:
        report.raise_for_errors("task.html")
    assert info.value.problems == (
        "task.html:3: error: more than one <crowd-form>; a template has exactly one [multiple-crowd-forms]",
        "task.html:4: error: unknown filter 'nope' [unknown-filter]",
    )


def test_unknown_element_suggests_the_closest_known_one() -> None:
    issue = lint(SCRIPT + "<crowd-form><crowd-bounding-boxes name='b'></crowd-bounding-boxes></crowd-form>").errors[0]
    assert "did you mean <crowd-bounding-box>?" in issue.message


THIRD_PARTY_TEMPLATES = sorted(THIRD_PARTY.glob("*.liquid.html"))


@pytest.mark.parametrize("path", THIRD_PARTY_TEMPLATES, ids=lambda p: p.name.removesuffix(".liquid.html"))
def test_third_party_templates_render_and_lint_without_changes(path: Path) -> None:
    # GIVEN an AWS-sample-style template (JS-literal attributes, scripts, built-in A2I inputs, V2 pages)
    template = path.read_text()
    task_input = json.loads(path.with_name(path.name.replace(".liquid.html", ".input.json")).read_text())
    # WHEN
    html = render(template, task_input)
    report = lint(template, task_input)
    # THEN it renders, and lints without errors; only a form-less full-page template gets its warning
    assert "<crowd-" in html
    assert report.errors == ()
    allowed = {"no-crowd-form"} if "standalone" in path.name else set()
    assert set(report.codes("warning")) <= allowed
