"""bench/consolidation.py's statistics: exact McNemar, random tie-breaking expectations (hand-computed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from truthloop.consolidation import Answers, AutoSelect, Wawa

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_consolidation", ROOT / "bench" / "consolidation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("ours", "theirs", "discordant", "p_value"),
    [
        ([1, 1, 0, 0], [0, 1, 1, 1], [1, 2], 1.0),  # (C(3,0) + C(3,1)) / 2^3 × 2 = 1
        ([0, 0, 0, 0, 0, 1], [1, 1, 1, 1, 1, 1], [0, 5], 0.0625),  # 2 × C(5,0) / 2^5
        ([1, 0], [1, 0], [0, 0], 1.0),  # no disagreement
    ],
)
def test_mcnemar_exact(
    bench: ModuleType, ours: list[int], theirs: list[int], discordant: list[int], p_value: float
) -> None:
    result = bench.mcnemar(np.array(ours, dtype=bool), np.array(theirs, dtype=bool))
    assert result["discordant"] == discordant
    assert result["p_value"] == pytest.approx(p_value)


def test_random_tie_accuracy_hand_computed(bench: ModuleType) -> None:
    # GIVEN task 0 tied between classes 0 and 1 (truth 0), task 1 clearly class 0 (truth 1), task 2 truth unknown
    proba = np.array([[0.5, 0.5], [1.0, 0.0], [0.2, 0.8]])
    # THEN the expected accuracy is (1/2 + 0 + 0) / 3
    assert bench.random_tie_accuracy(proba, np.array([0, 1, 2]), np.array([0, 1, -1])) == pytest.approx(1 / 6)


def test_wawa_random_ties_equals_wawa_without_ties_and_is_seeded(bench: ModuleType) -> None:
    # GIVEN answers without a tied majority anywhere
    rows = [("t1", "a", "x"), ("t1", "b", "x"), ("t1", "c", "y"), ("t2", "a", "y"), ("t2", "b", "y"), ("t2", "c", "y")]
    answers = Answers.from_records(rows)
    tasks, truth = np.array([0, 1]), np.array([0, 1])
    wawa = Wawa().fit(answers)
    expected = float(np.mean(wawa.label_indices_[tasks] == truth))
    # THEN the random-tie estimate is Wawa's accuracy, and repeatable
    assert bench.wawa_random_ties(answers, tasks, truth) == pytest.approx(expected)
    tied = Answers.from_records([("t1", "a", "x"), ("t1", "b", "y"), ("t2", "a", "x"), ("t2", "c", "x")])
    first = bench.wawa_random_ties(tied, np.array([0, 1]), np.array([1, 0]))
    assert first == bench.wawa_random_ties(tied, np.array([0, 1]), np.array([1, 0]))
    assert 0.5 <= first <= 1.0


@pytest.mark.parametrize("seed", [0, 1])
def test_the_lodo_replay_of_a_setting_makes_autoselects_choice(bench: ModuleType, seed: int) -> None:
    # GIVEN answers where one-coin and full Dawid-Skene both fit, and gold for every task
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 3, 120)
    rows = [(t, w, int(truth[t] if rng.random() < 0.55 + 0.08 * w else rng.integers(0, 3)))
            for t in range(120) for w in range(5)]  # fmt: skip
    answers = Answers.from_records(rows)
    scored = np.array([[t, answers.classes.index(int(truth[t]))] for t in range(120)])
    # WHEN the bench replays AutoSelect's default setting from the precomputed figures
    stats = bench.candidate_stats(answers, scored)
    model = AutoSelect().fit(answers)
    setting = {"candidates": ("ds", "ods"), "min_class_ratio": model.min_class_ratio,
               "min_worker_answers": model.min_worker_answers, "margin": model.margin}  # fmt: skip
    # THEN it names the method AutoSelect chose, with the same held-out agreement and, after corroboration, the
    # same gold accuracy
    expected = "mv" if model.chosen_ < 0 else ("ds", "ods")[model.chosen_]
    assert bench.auto_choice(stats, setting) == expected
    assert [stats["ds"]["held_out"], stats["ods"]["held_out"]] == pytest.approx(model.scores_, nan_ok=True)
    assert stats[expected]["accuracy"] == np.mean(model.label_indices_[scored[:, 0]] == scored[:, 1])
    # AND, for a skill model, the same departures from majority vote and the same ones reverted
    if model.chosen_ >= 0:
        departures = stats[expected]["departures"]
        assert departures["corroborated"] + departures["uncorroborated"] == model.departures_
        assert departures["uncorroborated"] == model.reverted_


def test_won_lost_counts_gold_tasks_each_side_gets_right(bench: ModuleType) -> None:
    # GIVEN four departures; gold on three of them (-1: no gold): the candidate right on one, majority vote on one
    mine, majority = np.array([1, 1, 2, 0, 0]), np.array([0, 0, 0, 1, 0])
    truth = np.array([1, 0, 1, -1, 0])
    mask = mine != majority
    # WHEN / THEN
    assert bench._won_lost(mask, mine, majority, truth) == [1, 1]
