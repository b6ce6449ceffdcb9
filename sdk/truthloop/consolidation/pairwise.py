"""Pairwise comparisons: Bradley–Terry and a noisy-worker Bradley–Terry."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import Self

import numpy as np

from truthloop.consolidation._answers import factorize
from truthloop.consolidation._base import EPS, FloatArray, IntArray, wsum
from truthloop.exceptions import ConsolidationError

__all__ = ["BradleyTerry", "Comparisons", "NoisyBradleyTerry"]


class Comparisons:
    """Pairwise judgements ``(worker, left, right, winner)``; ``winner`` is ``left``, ``right`` or ``None`` (tie).

    Items and workers keep their order of first appearance (items in ``left`` then ``right`` order per row).

    >>> c = Comparisons.from_records([("w1", "a", "b", "a"), ("w2", "a", "b", None)])
    >>> c.items, c.outcome.tolist()
    (['a', 'b'], [1.0, 0.5])
    """

    __slots__ = ("items", "left", "outcome", "right", "worker", "workers")

    def __init__(
        self,
        worker: IntArray,
        left: IntArray,
        right: IntArray,
        outcome: FloatArray,
        *,
        items: Sequence[Hashable],
        workers: Sequence[Hashable],
    ) -> None:
        self.worker = np.asarray(worker, dtype=np.int64)
        self.left = np.asarray(left, dtype=np.int64)
        self.right = np.asarray(right, dtype=np.int64)
        #: 1.0 when ``left`` won, 0.0 when ``right`` won, 0.5 for a tie.
        self.outcome = np.asarray(outcome, dtype=np.float64)
        self.items = list(items)
        self.workers = list(workers)

    @classmethod
    def from_records(cls, records: Iterable[Sequence[Hashable | None]]) -> Comparisons:
        """Build from ``(worker, left, right, winner)`` tuples; raises naming the record on a bad winner."""
        workers: list[Hashable] = []
        lefts: list[Hashable] = []
        rights: list[Hashable] = []
        outcomes: list[float] = []
        for number, row in enumerate(records):
            if len(row) != 4:
                raise ConsolidationError(
                    f"record {number}: expected (worker, left, right, winner), got {len(row)} values"
                )
            worker, left, right, winner = row
            if left is None or right is None:
                raise ConsolidationError(f"record {number}: left and right items are required")
            if left == right:
                raise ConsolidationError(f"record {number}: an item cannot be compared with itself ({left!r})")
            if winner is None:
                outcomes.append(0.5)
            elif winner == left:
                outcomes.append(1.0)
            elif winner == right:
                outcomes.append(0.0)
            else:
                raise ConsolidationError(
                    f"record {number}: winner {winner!r} is neither left ({left!r}) nor right ({right!r}) nor None"
                )
            workers.append(worker)
            lefts.append(left)
            rights.append(right)
        items_codes, items = factorize(v for pair in zip(lefts, rights) for v in pair)
        worker_codes, worker_uniques = factorize(workers)
        return cls(
            worker_codes,
            items_codes[0::2],
            items_codes[1::2],
            np.asarray(outcomes, dtype=np.float64),
            items=items,
            workers=worker_uniques,
        )

    def __len__(self) -> int:
        return int(self.left.shape[0])

    def __repr__(self) -> str:
        return f"Comparisons({len(self)} comparisons, {len(self.items)} items, {len(self.workers)} workers)"

    def directed(self) -> tuple[IntArray, IntArray, FloatArray, IntArray]:
        """``(winner, loser, weight, worker)`` rows: a decided comparison gives one row, a tie two half rows."""
        decided = self.outcome != 0.5
        left_won = self.outcome == 1.0
        win = np.where(left_won, self.left, self.right)
        lose = np.where(left_won, self.right, self.left)
        ties = ~decided
        winner = np.concatenate([win[decided], self.left[ties], self.right[ties]])
        loser = np.concatenate([lose[decided], self.right[ties], self.left[ties]])
        weight = np.concatenate([np.ones(int(decided.sum())), np.full(2 * int(ties.sum()), 0.5)])
        worker = np.concatenate([self.worker[decided], self.worker[ties], self.worker[ties]])
        return winner, loser, weight, worker


def _mm_scores(
    n_items: int,
    winner: IntArray,
    loser: IntArray,
    weight: FloatArray,
    *,
    prior: float,
    n_iter: int,
    tol: float,
    start: FloatArray | None = None,
) -> tuple[FloatArray, int]:
    """Hunter's MM iterations for BT strengths; returns centred log-strengths and the iterations used.

    Each item also plays ``prior`` virtual games against a reference of strength 1, winning half of them, which
    keeps items that never lose (or never win) finite.
    """
    wins = wsum(winner, weight, n_items) + prior / 2
    log_pi = np.zeros(n_items) if start is None else start.copy()
    used = 0
    for used in range(1, n_iter + 1):  # noqa: B007 - `used` is returned
        pi = np.exp(log_pi)
        inv = weight / (pi[winner] + pi[loser])
        denominator = wsum(winner, inv, n_items)
        denominator += wsum(loser, inv, n_items)
        denominator += prior / (pi + 1.0)
        new_log = np.log(np.maximum(wins, EPS)) - np.log(np.maximum(denominator, EPS))
        shift = float(np.max(np.abs(new_log - log_pi))) if n_items else 0.0
        log_pi = new_log
        if shift < tol:
            break
    return log_pi - (log_pi.mean() if n_items else 0.0), used


class _PairwiseModel:
    items_: list[Hashable]
    score_array_: FloatArray
    loss_history_: list[float]

    def _result(self, comparisons: Comparisons, log_pi: FloatArray) -> None:
        self.items_ = list(comparisons.items)
        self.score_array_ = log_pi

    @property
    def scores_(self) -> dict[Hashable, float]:
        """``{item: score}``: centred log-strengths (higher is better)."""
        self._fitted()
        return dict(zip(self.items_, self.score_array_.tolist(), strict=True))

    @property
    def order_(self) -> list[Hashable]:
        """Items best first; equal scores keep their order of first appearance."""
        self._fitted()
        ranking = np.lexsort((np.arange(len(self.items_)), -np.round(self.score_array_, 12)))
        return [self.items_[i] for i in ranking.tolist()]

    def win_probability(self, a: Hashable, b: Hashable) -> float:
        """P(``a`` beats ``b``) under the fitted model."""
        scores = self.scores_
        for item in (a, b):
            if item not in scores:
                raise ConsolidationError(f"unknown item {item!r}")
        return float(1.0 / (1.0 + np.exp(scores[b] - scores[a])))

    def _fitted(self) -> None:
        if not hasattr(self, "score_array_"):
            raise ConsolidationError(f"{type(self).__name__} is not fitted yet; call fit(comparisons) first")


class BradleyTerry(_PairwiseModel):
    r"""Bradley–Terry: :math:`P(i \succ j) = \pi_i / (\pi_i + \pi_j)`, fitted by Hunter's MM algorithm.

    A tie counts as half a win for each side. ``prior`` virtual games per item against a reference item
    (half won) regularise the fit, so items that always win or always lose get finite scores; ``prior=0`` gives
    the plain maximum-likelihood estimate (which diverges on such data). Iterates until the largest change of a
    log-strength is below ``tol`` or ``n_iter`` is reached. Fitted: ``scores_`` (centred log-strengths),
    ``order_`` (best first, ties by first appearance), ``n_iter_``, ``loss_history_`` (final mean
    log-likelihood per comparison).

    References: R. A. Bradley and M. E. Terry, "Rank Analysis of Incomplete Block Designs: I. The Method of
    Paired Comparisons", Biometrika 39(3/4), 1952, https://doi.org/10.2307/2334029; D. R. Hunter, "MM
    algorithms for generalized Bradley-Terry models", Annals of Statistics 32(1), 2004,
    https://doi.org/10.1214/aos/1079120141.

    >>> from truthloop.consolidation import BradleyTerry, Comparisons
    >>> rows = [("w1", "a", "b", "a"), ("w2", "b", "c", "b"), ("w3", "a", "c", "a")]
    >>> BradleyTerry().fit(Comparisons.from_records(rows)).order_
    ['a', 'b', 'c']
    """

    n_iter_: int

    def __init__(self, n_iter: int = 1000, tol: float = 1e-8, prior: float = 1.0) -> None:
        if n_iter < 1 or tol < 0 or prior < 0:
            raise ConsolidationError("n_iter must be >= 1, tol >= 0 and prior >= 0")
        self.n_iter = n_iter
        self.tol = tol
        self.prior = prior

    def fit(self, comparisons: Comparisons) -> Self:
        if not isinstance(comparisons, Comparisons):
            raise ConsolidationError(f"expected Comparisons, got {type(comparisons).__name__}")
        n = len(comparisons.items)
        winner, loser, weight, _ = comparisons.directed()
        log_pi, used = _mm_scores(n, winner, loser, weight, prior=self.prior, n_iter=self.n_iter, tol=self.tol)
        self.n_iter_ = used
        diff = log_pi[winner] - log_pi[loser]
        loglik = float(np.sum(weight * -np.logaddexp(0.0, -diff)) / max(len(comparisons), 1))
        self.loss_history_ = [loglik]
        self._result(comparisons, log_pi)
        return self

    def fit_predict(self, comparisons: Comparisons) -> dict[Hashable, float]:
        """Fit and return ``scores_``."""
        return self.fit(comparisons).scores_


class NoisyBradleyTerry(_PairwiseModel):
    r"""Bradley–Terry with unreliable workers.

    Worker :math:`w` judges by the Bradley–Terry model with probability :math:`\gamma_w` and flips a fair coin
    otherwise: :math:`P(i \succ j \mid w) = \gamma_w \sigma(s_i - s_j) + (1 - \gamma_w)/2`. EM starts from the
    plain Bradley–Terry fit with every :math:`\gamma_w = 0.9`; the E-step gives each comparison the posterior
    probability that it was a genuine judgement, the M-step sets :math:`\gamma_w` to the mean of those
    probabilities smoothed with ``alpha`` genuine and ``beta`` guessed pseudo-comparisons, and refits the
    scores by weighted MM. Stops after ``n_iter``
    steps or when the mean log-likelihood per comparison improves by less than ``tol``. Fitted: ``scores_``,
    ``order_``, ``skills_`` (:math:`\gamma_w`), ``loss_history_``.

    The reliability mixture follows the noisy Bradley–Terry model of Bugakova, Fedorova, Gusev and Drutsa,
    "Aggregation of pairwise comparisons with reduction of biases", NeurIPS 2019 Workshop on Human-Centric ML,
    https://arxiv.org/abs/1906.03711 (its position-bias term is left out: truthloop's templates randomise the
    display order and record it). Bradley–Terry: https://doi.org/10.2307/2334029.

    >>> from truthloop.consolidation import Comparisons, NoisyBradleyTerry
    >>> rows = [("w1", "a", "b", "a"), ("w1", "b", "c", "b"), ("w2", "a", "c", "a")]
    >>> NoisyBradleyTerry().fit(Comparisons.from_records(rows)).order_
    ['a', 'b', 'c']
    """

    workers_: list[Hashable]
    skill_array_: FloatArray

    def __init__(
        self,
        n_iter: int = 100,
        tol: float = 1e-6,
        prior: float = 1.0,
        alpha: float = 1.0,
        beta: float = 1.0,
        mm_iter: int = 50,
    ) -> None:
        if n_iter < 0 or tol < 0 or prior < 0 or alpha <= 0 or beta <= 0 or mm_iter < 1:
            raise ConsolidationError("n_iter >= 0, tol >= 0, prior >= 0, alpha > 0, beta > 0 and mm_iter >= 1 required")
        self.n_iter = n_iter
        self.tol = tol
        self.prior = prior
        self.alpha = alpha
        self.beta = beta
        self.mm_iter = mm_iter

    def fit(self, comparisons: Comparisons) -> Self:
        if not isinstance(comparisons, Comparisons):
            raise ConsolidationError(f"expected Comparisons, got {type(comparisons).__name__}")
        n_items, n_workers = len(comparisons.items), len(comparisons.workers)
        winner, loser, weight, worker = comparisons.directed()
        log_pi, _ = _mm_scores(n_items, winner, loser, weight, prior=self.prior, n_iter=1000, tol=1e-8)
        gamma = np.full(n_workers, 0.9)
        totals = wsum(worker, weight, n_workers)
        self.loss_history_ = []
        loss = -np.inf
        for _ in range(self.n_iter):
            bt = 1.0 / (1.0 + np.exp(log_pi[loser] - log_pi[winner]))
            mixture = gamma[worker] * bt + (1 - gamma[worker]) / 2
            genuine = gamma[worker] * bt / np.maximum(mixture, EPS)
            new_loss = float(np.sum(weight * np.log(np.maximum(mixture, EPS))) / max(len(comparisons), 1))
            self.loss_history_.append(new_loss)
            gamma = (wsum(worker, weight * genuine, n_workers) + self.alpha) / (totals + self.alpha + self.beta)
            gamma = np.clip(gamma, EPS, 1 - EPS)
            log_pi, _ = _mm_scores(
                n_items, winner, loser, weight * genuine, prior=self.prior, n_iter=self.mm_iter, tol=1e-10, start=log_pi
            )
            if new_loss - loss < self.tol:
                break
            loss = new_loss
        self.workers_ = list(comparisons.workers)
        self.skill_array_ = gamma
        self._result(comparisons, log_pi)
        return self

    @property
    def skills_(self) -> dict[Hashable, float]:
        """``{worker: reliability}``: the probability the worker judged rather than guessed."""
        self._fitted()
        return dict(zip(self.workers_, self.skill_array_.tolist(), strict=True))

    def fit_predict(self, comparisons: Comparisons) -> dict[Hashable, float]:
        """Fit and return ``scores_``."""
        return self.fit(comparisons).scores_
