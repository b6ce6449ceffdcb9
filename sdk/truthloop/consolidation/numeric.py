"""Numeric ratings: mean, median, and a worker-weighted estimate."""

from __future__ import annotations

import csv
import math
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import Literal, Self

import numpy as np

from truthloop.consolidation._answers import factorize
from truthloop.consolidation._base import FloatArray, IntArray, wsum
from truthloop.exceptions import ConsolidationError

__all__ = ["NumericAggregator", "Ratings"]

Method = Literal["mean", "median", "weighted"]


class Ratings:
    """Numeric answers ``(task, worker, value)``; tasks and workers keep their order of first appearance."""

    __slots__ = ("task_index", "tasks", "values", "worker_index", "workers")

    def __init__(
        self,
        task_index: IntArray,
        worker_index: IntArray,
        values: FloatArray,
        *,
        tasks: list[Hashable],
        workers: list[Hashable],
    ) -> None:
        self.task_index = task_index
        self.worker_index = worker_index
        self.values = values
        self.tasks = tasks
        self.workers = workers

    @classmethod
    def from_records(cls, records: Iterable[Sequence[object]]) -> Ratings:
        rows = list(records)
        values = []
        for number, row in enumerate(rows):
            if len(row) != 3:
                raise ConsolidationError(f"record {number}: expected (task, worker, value), got {len(row)} values")
            try:
                value = float(row[2])  # type: ignore[arg-type]
            except (TypeError, ValueError):
                raise ConsolidationError(f"record {number}: value {row[2]!r} is not a number") from None
            if not math.isfinite(value):
                raise ConsolidationError(f"record {number}: value {row[2]!r} is not finite")
            values.append(value)
        task_codes, tasks = factorize(r[0] for r in rows)
        worker_codes, workers = factorize(r[1] for r in rows)
        return cls(task_codes, worker_codes, np.asarray(values, dtype=np.float64), tasks=tasks, workers=workers)

    @classmethod
    def from_csv(cls, path: str | Path, *, task: str = "task", worker: str = "worker", value: str = "label") -> Ratings:
        with open(path, encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in (task, worker, value) if c not in (reader.fieldnames or [])]
            if missing:
                raise ConsolidationError(f"{path}:1: missing column(s) {', '.join(missing)}")
            rows = []
            for number, row in enumerate(reader, start=2):
                try:
                    rows.append((row[task], row[worker], float(row[value])))
                except (TypeError, ValueError):
                    raise ConsolidationError(f"{path}:{number}: {value} {row[value]!r} is not a number") from None
        return cls.from_records(rows)

    def __len__(self) -> int:
        return int(self.values.shape[0])


def _group_median(task_index: IntArray, values: FloatArray, n_tasks: int) -> FloatArray:
    """Median per task without a Python loop over answers: sort by (task, value), pick the middle element(s)."""
    order = np.lexsort((values, task_index))
    sorted_values = values[order]
    counts = np.bincount(task_index, minlength=n_tasks)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    low = starts + (counts - 1) // 2
    high = starts + counts // 2
    result: FloatArray = (sorted_values[low] + sorted_values[high]) / 2
    return result


