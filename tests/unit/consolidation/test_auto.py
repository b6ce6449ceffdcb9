"""AutoSelect: collapse guard, cross-validated choice, small-data fallback, determinism."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from truthloop.consolidation import Answers, AutoSelect, CategoricalAggregator, MajorityVote
from truthloop.consolidation._base import Design, FloatArray, IntArray
from truthloop.consolidation.auto import uncorroborated
from truthloop.consolidation.methods import DEFAULT_METHOD, make_aggregator
from truthloop.exceptions import ConsolidationError


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


class FlipFirstTask(CategoricalAggregator):
    """Majority vote's vote shares, except that task 0 is labelled with the next class: one departure."""

    def _fit(self, design: Design, gold_tasks: IntArray, gold_classes: IntArray) -> tuple[FloatArray, FloatArray]:
        votes = design.counts()
        posteriors = votes / votes.sum(axis=1, keepdims=True)
        posteriors[0] = 0.0
        posteriors[0, (int(votes[0].argmax()) + 1) % design.k] = 1.0
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


@pytest.mark.parametrize("above", [True, False], ids=["gain-above-margin", "gain-within-margin"])
def test_a_challenger_must_beat_the_first_candidate_by_the_margin(above: bool) -> None:
    # GIVEN the held-out agreement of LeastVoted (first) and MajorityVote (challenger)
    probe = AutoSelect(candidates=(LeastVoted, MajorityVote), min_worker_answers=0).fit(_answers())
    gain = probe.scores_[1] - probe.scores_[0]
    assert gain > 0
    # WHEN the margin is just below, or exactly, that gain
    margin = gain - 1e-9 if above else gain
    model = AutoSelect(candidates=(LeastVoted, MajorityVote), min_worker_answers=0, margin=margin).fit(_answers())
    # THEN the challenger wins only when its gain exceeds the margin
    assert model.chosen_ == (1 if above else 0)


def test_small_batches_fall_back_to_majority_vote_without_fitting_candidates() -> None:
    # GIVEN 20 tasks, fewer than min_tasks
    answers = _answers(n_tasks=20)
    # WHEN
    model = AutoSelect(candidates=(LeastVoted, MajorityVote), min_tasks=100).fit(answers)
    # THEN no candidate is scored and the result is majority vote's
    assert model.chosen_ == -1 and all(math.isnan(s) for s in model.scores_)
    assert model.reason_ == "majority vote: too few tasks (20 < min_tasks=100)"
    assert isinstance(model.model_, MajorityVote)
    assert np.array_equal(model.proba_matrix_, MajorityVote().fit(answers).proba_matrix_)


def test_workers_with_few_answers_fall_back_to_majority_vote() -> None:
    # GIVEN 60 tasks where every answer comes from a different worker (one answer per worker)
    answers = Answers.from_records([(t, f"{w}-{n}", label) for n, (t, w, label) in enumerate(_answers().records())])
    # WHEN
    model = AutoSelect().fit(answers)
    # THEN
    assert AutoSelect.typical_worker_answers(Design(answers, answers.n_classes)) == 1.0
    assert model.chosen_ == -1
    assert model.reason_ == "majority vote: too few answers per worker (1 < min_worker_answers=20)"
    assert model.labels_ == MajorityVote().fit(answers).labels_


def test_typical_worker_answers_is_the_answer_weighted_median() -> None:
    # GIVEN worker a with 5 answers, b with 2, c with 1: per answer 5,5,5,5,5,2,2,1 → median 5
    rows = [(t, "a", 0) for t in range(5)] + [(0, "b", 0), (1, "b", 1), (2, "c", 1)]
    answers = Answers.from_records(rows)
    assert AutoSelect.typical_worker_answers(Design(answers, answers.n_classes)) == 5.0
    assert AutoSelect.typical_worker_answers(Design(Answers.from_records([]), 0)) == 0.0


