"""MACE: workers are either competent or spamming with a personal strategy."""

from __future__ import annotations

import numpy as np

from truthloop.consolidation._base import EPS, CategoricalAggregator, Design, FloatArray, IntArray, normalize_log, wsum
from truthloop.exceptions import ConsolidationError

__all__ = ["MACE"]


class MACE(CategoricalAggregator):
    r"""MACE (Multi-Annotator Competence Estimation).

    Worker :math:`w` answers competently (gives the true class) with probability :math:`\theta_w`; otherwise
    it "spams" and draws a class from its own strategy :math:`\xi_w`. So
    :math:`P(l \mid z = k) = \theta_w [l = k] + (1 - \theta_w)\,\xi_{w,l}`. EM alternates the posterior over
    true classes (and, per answer, over "was competent") with smoothed updates
    :math:`\theta_w = (\mathbb{E}[\#\text{competent}] + a) / (n_w + a + b)` and
    :math:`\xi_{w,l} \propto \mathbb{E}[\#\text{spam with } l] + c` (Beta(a, b) / Dirichlet(c) pseudo-counts).

    The first of ``n_restarts`` runs starts from majority vote; the others start from random competences and
    strategies drawn from ``np.random.default_rng(seed)``. The run with the best log-likelihood wins, so the
    result is deterministic for a given ``seed``. Each run stops after ``n_iter`` steps or when the mean
    log-likelihood per answer improves by less than ``tol``; ``loss_history_`` is the winning run's.
    ``skills_`` are the competences :math:`\theta_w`, ``spamming_`` the ``(workers, classes)`` strategies,
    ``errors_`` the implied ``(workers, true, observed)`` confusion matrices.

    Reference: D. Hovy, T. Berg-Kirkpatrick, A. Vaswani and E. Hovy, "Learning Whom to Trust with MACE",
    NAACL-HLT 2013, pp. 1120–1130, https://aclanthology.org/N13-1132.

    >>> from truthloop.consolidation import Answers, MACE
    >>> rows = [("t1", "a", "x"), ("t1", "b", "x"), ("t1", "c", "y"), ("t2", "a", "y"), ("t2", "b", "y")]
    >>> MACE(seed=0).fit_predict(Answers.from_records(rows))
    {'t1': 'x', 't2': 'y'}
    """

    spamming_: FloatArray
    priors_: FloatArray
    errors_: FloatArray

    def __init__(
        self,
        n_iter: int = 50,
        tol: float = 1e-5,
        n_restarts: int = 10,
        alpha: float = 0.5,
        beta: float = 0.5,
        smoothing: float = 0.1,
        seed: int | None = 0,
    ) -> None:
        if n_iter < 0 or tol < 0 or n_restarts < 1:
            raise ConsolidationError("n_iter must be >= 0, tol >= 0 and n_restarts >= 1")
        if alpha <= 0 or beta <= 0 or smoothing < 0:
            raise ConsolidationError("alpha and beta must be > 0 and smoothing >= 0")
        self.n_iter = n_iter
        self.tol = tol
        self.n_restarts = n_restarts
        self.alpha = alpha
        self.beta = beta
        self.smoothing = smoothing
        self.seed = seed

    @staticmethod
    def _confusions(theta: FloatArray, xi: FloatArray) -> FloatArray:
        k = xi.shape[1]
        errors = (1 - theta)[:, None, None] * xi[:, None, :] + theta[:, None, None] * np.eye(k)[None, :, :]
        return np.clip(errors, EPS, 1)

    def _m_step(
        self, design: Design, posteriors: FloatArray, theta: FloatArray, xi: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        own = posteriors[design.task, design.label]  # P(true class == the answer)
        competent_part = theta[design.worker]
        spam_part = (1 - theta[design.worker]) * xi[design.worker, design.label]
        competent = own * competent_part / np.maximum(competent_part + spam_part, EPS)
        theta = (design.worker_sum(competent) + self.alpha) / (design.worker_counts + self.alpha + self.beta)
        spam = wsum(design.worker * design.k + design.label, 1 - competent, design.n_workers * design.k).reshape(
            design.n_workers, design.k
        )
        spam += self.smoothing
        xi = spam / np.maximum(spam.sum(axis=1, keepdims=True), EPS)
        return np.clip(theta, EPS, 1 - EPS), xi

    def _run(
        self, design: Design, posteriors: FloatArray, theta: FloatArray, xi: FloatArray, gold: tuple[IntArray, IntArray]
    ) -> tuple[float, FloatArray, FloatArray, FloatArray, FloatArray, list[float]]:
        history: list[float] = []
        priors = np.clip(posteriors.mean(axis=0), EPS, 1)
        loss = -np.inf
        for _ in range(self.n_iter):
            log_errors = np.log(self._confusions(theta, xi))
            posteriors, normaliser = normalize_log(np.log(priors / priors.sum()) + design.class_loglik(log_errors))
            posteriors = self._clamp(posteriors, *gold)
            theta, xi = self._m_step(design, posteriors, theta, xi)
            priors = np.clip(posteriors.mean(axis=0), EPS, 1)
            new_loss = float(normaliser.sum() / design.n)
            history.append(new_loss)
            if new_loss - loss < self.tol:
                break
            loss = new_loss
        final = history[-1] if history else -np.inf
        return final, posteriors, theta, xi, priors / priors.sum(), history

    def _fit(self, design: Design, gold_tasks: IntArray, gold_classes: IntArray) -> tuple[FloatArray, FloatArray]:
        rng = np.random.default_rng(self.seed)
        gold = (gold_tasks, gold_classes)
        start = self._clamp(self._majority(design), gold_tasks, gold_classes)
        theta0 = np.full(design.n_workers, 0.5)
        xi0 = np.full((design.n_workers, design.k), 1.0 / design.k)
        theta, xi = self._m_step(design, start, theta0, xi0)
        best = self._run(design, start, theta, xi, gold)
        for _ in range(self.n_restarts - 1):
            theta = rng.uniform(0.3, 0.9, size=design.n_workers)
            xi = rng.dirichlet(np.ones(design.k), size=design.n_workers)
            uniform = np.full((design.n_tasks, design.k), 1.0 / design.k)
            candidate = self._run(design, uniform, theta, xi, gold)
            if candidate[0] > best[0]:
                best = candidate
        _, posteriors, theta, xi, priors, history = best
        self.loss_history_ = history
        self.spamming_ = xi
        self.priors_ = priors
        self.errors_ = self._confusions(theta, xi)
        return posteriors, theta
