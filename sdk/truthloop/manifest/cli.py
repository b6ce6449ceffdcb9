"""``truthloop manifest``: stats, merge and filter for GT augmented manifests (local files or s3:// URIs)."""

from __future__ import annotations

import click

from truthloop.export.cli import echo_skip, progress_bar
from truthloop.manifest._json import encode
from truthloop.manifest.filter import filter_manifest
from truthloop.manifest.merge import merge_manifests
from truthloop.manifest.stats import manifest_stats

__all__ = ["manifest"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def manifest() -> None:
    """Inspect, merge and filter SageMaker Ground Truth output (augmented) manifests.

    \b
    Example:
      truthloop manifest stats s3://bucket/job/manifests/output/output.manifest
    """


@manifest.command()
@click.argument("input", metavar="INPUT")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as one JSON object.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def stats(input: str, as_json: bool, quiet: bool) -> None:
    """Count labels per class, confidences (histogram), human vs auto labels and objects per worker.

    Malformed lines are reported on stderr with their line number and counted as skipped.

    \b
    Example:
      truthloop manifest stats output.manifest --json
    """
    with progress_bar("stats", enabled=not quiet) as on_progress:
        result = manifest_stats(input, on_error=echo_skip, on_progress=on_progress)
    if as_json:
        click.echo(encode(result.to_dict()).decode())
        return
    click.echo(f"lines: {result.lines} (skipped {result.skipped})")
    for name, entry in result.attributes.items():
        click.echo(
            f"{name} ({entry.type}): {entry.lines} labels, {entry.human} human, {entry.auto} auto, "
            f"{entry.objects} objects"
        )
        for cls, count in sorted(entry.classes.items(), key=lambda kv: (-kv[1], kv[0])):
            click.echo(f"  class {cls}: {count}")
        if any(entry.histogram):
            bins = " ".join(str(n) for n in entry.histogram)
            click.echo(f"  confidence histogram (0.0-0.1 … 0.9-1.0): {bins}")
        for worker, count in sorted(entry.workers.items(), key=lambda kv: (-kv[1], kv[0])):
            click.echo(f"  worker {worker}: {count} objects")


@manifest.command()
@click.argument("inputs", nargs=-1, required=True, metavar="INPUT...")
@click.option("--out", "-o", required=True, help="Merged manifest (local path, - or s3:// URI).")
@click.option("--how", type=click.Choice(["outer", "inner"]), default="outer", show_default=True)
@click.option("--on-conflict", type=click.Choice(["error", "first", "last"]), default="error", show_default=True)
@click.option("--strict", is_flag=True, help="Fail on the first malformed line instead of skipping it.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def merge(inputs: tuple[str, ...], out: str, how: str, on_conflict: str, strict: bool, quiet: bool) -> None:
    """Join the output manifests of chained jobs on source-ref/source: one line per object, all label pairs.

    \b
    Example:
      truthloop manifest merge boxes/output.manifest verify/output.manifest --out merged.manifest
    """
    with progress_bar("merge", enabled=not quiet) as on_progress:
        report = merge_manifests(
            inputs,
            out,
            how=how,  # type: ignore[arg-type]
            on_conflict=on_conflict,  # type: ignore[arg-type]
            on_error=None if strict else echo_skip,
            on_progress=on_progress,
        )
    click.echo(
        f"read {report.lines_read} lines from {report.inputs} manifests: wrote {report.lines_written}, "
        f"skipped {report.skipped}, {report.conflicts} conflicting values"
    )


@manifest.command(name="filter")
@click.argument("input", metavar="INPUT")
@click.option("--out", "-o", required=True, help="Filtered manifest (local path, - or s3:// URI).")
@click.option("--attribute", "-a", help="Label attribute to test (default: the first on each line).")
@click.option("--min-confidence", type=float, help="Keep lines whose lowest confidence is at least this.")
@click.option("--max-confidence", type=float, help="Keep lines whose lowest confidence is at most this.")
@click.option("--human/--auto", "human", default=None, help="Keep only human-annotated (or auto-labeled) lines.")
@click.option("--class", "classes", multiple=True, help="Keep lines with this class (repeatable).")
@click.option("--strict", is_flag=True, help="Fail on the first malformed line instead of skipping it.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def filter_(
    input: str,
    out: str,
    attribute: str | None,
    min_confidence: float | None,
    max_confidence: float | None,
    human: bool | None,
    classes: tuple[str, ...],
    strict: bool,
    quiet: bool,
) -> None:
    """Keep the lines that match every condition; they are written back byte for byte.

    \b
    Example:
      truthloop manifest filter output.manifest --out low.manifest --max-confidence 0.7 --human
    """
    with progress_bar("filter", enabled=not quiet) as on_progress:
        report = filter_manifest(
            input,
            out,
            attribute=attribute,
            min_confidence=min_confidence,
            max_confidence=max_confidence,
            human=human,
            classes=classes,
            on_error=None if strict else echo_skip,
            on_progress=on_progress,
        )
    click.echo(f"read {report.lines_read} lines: kept {report.lines_kept}, skipped {report.skipped}")
