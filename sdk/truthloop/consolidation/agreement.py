"""Inter-annotator agreement and per-worker accuracy, computed from an :class:`Answers` table."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from truthloop.consolidation._answers import Answers
from truthloop.consolidation._base import FloatArray, wsum
from truthloop.exceptions import ConsolidationError

__all__ = [
    "WorkerAccuracy",
    "cohen_kappa",
    "fleiss_kappa",
    "krippendorff_alpha",
    "mean_pairwise_cohen_kappa",
    "percent_agreement",
    "worker_accuracy",
]


def _counts(answers: Answers) -> FloatArray:
    return answers.counts()


def percent_agreement(answers: Answers) -> float:
    """Share of agreeing pairs among all pairs of answers given to the same task (tasks with ≥ 2 answers).

    ``nan`` when no task has two answers.
    """
    counts = _counts(answers)
    n = counts.sum(axis=1)
    pairs = float(np.sum(n * (n - 1)))
    if pairs == 0:
        return float("nan")
    return float(np.sum(counts * (counts - 1)) / pairs)


def fleiss_kappa(answers: Answers) -> float:
    r"""Fleiss' κ over tasks with at least two answers, allowing a varying number of answers per task.

    :math:`\kappa = (\bar P - P_e) / (1 - P_e)` with :math:`\bar P` the mean per-task pairwise agreement and
    :math:`P_e = \sum_k p_k^2` from the pooled label shares. ``nan`` when undefined (no task with two answers,
    or a single class used everywhere). J. L. Fleiss, "Measuring nominal scale agreement among many raters",
    Psychological Bulletin 76(5), 1971, https://doi.org/10.1037/h0031619.
    """
    counts = _counts(answers)
    n = counts.sum(axis=1)
    keep = n >= 2
    if not keep.any():
        return float("nan")
    counts, n = counts[keep], n[keep]
    p_task = np.sum(counts * (counts - 1), axis=1) / (n * (n - 1))
    p_bar = float(p_task.mean())
    shares = counts.sum(axis=0) / counts.sum()
    p_e = float(np.sum(shares**2))
    if p_e >= 1.0:
        return float("nan")
    return (p_bar - p_e) / (1 - p_e)


def cohen_kappa(answers: Answers, worker_a: Hashable, worker_b: Hashable) -> float:
    r"""Cohen's κ between two workers on the tasks both answered (their first answer per task).

    :math:`\kappa = (p_o - p_e)/(1 - p_e)`; ``nan`` when they share no task or :math:`p_e = 1`.
    J. Cohen, "A Coefficient of Agreement for Nominal Scales", Educational and Psychological Measurement 20(1),
    1960, https://doi.org/10.1177/001316446002000104.
    """
    try:
        a, b = answers.workers.index(worker_a), answers.workers.index(worker_b)
    except ValueError:
        raise ConsolidationError(f"unknown worker {worker_a!r} or {worker_b!r}") from None
    k = answers.n_classes
    first = np.full((answers.n_workers, answers.n_tasks), -1, dtype=np.int64)
    # reversed so the first answer of a repeated (task, worker) pair is the one kept
    first[answers.worker_index[::-1], answers.task_index[::-1]] = answers.label_index[::-1]
    both = (first[a] >= 0) & (first[b] >= 0)
    if not both.any():
        return float("nan")
    la, lb = first[a][both], first[b][both]
    table = np.bincount(la * k + lb, minlength=k * k).reshape(k, k).astype(np.float64)
    total = table.sum()
    p_o = float(np.trace(table) / total)
    p_e = float(np.sum(table.sum(axis=0) * table.sum(axis=1)) / total**2)
    if p_e >= 1.0:
        return float("nan")
    return (p_o - p_e) / (1 - p_e)


def mean_pairwise_cohen_kappa(answers: Answers, min_overlap: int = 5) -> float:
    """Mean of Cohen's κ over worker pairs that share at least ``min_overlap`` tasks (``nan`` if none)."""
    presence = np.zeros((answers.n_workers, answers.n_tasks), dtype=np.int64)
    presence[answers.worker_index, answers.task_index] = 1
    overlap = presence @ presence.T
    pairs = np.argwhere(np.triu(overlap >= min_overlap, k=1))
    values = [cohen_kappa(answers, answers.workers[i], answers.workers[j]) for i, j in pairs.tolist()]
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def krippendorff_alpha(answers: Answers, level: Literal["nominal", "interval"] = "nominal") -> float:
    r"""Krippendorff's α for nominal or interval data; every answer is one value, tasks are units.

    Built from the coincidence matrix :math:`o_{ck} = \sum_u n_{uc} n_{uk} / (m_u - 1)` (minus the diagonal
    self-pairs) over units with :math:`m_u \ge 2` values: :math:`\alpha = 1 - (n - 1)\sum o_{ck}\delta^2_{ck} /
    \sum n_c n_k \delta^2_{ck}`, with :math:`\delta^2` = 1 for different nominal values and the squared
    difference for interval values (labels must then be numbers). ``nan`` when there is no variation.
    K. Krippendorff, "Computing Krippendorff's Alpha-Reliability", 2011,
    https://repository.upenn.edu/asc_papers/43; A. F. Hayes and K. Krippendorff, Communication Methods and
    Measures 1(1), 2007, https://doi.org/10.1080/19312450709336664.
    """
    if level not in ("nominal", "interval"):
        raise ConsolidationError(f"level must be 'nominal' or 'interval', got {level!r}")
    counts = _counts(answers)
    m = counts.sum(axis=1)
    keep = m >= 2
    if not keep.any():
        return float("nan")
    counts, m = counts[keep], m[keep]
    weighted = counts / (m - 1)[:, None]
    coincidence = weighted.T @ counts - np.diag(weighted.sum(axis=0))
    n_c = coincidence.sum(axis=1)
    n = float(n_c.sum())
    if level == "nominal":
        delta = 1.0 - np.eye(answers.n_classes)
    else:
        try:
            values = np.array([float(c) for c in answers.classes])  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise ConsolidationError("interval alpha needs numeric labels") from None
        delta = (values[:, None] - values[None, :]) ** 2
    expected = float(np.sum(np.outer(n_c, n_c) * delta))
    if expected == 0 or n <= 1:
        return float("nan")
    observed = float(np.sum(coincidence * delta))
    return 1.0 - (n - 1) * observed / expected


