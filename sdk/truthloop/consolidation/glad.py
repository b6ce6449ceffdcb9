"""GLAD: worker ability times task easiness."""

from __future__ import annotations

import numpy as np

from truthloop.consolidation._base import EPS, CategoricalAggregator, Design, FloatArray, IntArray, normalize_log, wsum
from truthloop.exceptions import ConsolidationError

__all__ = ["GLAD"]


def _log_sigmoid(x: FloatArray) -> FloatArray:
    return -np.logaddexp(0.0, -x)


class GLAD(CategoricalAggregator):
    r"""GLAD (Generative model of Labels, Abilities, and Difficulties).

    Worker :math:`w` has ability :math:`\alpha_w \in \mathbb{R}`, task :math:`t` has inverse difficulty
    :math:`\beta_t = e^{u_t} > 0`; the worker answers correctly with probability
    :math:`\sigma(\alpha_w \beta_t)` and otherwise picks one of the :math:`K - 1` wrong classes uniformly.
    EM starts from majority-vote posteriors. The M-step maximises the expected complete log-likelihood plus
    Gaussian priors :math:`\alpha_w \sim N(\mu_\alpha, 1)`, :math:`u_t \sim N(\mu_u, 1)` by ``m_step_iter``
    alternating diagonal Newton steps (vectorised over all workers and tasks). Class priors are uniform, as in
    the paper, unless ``learn_priors`` re-estimates them from the posteriors. Stops after ``n_iter`` EM steps
    or when the mean log-posterior per answer changes by less than ``tol``. ``skills_`` are the abilities
    :math:`\alpha_w`; ``betas_`` the task easiness values.

    Reference: J. Whitehill, P. Ruvolo, T. Wu, J. Bergsma and J. Movellan, "Whose Vote Should Count More:
    Optimal Integration of Labels from Labelers of Unknown Expertise", NeurIPS 22, 2009
    (https://papers.nips.cc/paper/3644-whose-vote-should-count-more-optimal-integration-of-labels-from-labelers-of-unknown-expertise).

    >>> from truthloop.consolidation import Answers, GLAD
    >>> rows = [("t1", "a", "x"), ("t1", "b", "x"), ("t1", "c", "y"), ("t2", "a", "y"), ("t2", "b", "y")]
    >>> GLAD().fit_predict(Answers.from_records(rows))
    {'t1': 'x', 't2': 'y'}
    """

    betas_: FloatArray
    priors_: FloatArray

    def __init__(
        self,
        n_iter: int = 100,
        tol: float = 1e-5,
        m_step_iter: int = 5,
        alpha_prior_mean: float = 1.0,
        log_beta_prior_mean: float = 0.0,
        learn_priors: bool = False,
    ) -> None:
        if n_iter < 0 or m_step_iter < 1 or tol < 0:
            raise ConsolidationError("n_iter must be >= 0, m_step_iter >= 1 and tol >= 0")
        self.n_iter = n_iter
        self.tol = tol
        self.m_step_iter = m_step_iter
        self.alpha_prior_mean = alpha_prior_mean
        self.log_beta_prior_mean = log_beta_prior_mean
        self.learn_priors = learn_priors

    def _log_confusions(self, design: Design, alpha: FloatArray, u: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Per answer: log P(answer correct) and log P(this specific wrong class).

        One log-sigmoid per answer: log sigmoid(-x) = log sigmoid(x) - x."""
        x = alpha[design.worker] * np.exp(u[design.task])
        right = _log_sigmoid(x)
        wrong = right - x - (np.log(design.k - 1) if design.k > 1 else 0.0)
        return right, wrong

    def _loglik(self, design: Design, alpha: FloatArray, u: FloatArray, log_priors: FloatArray) -> FloatArray:
        right, wrong = self._log_confusions(design, alpha, u)
        base = wsum(design.task, wrong, design.n_tasks)
        bonus = wsum(design.task * design.k + design.label, right - wrong, design.n_tasks * design.k).reshape(
            design.n_tasks, design.k
        )
        return log_priors + base[:, None] + bonus

    def _objective(self, design: Design, q: FloatArray, alpha: FloatArray, u: FloatArray) -> tuple[float, FloatArray]:
        """The M-step objective at ``(alpha, u)``, and per answer the log-probability that it is correct (what
        the next gradient needs, so a step accepted here costs no second log-sigmoid pass)."""
        right, wrong = self._log_confusions(design, alpha, u)
        value = float(np.sum(q * right + (1 - q) * wrong))
        value -= 0.5 * float(np.sum((alpha - self.alpha_prior_mean) ** 2))
        value -= 0.5 * float(np.sum((u - self.log_beta_prior_mean) ** 2))
        return value, right

    def _m_step(self, design: Design, q: FloatArray, alpha: FloatArray, u: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Diagonal Newton ascent on α then u; a step that lowers the objective is halved (at most 4 times).

        The objective at the current point, and its per-answer log-probabilities, are carried from the last
        accepted step instead of recomputed (the same values: the same arithmetic on the same arrays)."""
        current, right = self._objective(design, q, alpha, u)
        for _ in range(self.m_step_iter):
            for target in ("alpha", "u"):
                beta = np.exp(u[design.task])
                a = alpha[design.worker]
                x = a * beta
                s = np.exp(right)
                residual = q - s
                curvature = s * (1 - s)
                if target == "alpha":
                    grad = design.worker_sum(residual * beta) - (alpha - self.alpha_prior_mean)
                    hess = design.worker_sum(curvature * beta * beta) + 1.0
                    step = grad / hess
                else:
                    grad = wsum(design.task, residual * x, design.n_tasks)
                    grad -= u - self.log_beta_prior_mean
                    hess = wsum(design.task, curvature * x * x, design.n_tasks) + 1.0
                    step = grad / hess
                scale = 1.0
                for _attempt in range(5):
                    if target == "alpha":
                        new_alpha, new_u = alpha + scale * step, u
                    else:
                        new_alpha, new_u = alpha, np.clip(u + scale * step, -10.0, 10.0)
                    value, new_right = self._objective(design, q, new_alpha, new_u)
                    if value >= current - 1e-12:
                        alpha, u, current, right = new_alpha, new_u, value, new_right
                        break
                    scale /= 2
        return alpha, u

    def _fit(self, design: Design, gold_tasks: IntArray, gold_classes: IntArray) -> tuple[FloatArray, FloatArray]:
        posteriors = self._clamp(self._majority(design), gold_tasks, gold_classes)
        alpha = np.full(design.n_workers, self.alpha_prior_mean, dtype=np.float64)
        u = np.full(design.n_tasks, self.log_beta_prior_mean, dtype=np.float64)
        priors = np.full(design.k, 1.0 / design.k)
        q = posteriors[design.task, design.label]
        alpha, u = self._m_step(design, q, alpha, u)
        loss = -np.inf
        for _ in range(self.n_iter):
            posteriors, normaliser = normalize_log(self._loglik(design, alpha, u, np.log(priors / priors.sum())))
            posteriors = self._clamp(posteriors, gold_tasks, gold_classes)
            if self.learn_priors:
                priors = np.clip(posteriors.mean(axis=0), EPS, 1)
            q = posteriors[design.task, design.label]
            alpha, u = self._m_step(design, q, alpha, u)
            penalty = 0.5 * float(
                np.sum((alpha - self.alpha_prior_mean) ** 2) + np.sum((u - self.log_beta_prior_mean) ** 2)
            )
            new_loss = float((normaliser.sum() - penalty) / design.n)
            self.loss_history_.append(new_loss)
            if abs(new_loss - loss) < self.tol:
                break
            loss = new_loss
        self.betas_ = np.exp(u)
        self.priors_ = priors / priors.sum()
        return posteriors, alpha
