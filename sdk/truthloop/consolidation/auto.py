"""``AutoSelect``: choose between full and one-coin Dawid–Skene by cross-validation, or majority vote on little data;
keep a departure from majority vote only where another model makes it too."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

from truthloop.consolidation._base import CategoricalAggregator, Design, FloatArray, IntArray
from truthloop.consolidation.dawid_skene import DawidSkene, OneCoinDawidSkene
from truthloop.consolidation.glad import GLAD
from truthloop.consolidation.mace import MACE
from truthloop.consolidation.majority import MajorityVote
from truthloop.exceptions import ConsolidationError

__all__ = ["AutoSelect", "uncorroborated"]

Factory = Callable[[], CategoricalAggregator]


def one_start_mace() -> MACE:
    """MACE from one EM start instead of ten: as a corroborator only its labels count, and on the 14 bench sets and
    3 check sets they equal the ten-start labels on 99.0-100% of tasks, at a tenth of the time."""
    return MACE(n_restarts=1)


def uncorroborated(
    chosen: IntArray, majority: IntArray, others: Iterable[IntArray | Callable[[], IntArray]]
) -> npt.NDArray[np.bool_]:
    """Tasks where ``chosen`` departs from ``majority`` and none of ``others`` gives ``chosen``'s label.

    ``others`` holds label arrays, or callables that make one (a model is then fitted only while some departure is
    still without support)."""
    departs = chosen != majority
    backed = np.zeros(len(chosen), dtype=bool)
    for other in others:
        if not np.any(departs & ~backed):
            break
        labels = other() if callable(other) else other
        backed |= labels == chosen
    result: npt.NDArray[np.bool_] = departs & ~backed
    return result


class AutoSelect(CategoricalAggregator):
    r"""Pick the better of several models for *this* data: by default Dawid–Skene or one-coin Dawid–Skene.

    Neither model wins everywhere: the full confusion matrices of Dawid–Skene capture workers who are biased
    towards a class (where the one-coin model can collapse onto one class), while the one-coin model is the
    more robust choice when class-specific error rates are mostly noise. The choice is made from the answers
    alone, without gold:

    0. **Enough data?** — a model of worker skills needs several answers per worker and enough tasks to
       cross-validate. When the batch has fewer than ``min_tasks`` tasks, or when the typical answer comes from
       a worker with fewer than ``min_worker_answers`` answers in the batch (the median, over answers, of their
       worker's answer count), no candidate is fitted: the ``fallback`` (majority vote) is used. With ``n``
       answers a worker's accuracy is known to about :math:`\sqrt{s(1-s)/n}` (0.14 for ``n = 10``,
       :math:`s = 0.75`), which is as wide as the spread of skills between workers, so a skill model cannot do
       better than equal votes; with 1–3 answers per worker it fits each worker's few answers exactly and
       overrides clear majorities with confidence 1.
    1. **Collapse guard** — a candidate fitted on all answers is rejected when it gives some class that workers
       use less than ``min_class_ratio`` × its share of the answers (e.g. a model that labels no task "0" while
       a third of the answers say "0").
    2. **Cross-validated agreement** — the answers are split into ``folds`` random folds (seeded
       ``np.random.default_rng(seed)``); each candidate is fitted without a fold and scored by the share of the
       held-out answers that equal the consensus label of their task. The best-scoring remaining candidate
       (ties: the first in ``candidates``) is the result, except that a candidate other than the first healthy
       one must beat it by more than ``margin``; when every candidate collapsed, the first one is.
    3. **Corroboration** — where the winner's label departs from majority vote, it is kept only when another
       model gives the same label: one of the other candidates or of the ``corroborators`` (by default GLAD,
       which models task difficulty, and MACE, which models spammers: model families unlike Dawid–Skene's
       confusion matrices). An unsupported departure is reverted to majority vote, with majority vote's vote
       shares as its probabilities. Overruling the crowd's majority is where a skill model gains and where it
       loses: on the bench and check sets, departures another model makes too are right far more often than not (e.g.
       443 of 550 gold tasks on ``product``), while those no other model makes are often wrong (5 of 6 on
       ``cf_amt``, 13 of 15 on ``face``). ``corroborate=False`` keeps every departure.

    Fitted: ``chosen_`` (the candidate's index, ``-1`` for the fallback), ``reason_`` (why, in words),
    ``model_`` (the fitted winner), ``scores_`` (held-out agreement per candidate, ``nan`` when rejected or
    skipped), ``departures_`` and ``reverted_`` (tasks where the winner departed from majority vote, and those of
    them reverted), ``proba_matrix_`` (the winner's, with the reverted rows replaced), the winner's ``skills_``
    and ``loss_history_``. Gold labels are passed to every fit.

    Model selection by cross-validation: M. Stone, "Cross-Validatory Choice and Assessment of Statistical
    Predictions", JRSS B 36(2), 1974, https://doi.org/10.1111/j.2517-6161.1974.tb00994.x; the candidates are
    Dawid and Skene 1979 (https://doi.org/10.2307/2346806) and its one-coin variant; the corroborators are GLAD
    (Whitehill et al., NeurIPS 2009) and MACE (Hovy et al., NAACL 2013, https://aclanthology.org/N13-1132).

    >>> from truthloop.consolidation import Answers
    >>> rows = [(t, w, "x" if (t * 7 + w) % 5 else "y") for t in range(40) for w in range(5)]
    >>> model = AutoSelect().fit(Answers.from_records(rows))
    >>> model.chosen_ in (0, 1), len(model.labels_)
    (True, 40)
    >>> tiny = AutoSelect().fit(Answers.from_records([("o1", "w1", "a"), ("o1", "w2", "a"), ("o1", "w3", "b")]))
    >>> tiny.chosen_, tiny.reason_
    (-1, 'majority vote: too few tasks (1 < min_tasks=30)')
    """

    chosen_: int
    reason_: str
    model_: CategoricalAggregator
    scores_: list[float]
    departures_: int
    reverted_: int

    def __init__(
        self,
        candidates: tuple[Factory, ...] = (DawidSkene, OneCoinDawidSkene),
        folds: int = 5,
        min_class_ratio: float = 0.3,
        min_tasks: int = 30,
        min_worker_answers: float = 20.0,
        fallback: Factory = MajorityVote,
        seed: int | None = 0,
        margin: float = 0.0,
        corroborate: bool = True,
        corroborators: tuple[Factory, ...] = (GLAD, one_start_mace),
    ) -> None:
        if not candidates:
            raise ConsolidationError("AutoSelect needs at least one candidate")
        if folds < 2 or not 0 <= min_class_ratio < 1 or min_tasks < 0 or min_worker_answers < 0 or margin < 0:
            raise ConsolidationError(
                "folds must be >= 2, min_class_ratio in [0, 1), min_tasks, min_worker_answers and margin >= 0"
            )
        self.candidates = tuple(candidates)
        self.folds = folds
        self.min_class_ratio = min_class_ratio
        self.min_tasks = min_tasks
        self.min_worker_answers = min_worker_answers
        self.fallback = fallback
        self.seed = seed
        self.margin = margin
        self.corroborate = corroborate
        self.corroborators = tuple(corroborators)

    def _collapsed(self, design: Design, model: CategoricalAggregator) -> bool:
        k = design.k
        answered = np.bincount(design.label, minlength=k) / max(design.n, 1)
        predicted = np.bincount(model.label_indices_, minlength=k) / max(design.n_tasks, 1)
        used = answered > 0
        return bool(np.any(predicted[used] < self.min_class_ratio * answered[used]))

    def _held_out_agreement(self, factory: Factory, fold: IntArray) -> float:
        answers, gold = self._input
        hits = 0
        total = 0
        for f in range(self.folds):
            train = fold != f
            subset, kept = answers.select(train)
            if kept.size == 0:
                continue
            model = factory().fit(subset, gold)
            consensus = np.full(answers.n_tasks, -1, dtype=np.int64)
            consensus[kept] = model.label_indices_
            held = ~train
            predicted = consensus[answers.task_index[held]]
            scored = predicted >= 0
            hits += int(np.sum(predicted[scored] == answers.label_index[held][scored]))
            total += int(np.sum(scored))
        return hits / total if total else float("nan")

    def _labels_of(self, factory: Factory) -> IntArray:
        answers, gold = self._input
        return factory().fit(answers, gold).label_indices_

    @staticmethod
    def typical_worker_answers(design: Design) -> float:
        """Median over answers of the number of answers their worker gave (0 without answers)."""
        if design.n == 0:
            return 0.0
        return float(np.median(design.worker_counts[design.worker]))

    def _fit(self, design: Design, gold_tasks: IntArray, gold_classes: IntArray) -> tuple[FloatArray, FloatArray]:
        answers, gold = self._input
        self.scores_ = [float("nan")] * len(self.candidates)
        self.departures_ = self.reverted_ = 0
        typical = self.typical_worker_answers(design)
        if design.n_tasks < self.min_tasks or typical < self.min_worker_answers:
            if design.n_tasks < self.min_tasks:
                self.reason_ = f"majority vote: too few tasks ({design.n_tasks} < min_tasks={self.min_tasks})"
            else:
                self.reason_ = (
                    f"majority vote: too few answers per worker ({typical:g} < min_worker_answers="
                    f"{self.min_worker_answers:g})"
                )
            self.chosen_ = -1
            self.model_ = self.fallback().fit(answers, gold)
            self.loss_history_ = list(self.model_.loss_history_)
            return self.model_.proba_matrix_, self.model_.skill_array_
        fitted = [factory().fit(answers, gold) for factory in self.candidates]
        choice = 0
        self.reason_ = "only candidate"
        if len(fitted) > 1:
            rng = np.random.default_rng(self.seed)
            fold = rng.integers(0, self.folds, design.n).astype(np.int64)
            healthy = [i for i, model in enumerate(fitted) if not self._collapsed(design, model)]
            for i in healthy:
                self.scores_[i] = self._held_out_agreement(self.candidates[i], fold)
            if healthy:
                first = healthy[0]
                best = max(healthy, key=lambda i: (self.scores_[i], -i))
                choice = best if self.scores_[best] > self.scores_[first] + self.margin else first
                self.reason_ = "best held-out agreement" if len(healthy) > 1 else "the other candidates collapsed"
            else:
                self.reason_ = "every candidate collapsed: first candidate"
        self.chosen_ = choice
        self.model_ = fitted[choice]
        self.loss_history_ = list(self.model_.loss_history_)
        proba = self.model_.proba_matrix_
        majority = self.fallback().fit(answers, gold)
        chosen = self.model_.label_indices_
        self.departures_ = int(np.sum(chosen != majority.label_indices_))
        if self.corroborate and self.departures_:
            others: list[IntArray | Callable[[], IntArray]] = [
                model.label_indices_ for i, model in enumerate(fitted) if i != choice
            ]
            others += [functools.partial(self._labels_of, factory) for factory in self.corroborators]
            revert = uncorroborated(chosen, majority.label_indices_, others)
            self.reverted_ = int(np.sum(revert))
            if self.reverted_:
                proba = proba.copy()
                proba[revert] = majority.proba_matrix_[revert]
                self.reason_ += (
                    f"; {self.reverted_} of its {self.departures_} departures from majority vote reverted"
                    " (no other model made them)"
                )
        return proba, self.model_.skill_array_
