"""Vote-counting aggregators: majority vote and Wawa."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

import numpy as np

from truthloop.consolidation._base import CategoricalAggregator, Design, FloatArray, IntArray

__all__ = ["MajorityVote", "Wawa", "accuracy_against"]


def accuracy_against(design: Design, label_indices: IntArray) -> FloatArray:
    """Per worker, the share of their answers that equal ``label_indices`` of the task (0 for idle workers)."""
    hits = (design.label == label_indices[design.task]).astype(np.float64)
    correct = design.worker_sum(hits)
    return np.divide(correct, design.worker_counts, out=np.zeros_like(correct), where=design.worker_counts > 0)


class MajorityVote(CategoricalAggregator):
    """Majority vote: each task gets the label most workers gave it.

    ``probas_`` are vote shares; ties go to the first class in ``classes_`` (classes are sorted), never to a
    random one. With ``skills`` (``{worker: weight}``) the vote is weighted; workers missing from it get
    ``default_skill``. ``skills_`` after fitting is each worker's agreement with the majority label.
    Gold tasks are clamped to their known label.

    The rule is as old as juries (Condorcet, 1785); as a crowdsourcing baseline see Sheng, Provost and
    Ipeirotis, "Get another label?", KDD 2008, https://doi.org/10.1145/1401890.1401965.

    >>> from truthloop.consolidation import Answers, MajorityVote
    >>> answers = Answers.from_records([("t1", "a", "cat"), ("t1", "b", "cat"), ("t1", "c", "dog")])
    >>> MajorityVote().fit_predict(answers)
    {'t1': 'cat'}
    """

    def __init__(self, skills: Mapping[Hashable, float] | None = None, default_skill: float = 1.0) -> None:
        self.skills = None if skills is None else dict(skills)
        self.default_skill = default_skill

    def _fit(self, design: Design, gold_tasks: IntArray, gold_classes: IntArray) -> tuple[FloatArray, FloatArray]:
        weights = None
        if self.skills is not None:
            weights = np.array([self.skills.get(w, self.default_skill) for w in self.workers_], dtype=np.float64)
        posteriors = self._clamp(self._majority(design, weights), gold_tasks, gold_classes)
        return posteriors, accuracy_against(design, posteriors.argmax(axis=1))


class Wawa(CategoricalAggregator):
    """Worker Agreement With Aggregate: a majority vote weighted by each worker's agreement with majority vote.

    Step 1 runs a plain majority vote; step 2 sets each worker's skill to the share of their answers that agree
    with it; step 3 votes again, each answer weighted by its worker's skill. ``skills_`` are those agreements.
    A heuristic rather than a probabilistic model; it is the ``Wawa`` baseline of Crowd-Kit (Ustalov, Pavlichenko
    and Tseitlin, "Learning from Crowds with Crowd-Kit", JOSS 9(96), 2024, https://doi.org/10.21105/joss.06227).

    >>> from truthloop.consolidation import Answers, Wawa
    >>> rows = [("t1", "a", "x"), ("t1", "b", "y"), ("t2", "a", "x"), ("t2", "b", "x"), ("t2", "c", "y")]
    >>> Wawa().fit_predict(Answers.from_records(rows))["t1"]
    'x'
    """

    def _fit(self, design: Design, gold_tasks: IntArray, gold_classes: IntArray) -> tuple[FloatArray, FloatArray]:
        first = self._clamp(self._majority(design), gold_tasks, gold_classes)
        skills = accuracy_against(design, first.argmax(axis=1))
        posteriors = self._clamp(self._majority(design, skills), gold_tasks, gold_classes)
        return posteriors, skills
