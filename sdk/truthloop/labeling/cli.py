"""``truthloop labeling``: build and validate CreateLabelingJob requests from a spec file."""

from __future__ import annotations

import json
from pathlib import Path

import click

from truthloop.exceptions import LabelingSpecError
from truthloop.labeling.spec import LabelingJobSpec

__all__ = ["labeling"]


def _load(path: str) -> LabelingJobSpec:
    return LabelingJobSpec.from_file(path)


@click.group("labeling")
def labeling() -> None:
    """Ground Truth labeling jobs: turn a YAML/JSON spec into a validated CreateLabelingJob request.

    \b
    Example:
      truthloop labeling validate job.yaml
    """


@labeling.command("validate")
@click.argument("spec_file", type=click.Path(exists=True, dir_okay=False))
def validate(spec_file: str) -> None:
    """Check a labeling-job spec against every documented limit; lists all problems at once.

    \b
    Example:
      truthloop labeling validate job.yaml
    """
    spec = _load(spec_file)
    problems = spec.problems()
    if problems:
        raise click.ClickException(str(LabelingSpecError(problems)))
    click.echo(
        f"{spec_file}: ok ({spec.task_type}, {len(spec.label_names())} labels, "
        f"{spec.workers_per_object} workers per object)"
    )


@labeling.command("spec")
@click.argument("spec_file", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--label-categories",
    "categories_out",
    type=click.Path(dir_okay=False, writable=True),
    help="also write the label-category file (upload it to label_category_s3_uri)",
)
def spec(spec_file: str, categories_out: str | None) -> None:
    """Print the CreateLabelingJob request (JSON) built from a spec file.

    \b
    Example:
      truthloop labeling spec job.yaml --label-categories labels.json
    """
    job = _load(spec_file)
    request = job.to_request()
    if categories_out:
        Path(categories_out).write_text(json.dumps(job.label_category_config(), indent=2) + "\n", encoding="utf-8")
    click.echo(json.dumps(request, indent=2))
