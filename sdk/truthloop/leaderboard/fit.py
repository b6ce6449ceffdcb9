"""Bradley–Terry ratings on the Elo scale, with percentile-bootstrap intervals (numpy only).

The model: :math:`P(i \\text{ beats } j) = 1 / (1 + 10^{(R_j - R_i)/400})`, the scale public LLM arenas use. A tie
counts as half a win for each side. Ratings are the maximum-likelihood fit, shifted so that their mean is 1000.

The fit works on the battles aggregated per (pair, outcome) cell, so its cost does not grow with the number of
battles, and so does the bootstrap: resampling ``N`` battles with replacement is exactly a multinomial draw of
``N`` over those cells with their observed shares, one draw per replicate.

Newton's method on the log-likelihood (a dense ``M × M`` solve, ``M`` models) converges in a handful of steps.
A model that never lost (or never won) has no finite maximum-likelihood rating; a ridge of ``ridge`` (in units of
the log-likelihood per squared natural-log strength, default ``1e-4``) keeps such ratings finite and otherwise
moves ratings by far less than their intervals.

References: R. A. Bradley and M. E. Terry, "Rank Analysis of Incomplete Block Designs: I. The Method of Paired
Comparisons", Biometrika 39(3/4), 1952, https://doi.org/10.2307/2334029; W.-L. Chiang et al., "Chatbot Arena: An
Open Platform for Evaluating LLMs by Human Preference", ICML 2024, https://arxiv.org/abs/2403.04132 (the Elo
scale and the bootstrap); B. Efron, "Bootstrap methods: another look at the jackknife", Ann. Statist. 7(1), 1979,
https://doi.org/10.1214/aos/1176344552.

>>> board = fit_ratings(["a", "b"], [0, 0, 0, 1], [1, 1, 1, 0], [1.0, 1.0, 1.0, 1.0], bootstrap=0)
>>> round(board.ratings["a"] - board.ratings["b"], 1)  # a won 3 of 4: 400·log10(3)
190.8
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from truthloop.exceptions import ConsolidationError

__all__ = ["BASE", "MEAN", "SCALE", "Ratings", "fit_ratings", "fit_strengths"]

#: Elo scale of public LLM arenas: a 400-point gap is 10:1 odds.
SCALE = 400.0
BASE = 10.0
#: Ratings are shifted to this mean.
MEAN = 1000.0
_ELO = SCALE / math.log(BASE)  # rating points per natural-log strength

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Ratings:
    """Fitted ratings: ``ratings`` (mean 1000), 95% ``ci_low``/``ci_high``, ``battles`` per model."""

    models: tuple[str, ...]
    ratings: dict[str, float]
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    battles: dict[str, int]
    n_battles: int
    bootstrap: int
    seed: int
    newton_steps: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def ranked(self) -> list[str]:
        """Models best first (ties by name)."""
        return sorted(self.models, key=lambda m: (-self.ratings[m], m))

    def to_dict(self) -> dict[str, Any]:
        """``{"ratings": {model: {"rating", "ci_low", "ci_high", "battles"}}}``, best first, plus the settings."""
        return {
            "ratings": {
                m: {
                    "rating": round(self.ratings[m], 2),
                    "ci_low": round(self.ci_low[m], 2),
                    "ci_high": round(self.ci_high[m], 2),
                    "battles": self.battles[m],
                }
                for m in self.ranked()
            },
            "battles": self.n_battles,
            "bootstrap": self.bootstrap,
            "seed": self.seed,
            "scale": SCALE,
            "base": BASE,
            "mean": MEAN,
        }


def _cells(
    n_models: int, first: IntArray, second: IntArray, score: FloatArray
) -> tuple[IntArray, IntArray, FloatArray, FloatArray]:
    """Battles grouped by (i < j, outcome): ``(i, j, score of i per battle, count)`` per distinct cell."""
    swap = first > second
    i = np.where(swap, second, first)
    j = np.where(swap, first, second)
    s = np.where(swap, 1.0 - score, score)
    outcome = np.rint(s * 2).astype(np.int64)  # 0, 1 (tie) or 2
    key = (i * n_models + j) * 3 + outcome
    unique, counts = np.unique(key, return_counts=True)
    pair, out = np.divmod(unique, 3)
    ci, cj = np.divmod(pair, n_models)
    return ci, cj, out.astype(np.float64) / 2.0, counts.astype(np.float64)


def fit_strengths(
    n_models: int,
    i: IntArray,
    j: IntArray,
    wins_i: FloatArray,
    games: FloatArray,
    *,
    ridge: float = 1e-4,
    start: FloatArray | None = None,
    tol: float = 1e-10,
    max_steps: int = 100,
) -> tuple[FloatArray, int]:
    """Centred natural-log strengths maximising the Bradley–Terry likelihood of per-pair ``wins_i`` of ``games``.

    Newton steps with step halving on the penalised log-likelihood; returns the strengths and the steps used.
    """
    theta = np.zeros(n_models) if start is None else start.copy()
    diag = np.arange(n_models)
    # the likelihood is flat along "everyone + c": give that direction curvature -1 (the gradient has none there)
    gauge = np.full((n_models, n_models), 1.0 / max(n_models, 1))

    def objective(t: FloatArray) -> float:
        d = t[i] - t[j]
        return float(np.sum(wins_i * d - games * np.logaddexp(0.0, d)) - 0.5 * ridge * float(t @ t))

    current = objective(theta)
    steps = 0
    for steps in range(1, max_steps + 1):  # noqa: B007 - returned
        d = theta[i] - theta[j]
        p = 1.0 / (1.0 + np.exp(-d))
        residual = wins_i - games * p
        grad = np.bincount(i, residual, n_models) - np.bincount(j, residual, n_models) - ridge * theta
        w = games * p * (1.0 - p)
        hess = np.zeros((n_models, n_models))
        np.add.at(hess, (i, j), w)
        np.add.at(hess, (j, i), w)
        hess[diag, diag] = -hess.sum(axis=1) - ridge
        direction = np.linalg.solve(hess - gauge, -grad)
        step = 1.0
        while True:
            candidate = theta + step * direction
            value = objective(candidate)
            if value >= current - 1e-12 or step < 1e-6:
                break
            step /= 2
        change = float(np.max(np.abs(candidate - theta))) if n_models else 0.0
        theta, current = candidate, value
        if change < tol:
            break
    return theta - theta.mean(), steps


def _ratings(theta: FloatArray) -> FloatArray:
    out: FloatArray = MEAN + _ELO * (theta - theta.mean())
    return out


def fit_ratings(
    models: Sequence[str],
    first: Sequence[int] | IntArray,
    second: Sequence[int] | IntArray,
    score: Sequence[float] | FloatArray,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    ridge: float = 1e-4,
) -> Ratings:
    """Ratings of ``models`` from battles ``(first[k], second[k])`` (indices) where ``first`` scored ``score[k]``
    (1 win, 0.5 tie, 0 loss), with ``bootstrap`` percentile-bootstrap replicates for the 95% intervals.

    Raises :class:`ConsolidationError` when there is no battle or a battle names one model twice.
    """
    if bootstrap < 0:
        raise ConsolidationError(f"bootstrap must be 0 or more replicates, got {bootstrap}")
    a = np.asarray(first, dtype=np.int64)
    b = np.asarray(second, dtype=np.int64)
    s = np.asarray(score, dtype=np.float64)
    n = len(models)
    if a.size == 0:
        raise ConsolidationError("no battles to rate")
    if np.any(a == b):
        k = int(np.flatnonzero(a == b)[0])
        raise ConsolidationError(f"battle {k}: a model cannot battle itself ({models[int(a[k])]!r})")
    battles = np.bincount(a, minlength=n) + np.bincount(b, minlength=n)
    ci, cj, cs, counts = _cells(n, a, b, s)
    theta, steps = fit_strengths(n, ci, cj, cs * counts, counts, ridge=ridge)
    point = _ratings(theta)
    low = high = point
    if bootstrap:
        rng = np.random.default_rng(seed)
        total = int(counts.sum())
        draws = rng.multinomial(total, counts / counts.sum(), size=bootstrap).astype(np.float64)
        samples = np.empty((bootstrap, n))
        for r in range(bootstrap):
            c = draws[r]
            boot, _ = fit_strengths(n, ci, cj, cs * c, c, ridge=ridge, start=theta, tol=1e-8)
            samples[r] = _ratings(boot)
        low, high = np.percentile(samples, [2.5, 97.5], axis=0)
    names = tuple(models)
    return Ratings(
        models=names,
        ratings=dict(zip(names, point.tolist(), strict=True)),
        ci_low=dict(zip(names, np.asarray(low).tolist(), strict=True)),
        ci_high=dict(zip(names, np.asarray(high).tolist(), strict=True)),
        battles=dict(zip(names, battles.tolist(), strict=True)),
        n_battles=int(a.size),
        bootstrap=bootstrap,
        seed=seed,
        newton_steps=steps,
    )
