"""MACE: workers are either competent or spamming with a personal strategy."""

from __future__ import annotations

from typing import Literal

import numpy as np

from truthloop.consolidation._base import EPS, CategoricalAggregator, Design, FloatArray, IntArray, normalize_log, wsum
from truthloop.exceptions import ConsolidationError

__all__ = ["MACE", "digamma"]


def digamma(x: FloatArray) -> FloatArray:
    """ψ(x) for positive ``x`` (numpy only): shift to x ≥ 6 with ψ(x) = ψ(x + 1) − 1/x, then the asymptotic series."""
    value = np.array(x, dtype=np.float64, copy=True)
    result = np.zeros_like(value)
    for _ in range(6):  # at most six shifts, whatever the size of ``x``
        small = value < 6
        if not small.any():
            break
        result[small] -= 1.0 / value[small]
        value[small] += 1.0
    inv2 = 1.0 / (value * value)
    series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 / 132))))
    out: FloatArray = result + np.log(value) - 0.5 / value - series
    return out


class MACE(CategoricalAggregator):
    r"""MACE (Multi-Annotator Competence Estimation).

    Worker :math:`w` answers competently (gives the true class) with probability :math:`\theta_w`; otherwise
    it "spams" and draws a class from its own strategy :math:`\xi_w`. So
    :math:`P(l \mid z = k) = \theta_w [l = k] + (1 - \theta_w)\,\xi_{w,l}`. EM alternates the posterior over
    true classes (and, per answer, over "was competent") with smoothed updates
    :math:`\theta_w = (\mathbb{E}[\#\text{competent}] + a) / (n_w + a + b)` and
    :math:`\xi_{w,l} \propto \mathbb{E}[\#\text{spam with } l] + c` (Beta(a, b) / Dirichlet(c) pseudo-counts).

    ``method="em"`` (default) uses those point estimates; ``method="vb"`` uses the variational-Bayes updates of
    the paper (geometric means ``exp(ψ(count + prior) − ψ(total))`` under the Beta/Dirichlet posteriors).

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
        method: Literal["vb", "em"] = "em",
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
        if method not in ("vb", "em"):
            raise ConsolidationError(f"method must be 'vb' or 'em', got {method!r}")
        self.method = method

    @staticmethod
    def _confusions(theta: FloatArray, xi: FloatArray, spam: FloatArray | None = None) -> FloatArray:
        k = xi.shape[1]
        spamming = (1 - theta) if spam is None else spam
        errors = spamming[:, None, None] * xi[:, None, :] + theta[:, None, None] * np.eye(k)[None, :, :]
        return np.clip(errors, EPS, 1)

    def _m_step(
        self, design: Design, posteriors: FloatArray, theta: FloatArray, xi: FloatArray, spam_weight: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Expected counts → ``(competence weight, spamming weight, strategy)`` for the next E-step.

        EM uses the smoothed point estimates (the two weights sum to 1); variational Bayes uses the geometric
        means under the Beta/Dirichlet posteriors, ``exp(ψ(count + prior) − ψ(total))``, which shrink workers
        with few answers harder.
        """
        own = posteriors[design.task, design.label]  # P(true class == the answer)
        competent_part = theta[design.worker]
        spam_part = spam_weight[design.worker] * xi[design.worker, design.label]
        competent = own * competent_part / np.maximum(competent_part + spam_part, EPS)
        competent_counts = design.worker_sum(competent)
        spam = wsum(design.worker * design.k + design.label, 1 - competent, design.n_workers * design.k).reshape(
            design.n_workers, design.k
        )
        spam += self.smoothing
        total = design.worker_counts + self.alpha + self.beta
        if self.method == "vb":
            theta = np.exp(digamma(competent_counts + self.alpha) - digamma(total))
            spam_weight = np.exp(digamma(design.worker_counts - competent_counts + self.beta) - digamma(total))
            xi = np.exp(digamma(np.maximum(spam, EPS)) - digamma(spam.sum(axis=1, keepdims=True)))
            return theta, xi, spam_weight
        theta = np.clip((competent_counts + self.alpha) / total, EPS, 1 - EPS)
        xi = spam / np.maximum(spam.sum(axis=1, keepdims=True), EPS)
        return theta, xi, 1 - theta

    def _run(
        self, design: Design, posteriors: FloatArray, theta: FloatArray, xi: FloatArray, gold: tuple[IntArray, IntArray]
    ) -> tuple[float, FloatArray, FloatArray, FloatArray, FloatArray, list[float], FloatArray]:
        history: list[float] = []
        priors = np.clip(posteriors.mean(axis=0), EPS, 1)
        loss = -np.inf
        spam_weight = 1 - theta
        for _ in range(self.n_iter):
            log_errors = np.log(self._confusions(theta, xi, spam_weight))
            posteriors, normaliser = normalize_log(np.log(priors / priors.sum()) + design.class_loglik(log_errors))
            posteriors = self._clamp(posteriors, *gold)
            theta, xi, spam_weight = self._m_step(design, posteriors, theta, xi, spam_weight)
            priors = np.clip(posteriors.mean(axis=0), EPS, 1)
            new_loss = float(normaliser.sum() / design.n)
            history.append(new_loss)
            if new_loss - loss < self.tol:
                break
            loss = new_loss
        final = history[-1] if history else -np.inf
        return final, posteriors, theta, xi, priors / priors.sum(), history, spam_weight

    def _fit(self, design: Design, gold_tasks: IntArray, gold_classes: IntArray) -> tuple[FloatArray, FloatArray]:
        rng = np.random.default_rng(self.seed)
        gold = (gold_tasks, gold_classes)
        start = self._clamp(self._majority(design), gold_tasks, gold_classes)
        theta0 = np.full(design.n_workers, 0.5)
        xi0 = np.full((design.n_workers, design.k), 1.0 / design.k)
        theta, xi, _ = self._m_step(design, start, theta0, xi0, 1 - theta0)
        best = self._run(design, start, theta, xi, gold)
        for _ in range(self.n_restarts - 1):
            theta = rng.uniform(0.3, 0.9, size=design.n_workers)
            xi = rng.dirichlet(np.ones(design.k), size=design.n_workers)
            uniform = np.full((design.n_tasks, design.k), 1.0 / design.k)
            candidate = self._run(design, uniform, theta, xi, gold)
            if candidate[0] > best[0]:
                best = candidate
        _, posteriors, theta, xi, priors, history, spam_weight = best
        self.loss_history_ = history
        self.spamming_ = xi
        self.priors_ = priors
        self.errors_ = self._confusions(theta, xi, spam_weight)
        return posteriors, theta
