"""Dawid–Skene and its one-coin variant: EM over per-worker confusion matrices."""

from __future__ import annotations

from typing import Literal

import numpy as np

from truthloop.consolidation._base import EPS, CategoricalAggregator, Design, FloatArray, IntArray, normalize_log
from truthloop.exceptions import ConsolidationError

__all__ = ["DawidSkene", "OneCoinDawidSkene"]


def _check(n_iter: int, tol: float) -> None:
    if n_iter < 0:
        raise ConsolidationError(f"n_iter must be >= 0, got {n_iter}")
    if tol < 0:
        raise ConsolidationError(f"tol must be >= 0, got {tol}")


class _ConfusionEM(CategoricalAggregator):
    """What both Dawid–Skene models share: EM over per-worker confusion matrices, started from majority vote.

    A subclass gives ``_m_step(design, posteriors) -> (errors, priors, *extra)``; :meth:`_em` alternates it with
    the E-step until ``n_iter`` steps or until the mean log-likelihood per answer stops improving by ``tol``.
    """

    n_iter: int
    tol: float
    relative_tol: bool
    errors_: FloatArray
    priors_: FloatArray

    def _m_step(self, design: Design, posteriors: FloatArray) -> tuple[FloatArray, ...]:
        raise NotImplementedError

    def _em(
        self, design: Design, gold_tasks: IntArray, gold_classes: IntArray
    ) -> tuple[FloatArray, tuple[FloatArray, ...]]:
        """The final posteriors and the last M-step's result; sets ``errors_``, ``priors_`` and ``loss_history_``."""
        posteriors = self._clamp(self._majority(design), gold_tasks, gold_classes)
        fitted = self._m_step(design, posteriors)
        loss = -np.inf
        for _ in range(self.n_iter):
            errors, priors = fitted[0], fitted[1]
            posteriors, normaliser = normalize_log(np.log(priors) + design.class_loglik(np.log(errors)))
            posteriors = self._clamp(posteriors, gold_tasks, gold_classes)
            fitted = self._m_step(design, posteriors)
            new_loss = float(normaliser.sum() / design.n)
            self.loss_history_.append(new_loss)
            if new_loss - loss < self.tol * (abs(new_loss) if self.relative_tol else 1.0):
                break
            loss = new_loss
        self.errors_, self.priors_ = fitted[0], fitted[1]
        return posteriors, fitted


