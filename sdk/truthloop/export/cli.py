"""``truthloop export``: stream a GT output manifest (or A2I results) into a training format."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

from truthloop.exceptions import ManifestLineError
from truthloop.export.base import FORMATS, ExportReport, OnProgress
from truthloop.export.base import export as run_export
from truthloop.export.formats import __all__ as _registered  # noqa: F401 - registers the formats

__all__ = ["export", "progress_bar"]

_PREFERENCE_FORMATS = ("trl", "kto", "hf")


@contextmanager
def progress_bar(description: str, *, enabled: bool = True) -> Iterator[OnProgress | None]:
    """A rich progress bar on stderr driven by ``(bytes_read, total_bytes)``; nothing when stderr is no terminal."""
    console = Console(stderr=True)
    if not enabled or not console.is_terminal:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=None)

        def update(done: int, total: int | None) -> None:
            progress.update(task, completed=done, total=total)

        yield update


def _options(pairs: tuple[str, ...]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint="--option")
        options[key.strip().replace("-", "_")] = value
    return options


def echo_skip(error: ManifestLineError) -> None:
    click.echo(f"skipped {error.source or '<input>'}:{error.line_number}: {error.reason}", err=True)


def echo_report(report: ExportReport) -> None:
    lines = "line" if report.lines_read == 1 else "lines"
    click.echo(
        f"read {report.lines_read} {lines}: exported {report.lines_exported} ({report.items_written} items), "
        f"skipped {report.lines_skipped}"
    )
    for note in report.notes:
        click.echo(note)
    for output in report.outputs:
        click.echo(f"wrote {output}")


def _jobs(ctx: click.Context, param: click.Parameter, value: str) -> int | Literal["auto"]:
    """``--jobs``: a whole number from 1, or ``auto``."""
    del ctx, param
    text = value.strip().lower()
    if text == "auto":
        return "auto"
    if text.isdigit() and int(text) >= 1:
        return int(text)
    raise click.BadParameter(f"expected a whole number from 1 or 'auto', got {value!r}")


def _format_help() -> str:
    return "\n".join(f"  {name:<7} {FORMATS[name].summary}" for name in sorted(FORMATS))


@click.command(
    epilog="\b\nFormats:\n" + _format_help(),
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120},
)
@click.argument("input", metavar="INPUT")
@click.option("--format", "-f", "format_", required=True, type=click.Choice(sorted(FORMATS)), help="Output format.")
@click.option("--out", "-o", required=True, help="Output file or folder (local path or s3:// URI).")
@click.option("--attribute", "-a", help="Label attribute to export (default: the first of a matching type per line).")
@click.option("--strict", is_flag=True, help="Fail (exit 1) on the first line that cannot be exported.")
@click.option("--ties", type=click.Choice(["drop", "keep"]), help="trl/kto: drop tied judgements or keep them.")
@click.option("--min-agreement", type=click.FloatRange(0, 1), help="trl/kto: exclude prompts below (default 0.6).")
@click.option("--dimension", help="trl/kto: ranking dimension to use (default: the first one).")
@click.option("--aggregate", type=click.Choice(["bt", "none"]), help="trl: Bradley–Terry (bt) or per-annotator.")
@click.option("--pairs", type=click.Choice(["all", "best-worst"]), help="trl: every pair, or best vs worst.")
@click.option("--conversational", is_flag=True, help='trl/kto: write [{"role","content"}] messages.')
@click.option("--option", "-O", "extra", multiple=True, metavar="KEY=VALUE", help="Any other format option.")
@click.option(
    "--jobs",
    "-j",
    metavar="N|auto",
    default="auto",
    callback=_jobs,
    show_default=True,
    help="trl/kto: export a local file in this many processes (same output); auto: one per CPU (up to 4) for a "
    "file of 256 MB or more, else one.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def export(
    input: str,
    format_: str,
    out: str,
    attribute: str | None,
    strict: bool,
    ties: str | None,
    min_agreement: float | None,
    dimension: str | None,
    aggregate: str | None,
    pairs: str | None,
    conversational: bool,
    extra: tuple[str, ...],
    jobs: int | Literal["auto"],
    quiet: bool,
) -> None:
    """Export INPUT (a GT output manifest, an A2I output.json, a folder or an s3:// URI) to --format at --out.

    Streams line by line in constant memory. Each line that cannot be exported is reported on stderr with its
    line number and reason, and counted; --strict turns the first one into an error (exit 1, no output).

    \b
    Example:
      truthloop export --format coco output.manifest --out coco.json
      truthloop export --format trl s3://bucket/rank-job/manifests/output/output.manifest --out dpo.jsonl
      truthloop export --format trl output.manifest --out dpo.jsonl --jobs 2
    """
    options = _options(extra)
    preference = {
        "ties": ties,
        "min_agreement": min_agreement,
        "dimension": dimension,
        "aggregate": aggregate,
        "pairs": pairs,
        "conversational": conversational or None,
    }
    given = {k: v for k, v in preference.items() if v is not None}
    if given and format_ not in _PREFERENCE_FORMATS:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise click.UsageError(f"{flags} only appl{'ies' if len(given) == 1 else 'y'} to --format trl, kto or hf")
    options.update(given)
    with progress_bar(f"export {format_}", enabled=not quiet) as on_progress:
        report = run_export(
            input,
            format_,
            out,
            attribute=attribute,
            strict=strict,
            on_skip=echo_skip,
            on_progress=on_progress,
            options=options,
            jobs=jobs,
        )
    echo_report(report)
    if sys.stdout.isatty() and report.lines_skipped:
        click.echo("(use --strict to fail on skipped lines)", err=True)
