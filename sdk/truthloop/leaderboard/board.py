"""A leaderboard per dimension from a judgement file, its JSON document and its chart."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from truthloop.exceptions import ConsolidationError, ManifestLineError
from truthloop.leaderboard.battles import OVERALL, Battles, read_battles
from truthloop.leaderboard.fit import MEAN, Ratings, fit_ratings

__all__ = ["leaderboard", "plot_ratings"]


def leaderboard(
    path: str | os.PathLike[str],
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    strict: bool = False,
    on_skip: Callable[[ManifestLineError], None] | None = None,
) -> tuple[dict[str, Ratings], Battles]:
    """Ratings per dimension (``"overall"`` for arena battles and pairwise lines) of the battles in ``path``."""
    battles = read_battles(path, strict=strict, on_skip=on_skip)
    if not battles.by_dimension:
        raise ConsolidationError(f"{os.fspath(path)}: no battles to rate ({battles.skipped} lines skipped)")
    boards = {}
    for dimension in battles.by_dimension:
        models, first, second, score = battles.arrays(dimension)
        boards[dimension] = fit_ratings(models, first, second, score, bootstrap=bootstrap, seed=seed)
    return boards, battles


def board_document(boards: dict[str, Ratings], battles: Battles) -> dict[str, Any]:
    """``{"ratings": …}`` of the ``overall`` dimension (else the first), plus every dimension under ``dimensions``."""
    main = OVERALL if OVERALL in boards else next(iter(boards))
    out = boards[main].to_dict()
    out["dimension"] = main
    out["lines"] = battles.lines
    out["skipped_lines"] = battles.skipped
    if len(boards) > 1:
        out["dimensions"] = {name: board.to_dict() for name, board in boards.items()}
    return out


def plot_ratings(boards: dict[str, Ratings], path: str | os.PathLike[str]) -> None:
    """Each dimension's ratings with their 95% intervals, best at the top, as a PNG."""
    from truthloop._plot import pyplot

    plt = pyplot()
    n = len(boards)
    height = max(len(b.models) for b in boards.values())
    fig, axes = plt.subplots(1, n, figsize=(6 * n, 1.0 + 0.35 * height), squeeze=False)
    for ax, (name, board) in zip(axes[0], boards.items(), strict=True):
        ranked = board.ranked()[::-1]
        y = list(range(len(ranked)))
        rating = [board.ratings[m] for m in ranked]
        low = [board.ratings[m] - board.ci_low[m] for m in ranked]
        high = [board.ci_high[m] - board.ratings[m] for m in ranked]
        ax.errorbar(rating, y, xerr=[low, high], fmt="o", capsize=3)
        ax.axvline(MEAN, color="grey", linewidth=0.8, linestyle=":")
        ax.set_yticks(y, ranked)
        ax.set_xlabel("rating (Elo scale, mean 1000; bars: 95% bootstrap interval)")
        ax.set_title(f"{name}: {board.n_battles} battles")
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=120)
    plt.close(fig)
