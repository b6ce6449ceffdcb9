"""truthloop's worker task templates (``templates/gt/``, ``templates/a2i/``) and their fixtures.

Each template is ``<name>.liquid.html`` with ``<name>.input.json`` (the ``task.input`` truthloop's
pre-annotation Lambda or ``ReviewClient`` produces for it) and ``<name>.answer.json`` (an answer in the shape
the template submits). The catalogue also records which task type or A2I source a template serves and which
parser reads its answers.

    >>> from truthloop.templates import catalogue
    >>> catalogue.load("gt/ner").task_types
    ('ner',)
    >>> catalogue.for_task_type("bounding-box-adjustment").id
    'gt/bounding-box'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

from truthloop.exceptions import TemplateError
from truthloop.templates._assets import templates_dir
from truthloop.templates._page import render_page
from truthloop.templates._render import render
from truthloop.templates.lint import LintReport, lint

__all__ = [
    "GT_PARSER",
    "REVIEW_PARSER",
    "CatalogueTemplate",
    "Kind",
    "all_templates",
    "for_source",
    "for_task_type",
    "load",
    "names",
]

Kind = Literal["gt", "a2i"]

#: The functions that read the answers of GT and A2I templates.
GT_PARSER: Final = "truthloop.labeling.answers.parse_answer"
REVIEW_PARSER: Final = "truthloop.review.results.review_result_from_output"


@dataclass(frozen=True)
class _Meta:
    title: str
    description: str
    task_types: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()


_META: Final[dict[str, _Meta]] = {
    "gt/text-classification": _Meta(
        "Text classification", "One label per text (crowd-classifier).", task_types=("text-classification",)
    ),
    "gt/text-multilabel": _Meta(
        "Text multi-label", "Every label that applies (crowd-classifier-multi-select).", task_types=("text-multilabel",)
    ),
    "gt/image-classification": _Meta(
        "Image classification", "One label per image (crowd-image-classifier).", task_types=("image-classification",)
    ),
    "gt/image-multilabel": _Meta(
        "Image multi-label",
        "Every label visible in the image (crowd-image-classifier-multi-select).",
        task_types=("image-multilabel",),
    ),
    "gt/bounding-box": _Meta(
        "Bounding boxes",
        "Draw boxes; with initialValue the worker adjusts earlier boxes (crowd-bounding-box).",
        task_types=("bounding-box", "bounding-box-adjustment"),
    ),
    "gt/bounding-box-verification": _Meta(
        "Bounding-box verification",
        "Judge a previous job's boxes drawn over the image, with a comment (crowd-image-classifier overlay).",
        task_types=("bounding-box-verification",),
    ),
    "gt/ner": _Meta("Named entities", "Label spans of text (crowd-entity-annotation).", task_types=("ner",)),
    "gt/text-ranking": _Meta(
        "Text ranking",
        "Rank N responses to a prompt on named dimensions, ties allowed (crowd-text-ranking).",
        task_types=("text-ranking",),
    ),
    "gt/pairwise-preference": _Meta(
        "Pairwise preference",
        "A, B or tie with a strength and a rationale; the A/B order is randomised and recorded.",
        task_types=("pairwise-preference",),
    ),
    "gt/free-text": _Meta(
        "Free text",
        "Answer a question about a text or transcribe an image (crowd-text-area).",
        task_types=("free-text",),
    ),
    "a2i/comprehend-sentiment-review": _Meta(
        "Comprehend sentiment review",
        "Confirm or correct a DetectSentiment result.",
        sources=("comprehend:detect_sentiment",),
    ),
    "a2i/comprehend-classification-review": _Meta(
        "Comprehend classification review",
        "Confirm or correct a custom classifier's ClassifyDocument result.",
        sources=("comprehend:classify_document",),
    ),
    "a2i/comprehend-entities-review": _Meta(
        "Comprehend entities review",
        "Fix the type or text of detected entities.",
        sources=("comprehend:detect_entities",),
    ),
    "a2i/textract-forms-review": _Meta(
        "Textract forms review",
        "Correct key-value pairs on the document (crowd-textract-analyze-document); works for A2I's built-in flow.",
        sources=("textract:analyze_document", "AWS/Textract/AnalyzeDocument/Forms/V1"),
    ),
    "a2i/textract-queries-review": _Meta(
        "Textract queries review", "Correct the answers to Textract queries.", sources=("textract:analyze_document",)
    ),
    "a2i/rekognition-moderation-review": _Meta(
        "Rekognition moderation review",
        "Choose the moderation labels that apply (crowd-rekognition-detect-moderation-labels); works for A2I's "
        "built-in flow.",
        sources=("rekognition:detect_moderation_labels", "AWS/Rekognition/DetectModerationLabels/Image/V3"),
    ),
    "a2i/endpoint-prediction-review": _Meta(
        "Endpoint prediction review",
        "Confirm or correct a custom model's label, seeing its input, confidence and the policy's reason.",
        sources=("sagemaker:invoke_endpoint", "rekognition:detect_labels"),
    ),
}


@dataclass(frozen=True)
class CatalogueTemplate:
    """One template of the catalogue and its fixtures."""

    kind: Kind
    name: str
    directory: Path
    title: str = ""
    description: str = ""
    task_types: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def parser(self) -> str:
        """The dotted name of the function that parses this template's answers."""
        return GT_PARSER if self.kind == "gt" else REVIEW_PARSER

    @property
    def task_type(self) -> str | None:
        """The GT task type the template is first meant for (``None`` for A2I templates)."""
        return self.task_types[0] if self.task_types else None

    @property
    def template_path(self) -> Path:
        return self.directory / f"{self.name}.liquid.html"

    @property
    def input_path(self) -> Path:
        return self.directory / f"{self.name}.input.json"

    @property
    def answer_path(self) -> Path:
        return self.directory / f"{self.name}.answer.json"

    @property
    def screenshot_name(self) -> str:
        """File name of its screenshot under ``docs/img/templates/``."""
        return f"{self.kind}-{self.name}.png"

    def text(self) -> str:
        return self.template_path.read_text(encoding="utf-8")

    def task_input(self) -> dict[str, Any]:
        return _read_json(self.input_path)

    def answer(self) -> dict[str, Any]:
        return _read_json(self.answer_path)

    def render(self, task_input: dict[str, Any] | None = None, **options: Any) -> str:
        """Render with ``task_input`` (default: the fixture); options as for :func:`~truthloop.templates.render`."""
        data = self.task_input() if task_input is None else task_input
        return render(self.text(), data, name=str(self.template_path), **options)

    def render_page(self, task_input: dict[str, Any] | None = None, **options: Any) -> str:
        """A complete offline page; options as for :func:`~truthloop.templates.render_page`."""
        data = self.task_input() if task_input is None else task_input
        options.setdefault("title", self.title or self.name)
        return render_page(self.text(), data, name=str(self.template_path), **options)

    def lint(self) -> LintReport:
        """Lint the template against its own input fixture."""
        return lint(self.text(), self.task_input())

    def parse_answer(self, answer: Mapping[str, Any], task_input: Mapping[str, Any] | None = None) -> Any:
        """Read one answer of this template with truthloop's parser.

        GT templates: :func:`truthloop.labeling.answers.parse_answer` for the template's task type (a typed answer
        such as ``ClassAnswer`` or ``BoxesAnswer``). A2I templates: the answer and ``task_input`` (default: the
        fixture) as one reviewer's answer of a completed loop, read by
        :func:`truthloop.review.results.review_result_from_output` (a ``ReviewResult``).
        """
        if self.kind == "gt":
            from truthloop.labeling.answers import parse_answer

            if self.task_type is None:
                raise TemplateError(f"{self.id} has no task type to parse its answers with")
            return parse_answer(self.task_type, dict(answer))
        from truthloop.contracts.a2i import HumanLoopOutput
        from truthloop.review.results import review_result_from_output

        content = dict(self.task_input() if task_input is None else task_input)
        output: dict[str, Any] = {
            "flowDefinitionArn": f"arn:aws:sagemaker:us-east-1:000000000000:flow-definition/{self.name}",
            "humanLoopName": f"{self.name}-preview",
            "inputContent": content,
            "humanAnswers": [
                {"answerContent": dict(answer), "workerId": "preview", "submissionTime": "2024-01-01T00:00:00.000Z"}
            ],
        }
        builtin = [s for s in self.sources if s.startswith("AWS/")]
        if builtin and "truthloop" not in content:
            output["awsManagedHumanLoopRequestSource"] = builtin[0]
        return review_result_from_output(HumanLoopOutput.parse(output))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TemplateError(f"{path}: fixture missing") from None
    except ValueError as exc:
        raise TemplateError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise TemplateError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _entry(kind: Kind, name: str, root: Path) -> CatalogueTemplate:
    meta = _META.get(f"{kind}/{name}", _Meta(name, ""))
    return CatalogueTemplate(
        kind=kind,
        name=name,
        directory=root / kind,
        title=meta.title,
        description=meta.description,
        task_types=meta.task_types,
        sources=meta.sources,
    )


