"""``truthloop consolidate`` and ``truthloop agreement``."""

from __future__ import annotations

import csv
import io
import json
import math
import sys
from pathlib import Path
from typing import Any

import click

from truthloop.consolidation._answers import Answers
from truthloop.consolidation.agreement import (
    fleiss_kappa,
    krippendorff_alpha,
    mean_pairwise_cohen_kappa,
    percent_agreement,
    worker_accuracy,
)
from truthloop.consolidation.methods import DEFAULT_METHOD, METHODS, make_aggregator

__all__ = ["agreement", "consolidate"]


def _read_gold(path: str | None) -> dict[str, str] | None:
    if path is None:
        return None
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"task", "label"} <= set(reader.fieldnames):
            raise click.ClickException(f"{path}:1: a gold file needs the columns task,label")
        return {row["task"]: row["label"] for row in reader}


def _load(path: str) -> Answers:
    return Answers.from_csv(path)


@click.command("consolidate")
@click.argument("answers_csv", type=click.Path(exists=True, dir_okay=False))
@click.option("--method", "-m", type=click.Choice(list(METHODS)), default=DEFAULT_METHOD, show_default=True)
@click.option("--gold", type=click.Path(exists=True, dir_okay=False), help="task,label file of known labels to clamp")
@click.option("--out", "-o", type=click.Path(dir_okay=False, writable=True), help="write here instead of stdout")
def consolidate(answers_csv: str, method: str, gold: str | None, out: str | None) -> None:
    """Consolidate crowd answers (CSV task,worker,label) into one label per task (task,label,confidence).

    \b
    Example:
      truthloop consolidate answers.csv --method ds --out labels.csv
    """
    answers = _load(answers_csv)
    model = make_aggregator(method).fit(answers, _read_gold(gold))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["task", "label", "confidence"])
    for task, index, confidence in zip(
        model.tasks_, model.label_indices_.tolist(), model.confidences_.tolist(), strict=True
    ):
        writer.writerow([task, model.classes_[index], f"{confidence:.4f}"])
    if out:
        Path(out).write_text(buffer.getvalue(), encoding="utf-8")
        click.echo(f"wrote {len(model.tasks_)} labels to {out}", err=True)
    else:
        sys.stdout.write(buffer.getvalue())


def _fmt(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.3f}"


@click.command("agreement")
@click.argument("answers_csv", type=click.Path(exists=True, dir_okay=False))
@click.option("--gold", type=click.Path(exists=True, dir_okay=False), help="task,label file to score workers against")
@click.option(
    "--method",
    "-m",
    type=click.Choice(list(METHODS)),
    default="mv",
    show_default=True,
    help="consensus the workers are also scored against",
)
@click.option("--interval", is_flag=True, help="also compute Krippendorff's alpha for numeric (interval) labels")
@click.option("--min-overlap", default=5, show_default=True, help="tasks two workers must share to enter Cohen's mean")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def agreement(answers_csv: str, gold: str | None, method: str, interval: bool, min_overlap: int, as_json: bool) -> None:
    """Inter-annotator agreement (percent, Cohen, Fleiss, Krippendorff) and per-worker accuracy.

    \b
    Example:
      truthloop agreement answers.csv --gold gold.csv
    """
    answers = _load(answers_csv)
    gold_labels = _read_gold(gold)
    consensus = make_aggregator(method).fit(answers).labels_
    report: dict[str, Any] = {
        "answers": len(answers),
        "tasks": answers.n_tasks,
        "workers": answers.n_workers,
        "percent_agreement": percent_agreement(answers),
        "cohen_kappa_mean_pairwise": mean_pairwise_cohen_kappa(answers, min_overlap),
        "fleiss_kappa": fleiss_kappa(answers),
        "krippendorff_alpha_nominal": krippendorff_alpha(answers, "nominal"),
    }
    if interval:
        report["krippendorff_alpha_interval"] = krippendorff_alpha(answers, "interval")
    vs_consensus = {w.worker: w for w in worker_accuracy(answers, consensus)}
    vs_gold = {w.worker: w for w in worker_accuracy(answers, gold_labels)} if gold_labels else {}
    workers = []
    for worker in answers.workers:
        row: dict[str, Any] = {"worker": worker}
        if worker in vs_consensus:
            row["answers"] = vs_consensus[worker].n
            row[f"accuracy_vs_{method}"] = vs_consensus[worker].accuracy
        if worker in vs_gold:
            row["gold_answers"] = vs_gold[worker].n
            row["accuracy_vs_gold"] = vs_gold[worker].accuracy
        workers.append(row)
    report["workers_accuracy"] = workers
    if as_json:
        click.echo(json.dumps(report, default=lambda v: None if isinstance(v, float) and math.isnan(v) else v))
        return
    click.echo(f"{report['answers']} answers, {report['tasks']} tasks, {report['workers']} workers")
    for key in (
        "percent_agreement",
        "cohen_kappa_mean_pairwise",
        "fleiss_kappa",
        "krippendorff_alpha_nominal",
        "krippendorff_alpha_interval",
    ):
        if key in report:
            click.echo(f"{key:28s} {_fmt(report[key])}")
    header = f"{'worker':20s} {'answers':>7s} {'vs ' + method:>8s}" + (
        f" {'gold n':>6s} {'vs gold':>7s}" if vs_gold else ""
    )
    click.echo(header)
    for row in workers:
        vs_method = _fmt(row.get(f"accuracy_vs_{method}", float("nan")))
        line = f"{str(row['worker'])[:20]:20s} {row.get('answers', 0):7d} {vs_method:>8s}"
        if vs_gold:
            line += f" {row.get('gold_answers', 0):6d} {_fmt(row.get('accuracy_vs_gold', float('nan'))):>7s}"
        click.echo(line)
