"""``lint``: check a GT or A2I worker task template before a worker (or AWS) sees it.

Checks (error unless noted):

* size: at most 128,000 characters (``UiTemplate.Content`` / ``RenderUiTemplate``);
* Liquid: syntax errors with their line; unknown filters; ``include``/``render`` (no partials on AWS; warning);
* task input: with a fixture, every ``task.input.…`` path the template reads must exist in it (a path guarded
  by ``if``/``unless``/``case`` or ``| default`` may be absent: info); variables other than ``task`` (warning);
* ``skip_autoescape`` applied to task input or a variable (warning: raw HTML from the input is an XSS risk);
* crowd-form: at most one; none is a warning when a full-page element (``crowd-entity-annotation``, …) stands
  alone, an error when answer elements have nothing to submit them;
* elements: unknown ``crowd-*`` tags (with a suggestion); elements the offline preview does not implement (info);
  GenAI V2 elements (``crowd-text-ranking``, ``crowd-question-answer-generation``) only next to ``crowd-form``,
  ``short-instructions``, ``crowd-button``, ``crowd-tabs``, ``crowd-tab``;
* answers: unique ``name``s (boxes sharing a name merge and are fine; names starting with ``_`` are scratch
  inputs, as in AWS's samples), answer elements without a ``name``
  (warning), JSON attributes that do not parse, more than 10 categories/labels where AWS caps them, an ``src``
  that is still an ``s3://`` URI (forgot ``grant_read_access``);
* loading: no ``assets.crowd.aws`` script while crowd elements are used (warning); scripts or styles from other
  hosts (warning: they do not load offline); remote images (info).

Works on any GT/A2I template, not only truthloop's. Without a fixture the HTML checks run on the template
source; with one they also run on the rendered page (names and attributes produced by Liquid loops).
"""

from __future__ import annotations

import difflib
import json
import re
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Final, Literal
from urllib.parse import quote

from liquid import BoundTemplate
from liquid.ast import ConditionalBlockNode, Node
from liquid.builtin.expressions.filtered import FilteredExpression
from liquid.builtin.expressions.path import Path
from liquid.builtin.tags.case_tag import CaseNode
from liquid.builtin.tags.if_tag import IfNode
from liquid.builtin.tags.unless_tag import UnlessNode
from liquid.context import RenderContext
from liquid.exceptions import LiquidError
from liquid.expression import Expression

from truthloop.exceptions import TemplateLintError
from truthloop.templates._liquid import TemplateEnvironment
from truthloop.templates._literal import LiteralError, parse_literal
from truthloop.templates._render import error_line, locate_syntax_error
from truthloop.templates.elements import ELEMENTS, REGION_TAGS, V2_COMPATIBLE

__all__ = ["MAX_TEMPLATE_CHARS", "LintIssue", "LintReport", "Severity", "lint"]

#: ``UiTemplate.Content`` and ``RenderUiTemplate`` accept at most this many characters (botocore model).
MAX_TEMPLATE_CHARS: Final = 128_000

Severity = Literal["error", "warning", "info"]

_AWS_SCRIPT = re.compile(r"^https?://assets\.crowd\.aws/crowd-html-elements(-v2)?\.js$", re.IGNORECASE)
_LIQUID = ("{{", "{%")
_LIQUID_COMMENT = re.compile(r"{%-?\s*comment\s*-?%}.*?{%-?\s*endcomment\s*-?%}|{%-?\s*#.*?%}", re.DOTALL)
_SPECIAL_PROPERTIES = frozenset({"size", "first", "last"})


@dataclass(frozen=True)
class LintIssue:
    """One finding: ``severity``, a stable ``code``, a message and the 1-based template ``line`` when known."""

    severity: Severity
    code: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.line}: " if self.line is not None else ""
        return f"{where}{self.severity}: {self.message} [{self.code}]"


@dataclass(frozen=True)
class LintReport:
    """All findings for one template, in line order."""

    issues: tuple[LintIssue, ...]

    @property
    def errors(self) -> tuple[LintIssue, ...]:
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def warnings(self) -> tuple[LintIssue, ...]:
        return tuple(i for i in self.issues if i.severity == "warning")

    @property
    def ok(self) -> bool:
        """No errors (warnings and infos allowed)."""
        return not self.errors

    @property
    def clean(self) -> bool:
        """Neither errors nor warnings."""
        return not self.errors and not self.warnings

    def codes(self, severity: Severity | None = None) -> list[str]:
        return [i.code for i in self.issues if severity is None or i.severity == severity]

    def raise_for_errors(self, name: str = "<template>") -> None:
        """Raise :class:`~truthloop.exceptions.TemplateLintError` listing every error."""
        if self.errors:
            raise TemplateLintError([f"{name}:{e}" for e in self.errors])


