"""Agreement metrics against published worked examples."""

from __future__ import annotations

import math

import pytest

from truthloop.consolidation import Answers
from truthloop.consolidation.agreement import (
    cohen_kappa,
    fleiss_kappa,
    krippendorff_alpha,
    mean_pairwise_cohen_kappa,
    percent_agreement,
    worker_accuracy,
)
from truthloop.exceptions import ConsolidationError

# Fleiss (1971) as reproduced on Wikipedia: 10 subjects, 14 raters, 5 categories → κ = 0.210
FLEISS_TABLE = [
    [0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
    [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7],
]  # fmt: skip

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", example C: 4 observers, 12 units
KRIPPENDORFF = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}


def _fleiss_answers() -> Answers:
    rows = []
    for subject, counts in enumerate(FLEISS_TABLE):
        rater = 0
        for category, n in enumerate(counts):
            for _ in range(n):
                rows.append((subject, rater, category))
                rater += 1
    return Answers.from_records(rows)


def _krippendorff_answers() -> Answers:
    return Answers.from_records(
        [(unit, coder, value) for coder, values in KRIPPENDORFF.items() for unit, value in enumerate(values) if value]
    )


def test_fleiss_kappa_worked_example() -> None:
    assert fleiss_kappa(_fleiss_answers()) == pytest.approx(0.210, abs=5e-4)


def test_krippendorff_alpha_worked_example() -> None:
    answers = _krippendorff_answers()
    assert krippendorff_alpha(answers, "nominal") == pytest.approx(0.743, abs=5e-4)
    assert krippendorff_alpha(answers, "interval") == pytest.approx(0.849, abs=5e-4)


def test_cohen_kappa_worked_example() -> None:
    # GIVEN 50 items: both yes 20, A yes/B no 5, A no/B yes 10, both no 15 → p_o 0.7, p_e 0.5, κ 0.4
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10 + [("no", "no")] * 15
    rows = [r for i, (a, b) in enumerate(pairs) for r in ((i, "A", a), (i, "B", b))]
    answers = Answers.from_records(rows)
    assert cohen_kappa(answers, "A", "B") == pytest.approx(0.4)
    assert mean_pairwise_cohen_kappa(answers) == pytest.approx(0.4)


def test_percent_agreement_hand_computed() -> None:
    # t1: 3 answers, 2 agree → 2 agreeing ordered pairs of 6; t2: 2 agree → 2 of 2; t3 has one answer (ignored)
    rows = [("t1", "a", "x"), ("t1", "b", "x"), ("t1", "c", "y"), ("t2", "a", "x"), ("t2", "b", "x"), ("t3", "a", "y")]
    assert percent_agreement(Answers.from_records(rows)) == pytest.approx(4 / 8)


def test_undefined_agreement_is_nan_and_bad_input_raises() -> None:
    single = Answers.from_records([("t", "a", "x")])
    assert math.isnan(percent_agreement(single))
    assert math.isnan(fleiss_kappa(single))
    assert math.isnan(krippendorff_alpha(single))
    assert math.isnan(cohen_kappa(Answers.from_records([("t", "a", "x"), ("u", "b", "x")]), "a", "b"))
    with pytest.raises(ConsolidationError, match="numeric"):
        krippendorff_alpha(Answers.from_records([("t", "a", "x"), ("t", "b", "y")]), "interval")
    with pytest.raises(ConsolidationError, match="unknown worker"):
        cohen_kappa(single, "a", "zz")


def test_worker_accuracy_against_gold_and_consensus() -> None:
    answers = Answers.from_records([("t1", "a", "x"), ("t1", "b", "y"), ("t2", "a", "y"), ("t3", "b", "x")])
    result = worker_accuracy(answers, {"t1": "x", "t2": "z"})
    assert [(w.worker, w.accuracy, w.n) for w in result] == [("a", 0.5, 2), ("b", 0.0, 1)]
