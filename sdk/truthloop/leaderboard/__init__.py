"""Model leaderboards from pairwise human judgements: Bradley–Terry ratings on the Elo scale with bootstrap intervals.

>>> from truthloop.leaderboard import fit_ratings
>>> board = fit_ratings(["a", "b", "c"], [0, 1, 0, 2], [1, 2, 2, 0], [1.0, 1.0, 0.5, 0.0], bootstrap=0)
>>> board.ranked()
['a', 'b', 'c']
"""

from __future__ import annotations

from truthloop.leaderboard.battles import OVERALL, Battles, read_battles
from truthloop.leaderboard.board import board_document, leaderboard, plot_ratings
from truthloop.leaderboard.fit import BASE, MEAN, SCALE, Ratings, fit_ratings, fit_strengths

__all__ = [
    "BASE",
    "MEAN",
    "OVERALL",
    "SCALE",
    "Battles",
    "Ratings",
    "board_document",
    "fit_ratings",
    "fit_strengths",
    "leaderboard",
    "plot_ratings",
    "read_battles",
]
