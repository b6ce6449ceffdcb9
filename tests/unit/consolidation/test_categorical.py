"""Categorical aggregators: hand-computed cases, gold clamping, edge cases, determinism."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truthloop.consolidation import (
    GLAD,
    MACE,
    Answers,
    CategoricalAggregator,
    DawidSkene,
    MajorityVote,
    OneCoinDawidSkene,
    Wawa,
)
from truthloop.consolidation.methods import METHODS, make_aggregator
from truthloop.exceptions import ConsolidationError

ALL: list[Callable[[], CategoricalAggregator]] = list(METHODS.values())
IDS = list(METHODS)


def _synthetic(seed: int, n_tasks: int = 300, n_workers: int = 12, k: int = 3) -> tuple[Answers, np.ndarray]:
    """Workers 0-3 are good (90%), 4-11 mediocre (60%); five answers per task."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, k, n_tasks)
    accuracy = np.where(np.arange(n_workers) < 4, 0.9, 0.6)
    records = []
    for t in range(n_tasks):
        for w in rng.choice(n_workers, 5, replace=False):
            label = truth[t] if rng.random() < accuracy[w] else (truth[t] + rng.integers(1, k)) % k
            records.append((f"t{t}", f"w{w}", int(label)))
    return Answers.from_records(records), truth


def test_majority_vote_hand_computed() -> None:
    # GIVEN two tasks: 2 of 3 say cat; 1 of 2 says dog (a tie)
    answers = Answers.from_records(
        [("t1", "a", "cat"), ("t1", "b", "cat"), ("t1", "c", "dog"), ("t2", "a", "dog"), ("t2", "b", "cat")]
    )
    # WHEN
    model = MajorityVote().fit(answers)
    # THEN the vote shares are the probabilities and the tie goes to the first (sorted) class
    assert model.probas_["t1"] == pytest.approx({"cat": 2 / 3, "dog": 1 / 3})
    assert model.labels_ == {"t1": "cat", "t2": "cat"}
    assert model.skills_ == pytest.approx({"a": 0.5, "b": 1.0, "c": 0.0})


def test_weighted_majority_vote() -> None:
    answers = Answers.from_records([("t", "a", "x"), ("t", "b", "y"), ("t", "c", "y")])
    assert MajorityVote(skills={"a": 3.0}).fit_predict(answers) == {"t": "x"}


def test_wawa_weights_by_agreement_with_majority() -> None:
    # GIVEN worker c always disagrees with the majority, a and b split on t3
    rows = [("t1", "a", 1), ("t1", "b", 1), ("t1", "c", 0), ("t2", "a", 0), ("t2", "b", 0), ("t2", "c", 1)]
    rows += [("t3", "a", 1), ("t3", "b", 0)]
    model = Wawa().fit(Answers.from_records(rows))
    # THEN skills are agreements with majority vote (the t3 tie goes to class 0, so a misses it) …
    assert model.skills_ == pytest.approx({"a": 2 / 3, "b": 1.0, "c": 0.0})
    # … and the weighted vote follows the more skilled worker
    assert model.labels_["t3"] == 0


def test_dawid_skene_hand_computed_single_step() -> None:
    # GIVEN one task, two workers who disagree, no EM steps: posteriors are the majority-vote shares
    answers = Answers.from_records([("t", "a", "x"), ("t", "b", "y")])
    model = DawidSkene(n_iter=0).fit(answers)
    assert model.proba_matrix_.tolist() == [[0.5, 0.5]]
    assert model.loss_history_ == []


def test_dawid_skene_mle_e_step_matches_hand_computation() -> None:
    # GIVEN fixed confusion matrices, one E-step is Bayes' rule: p(x) ∝ prior(x) · Π π(x, answer)
    rows = [("t1", "a", "x"), ("t1", "b", "x"), ("t1", "c", "y"), ("t2", "a", "y"), ("t2", "b", "y"), ("t2", "c", "y")]
    model = DawidSkene(n_iter=1, prior_strength=0).fit(Answers.from_records(rows))
    # M-step from MV posteriors t1=(2/3, 1/3), t2=(0, 1): priors (1/3, 2/3)
    # expected counts (true × observed): a and b have x→[2/3, 0], y→[1/3, 1]; c has x→[0, 2/3], y→[0, 4/3]
    counts_a = np.array([[2 / 3, 0.0], [1 / 3, 1.0]])
    counts_c = np.array([[0.0, 2 / 3], [0.0, 4 / 3]])
    pi_a = np.clip(counts_a / counts_a.sum(1, keepdims=True), 1e-10, 1)
    pi_c = np.clip(counts_c / counts_c.sum(1, keepdims=True), 1e-10, 1)
    prior = np.array([1 / 3, 2 / 3])
    t1 = prior * pi_a[:, 0] * pi_a[:, 0] * pi_c[:, 1]
    assert model.proba_matrix_[0] == pytest.approx(t1 / t1.sum())


