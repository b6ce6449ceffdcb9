"""Shared machinery of the categorical aggregators: the sklearn-style verbs, gold clamping, grouped sums."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from functools import cached_property
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from truthloop.consolidation._answers import Answers
from truthloop.exceptions import ConsolidationError

__all__ = [
    "EPS",
    "CategoricalAggregator",
    "Design",
    "FloatArray",
    "IntArray",
    "normalize_log",
    "stable_argsort",
    "wsum",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: Probabilities are clipped to ``[EPS, 1 - EPS]`` before taking logs.
EPS = 1e-10


def wsum(index: IntArray, weights: FloatArray | None, length: int) -> FloatArray:
    """``np.bincount`` with float weights, typed as float (numpy's stubs say int)."""
    return np.asarray(np.bincount(index, weights=weights, minlength=length), dtype=np.float64)


def normalize_log(loglik: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Row-wise softmax of log-likelihoods; returns ``(probabilities, log normaliser per row)``.

    Column-wise ufunc calls (a loop over the few classes, not over rows) are much faster than ``axis=1``
    reductions on a tall, narrow array.
    """
    columns = loglik.shape[1]
    top = loglik[:, 0].copy()
    for k in range(1, columns):
        np.maximum(top, loglik[:, k], out=top)
    scaled = np.exp(loglik - top[:, None])
    total = scaled[:, 0].copy()
    for k in range(1, columns):
        total += scaled[:, k]
    scaled /= total[:, None]
    return scaled, np.log(total) + top


def stable_argsort(keys: IntArray, bound: int) -> IntArray:
    """Stable argsort of non-negative integer keys below ``bound``.

    Keys that fit in 16 bits are sorted as ``uint16``, for which numpy's stable sort is a radix sort (4–5×
    faster than the merge sort it uses for ``int64``); keys below ``2**32`` take two such passes (least
    significant half first). The order is the same as ``np.argsort(keys, kind="stable")``.
    """
    if bound <= 1 << 16:
        return np.argsort(keys.astype(np.uint16), kind="stable")
    if bound <= 1 << 32:
        low = np.argsort((keys & 0xFFFF).astype(np.uint16), kind="stable")
        high = np.argsort((keys[low] >> 16).astype(np.uint16), kind="stable")
        order: IntArray = low[high]
        return order
    return np.argsort(keys, kind="stable")


class Design:
    """Index structures shared by the EM steps of one fit, so each step is a gather plus a grouped sum.

    Sorting the answers by task (for per-task sums) and by ``(worker, label)`` (for per-worker confusion counts)
    happens once, lazily, on first use; ``np.add.reduceat`` then sums each group without a Python loop.
    """

    def __init__(self, answers: Answers, n_classes: int) -> None:
        self.task = answers.task_index
        self.worker = answers.worker_index
        self.label = answers.label_index
        self.n = len(answers)
        self.n_tasks = answers.n_tasks
        self.n_workers = answers.n_workers
        self.k = n_classes
        self.wl: IntArray = self.worker * n_classes + self.label
        self.worker_counts: FloatArray = np.bincount(self.worker, minlength=self.n_workers).astype(np.float64)

    @cached_property
    def by_task(self) -> IntArray:
        """Answer positions sorted by task (stable)."""
        return stable_argsort(self.task, self.n_tasks)

    @cached_property
    def task_starts(self) -> IntArray:
        sorted_tasks = self.task[self.by_task]
        return np.flatnonzero(np.r_[True, sorted_tasks[1:] != sorted_tasks[:-1]])

    @cached_property
    def wl_by_task(self) -> IntArray:
        return np.ascontiguousarray(self.wl[self.by_task])

    @cached_property
    def by_wl(self) -> IntArray:
        return stable_argsort(self.wl, self.n_workers * self.k)

    @cached_property
    def wl_starts(self) -> IntArray:
        sorted_wl = self.wl[self.by_wl]
        return np.flatnonzero(np.r_[True, sorted_wl[1:] != sorted_wl[:-1]])

    @cached_property
    def wl_unique(self) -> IntArray:
        return self.wl[self.by_wl][self.wl_starts]

    @cached_property
    def task_by_wl(self) -> IntArray:
        return np.ascontiguousarray(self.task[self.by_wl])

    def task_sum(self, per_answer: FloatArray) -> FloatArray:
        """Sum per-answer rows (``(n,)`` or ``(n, k)``) into per-task rows; every task has at least one answer."""
        return np.add.reduceat(np.take(per_answer, self.by_task, axis=0), self.task_starts, axis=0)

    def worker_sum(self, per_answer: FloatArray) -> FloatArray:
        """Sum a per-answer vector per worker."""
        return wsum(self.worker, per_answer, self.n_workers)

    def confusion_counts(self, posteriors: FloatArray, weights: FloatArray | None = None) -> FloatArray:
        """``(n_workers, k_true, k_observed)`` expected counts: Σ over a worker's answers of the task posterior."""
        gathered = np.take(posteriors, self.task_by_wl, axis=0)
        if weights is not None:
            gathered = gathered * np.take(weights, self.by_wl)[:, None]
        sums = np.add.reduceat(gathered, self.wl_starts, axis=0)
        dense = np.zeros((self.n_workers * self.k, self.k))
        dense[self.wl_unique] = sums
        # rows are (worker, observed); transpose to (worker, true, observed)
        return dense.reshape(self.n_workers, self.k, self.k).transpose(0, 2, 1)

    def class_loglik(self, log_confusion: FloatArray) -> FloatArray:
        """``(n_tasks, k)``: Σ over a task's answers of log P(observed label | true class) per true class."""
        table = np.ascontiguousarray(log_confusion.transpose(0, 2, 1)).reshape(self.n_workers * self.k, self.k)
        return np.add.reduceat(np.take(table, self.wl_by_task, axis=0), self.task_starts, axis=0)

    def counts(self) -> FloatArray:
        flat = np.bincount(self.task * self.k + self.label, minlength=self.n_tasks * self.k)
        return flat.reshape(self.n_tasks, self.k).astype(np.float64)


class CategoricalAggregator:
    """Base of categorical truth-inference methods (sklearn-style).

    Parameters go to the constructor; ``fit(answers, gold=None)`` returns ``self``. Fitted attributes:

    * ``tasks_``, ``classes_`` — row and column order of the arrays below;
    * ``proba_matrix_`` — ``(n_tasks, n_classes)`` posterior probabilities; ``label_indices_`` — argmax per row
      (ties go to the first class in ``classes_``, which is sorted);
    * ``labels_`` (``{task: label}``), ``probas_`` (``{task: {label: p}}``) and ``skills_`` (``{worker: skill}``)
      built lazily from the arrays; ``loss_history_`` for iterative methods.

    ``gold`` maps tasks to known labels: those tasks are clamped to their label throughout, which also steers
    the worker parameters. Gold labels nobody gave become extra classes; gold tasks without answers are ignored.
    """

    tasks_: list[Hashable]
    classes_: list[Hashable]
    workers_: list[Hashable]
    proba_matrix_: FloatArray
    label_indices_: IntArray
    skill_array_: FloatArray
    loss_history_: list[float]

    def fit(self, answers: Answers, gold: Mapping[Any, Any] | None = None) -> Self:
        if not isinstance(answers, Answers):
            raise ConsolidationError(f"expected an Answers table, got {type(answers).__name__}")
        classes = answers.with_classes(gold.values()) if gold else list(answers.classes)
        self.tasks_ = list(answers.tasks)
        self.workers_ = list(answers.workers)
        self.classes_ = classes
        self.loss_history_ = []
        self._cache: dict[str, Any] = {}
        self._input: tuple[Answers, Mapping[Any, Any] | None] = (answers, gold)
        k = len(classes)
        gold_tasks, gold_classes = self._gold_arrays(answers, classes, gold)
        if len(answers) == 0:
            self.proba_matrix_ = np.zeros((0, k))
            self.skill_array_ = np.zeros(0)
        else:
            design = Design(answers, k)
            self.proba_matrix_, self.skill_array_ = self._fit(design, gold_tasks, gold_classes)
        self.label_indices_ = (
            self.proba_matrix_.argmax(axis=1).astype(np.int64)
            if self.proba_matrix_.size
            else np.zeros(self.proba_matrix_.shape[0], dtype=np.int64)
        )
        return self

    def fit_predict(self, answers: Answers, gold: Mapping[Any, Any] | None = None) -> dict[Hashable, Any]:
        """Fit and return ``labels_``."""
        return self.fit(answers, gold).labels_

    def fit_predict_proba(
        self, answers: Answers, gold: Mapping[Any, Any] | None = None
    ) -> dict[Hashable, dict[Hashable, float]]:
        """Fit and return ``probas_``."""
        return self.fit(answers, gold).probas_

    # ------------------------------------------------------------------ fitted views
    def _fitted(self) -> None:
        if not hasattr(self, "proba_matrix_"):
            raise ConsolidationError(f"{type(self).__name__} is not fitted yet; call fit(answers) first")

    @property
    def labels_(self) -> dict[Hashable, Any]:
        """``{task: most probable label}``."""
        self._fitted()
        if "labels" not in self._cache:
            classes = self.classes_
            self._cache["labels"] = {
                task: classes[i] for task, i in zip(self.tasks_, self.label_indices_.tolist(), strict=True)
            }
        labels: dict[Hashable, Any] = self._cache["labels"]
        return labels

    @property
    def probas_(self) -> dict[Hashable, dict[Hashable, float]]:
        """``{task: {label: probability}}`` over ``classes_``."""
        self._fitted()
        if "probas" not in self._cache:
            classes = self.classes_
            self._cache["probas"] = {
                task: dict(zip(classes, row, strict=True))
                for task, row in zip(self.tasks_, self.proba_matrix_.tolist(), strict=True)
            }
        probas: dict[Hashable, dict[Hashable, float]] = self._cache["probas"]
        return probas

    @property
    def skills_(self) -> dict[Hashable, float]:
        """``{worker: skill}``; what skill means is method-specific (see the class docstring)."""
        self._fitted()
        return dict(zip(self.workers_, self.skill_array_.tolist(), strict=True))

    @property
    def confidences_(self) -> FloatArray:
        """Probability of the chosen label, per task (``tasks_`` order)."""
        self._fitted()
        if not self.proba_matrix_.size:
            return np.zeros(0)
        rows = np.arange(self.proba_matrix_.shape[0])
        confidences: FloatArray = self.proba_matrix_[rows, self.label_indices_]
        return confidences

    # ------------------------------------------------------------------ for subclasses
    def _fit(self, design: Design, gold_tasks: IntArray, gold_classes: IntArray) -> tuple[FloatArray, FloatArray]:
        raise NotImplementedError

    @staticmethod
    def _gold_arrays(
        answers: Answers, classes: list[Hashable], gold: Mapping[Any, Any] | None
    ) -> tuple[IntArray, IntArray]:
        if not gold:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        task_pos = {t: i for i, t in enumerate(answers.tasks)}
        class_pos = {c: i for i, c in enumerate(classes)}
        pairs = [(task_pos[t], class_pos[c]) for t, c in gold.items() if t in task_pos]
        if not pairs:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        arr = np.asarray(pairs, dtype=np.int64)
        return arr[:, 0], arr[:, 1]

    @staticmethod
    def _clamp(posteriors: FloatArray, gold_tasks: IntArray, gold_classes: IntArray) -> FloatArray:
        if gold_tasks.size:
            posteriors[gold_tasks] = 0.0
            posteriors[gold_tasks, gold_classes] = 1.0
        return posteriors

    @staticmethod
    def _majority(design: Design, weights: FloatArray | None = None) -> FloatArray:
        """Normalised (optionally worker-weighted) vote shares per task."""
        index = design.task * design.k + design.label
        w = None if weights is None else weights[design.worker]
        votes = wsum(index, w, design.n_tasks * design.k).reshape(design.n_tasks, design.k)
        total = votes.sum(axis=1, keepdims=True)
        uniform = np.full_like(votes, 1.0 / max(design.k, 1))
        shares: FloatArray = np.divide(votes, total, out=uniform, where=total > 0)
        return shares

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_") and not k.startswith("_"))
        return f"{type(self).__name__}({params})"