class DawidSkene(_ConfusionEM):
    r"""Dawid–Skene: every worker has a full confusion matrix; EM estimates it together with the true labels.

    Model: a task's true class :math:`z_t` is drawn from priors :math:`p`; worker :math:`w` reports class
    :math:`l` with probability :math:`\pi^w_{z_t l}`. EM starts from majority-vote posteriors (gold tasks
    clamped), then alternates

    * M-step: :math:`\pi^w_{kl} = (n^w_{kl} + \alpha + m\,c_{kl}) / (n^w_k + K\alpha + m)` with
      :math:`n^w_{kl} = \sum_{a: w_a = w, l_a = l} q_{t_a}(k)` the expected counts, and
      :math:`p_k \propto \sum_t q_t(k)`,
    * E-step: :math:`q_t(k) \propto p_k \prod_{a \in t} \pi^{w_a}_{k l_a}`,

    until ``n_iter`` steps or until the mean log-likelihood per answer :math:`L` improves by less than
    ``tol`` × :math:`|L|` (``relative_tol=True``, the default; ``relative_tol=False`` makes ``tol`` absolute,
    in nats per answer).

    **Partial pooling.** ``prior_strength`` (:math:`m`, default 2) is a Dirichlet prior of :math:`m`
    pseudo-answers on each confusion-matrix row, centred on :math:`c`: with ``prior_center="pooled"`` (default)
    :math:`c` is the *population* confusion matrix — the expected counts of all workers added up and
    row-normalised, re-estimated at every M-step (a hierarchical, empirical-Bayes Dawid–Skene). A worker with
    few answers in a class inherits the crowd's typical confusions for it instead of a degenerate row; a busy
    worker's own counts dominate (:math:`m = 2` is 17% of the weight after 10 answers in the row, 2% after
    100). ``prior_center="one-coin"`` centres each row on the worker's own one-coin matrix (its expected
    accuracy on the diagonal, the rest spread evenly). ``smoothing`` (:math:`\alpha`, default 0) adds a
    uniform pseudo-count. ``prior_strength=0, smoothing=0`` is the plain maximum-likelihood estimate of the
    paper. Probabilities are clipped at ``1e-10`` before logs.

    **Stopping.** The default ``tol=3e-3`` (relative) stops after 3–5 EM steps on the benchmark sets. That is
    deliberate: scored on answers held out of the fit (5-fold cross-validation, no gold involved), the
    predictive log-likelihood of held-out answers peaks within the first three EM steps on 10 of the 14
    benchmark sets and then falls, i.e. running EM to convergence fits noise in the workers' answers.

    ``skills_`` is each worker's expected accuracy :math:`\sum_k p_k \pi^w_{kk}`; ``errors_`` the
    ``(workers, true, observed)`` confusion matrices, ``priors_`` the class priors.

    Partial pooling of annotator parameters: S. Paun, B. Carpenter, J. Chamberlain, D. Hovy, U. Kruschwitz and
    M. Poesio, "Comparing Bayesian Models of Annotation", TACL 6, 2018, https://doi.org/10.1162/tacl_a_00040.

    Reference: A. P. Dawid and A. M. Skene, "Maximum Likelihood Estimation of Observer Error-Rates Using the
    EM Algorithm", Journal of the Royal Statistical Society C 28(1), 1979, https://doi.org/10.2307/2346806.

    >>> from truthloop.consolidation import Answers, DawidSkene
    >>> rows = [("t1", "a", 1), ("t1", "b", 1), ("t1", "c", 0), ("t2", "a", 0), ("t2", "b", 0), ("t2", "c", 0)]
    >>> DawidSkene(n_iter=50).fit_predict(Answers.from_records(rows))
    {'t1': 1, 't2': 0}
    """

    def __init__(
        self,
        n_iter: int = 100,
        tol: float = 3e-3,
        prior_strength: float = 2.0,
        smoothing: float = 0.0,
        prior_center: Literal["pooled", "one-coin"] = "pooled",
        relative_tol: bool = True,
    ) -> None:
        _check(n_iter, tol)
        if smoothing < 0 or prior_strength < 0:
            raise ConsolidationError(f"smoothing and prior_strength must be >= 0, got {smoothing}, {prior_strength}")
        if prior_center not in ("pooled", "one-coin"):
            raise ConsolidationError(f"prior_center must be 'pooled' or 'one-coin', got {prior_center!r}")
        self.n_iter = n_iter
        self.tol = tol
        self.prior_strength = prior_strength
        self.smoothing = smoothing
        self.prior_center = prior_center
        self.relative_tol = relative_tol

    def _center(self, counts: FloatArray) -> FloatArray:
        """Row-stochastic centre of the Dirichlet prior: ``(K, K)`` pooled or ``(workers, K, K)`` one-coin."""
        k = counts.shape[1]
        if self.prior_center == "pooled":
            pooled = counts.sum(axis=0)
            totals = pooled.sum(axis=1, keepdims=True)
            center: FloatArray = np.divide(pooled, totals, out=np.full_like(pooled, 1.0 / k), where=totals > 0)
            return center
        answered = counts.sum(axis=(1, 2))
        accuracy = np.divide(
            np.einsum("wkk->w", counts), answered, out=np.full_like(answered, 1.0 / k), where=answered > 0
        )
        off = (1 - accuracy) / (k - 1) if k > 1 else np.zeros_like(accuracy)
        one_coin = np.repeat(np.repeat(off[:, None, None], k, axis=1), k, axis=2)
        diagonal = np.arange(k)
        one_coin[:, diagonal, diagonal] = accuracy[:, None]
        return one_coin

    def _m_step(self, design: Design, posteriors: FloatArray) -> tuple[FloatArray, FloatArray]:
        counts = design.confusion_counts(posteriors) + self.smoothing
        if self.prior_strength > 0:
            counts = counts + self.prior_strength * self._center(counts)
        totals = counts.sum(axis=2, keepdims=True)
        errors = np.clip(np.divide(counts, totals, out=np.full_like(counts, 1.0 / design.k), where=totals > 0), EPS, 1)
        priors = np.clip(posteriors.mean(axis=0), EPS, 1)
        return errors, priors / priors.sum()

    def _fit(self, design: Design, gold_tasks: IntArray, gold_classes: IntArray) -> tuple[FloatArray, FloatArray]:
        posteriors, _ = self._em(design, gold_tasks, gold_classes)
        return posteriors, np.einsum("k,wkk->w", self.priors_, self.errors_)