def test_dawid_skene_pooled_prior_m_step_hand_computed() -> None:
    # GIVEN two tasks, three workers; majority-vote posteriors t1=(2/3, 1/3) for (x, y), t2=(0, 1)
    rows = [("t1", "a", "x"), ("t1", "b", "x"), ("t1", "c", "y"), ("t2", "a", "y"), ("t2", "b", "y"), ("t2", "c", "y")]
    # WHEN one EM step runs with a pooled prior of m = 2 pseudo-answers per row
    model = DawidSkene(n_iter=1, prior_strength=2).fit(Answers.from_records(rows))
    # THEN the first M-step used counts + 2 × (pooled counts, row-normalised):
    # a, b: x→[2/3, 0], y→[1/3, 1]; c: x→[0, 2/3], y→[0, 4/3]; pooled x→[4/3, 2/3], y→[2/3, 10/3]
    pooled = np.array([[4 / 3, 2 / 3], [2 / 3, 10 / 3]])
    center = pooled / pooled.sum(1, keepdims=True)  # x→[2/3, 1/3], y→[1/6, 5/6]
    counts_a = np.array([[2 / 3, 0.0], [1 / 3, 1.0]]) + 2 * center
    counts_c = np.array([[0.0, 2 / 3], [0.0, 4 / 3]]) + 2 * center
    pi_a = counts_a / counts_a.sum(1, keepdims=True)
    pi_c = counts_c / counts_c.sum(1, keepdims=True)
    prior = np.array([1 / 3, 2 / 3])
    t1 = prior * pi_a[:, 0] * pi_a[:, 0] * pi_c[:, 1]
    t2 = prior * pi_a[:, 1] * pi_a[:, 1] * pi_c[:, 1]
    assert model.proba_matrix_[0] == pytest.approx(t1 / t1.sum())
    assert model.proba_matrix_[1] == pytest.approx(t2 / t2.sum())


def test_dawid_skene_one_coin_centred_prior_hand_computed() -> None:
    # GIVEN the same answers and the prior centred on each worker's own one-coin matrix
    rows = [("t1", "a", "x"), ("t1", "b", "x"), ("t1", "c", "y"), ("t2", "a", "y"), ("t2", "b", "y"), ("t2", "c", "y")]
    model = DawidSkene(n_iter=1, prior_strength=2, prior_center="one-coin").fit(Answers.from_records(rows))
    # THEN worker a's expected accuracy is (2/3 + 1) / 2 = 5/6, c's is (0 + 4/3) / 2 = 2/3
    counts_a = np.array([[2 / 3, 0.0], [1 / 3, 1.0]]) + 2 * np.array([[5 / 6, 1 / 6], [1 / 6, 5 / 6]])
    counts_c = np.array([[0.0, 2 / 3], [0.0, 4 / 3]]) + 2 * np.array([[2 / 3, 1 / 3], [1 / 3, 2 / 3]])
    pi_a = counts_a / counts_a.sum(1, keepdims=True)
    pi_c = counts_c / counts_c.sum(1, keepdims=True)
    t1 = np.array([1 / 3, 2 / 3]) * pi_a[:, 0] * pi_a[:, 0] * pi_c[:, 1]
    assert model.proba_matrix_[0] == pytest.approx(t1 / t1.sum())
    with pytest.raises(ConsolidationError, match="prior_center"):
        DawidSkene(prior_center="flat")  # type: ignore[arg-type]


