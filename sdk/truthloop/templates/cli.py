"""``truthloop templates``: render, lint, preview and list worker task templates."""

from __future__ import annotations

import json
import sys
import webbrowser
from pathlib import Path
from typing import Any

import click

from truthloop.exceptions import TemplateError
from truthloop.templates import catalogue
from truthloop.templates._page import render_page
from truthloop.templates._render import render
from truthloop.templates.lint import LintReport, lint

__all__ = ["templates"]


def _resolve(template: str) -> tuple[str, Path | None, catalogue.CatalogueTemplate | None]:
    """A template argument is a file path or a catalogue id (``gt/ner``): its text, path and catalogue entry."""
    path = Path(template)
    if path.is_file():
        return path.read_text(encoding="utf-8"), path, None
    try:
        entry = catalogue.load(template)
    except TemplateError as exc:
        raise click.BadParameter(f"{template!r} is neither a file nor a catalogue template ({exc})") from None
    return entry.text(), entry.template_path, entry


def _input(option: Path | None, entry: catalogue.CatalogueTemplate | None, *, required: bool) -> dict[str, Any] | None:
    if option is not None:
        try:
            data = json.loads(option.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise click.BadParameter(f"{option} is not valid JSON: {exc}", param_hint="--input") from None
        if not isinstance(data, dict):
            raise click.BadParameter(f"{option} must hold a JSON object (task.input)", param_hint="--input")
        return data
    if entry is not None:
        return entry.task_input()
    if required:
        raise click.UsageError("--input is required for a template file (catalogue templates bring their fixture)")
    return None


_INPUT = click.option(
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="JSON file holding task.input (default for catalogue templates: their .input.json).",
)


@click.group()
def templates() -> None:
    """Render, lint and preview Ground Truth / A2I worker task templates offline.

    TEMPLATE is a file (`my-task.liquid.html`) or a catalogue id (`gt/ner`, `a2i/comprehend-sentiment-review`).

    \b
    Example:
      truthloop templates lint gt/ner
    """


@templates.command("list")
def list_templates() -> None:
    """List truthloop's catalogue: id, the task types or review sources it serves, and its title.

    \b
    Example:
      truthloop templates list
    """
    for entry in catalogue.all_templates():
        serves = ", ".join(entry.task_types or entry.sources)
        click.echo(f"{entry.id:<38} {serves}")


@templates.command("render")
@click.argument("template")
@_INPUT
@click.option(
    "--out", type=click.Path(dir_okay=False, writable=True, path_type=Path), help="Write here (default: stdout)."
)
@click.option("--page", is_flag=True, help="Wrap into a complete offline page (the preview/portal page).")
@click.option(
    "--asset-base-url",
    default=None,
    help="Load truthloop's offline crowd elements from this URL instead of assets.crowd.aws.",
)
def render_command(
    template: str, input_path: Path | None, out: Path | None, page: bool, asset_base_url: str | None
) -> None:
    """Render TEMPLATE with a task input, the way Ground Truth does (autoescaped; objects print as JSON).

    `grant_read_access` presigns s3:// URIs with your AWS credentials (or the local emulator's S3 when
    AWS_ENDPOINT_URL_S3 points at it); without credentials it prints one warning and renders offline
    placeholders (unsigned URLs on a local endpoint). Errors name the template line.

    \b
    Example:
      truthloop templates render gt/text-classification --out task.html
      truthloop templates render my-task.liquid.html --input task-input.json
    """
    text, path, entry = _resolve(template)
    data = _input(input_path, entry, required=True)
    if page:
        html = render_page(text, data, asset_base_url=asset_base_url or "/static", name=str(path))
    else:
        html = render(text, data, asset_base_url=asset_base_url, name=str(path))
    if out is None:
        click.echo(html, nl=False)
    else:
        out.write_text(html, encoding="utf-8")
        click.echo(f"wrote {out} ({len(html):,} characters)", err=True)


def _print_report(label: str, report: LintReport, verbose: bool) -> None:
    for issue in report.issues:
        if issue.severity == "info" and not verbose:
            continue
        where = f"{label}:{issue.line}" if issue.line is not None else label
        click.echo(f"{where}: {issue.severity}: {issue.message} [{issue.code}]")
    click.echo(f"{label}: {len(report.errors)} error(s), {len(report.warnings)} warning(s)")


@templates.command("lint")
@click.argument("template_args", metavar="TEMPLATE...", nargs=-1, required=True)
@_INPUT
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option("-v", "--verbose", is_flag=True, help="Also show informational notes.")
def lint_command(template_args: tuple[str, ...], input_path: Path | None, strict: bool, verbose: bool) -> None:
    """Check templates: size, crowd-form, names, unknown/V2 elements, Liquid syntax, task.input paths.

    With --input (or for catalogue templates, their fixture) every `task.input.…` path the template reads is
    checked against the input and the rendered page is checked too. Exits 1 when a template has errors
    (with --strict: errors or warnings).

    \b
    Example:
      truthloop templates lint gt/ner a2i/textract-forms-review
      truthloop templates lint my-task.liquid.html --input task-input.json --strict
    """
    failed = False
    for template in template_args:
        text, path, entry = _resolve(template)
        data = _input(input_path, entry, required=False)
        report = lint(text, data)
        label = entry.id if entry is not None else str(path)
        _print_report(label, report, verbose)
        if report.errors or (strict and report.warnings):
            failed = True
    if failed:
        sys.exit(1)


@templates.command("preview")
@click.argument("template")
@_INPUT
@click.option("--port", default=0, show_default="random", type=click.IntRange(0, 65535), help="Port on 127.0.0.1.")
@click.option("--timeout", type=click.FloatRange(min=1), default=None, help="Give up after this many seconds.")
@click.option("--open/--no-open", "open_browser", default=False, help="Open the page in your browser.")
def preview_command(
    template: str, input_path: Path | None, port: int, timeout: float | None, open_browser: bool
) -> None:
    """Serve TEMPLATE rendered with its input on 127.0.0.1, wait for one answer, print it as JSON, exit.

    The page uses truthloop's offline crowd elements (nothing loads from the network) and lives under a random
    token in the URL. The template file is re-read on every refresh. The URL goes to stderr, the answer to
    stdout.

    \b
    Example:
      truthloop templates preview gt/ner --open
      truthloop templates preview my-task.liquid.html --input task-input.json > answer.json
    """
    from truthloop.templates.preview import PreviewServer, read_template

    text, path, entry = _resolve(template)
    data = _input(input_path, entry, required=True)
    assert data is not None
    source = read_template(path) if path is not None else text
    try:
        server = PreviewServer(
            source, data, port=port, title=entry.title if entry else (path.name if path else "preview")
        )
    except OSError as exc:
        raise TemplateError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from exc
    server.page()  # fail fast on a template that does not render
    url = server.start()
    click.echo(f"Preview: {url}", err=True)
    click.echo("Waiting for an answer (Ctrl-C to stop)...", err=True)
    if open_browser:
        webbrowser.open(url)
    try:
        answer = server.wait(timeout)
    except TimeoutError as exc:
        server.stop()
        raise TemplateError(str(exc)) from exc
    except KeyboardInterrupt:
        server.stop()
        raise click.Abort() from None
    server.stop(grace_seconds=2.0)
    click.echo(json.dumps(answer, indent=2, ensure_ascii=False))