def all_templates(kind: Kind | None = None) -> list[CatalogueTemplate]:
    """Every ``<name>.liquid.html`` under ``templates/gt`` and ``templates/a2i`` (sorted by id)."""
    root = templates_dir()
    kinds: tuple[Kind, ...] = (kind,) if kind is not None else ("gt", "a2i")
    found = []
    for k in kinds:
        template_names = sorted(path.name.removesuffix(".liquid.html") for path in (root / k).glob("*.liquid.html"))
        found += [_entry(k, name, root) for name in template_names]
    return found


def names(kind: Kind | None = None) -> list[str]:
    """The catalogue ids (``gt/ner``, ``a2i/textract-forms-review``, …)."""
    return [t.id for t in all_templates(kind)]


def load(name: str) -> CatalogueTemplate:
    """A template by id (``gt/ner``) or bare name (``ner``, when unambiguous)."""
    templates = all_templates()
    matches = [t for t in templates if name in (t.id, t.name)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(t.id for t in templates)
        raise TemplateError(f"no template {name!r} in the catalogue; known: {known}")
    raise TemplateError(f"{name!r} is ambiguous: {', '.join(t.id for t in matches)}")


def for_task_type(task_type: str) -> CatalogueTemplate:
    """The GT template for a truthloop task type id (``bounding-box-adjustment`` → ``gt/bounding-box``)."""
    for template in all_templates("gt"):
        if task_type in template.task_types:
            return template
    raise TemplateError(f"no catalogue template for task type {task_type!r}")


def for_source(source: str) -> CatalogueTemplate:
    """The A2I review template for a source id or A2I built-in source (the first match)."""
    for template in all_templates("a2i"):
        if source in template.sources:
            return template
    raise TemplateError(f"no catalogue template for review source {source!r}")