class OneCoinDawidSkene(_ConfusionEM):
    r"""One-coin Dawid–Skene: each worker has one accuracy :math:`s_w`; mistakes are spread evenly.

    The confusion matrix of worker :math:`w` is :math:`s_w` on the diagonal and :math:`(1 - s_w)/(K - 1)`
    elsewhere. EM starts from majority vote; the M-step sets :math:`s_w` to the worker's expected share of
    correct answers (with ``smoothing`` pseudo-answers at accuracy 1/2 added), the E-step is Dawid–Skene's.
    Stops after ``n_iter`` steps or when the mean log-likelihood per answer improves by less than ``tol``.
    ``skills_`` are the :math:`s_w`.

    References: the one-coin model as analysed by Y. Zhang, X. Chen, D. Zhou and M. I. Jordan, "Spectral
    Methods Meet EM: A Provably Optimal Algorithm for Crowdsourcing", JMLR 17(102), 2016
    (https://jmlr.org/papers/v17/14-511.html); Dawid and Skene 1979, https://doi.org/10.2307/2346806.

    >>> from truthloop.consolidation import Answers, OneCoinDawidSkene
    >>> rows = [("t1", "a", "x"), ("t1", "b", "x"), ("t1", "c", "y")]
    >>> OneCoinDawidSkene().fit_predict(Answers.from_records(rows))
    {'t1': 'x'}
    """

    def __init__(
        self, n_iter: int = 100, tol: float = 1e-4, smoothing: float = 0.0, relative_tol: bool = False
    ) -> None:
        _check(n_iter, tol)
        if smoothing < 0:
            raise ConsolidationError(f"smoothing must be >= 0, got {smoothing}")
        self.n_iter = n_iter
        self.tol = tol
        self.smoothing = smoothing
        self.relative_tol = relative_tol

    def _m_step(self, design: Design, posteriors: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(errors, priors, skills)``."""
        correct = design.worker_sum(posteriors[design.task, design.label])
        skills = (correct + 0.5 * self.smoothing) / np.maximum(design.worker_counts + self.smoothing, EPS)
        skills = np.clip(skills, EPS, 1 - EPS)
        k = design.k
        off = (1 - skills) / (k - 1) if k > 1 else np.zeros_like(skills)
        errors = np.repeat(np.repeat(off[:, None, None], k, axis=1), k, axis=2)
        diagonal = np.arange(k)
        errors[:, diagonal, diagonal] = skills[:, None] if k > 1 else 1.0
        errors = np.clip(errors, EPS, 1)
        priors = np.clip(posteriors.mean(axis=0), EPS, 1)
        return errors, priors / priors.sum(), skills

    def _fit(self, design: Design, gold_tasks: IntArray, gold_classes: IntArray) -> tuple[FloatArray, FloatArray]:
        posteriors, (_, _, skills) = self._em(design, gold_tasks, gold_classes)
        return posteriors, skills