class NumericAggregator:
    r"""Consolidate numeric ratings per task.

    * ``mean`` / ``median`` — per task.
    * ``weighted`` — each worker :math:`w` has a noise variance :math:`\sigma^2_w` (and, with ``bias=True``, a
      bias :math:`b_w`):
      :math:`x_{tw} = z_t + b_w + \varepsilon`, :math:`\varepsilon \sim N(0, \sigma^2_w)`. Starting from the
      per-task median, it alternates :math:`b_w` = mean residual (shrunk towards 0 with ``prior_strength``
      pseudo-answers), :math:`\sigma^2_w` = mean squared residual (shrunk towards the pooled variance with
      ``prior_strength`` pseudo-answers) and :math:`z_t` = precision-weighted mean of the debiased answers,
      for ``n_iter`` rounds or until no estimate moves more than ``tol``. ``skills_`` are the precisions
      :math:`1/\sigma^2_w`, ``biases_`` the :math:`b_w`.

    The Gaussian annotator model is that of V. C. Raykar et al., "Learning From Crowds", JMLR 11, 2010
    (https://jmlr.org/papers/v11/raykar10a.html), here with a per-worker bias and without features.

    >>> ratings = Ratings.from_records([("t1", "a", 10), ("t1", "b", 20), ("t1", "c", 90)])
    >>> NumericAggregator("median").fit(ratings).values_
    {'t1': 20.0}
    """

    value_array_: FloatArray
    skill_array_: FloatArray
    bias_array_: FloatArray
    loss_history_: list[float]
    tasks_: list[Hashable]
    workers_: list[Hashable]

    def __init__(
        self,
        method: Method = "weighted",
        n_iter: int = 50,
        tol: float = 1e-6,
        prior_strength: float = 10.0,
        bias: bool = False,
    ) -> None:
        if method not in ("mean", "median", "weighted"):
            raise ConsolidationError(f"unknown method {method!r}; use mean, median or weighted")
        if n_iter < 0 or tol < 0 or prior_strength < 0:
            raise ConsolidationError("n_iter, tol and prior_strength must be >= 0")
        self.method = method
        self.n_iter = n_iter
        self.tol = tol
        self.prior_strength = prior_strength
        self.bias = bias

    def fit(self, ratings: Ratings) -> Self:
        t, w, x = ratings.task_index, ratings.worker_index, ratings.values
        n_tasks, n_workers = len(ratings.tasks), len(ratings.workers)
        self.tasks_, self.workers_ = list(ratings.tasks), list(ratings.workers)
        self.loss_history_ = []
        self.skill_array_ = np.ones(n_workers)
        self.bias_array_ = np.zeros(n_workers)
        if len(ratings) == 0:
            self.value_array_ = np.zeros(0)
            return self
        counts = np.bincount(t, minlength=n_tasks).astype(np.float64)
        if self.method == "mean":
            self.value_array_ = wsum(t, x, n_tasks) / counts
            return self
        z = _group_median(t, x, n_tasks)
        if self.method == "median":
            self.value_array_ = z
            return self
        per_worker = np.bincount(w, minlength=n_workers).astype(np.float64)
        a = self.prior_strength
        bias = np.zeros(n_workers)
        precision = np.ones(n_workers)
        for _ in range(self.n_iter):
            residual = x - z[t]
            if self.bias:
                bias = wsum(w, residual, n_workers) / (per_worker + a)
            centred = residual - bias[w]
            pooled = float(np.mean(centred**2)) or 1.0
            variance = (wsum(w, centred**2, n_workers) + a * pooled) / (per_worker + a)
            precision = 1.0 / np.maximum(variance, 1e-9)
            weight = precision[w]
            new_z = wsum(t, weight * (x - bias[w]), n_tasks) / wsum(t, weight, n_tasks)
            loglik = 0.5 * float(np.sum(np.log(weight) - weight * (x - bias[w] - new_z[t]) ** 2)) / len(ratings)
            self.loss_history_.append(loglik)
            shift = float(np.max(np.abs(new_z - z)))
            z = new_z
            if shift < self.tol:
                break
        self.value_array_ = z
        self.skill_array_ = precision
        self.bias_array_ = bias
        return self

    @property
    def values_(self) -> dict[Hashable, float]:
        return dict(zip(self.tasks_, self.value_array_.tolist(), strict=True))

    @property
    def skills_(self) -> dict[Hashable, float]:
        return dict(zip(self.workers_, self.skill_array_.tolist(), strict=True))

    @property
    def biases_(self) -> dict[Hashable, float]:
        return dict(zip(self.workers_, self.bias_array_.tolist(), strict=True))