@dataclass(frozen=True)
class WorkerAccuracy:
    """A worker's accuracy against a reference, over ``n`` answers to tasks the reference covers."""

    worker: Hashable
    accuracy: float
    n: int


def worker_accuracy(answers: Answers, reference: Mapping[Any, Any]) -> list[WorkerAccuracy]:
    """Per worker, the share of answers that equal ``reference[task]`` (gold labels, or a consensus such as
    ``MajorityVote().fit_predict(answers)``). Workers with no answer on a referenced task are left out; the
    list is sorted by worker order of first appearance."""
    task_pos = {t: i for i, t in enumerate(answers.tasks)}
    class_pos = {c: i for i, c in enumerate(answers.classes)}
    truth = np.full(answers.n_tasks, -2, dtype=np.int64)  # -2: no reference
    for task, label in reference.items():
        if task in task_pos:
            truth[task_pos[task]] = class_pos.get(label, -1)  # -1: a label nobody gave
    expected = truth[answers.task_index]
    covered = expected != -2
    hits = wsum(
        answers.worker_index, (covered & (expected == answers.label_index)).astype(np.float64), answers.n_workers
    )
    seen = wsum(answers.worker_index, covered.astype(np.float64), answers.n_workers)
    return [
        WorkerAccuracy(worker, float(hits[i] / seen[i]), int(seen[i]))
        for i, worker in enumerate(answers.workers)
        if seen[i] > 0
    ]