@pytest.mark.parametrize("relative", [True, False], ids=["relative", "absolute"])
def test_dawid_skene_stops_when_the_log_likelihood_gain_is_below_tol(relative: bool) -> None:
    # GIVEN a fit that ran to (near) convergence, with its per-step mean log-likelihoods
    answers, _ = _synthetic(seed=7)
    history = DawidSkene(n_iter=100, tol=0, relative_tol=relative).fit(answers).loss_history_
    gains = np.diff(history)
    tol = 3e-3 if relative else 1e-3
    # WHEN the same fit uses tol
    model = DawidSkene(n_iter=100, tol=tol, relative_tol=relative).fit(answers)
    # THEN it stops at the first step whose gain is below tol (× |L| when relative), and not before
    threshold = tol * np.abs(np.asarray(history[1:])) if relative else np.full(len(gains), tol)
    first_small = int(np.flatnonzero(gains < threshold)[0]) + 2
    assert len(model.loss_history_) == first_small
    assert model.loss_history_ == history[:first_small]


def test_dawid_skene_default_stops_before_the_plain_mle_converges() -> None:
    answers, _ = _synthetic(seed=8)
    default = DawidSkene().fit(answers)
    mle = DawidSkene(prior_strength=0, tol=1e-9).fit(answers)
    assert 2 <= len(default.loss_history_) < len(mle.loss_history_)


@pytest.mark.parametrize("bound", [1, 300, 1 << 16, (1 << 16) + 1, 5_000_000, 1 << 40])
def test_stable_argsort_matches_numpy(bound: int) -> None:
    from truthloop.consolidation._base import stable_argsort

    keys = np.random.default_rng(bound % 97).integers(0, bound, 5000)
    assert np.array_equal(stable_argsort(keys, bound), np.argsort(keys, kind="stable"))


@pytest.mark.parametrize("factory", ALL, ids=IDS)
def test_recovers_truth_on_synthetic_data(factory: Callable[[], CategoricalAggregator]) -> None:
    # GIVEN answers from a few good and many mediocre workers
    answers, truth = _synthetic(seed=1)
    # WHEN
    model = factory().fit(answers)
    # THEN every method beats 80% and EM methods beat majority vote (or match it)
    predicted = np.array([model.labels_[f"t{t}"] for t in range(len(truth))])
    accuracy = float(np.mean(predicted == truth))
    assert accuracy > 0.8
    if not isinstance(model, (MajorityVote, Wawa)):
        mv = MajorityVote().fit(answers)
        mv_accuracy = float(np.mean(np.array([mv.labels_[f"t{t}"] for t in range(len(truth))]) == truth))
        assert accuracy >= mv_accuracy - 0.01


@pytest.mark.parametrize("factory", [DawidSkene, OneCoinDawidSkene, GLAD, MACE], ids=["ds", "ods", "glad", "mace"])
def test_em_finds_the_good_workers(factory: Callable[[], CategoricalAggregator]) -> None:
    answers, _ = _synthetic(seed=2)
    skills = factory().fit(answers).skills_
    good = np.mean([skills[f"w{w}"] for w in range(4)])
    bad = np.mean([skills[f"w{w}"] for w in range(4, 12)])
    assert good > bad


@pytest.mark.parametrize("factory", ALL, ids=IDS)
def test_empty_input_returns_early(factory: Callable[[], CategoricalAggregator]) -> None:
    model = factory().fit(Answers.from_records([]))
    assert model.labels_ == {} and model.probas_ == {} and model.skills_ == {}


@pytest.mark.parametrize("factory", ALL, ids=IDS)
@pytest.mark.parametrize(
    "rows",
    [
        [("t1", "w", "a"), ("t2", "w", "b")],  # one worker
        [("t1", "w1", "a"), ("t2", "w2", "a"), ("t1", "w3", "a")],  # one class
        [("t1", "w1", "a"), ("t2", "w2", "b"), ("t3", "w3", "a")],  # workers with one answer each
    ],
    ids=["one-worker", "one-class", "single-answer-workers"],
)
def test_edge_cases_give_finite_probabilities(
    factory: Callable[[], CategoricalAggregator], rows: list[tuple[str, str, str]]
) -> None:
    model = factory().fit(Answers.from_records(rows))
    assert np.all(np.isfinite(model.proba_matrix_))
    assert np.allclose(model.proba_matrix_.sum(axis=1), 1.0)
    # one worker or unanimous answers: the label is the answer given
    if len({r[1] for r in rows}) == 1 or len({r[2] for r in rows}) == 1:
        assert model.labels_ == {t: label for t, _, label in rows}


