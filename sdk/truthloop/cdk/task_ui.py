"""``HumanTaskUi``: a worker task template (``AWS::SageMaker::HumanTaskUi``, or on the truthloop service), linted."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from truthloop.cdk._common import Problems, is_token, region_problem
from truthloop.cdk._provider import SageMakerResourceProvider
from truthloop.exceptions import TemplateLintError
from truthloop.naming import deterministic_name
from truthloop.templates._assets import templates_dir

if TYPE_CHECKING:
    from truthloop.cdk.service import ServiceTarget

__all__ = ["MAX_TEMPLATE_CHARS", "HumanTaskUi", "lint_template", "lint_template_file", "resolve_template"]

#: UiTemplate.Content limit of CreateHumanTaskUi (aws-contracts.md §8) and RenderUiTemplate.
MAX_TEMPLATE_CHARS = 128_000
_CATALOGUE_NAME = re.compile(r"(gt|a2i)/[A-Za-z0-9_.-]+")


def resolve_template(template: str | Path) -> Path:
    """A template path: an existing file, or a catalogue name such as ``a2i/review-label``.

    Catalogue names resolve to ``<kind>/<name>.liquid.html`` in the catalogue shipped with truthloop
    (:func:`truthloop.templates._assets.templates_dir`); other relative paths are relative to the working directory.
    """
    path = Path(template)
    if path.is_file():
        return path.resolve()
    text = str(template)
    if _CATALOGUE_NAME.fullmatch(text):
        return (templates_dir() / f"{text}.liquid.html").resolve()
    return path


def _sample_input(template_path: Path) -> Any:
    """The catalogue fixture next to a template (``<name>.input.json``), if there is one."""
    name = template_path.name.removesuffix(".liquid.html").removesuffix(".html")
    candidate = template_path.with_name(f"{name}.input.json")
    if candidate.is_file():
        return json.loads(candidate.read_text(encoding="utf-8"))
    return None


def _issue_parts(issue: Any) -> tuple[str, int | None, str]:
    """(severity, line, message) of one lint finding, whatever shape ``truthloop.templates.lint`` returns."""
    if isinstance(issue, str):
        return "error", None, issue
    if isinstance(issue, Mapping):
        get = issue.get
    else:

        def get(key: str, default: Any = None) -> Any:
            return getattr(issue, key, default)

    raw = get("severity", None) or get("level", None) or "error"
    severity = str(getattr(raw, "value", raw)).lower().rsplit(".", 1)[-1]
    line = get("line", None)
    message = get("message", None) or str(issue)
    return severity, int(line) if isinstance(line, int) else None, str(message)


def lint_template(text: str, *, source: str, task_input: Any = None) -> list[str] | None:
    """Lint a template with ``truthloop.templates.lint``; raise on errors, return the warnings.

    Errors raise :class:`TemplateLintError` whose problems read ``<source>:<line>: <message>``. Returns ``None``
    when the linter is not importable (the caller records that the lint was skipped).
    """
    try:
        from truthloop.templates import lint
    except ImportError:
        return None
    try:
        issues: Any = lint(text, task_input) if task_input is not None else lint(text)
    except TemplateLintError as exc:
        raise TemplateLintError(
            [f"{source}: {p}" if not str(p).startswith(source) else p for p in exc.problems]
        ) from None
    errors: list[str] = []
    warnings: list[str] = []
    for issue in getattr(issues, "issues", issues) or ():  # a LintReport, or a plain list of findings
        severity, line, message = _issue_parts(issue)
        if severity == "info":
            continue
        where = f"{source}:{line}" if line is not None else source
        code = getattr(issue, "code", None)
        text = f"{where}: {message}" + (f" [{code}]" if code else "")
        (errors if severity in {"error", "fatal"} else warnings).append(text)
    if errors:
        raise TemplateLintError(errors)
    return warnings


def lint_template_file(scope: Construct, path: Path, *, task_input: Any = None) -> None:
    """Lint a template file at synth: errors raise (file:line), warnings become CDK warnings on ``scope``.

    ``task_input`` defaults to the catalogue fixture next to the template (``<name>.input.json``).
    """
    catalogue = templates_dir().resolve()
    source = f"templates/{path.relative_to(catalogue)}" if path.is_relative_to(catalogue) else str(path)
    warnings = lint_template(
        path.read_text(encoding="utf-8"),
        source=source,
        task_input=task_input if task_input is not None else _sample_input(path),
    )
    if warnings is None:
        cdk.Annotations.of(scope).add_info(f"{source}: not linted (truthloop.templates is not installed)")
    for warning in warnings or ():
        cdk.Annotations.of(scope).add_warning_v2("truthloop:template-lint", warning)


class HumanTaskUi(Construct):
    """A ``CfnHumanTaskUi`` built from a template file in ``templates/`` (or any path), or an existing UI ARN.

    The template is linted at synth when ``truthloop.templates`` is available: a lint error fails synth with the
    template file and line; warnings become CDK warnings. The UI name is ``<name_prefix>-<hash of content>``, so
    an edited template deploys as a new UI (CloudFormation replaces it) and an unchanged one is left alone.

    With ``service`` (a :class:`~truthloop.cdk.service.ServiceTarget`) the UI is created on the truthloop service
    instead, by a custom resource (``Custom::TruthloopServiceHumanTaskUi``, handler
    ``lambdas/custom_resources/human_task_ui.py``) that calls the service's ``CreateHumanTaskUi``, signed; the
    region is then not checked (the service runs in any region).

    Attributes: ``human_task_ui_arn``, ``human_task_ui_name``, ``human_task_ui`` (``CfnHumanTaskUi`` or None),
    ``resource`` (the custom resource on the service, or None), ``template_path``, ``content``, ``service``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        template: str | Path | None = None,
        existing_human_task_ui_arn: str | None = None,
        name_prefix: str = "truthloop",
        task_input: Any = None,
        lint: bool = True,
        service: ServiceTarget | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    ) -> None:
        super().__init__(scope, id)
        problems = Problems(f"HumanTaskUi {self.node.path}")
        region = region_problem(self) if service is None else None
        if region:
            problems.add(region)
        if service is not None and existing_human_task_ui_arn is not None:
            problems.add("service creates the UI from a template on the truthloop service: give template, not an ARN")
        problems.exclusive(template=template, existing_human_task_ui_arn=existing_human_task_ui_arn)
        problems.require(
            template is not None or existing_human_task_ui_arn is not None,
            "give template (a file or a catalogue name such as 'a2i/review-label') or existing_human_task_ui_arn",
        )
        if existing_human_task_ui_arn and not is_token(existing_human_task_ui_arn):
            problems.require(
                ":human-task-ui/" in existing_human_task_ui_arn,
                f"existing_human_task_ui_arn {existing_human_task_ui_arn!r} is not a human task UI ARN",
            )
        problems.require(
            bool(re.fullmatch(r"[a-z0-9](-*[a-z0-9]){0,29}", name_prefix)),
            f"name_prefix {name_prefix!r} must be lower-case letters, digits and inner hyphens (at most 30)",
        )
        path: Path | None = None
        content = ""
        if template is not None:
            path = resolve_template(template)
            if not path.is_file():
                available = sorted(p.name for p in templates_dir().glob("*/*.liquid.html"))
                problems.add(
                    f"template {template!s} not found at {path} (templates/ has: {', '.join(available) or 'none'})"
                )
            else:
                try:
                    content = path.read_text(encoding="utf-8")
                except UnicodeDecodeError as exc:
                    problems.add(f"template {path} is not UTF-8: {exc}")
                problems.require(bool(content.strip()) or not path.is_file(), f"template {path} is empty")
                problems.require(
                    len(content) <= MAX_TEMPLATE_CHARS,
                    f"template {path} has {len(content)} characters; a task UI holds at most {MAX_TEMPLATE_CHARS}",
                )
        problems.raise_if_any()

        self.template_path = path
        self.content = content
        self.service = service
        self.human_task_ui: sagemaker.CfnHumanTaskUi | None = None
        self.resource: cdk.CustomResource | None = None
        if existing_human_task_ui_arn:
            self.human_task_ui_arn = existing_human_task_ui_arn
            self.human_task_ui_name = (
                existing_human_task_ui_arn
                if is_token(existing_human_task_ui_arn)
                else existing_human_task_ui_arn.rsplit("/", 1)[-1]
            )
            return

        assert path is not None
        if lint:
            lint_template_file(self, path, task_input=task_input)
        if service is not None:
            provider = SageMakerResourceProvider.of(
                self,
                module="human_task_ui",
                description="truthloop task UIs on the truthloop service",
                service=service,
                log_retention=log_retention,
            )
            self.resource = cdk.CustomResource(
                self,
                "Resource",
                service_token=provider.service_token,
                resource_type="Custom::TruthloopServiceHumanTaskUi",
                properties={
                    "NamePrefix": name_prefix,
                    "Request": cdk.Stack.of(self).to_json_string({"UiTemplate": {"Content": content}}),
                },
            )
            self.human_task_ui_arn = self.resource.get_att_string("HumanTaskUiArn")
            self.human_task_ui_name = self.resource.get_att_string("HumanTaskUiName")
            return
        self.human_task_ui_name = deterministic_name(name_prefix, content, max_length=63, lower=True)
        self.human_task_ui = sagemaker.CfnHumanTaskUi(
            self,
            "Resource",
            human_task_ui_name=self.human_task_ui_name,
            ui_template=sagemaker.CfnHumanTaskUi.UiTemplateProperty(content=content),
        )
        self.human_task_ui_arn = self.human_task_ui.attr_human_task_ui_arn
