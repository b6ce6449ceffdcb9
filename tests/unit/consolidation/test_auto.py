"""AutoSelect: collapse guard, cross-validated choice, small-data fallback, determinism."""

from __future__ import annotations

import math

import numpy as np

from truthloop.consolidation import Answers, AutoSelect, CategoricalAggregator, MajorityVote
from truthloop.consolidation._base import Design, FloatArray, IntArray
from truthloop.consolidation.methods import DEFAULT_METHOD, make_aggregator


class AlwaysFirst(CategoricalAggregator):
    """Labels every task with the first class: a collapsed model."""

    def _fit(self, design: Design, gold_tasks: IntArray, gold_classes: IntArray) -> tuple[FloatArray, FloatArray]:
        posteriors = np.zeros((design.n_tasks, design.k))
        posteriors[:, 0] = 1.0
        return posteriors, np.zeros(design.n_workers)


class LeastVoted(CategoricalAggregator):
    """Labels every task with its least-voted given class: healthy class shares, poor agreement."""

    def _fit(self, design: Design, gold_tasks: IntArray, gold_classes: IntArray) -> tuple[FloatArray, FloatArray]:
        votes = design.counts()
        votes[votes == 0] = np.inf
        posteriors = np.zeros_like(votes)
        posteriors[np.arange(design.n_tasks), votes.argmin(axis=1)] = 1.0
        return posteriors, np.zeros(design.n_workers)


def _answers(n_tasks: int = 60, seed: int = 0) -> Answers:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, n_tasks)
    rows = []
    for t in range(n_tasks):
        for w in range(5):
            label = truth[t] if rng.random() < 0.75 else rng.integers(0, 3)
            rows.append((t, w, int(label)))
    return Answers.from_records(rows)


def test_collapsed_candidates_are_rejected() -> None:
    # GIVEN a collapsed model listed first
    model = AutoSelect(candidates=(AlwaysFirst, MajorityVote)).fit(_answers())
    # THEN it is never scored and majority vote wins
    assert model.chosen_ == 1
    assert math.isnan(model.scores_[0]) and 0 < model.scores_[1] <= 1


def test_the_candidate_whose_consensus_predicts_held_out_answers_wins() -> None:
    model = AutoSelect(candidates=(LeastVoted, MajorityVote)).fit(_answers())
    assert model.chosen_ == 1
    assert model.scores_[1] > model.scores_[0]
    assert np.array_equal(model.proba_matrix_, MajorityVote().fit(_answers()).proba_matrix_)


def test_small_batches_use_the_first_candidate_without_cross_validation() -> None:
    model = AutoSelect(candidates=(LeastVoted, MajorityVote), min_tasks=100).fit(_answers(n_tasks=20))
    assert model.chosen_ == 0 and all(math.isnan(s) for s in model.scores_)


def test_default_is_auto_and_deterministic() -> None:
    assert DEFAULT_METHOD == "auto"
    answers = _answers(n_tasks=80, seed=3)
    first, second = make_aggregator().fit(answers), make_aggregator().fit(answers)
    assert isinstance(first, AutoSelect)
    assert first.scores_ == second.scores_ and np.array_equal(first.proba_matrix_, second.proba_matrix_)
    assert AutoSelect().fit(Answers.from_records([])).labels_ == {}