@pytest.mark.parametrize("factory", ALL, ids=IDS)
def test_gold_tasks_are_clamped_and_unknown_gold_labels_become_classes(
    factory: Callable[[], CategoricalAggregator],
) -> None:
    answers = Answers.from_records([("t1", "a", "x"), ("t1", "b", "x"), ("t2", "a", "y")])
    # WHEN the gold says t1 is "z", a label nobody gave, and names a task without answers
    model = factory().fit(answers, gold={"t1": "z", "t-unknown": "x"})
    # THEN
    assert model.classes_ == ["x", "y", "z"]
    assert model.labels_["t1"] == "z"
    assert model.probas_["t1"]["z"] == 1.0
    assert "t-unknown" not in model.labels_


@pytest.mark.parametrize("factory", ALL, ids=IDS)
def test_deterministic_under_a_seed(factory: Callable[[], CategoricalAggregator]) -> None:
    answers, _ = _synthetic(seed=3, n_tasks=80)
    first, second = factory().fit(answers), factory().fit(answers)
    assert np.array_equal(first.proba_matrix_, second.proba_matrix_)


def test_mace_seed_changes_only_random_restarts() -> None:
    answers, _ = _synthetic(seed=4, n_tasks=80)
    a = MACE(seed=1, n_restarts=3).fit(answers)
    b = MACE(seed=1, n_restarts=3).fit(answers)
    assert np.array_equal(a.proba_matrix_, b.proba_matrix_)
    single = MACE(n_restarts=1).fit(answers)
    assert single.loss_history_ and len(single.loss_history_) <= 50


@pytest.mark.parametrize("factory", [DawidSkene, OneCoinDawidSkene, MACE], ids=["ds", "ods", "mace"])
def test_em_log_likelihood_does_not_decrease_much(factory: Callable[[], CategoricalAggregator]) -> None:
    answers, _ = _synthetic(seed=5)
    history = factory().fit(answers).loss_history_
    assert len(history) >= 2
    assert all(b >= a - 1e-3 for a, b in itertools.pairwise(history))


def test_unfitted_model_and_bad_parameters_raise() -> None:
    with pytest.raises(ConsolidationError, match="not fitted"):
        _ = DawidSkene().labels_
    with pytest.raises(ConsolidationError):
        DawidSkene(n_iter=-1)
    with pytest.raises(ConsolidationError, match="unknown consolidation method"):
        make_aggregator("nope")
    with pytest.raises(ConsolidationError, match="expected an Answers"):
        MajorityVote().fit([("t", "w", "x")])  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 6), st.integers(0, 4), st.sampled_from(["a", "b", "c"])), min_size=1, max_size=40)
)
def test_property_probabilities_are_distributions_and_labels_were_given(rows: list[tuple[int, int, str]]) -> None:
    answers = Answers.from_records(rows)
    for factory in (MajorityVote, DawidSkene, OneCoinDawidSkene):
        model = factory().fit(answers)
        assert np.allclose(model.proba_matrix_.sum(axis=1), 1.0)
        if factory is MajorityVote:
            given_labels = {}
            for t, _, label in rows:
                given_labels.setdefault(t, set()).add(label)
            assert all(model.labels_[t] in given_labels[t] for t in given_labels)


def test_digamma_matches_known_values() -> None:
    from truthloop.consolidation.mace import digamma

    values = digamma(np.array([1e-3, 0.5, 1.0, 2.5, 10.0, 100.0]))
    expected = [-1000.5755719318, -1.9635100260, -0.5772156649, 0.7031566406, 2.2517525891, 4.6001618527]
    assert values == pytest.approx(expected, abs=1e-8)


def test_mace_variational_bayes_option() -> None:
    answers, truth = _synthetic(seed=6)
    model = MACE(method="vb", n_restarts=2).fit(answers)
    predicted = np.array([model.labels_[f"t{t}"] for t in range(len(truth))])
    assert float(np.mean(predicted == truth)) > 0.8
    with pytest.raises(ConsolidationError, match="'vb' or 'em'"):
        MACE(method="gibbs")  # type: ignore[arg-type]
