"""Rankings of several responses: turn each worker's ranking into pairwise comparisons, fit Bradley–Terry."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from truthloop.consolidation.pairwise import BradleyTerry, Comparisons, NoisyBradleyTerry
from truthloop.exceptions import ConsolidationError

__all__ = ["ConsolidatedRanking", "RankingAggregator", "rankings_to_comparisons"]


def rankings_to_comparisons(
    rankings: Mapping[Any, Sequence[int]], items: Sequence[Hashable] | None = None
) -> Comparisons:
    """Comparisons implied by ``{worker: ranks}``; ``ranks[i]`` is item ``i``'s rank (1 = best, equal = tie).

    Every pair ``i < j`` of a worker's ranking becomes one comparison: the lower rank wins, equal ranks tie.
    ``items`` names the positions (default ``0..n-1``).
    """
    records: list[tuple[Hashable, Hashable, Hashable, Hashable | None]] = []
    for worker, ranks in rankings.items():
        names = list(items) if items is not None else list(range(len(ranks)))
        if len(names) != len(ranks):
            raise ConsolidationError(f"worker {worker!r} ranked {len(ranks)} items, expected {len(names)}")
        for i in range(len(ranks)):
            for j in range(i + 1, len(ranks)):
                winner = names[i] if ranks[i] < ranks[j] else names[j] if ranks[j] < ranks[i] else None
                records.append((worker, names[i], names[j], winner))
    return Comparisons.from_records(records)


@dataclass(frozen=True)
class ConsolidatedRanking:
    """Scores (input order), the order best first (as positions), a rank per item and the workers' agreement."""

    scores: tuple[float, ...]
    order: tuple[int, ...]
    ranks: tuple[int, ...]
    agreement: float


class RankingAggregator:
    """Consolidate several workers' rankings of the same responses into one ranking.

    Each ranking becomes pairwise comparisons (:func:`rankings_to_comparisons`) that ``BradleyTerry`` (or
    ``NoisyBradleyTerry`` with ``noisy=True``) turns into a score per response; ``order`` sorts positions by
    score (ties by position), ``ranks`` gives 1 to the best (equal scores share a rank) and ``agreement`` is
    the share of the workers' pairwise judgements that agree with the consolidated order (a tie on either side
    counts one half), 1.0 when everyone agrees.

    >>> RankingAggregator().aggregate({"w1": [1, 2, 3], "w2": [1, 3, 2], "w3": [1, 2, 3]}).order
    (0, 1, 2)
    """

    def __init__(self, noisy: bool = False, prior: float = 1.0) -> None:
        self.noisy = noisy
        self.prior = prior

    def aggregate(self, rankings: Mapping[Any, Sequence[int]]) -> ConsolidatedRanking:
        lengths = {len(r) for r in rankings.values()}
        if not rankings or lengths == {0}:
            raise ConsolidationError("no rankings to consolidate")
        if len(lengths) != 1:
            raise ConsolidationError(f"rankings differ in length: {sorted(lengths)}")
        (n,) = lengths
        comparisons = rankings_to_comparisons(rankings, list(range(n)))
        model = NoisyBradleyTerry(prior=self.prior) if self.noisy else BradleyTerry(prior=self.prior)
        if len(comparisons) == 0:
            scores = [0.0] * n
        else:
            model.fit(comparisons)
            fitted = model.scores_
            scores = [float(fitted.get(i, 0.0)) for i in range(n)]
        rounded = [round(s, 9) for s in scores]
        order = tuple(sorted(range(n), key=lambda i: (-rounded[i], i)))
        ranks = tuple(1 + sum(1 for other in rounded if other > mine) for mine in rounded)
        agree = 0.0
        total = 0
        for ranks_w in rankings.values():
            for i in range(n):
                for j in range(i + 1, n):
                    total += 1
                    worker_sign = (ranks_w[j] > ranks_w[i]) - (ranks_w[j] < ranks_w[i])
                    consensus_sign = (rounded[i] > rounded[j]) - (rounded[i] < rounded[j])
                    if worker_sign == 0 or consensus_sign == 0:
                        agree += 0.5 if worker_sign != consensus_sign else 1.0
                    elif worker_sign == consensus_sign:
                        agree += 1.0
        return ConsolidatedRanking(
            scores=tuple(scores), order=order, ranks=ranks, agreement=agree / total if total else 1.0
        )
