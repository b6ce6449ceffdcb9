"""``truthloop leaderboard``: Bradley–Terry ratings of models from pairwise judgements."""

from __future__ import annotations

import json
from pathlib import Path

import click

from truthloop.exceptions import ManifestLineError
from truthloop.leaderboard.board import board_document, plot_ratings
from truthloop.leaderboard.board import leaderboard as build

__all__ = ["leaderboard"]


def _report(error: ManifestLineError) -> None:
    click.echo(f"skipped {error}", err=True)


@click.command("leaderboard")
@click.argument("judgments", metavar="JUDGMENTS")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, writable=True), help="board.json to write")
@click.option("--bootstrap", default=1000, show_default=True, type=click.IntRange(min=0), help="bootstrap replicates")
@click.option("--seed", default=0, show_default=True, type=int, help="seed of the bootstrap resampling")
@click.option("--plot", type=click.Path(dir_okay=False, writable=True), help="draw the ratings (PNG, plot extra)")
@click.option("--strict", is_flag=True, help="stop at the first malformed line instead of skipping it")
def leaderboard(judgments: str, out: str, bootstrap: int, seed: int, plot: str | None, strict: bool) -> None:
    """Rate models from pairwise judgements: Bradley–Terry on the Elo scale (400, base 10), mean 1000.

    JUDGMENTS is a JSON Lines file (or folder, or s3:// prefix) of arena battles
    {"model_a", "model_b", "winner": "model_a" | "model_b" | "tie" | "tie (bothbad)"} and/or truthloop
    ranking and pairwise-preference manifest lines (expanded to pairs, one board per ranking dimension). A tie is
    half a win each; the 95% intervals are percentile bootstrap intervals over resampled battles. A malformed
    line is reported with its line number and skipped (--strict stops).

    \b
    Example:
      truthloop leaderboard battles.jsonl --out board.json --bootstrap 1000 --seed 0 --plot board.png
    """
    # a TruthloopError becomes a one-line message in truthloop's one error handler (truthloop.cli)
    boards, battles = build(judgments, bootstrap=bootstrap, seed=seed, strict=strict, on_skip=_report)
    document = board_document(boards, battles)
    Path(out).write_text(json.dumps(document, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if plot:
        plot_ratings(boards, plot)
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for name, board in boards.items():
        table = Table(title=f"{name}: {board.n_battles} battles, {board.bootstrap} bootstrap replicates")
        for column, justify in (("rank", "right"), ("model", "left"), ("rating", "right"), ("95% CI", "right"),
                                ("battles", "right")):  # fmt: skip
            table.add_column(column, justify=justify)  # type: ignore[arg-type]
        for rank, model in enumerate(board.ranked(), start=1):
            ci = f"{board.ci_low[model]:.0f} – {board.ci_high[model]:.0f}" if board.bootstrap else "—"
            table.add_row(str(rank), model, f"{board.ratings[model]:.1f}", ci, str(board.battles[model]))
        console.print(table)
    click.echo(f"wrote {out} ({battles.total} battles from {battles.lines} lines, {battles.skipped} skipped)", err=True)