# --------------------------------------------------------------------------------------------- HTML scanning


@dataclass(frozen=True)
class _Element:
    tag: str
    attrs: dict[str, str | None]
    line: int


class _Scanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[_Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(_Element(tag, dict(attrs), self.getpos()[0]))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def _scan(html: str) -> list[_Element]:
    scanner = _Scanner()
    scanner.feed(html)
    scanner.close()
    return scanner.elements


def _blank_liquid_comments(text: str) -> str:
    """Liquid comments hide their HTML from AWS too; blank them but keep line numbers."""
    return _LIQUID_COMMENT.sub(lambda m: "\n" * m.group().count("\n"), text)


def _has_liquid(value: str | None) -> bool:
    return value is not None and any(marker in value for marker in _LIQUID)


# --------------------------------------------------------------------------------------------- Liquid analysis


def _line(source: str, index: int) -> int:
    return source.count("\n", 0, max(0, index)) + 1


def _walk_nodes(nodes: Sequence[Node] | Iterator[Node], ctx: RenderContext) -> Iterator[Node]:
    for node in nodes:
        yield node
        yield from _walk_nodes(iter(node.children(ctx, include_partials=False)), ctx)


def _walk_expression(expression: Expression) -> Iterator[Expression]:
    yield expression
    for child in expression.children():
        yield from _walk_expression(child)


def _static_segments(path: Path) -> tuple[str | int, ...]:
    """The leading segments of a path up to (not including) the first computed ``[...]`` segment."""
    out: list[str | int] = []
    for segment in path.path:
        if isinstance(segment, str | int):
            out.append(segment)
        else:
            break
    return tuple(out)


def _resolve(value: Any, segments: Sequence[str | int]) -> str | None:
    """``None`` when ``segments`` exist under ``value``, else the dotted prefix that is missing."""
    current = value
    walked: list[str] = []
    for seg in segments:
        label = f"[{seg}]" if isinstance(seg, int) else f".{seg}"
        if isinstance(current, Mapping):
            if seg in current:
                current = current[seg]
            elif isinstance(seg, str) and seg in _SPECIAL_PROPERTIES:
                return None
            else:
                return "".join([*walked, label])
        elif isinstance(current, list):
            if isinstance(seg, int):
                if -len(current) <= seg < len(current):
                    current = current[seg]
                else:
                    return "".join([*walked, label])
            elif seg in _SPECIAL_PROPERTIES:
                return None
            else:
                return "".join([*walked, label])
        elif isinstance(current, str) and seg == "size":
            return None
        else:
            return "".join([*walked, label])
        walked.append(label)
    return None


class _LintPresigner:
    """Stands in for S3 while linting: ``grant_read_access`` needs no credentials or network here."""

    def generate_presigned_url(self, _op: str, Params: Mapping[str, str], ExpiresIn: int) -> str:
        del ExpiresIn
        return f"https://{Params['Bucket']}.s3.amazonaws.com/{quote(Params['Key'])}?X-Truthloop-Lint=1"


class _Linter:
    def __init__(self, source: str, task_input: Mapping[str, Any] | None) -> None:
        self.source = source
        self.task_input = task_input
        self.issues: list[LintIssue] = []

    def add(self, severity: Severity, code: str, message: str, line: int | None = None) -> None:
        self.issues.append(LintIssue(severity, code, message, line))

    # ----------------------------------------------------------------------------------- Liquid

    def liquid(self) -> BoundTemplate | None:
        env = TemplateEnvironment(s3_client=_LintPresigner())
        try:
            template = env.from_string(self.source)
        except LiquidError as exc:
            line = error_line(exc)
            if line is None:
                line = locate_syntax_error(self.source, env)
            self.add("error", "liquid-syntax", f"Liquid syntax error: {exc.message}", line)
            return None
        ctx = RenderContext(template)
        guarded: set[tuple[str | int, ...]] = set()
        reads: list[tuple[Path, tuple[str | int, ...]]] = []
        for node in _walk_nodes(template.nodes, ctx):
            if node.token.kind == "tag" and node.token.value in ("include", "render"):
                self.add(
                    "warning",
                    "liquid-partial",
                    f"{{% {node.token.value} %}} needs partial templates, which Ground Truth and A2I do not provide",
                    _line(self.source, node.token.start_index),
                )
            is_guard = isinstance(node, IfNode | UnlessNode | ConditionalBlockNode | CaseNode)
            for expression in node.expressions():
                for expr in _walk_expression(expression):
                    if isinstance(expr, FilteredExpression):
                        self.filtered(expr, env, guarded)
                    if isinstance(expr, Path):
                        segments = _static_segments(expr)
                        reads.append((expr, segments))
                        if is_guard:
                            guarded.add(segments)
        self.paths(reads, guarded, template)
        return template

    def filtered(self, expr: FilteredExpression, env: TemplateEnvironment, guarded: set[tuple[str | int, ...]]) -> None:
        for flt in expr.filters or ():
            line = _line(self.source, flt.token.start_index)
            if flt.name not in env.filters:
                suggestion = difflib.get_close_matches(flt.name, list(env.filters), n=1)
                hint = f" (did you mean {suggestion[0]!r}?)" if suggestion else ""
                self.add("error", "unknown-filter", f"unknown filter {flt.name!r}{hint}", line)
            if flt.name == "default" and isinstance(expr.left, Path):
                guarded.add(_static_segments(expr.left))
            if flt.name == "skip_autoescape" and isinstance(expr.left, Path):
                root = _static_segments(expr.left)
                what = "task input" if root[:2] == ("task", "input") else f"variable {root[0]!r}" if root else "a value"
                self.add(
                    "warning",
                    "skip-autoescape",
                    f"skip_autoescape on {what} prints it as raw HTML: unless the input is trusted, "
                    "that lets a data object inject markup and scripts into the worker's page",
                    line,
                )

    def paths(
        self,
        reads: list[tuple[Path, tuple[str | int, ...]]],
        guarded: set[tuple[str | int, ...]],
        template: BoundTemplate,
    ) -> None:
        analysis = template.analyze(include_partials=False)
        for name, variables in analysis.globals.items():
            if name == "task":
                continue
            self.add(
                "warning",
                "unknown-variable",
                f"variable {name!r} is not defined: Ground Truth and A2I templates only get `task` (task.input)",
                _line(self.source, variables[0].span.index),
            )
        global_spans = {v.span.index for vs in analysis.globals.values() for v in vs}
        seen: set[tuple[tuple[str | int, ...], int]] = set()
        for path, segments in reads:
            index = path.token.start_index
            if len(segments) < 2 or segments[0] != "task" or index not in global_spans:
                continue
            line = _line(self.source, index)
            if segments[1] != "input":
                self.add("warning", "unknown-variable", f"task.{segments[1]} is not defined; use task.input", line)
                continue
            if self.task_input is None or (segments, line) in seen:
                continue
            seen.add((segments, line))
            missing = _resolve(self.task_input, segments[2:])
            if missing is None:
                continue
            dotted = "task.input" + missing
            if any(segments[: len(g)] == g for g in guarded if len(g) > 2):
                self.add("info", "optional-input", f"{dotted} is absent from the task input (read under a guard)", line)
            else:
                self.add("error", "missing-input", f"{dotted} is not in the task input fixture", line)

    # ----------------------------------------------------------------------------------- HTML

    def structure(self, elements: list[_Element]) -> None:
        crowd = [e for e in elements if e.tag.startswith("crowd-")]
        forms = [e for e in crowd if e.tag == "crowd-form"]
        specs = [(e, ELEMENTS.get(e.tag)) for e in crowd]
        for extra in forms[1:]:
            self.add(
                "error", "multiple-crowd-forms", "more than one <crowd-form>; a template has exactly one", extra.line
            )
        full_page = [e for e, s in specs if s and s.full_page]
        answering = [e for e, s in specs if s and s.answers]
        if not forms:
            if full_page:
                self.add(
                    "warning",
                    "no-crowd-form",
                    f"no <crowd-form>: <{full_page[0].tag}> submits on its own, other inputs are not sent",
                    full_page[0].line,
                )
            elif answering:
                self.add("error", "no-crowd-form", "no <crowd-form>: the answer elements cannot be submitted")
            else:
                self.add("warning", "no-crowd-form", "no <crowd-form> and no answer elements: nothing is submitted")
        for element in crowd:
            spec = ELEMENTS.get(element.tag)
            if spec is None:
                known = [*ELEMENTS, *REGION_TAGS]
                suggestion = difflib.get_close_matches(element.tag, known, n=1)
                hint = f" (did you mean <{suggestion[0]}>?)" if suggestion else ""
                self.add("error", "unknown-element", f"unknown crowd element <{element.tag}>{hint}", element.line)
            elif not spec.offline:
                self.add(
                    "info",
                    "not-offline",
                    f"<{element.tag}> works on AWS; truthloop's offline preview does not implement it",
                    element.line,
                )
        v2 = [e for e, s in specs if s and s.v2]
        if v2:
            for element, spec in specs:
                if spec is not None and not spec.v2 and element.tag not in V2_COMPATIBLE:
                    self.add(
                        "error",
                        "v2-incompatible",
                        f"<{element.tag}> cannot be used with the V2 element <{v2[0].tag}>; V2 elements only work "
                        f"with {', '.join(sorted(V2_COMPATIBLE))}",
                        element.line,
                    )
            for element in elements:
                if element.tag == "full-instructions":
                    self.add(
                        "error",
                        "v2-incompatible",
                        f"<full-instructions> cannot be used with the V2 element <{v2[0].tag}>; "
                        "use <short-instructions>",
                        element.line,
                    )
        self.loading(elements, crowd, bool(v2))

    def loading(self, elements: list[_Element], crowd: list[_Element], uses_v2: bool) -> None:
        scripts = [e for e in elements if e.tag == "script" and e.attrs.get("src")]
        aws = [e for e in scripts if _AWS_SCRIPT.match((e.attrs.get("src") or "").strip())]
        if crowd and not aws:
            self.add(
                "warning",
                "no-crowd-script",
                'no <script src="https://assets.crowd.aws/crowd-html-elements.js">: the crowd elements will not '
                "load on AWS",
            )
        if uses_v2 and aws and not any("-v2" in (e.attrs.get("src") or "") for e in aws):
            self.add(
                "warning",
                "v2-script",
                "V2 elements load from https://assets.crowd.aws/crowd-html-elements-v2.js",
                aws[0].line,
            )
        for element in elements:
            if element.tag == "link":
                url = element.attrs.get("href")
            elif element.tag in ("script", "img", "video", "audio", "source", "iframe"):
                url = element.attrs.get("src")
            else:
                continue
            if not url or _has_liquid(url) or not re.match(r"^(https?:)?//", url.strip(), re.IGNORECASE):
                continue
            if element.tag == "script" and _AWS_SCRIPT.match(url.strip()):
                continue
            if element.tag == "link" and "assets.crowd.aws/css/crowd-html-elements" in url:
                continue
            if element.tag in ("script", "link", "iframe"):
                self.add(
                    "warning",
                    "external-resource",
                    f"<{element.tag}> loads {url} from the network: it will not load in the offline preview",
                    element.line,
                )
            else:
                self.add("info", "external-resource", f"<{element.tag}> loads {url} from the network", element.line)

    def answers(self, elements: list[_Element], line_of: Mapping[tuple[str, str | None], int] | None) -> None:
        """Names and JSON attributes; ``line_of`` maps rendered elements back to source lines."""

        def where(element: _Element) -> int | None:
            if line_of is None:
                return element.line
            return line_of.get((element.tag, element.attrs.get("name")), line_of.get((element.tag, None)))

        by_name: dict[str, list[_Element]] = defaultdict(list)
        for element in elements:
            spec = ELEMENTS.get(element.tag)
            name = element.attrs.get("name")
            native = element.tag in ("input", "select", "textarea")
            if spec is not None and spec.answers and spec.answer_key is None and not name:
                self.add(
                    "warning",
                    "missing-name",
                    f"<{element.tag}> has no name: its answer has no key in the submitted object",
                    where(element),
                )
            if ((spec is not None and spec.answers) or native) and name and not _has_liquid(name):
                if native and (element.attrs.get("type") or "").lower() in ("submit", "button", "reset", "image"):
                    continue
                by_name[name].append(element)
            if spec is not None:
                self.attributes(element, spec.json_attrs, spec.max_items, where(element))
            src = element.attrs.get("src")
            if src and src.strip().lower().startswith("s3://"):
                self.add(
                    "error",
                    "s3-src",
                    f"<{element.tag}> src is an S3 URI ({src}); a browser cannot load it: pipe it through "
                    "grant_read_access",
                    where(element),
                )
        for name, group in by_name.items():
            if len(group) < 2 or name.startswith("_"):
                continue  # AWS's samples name throw-away inputs "_" / "_something" on purpose
            kinds = {(e.tag, (e.attrs.get("type") or "").lower() if e.tag == "input" else "") for e in group}
            if kinds <= {("crowd-checkbox", "")} or kinds <= {("input", "checkbox")} or kinds <= {("input", "radio")}:
                continue  # documented merge: {name: {value: bool, ...}}
            if kinds <= {("crowd-radio-button", "")}:
                self.add(
                    "warning",
                    "shared-radio-name",
                    f"crowd-radio-buttons share the name {name!r}; AWS documents one name per button",
                    where(group[1]),
                )
                continue
            lines = ", ".join(str(where(e)) for e in group)
            self.add(
                "error",
                "duplicate-name",
                f"name {name!r} is used by {len(group)} answer elements (lines {lines}): their answers overwrite "
                "each other",
                where(group[1]),
            )

    def attributes(
        self, element: _Element, json_attrs: Sequence[str], limits: Mapping[str, int], line: int | None
    ) -> None:
        for attr in json_attrs:
            raw = element.attrs.get(attr)
            if raw is None or not raw.strip() or _has_liquid(raw):
                continue
            try:
                value = parse_literal(raw)
            except (LiteralError, ValueError) as exc:
                self.add(
                    "error",
                    "bad-attribute",
                    f"<{element.tag}> {attr}= is neither JSON nor a JavaScript literal: {exc}",
                    line,
                )
                continue
            limit = limits.get(attr)
            if limit is not None and isinstance(value, list) and len(value) > limit:
                self.add(
                    "error",
                    "too-many-items",
                    f"<{element.tag}> has {len(value)} {attr}; AWS allows at most {limit}",
                    line,
                )

    # ----------------------------------------------------------------------------------- rendered page

    def rendered(self, template: BoundTemplate, source_elements: list[_Element]) -> None:
        assert self.task_input is not None
        try:
            html = template.render(task={"input": dict(self.task_input)})
        except LiquidError as exc:
            self.add("error", "render-error", f"rendering with the task input fails: {exc.message}", error_line(exc))
            return
        line_of: dict[tuple[str, str | None], int] = {}
        for element in source_elements:
            line_of.setdefault((element.tag, element.attrs.get("name")), element.line)
            line_of.setdefault((element.tag, None), element.line)
        self.answers(_scan(html), line_of)


def lint(template_text: str, task_input: Mapping[str, Any] | None = None) -> LintReport:
    """Lint a GT/A2I worker task template; ``task_input`` (the fixture ``task.input``) enables the input checks.

    >>> report = lint('<crowd-form><crowd-input name="q"></crowd-input><crowd-input name="q"></crowd-input>'
    ...               '</crowd-form>')
    >>> report.codes("error")
    ['duplicate-name']
    """
    linter = _Linter(template_text, task_input)
    if len(template_text) > MAX_TEMPLATE_CHARS:
        linter.add(
            "error",
            "too-large",
            f"template is {len(template_text):,} characters; AWS accepts at most {MAX_TEMPLATE_CHARS:,}",
        )
    if task_input is not None and len(json.dumps(task_input)) > MAX_TEMPLATE_CHARS:
        linter.add("warning", "input-too-large", f"the task input is over {MAX_TEMPLATE_CHARS:,} characters of JSON")
    template = linter.liquid()
    elements = _scan(_blank_liquid_comments(template_text))
    linter.structure(elements)
    if template is not None and task_input is not None:
        linter.rendered(template, elements)
    else:
        linter.answers(elements, None)
    order = {"error": 0, "warning": 1, "info": 2}
    issues = sorted(linter.issues, key=lambda i: (i.line if i.line is not None else 0, order[i.severity]))
    return LintReport(tuple(issues))