@pytest.mark.parametrize("n_objects", [1, 2, 3])
def test_tiny_batches_never_override_the_majority(n_objects: int) -> None:
    # GIVEN every possible batch of n objects × 3 workers × 2 labels (the post-annotation Lambda's small batches)
    for combo in itertools.product(["negative", "positive"], repeat=3 * n_objects):
        answers = Answers.from_records([(f"o{i // 3}", f"w{i % 3}", label) for i, label in enumerate(combo)])
        # WHEN the default method consolidates them
        model = make_aggregator().fit(answers)
        # THEN labels and confidences are majority vote's: no skill model fitted on 1-3 answers per worker
        assert model.probas_ == MajorityVote().fit(answers).probas_, combo


def test_enough_data_fits_and_scores_the_candidates() -> None:
    model = AutoSelect().fit(_answers(n_tasks=80, seed=5))
    assert model.chosen_ in (0, 1) and not math.isnan(model.scores_[model.chosen_])
    assert model.reason_ in ("best held-out agreement", "the other candidates collapsed")


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ConsolidationError, match="min_worker_answers"):
        AutoSelect(min_worker_answers=-1)
    with pytest.raises(ConsolidationError, match="margin"):
        AutoSelect(margin=-0.1)
    with pytest.raises(ConsolidationError, match="at least one candidate"):
        AutoSelect(candidates=())


def test_default_is_auto_and_deterministic() -> None:
    assert DEFAULT_METHOD == "auto"
    answers = _answers(n_tasks=80, seed=3)
    first, second = make_aggregator().fit(answers), make_aggregator().fit(answers)
    assert isinstance(first, AutoSelect)
    assert first.scores_ == second.scores_ and np.array_equal(first.proba_matrix_, second.proba_matrix_)
    assert AutoSelect().fit(Answers.from_records([])).labels_ == {}


@pytest.mark.parametrize(
    ("settings", "kept"),
    [
        ({"corroborators": ()}, False),
        ({"corroborators": (FlipFirstTask,)}, True),
        ({"corroborators": (), "corroborate": False}, True),
    ],
    ids=["no-other-model-reverts", "another-model-corroborates", "corroboration-off"],
)
def test_a_departure_from_majority_vote_needs_another_model_to_make_it(settings: dict[str, object], kept: bool) -> None:
    # GIVEN a winner that departs from majority vote on task 0 only
    answers = _answers()
    majority = MajorityVote().fit(answers)
    # WHEN AutoSelect fits it with or without a corroborating model
    model = AutoSelect(candidates=(FlipFirstTask,), min_worker_answers=0, **settings).fit(answers)
    # THEN the departure is counted, and kept only when corroborated (or when corroboration is off)
    assert model.departures_ == 1
    assert bool(model.label_indices_[0] != majority.label_indices_[0]) is kept
    assert np.array_equal(model.label_indices_[1:], majority.label_indices_[1:])
    if kept:
        assert model.reverted_ == 0 and "reverted" not in model.reason_
    else:
        # AND a reverted task carries majority vote's vote shares, and the reason says so
        assert model.reverted_ == 1
        assert np.array_equal(model.proba_matrix_, majority.proba_matrix_)
        assert (
            model.reason_
            == "only candidate; 1 of its 1 departures from majority vote reverted (no other model made them)"
        )


def test_corroborators_are_fitted_only_while_a_departure_lacks_support() -> None:
    # GIVEN a winner departing on tasks 2 and 3; the first other model backs task 3, the second task 2
    chosen, majority = np.array([0, 1, 2, 0]), np.array([0, 1, 1, 1])
    calls: list[str] = []

    def second() -> IntArray:
        calls.append("second")
        return np.array([9, 9, 2, 9])

    def never() -> IntArray:
        raise AssertionError("fitted although every departure was backed")

    # WHEN
    unbacked = uncorroborated(chosen, majority, [np.array([9, 9, 9, 0]), second, never])
    # THEN no departure is left unbacked, and the model after the last one needed is never fitted
    assert unbacked.tolist() == [False, False, False, False] and calls == ["second"]
    # AND without the second model task 2 stays unbacked
    assert uncorroborated(chosen, majority, [np.array([9, 9, 9, 0])]).tolist() == [False, False, True, False]
