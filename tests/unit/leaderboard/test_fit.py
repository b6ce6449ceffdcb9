"""Bradley–Terry ratings on the Elo scale: hand-computed fits, an independent solver, the bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from truthloop.exceptions import ConsolidationError
from truthloop.leaderboard import fit_ratings

ELO = 400 / math.log(10)


@pytest.mark.parametrize(
    ("battles", "gap"),
    [
        ([(0, 1, 1.0)] * 3 + [(0, 1, 0.0)], 400 * math.log10(3)),  # 3 wins of 4: odds 3
        ([(0, 1, 1.0), (1, 0, 0.5)], 400 * math.log10(3)),  # a win and a tie: 1.5 of 2, odds 3
        ([(0, 1, 1.0), (0, 1, 0.5), (1, 0, 1.0), (0, 1, 0.5)], 0.0),  # 2 of 4 with two ties: even
        ([(0, 1, 1.0)] * 4 + [(1, 0, 1.0)], 400 * math.log10(4)),  # listed either way round
    ],
    ids=["three-of-four", "tie-is-half", "even", "both-directions"],
)
def test_two_models_match_the_hand_computed_fit(battles: list[tuple[int, int, float]], gap: float) -> None:
    # GIVEN battles between a and b whose maximum-likelihood odds are known in closed form
    first, second, score = zip(*battles, strict=True)
    # WHEN
    board = fit_ratings(["a", "b"], first, second, score, bootstrap=0, ridge=0.0)
    # THEN the gap is 400·log10(odds) and the mean is 1000
    assert board.ratings["a"] - board.ratings["b"] == pytest.approx(gap, abs=1e-6)
    assert board.ratings["a"] + board.ratings["b"] == pytest.approx(2000, abs=1e-9)
    assert board.battles == {"a": len(battles), "b": len(battles)}


def test_a_cycle_of_equal_records_rates_everyone_1000() -> None:
    # GIVEN a beats b, b beats c, c beats a, each 2 to 1
    rows = [(0, 1, 1.0), (0, 1, 1.0), (1, 0, 1.0), (1, 2, 1.0), (1, 2, 1.0), (2, 1, 1.0)]
    rows += [(2, 0, 1.0), (2, 0, 1.0), (0, 2, 1.0)]
    first, second, score = zip(*rows, strict=True)
    # WHEN
    board = fit_ratings(["a", "b", "c"], first, second, score, bootstrap=0, ridge=0.0)
    # THEN
    assert board.ratings == pytest.approx({"a": 1000.0, "b": 1000.0, "c": 1000.0}, abs=1e-6)


def _zermelo(n: int, first: np.ndarray, second: np.ndarray, score: np.ndarray, steps: int = 20000) -> np.ndarray:
    """Zermelo's fixed point, written independently: p_i = W_i / sum_j n_ij / (p_i + p_j); ties half a win."""
    wins = np.zeros(n)
    games = np.zeros((n, n))
    for a, b, s in zip(first.tolist(), second.tolist(), score.tolist(), strict=True):
        wins[a] += s
        wins[b] += 1 - s
        games[a, b] += 1
        games[b, a] += 1
    p = np.ones(n)
    for _ in range(steps):
        new = wins / (games / (p[:, None] + p[None, :])).sum(axis=1)
        new /= np.exp(np.log(new).mean())
        if np.max(np.abs(new - p)) < 1e-13:
            break
        p = new
    log_p = np.log(p)
    return 1000 + ELO * (log_p - log_p.mean())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_fit_matches_an_independent_zermelo_solver_on_generated_battles(seed: int) -> None:
    # GIVEN 3000 battles among 8 models of known strength, 10% ties
    rng = np.random.default_rng(seed)
    n, m = 3000, 8
    strength = rng.normal(0, 1, m)
    first = rng.integers(0, m, n)
    second = (first + rng.integers(1, m, n)) % m
    p = 1 / (1 + np.exp(strength[second] - strength[first]))
    u = rng.random(n)
    score = np.where(u < 0.1, 0.5, np.where(rng.random(n) < p, 1.0, 0.0))
    # WHEN
    exact = fit_ratings([f"m{i}" for i in range(m)], first, second, score, bootstrap=0, ridge=0.0)
    default = fit_ratings([f"m{i}" for i in range(m)], first, second, score, bootstrap=0)
    # THEN both agree with Zermelo's iteration: exactly without the ridge, within 0.1 point with it
    expected = _zermelo(m, first, second, score)
    got = np.array([exact.ratings[f"m{i}"] for i in range(m)])
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose([default.ratings[f"m{i}"] for i in range(m)], expected, atol=0.1)


def test_bootstrap_intervals_hold_the_rating_narrow_with_data_and_repeat_with_the_seed() -> None:
    # GIVEN the same win rates observed on 90 and on 9000 battles
    def battles(k: int) -> tuple[list[int], list[int], list[float]]:
        rows = ([(0, 1, 1.0)] * 6 + [(0, 1, 0.0)] * 4 + [(1, 2, 1.0)] * 7 + [(1, 2, 0.0)] * 3) * k
        rows += [(0, 2, 1.0)] * 7 * k + [(0, 2, 0.0)] * 3 * k
        first, second, score = zip(*rows, strict=True)
        return list(first), list(second), list(score)

    # WHEN
    small = fit_ratings(["a", "b", "c"], *battles(3), bootstrap=300, seed=7)
    large = fit_ratings(["a", "b", "c"], *battles(300), bootstrap=300, seed=7)
    again = fit_ratings(["a", "b", "c"], *battles(3), bootstrap=300, seed=7)
    # THEN
    for board in (small, large):
        for m in "abc":
            assert board.ci_low[m] < board.ratings[m] < board.ci_high[m]
    width = {name: {m: b.ci_high[m] - b.ci_low[m] for m in "abc"} for name, b in (("small", small), ("large", large))}
    assert all(width["large"][m] < width["small"][m] / 5 for m in "abc")  # ~ 1/sqrt(100)
    assert (again.ci_low, again.ci_high) == (small.ci_low, small.ci_high)


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [([0], [0], "cannot battle itself ('a')"), ([], [], "no battles")],
)
def test_bad_battles_are_refused_with_a_reason(first: list[int], second: list[int], message: str) -> None:
    # WHEN / THEN
    with pytest.raises(ConsolidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        fit_ratings(["a", "b"], first, second, [1.0] * len(first), bootstrap=0)
