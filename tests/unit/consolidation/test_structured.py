"""Pairwise, rankings, multi-label, boxes, spans, free text and numeric ratings."""

from __future__ import annotations

import numpy as np
import pytest

from truthloop.consolidation import BradleyTerry, Comparisons, MajorityVote, NoisyBradleyTerry
from truthloop.consolidation.boxes import BoxAggregator, WorkerBox, iou_matrix
from truthloop.consolidation.multilabel import MultiLabelAggregator
from truthloop.consolidation.numeric import NumericAggregator, Ratings
from truthloop.consolidation.ranking import RankingAggregator, rankings_to_comparisons
from truthloop.consolidation.spans import SpanAggregator, VotedSpan, WorkerSpan
from truthloop.consolidation.text import TextMedoid
from truthloop.exceptions import ConsolidationError


# ---------------------------------------------------------------- pairwise
def test_bradley_terry_two_items_closed_form() -> None:
    # GIVEN a beats b 3 times of 4 and no prior: the MLE is π_a/π_b = 3, so score difference log 3
    rows = [("w", "a", "b", "a")] * 3 + [("w", "a", "b", "b")]
    model = BradleyTerry(prior=0.0).fit(Comparisons.from_records(rows))
    scores = model.scores_
    assert scores["a"] - scores["b"] == pytest.approx(np.log(3), abs=1e-6)
    assert model.win_probability("a", "b") == pytest.approx(0.75, abs=1e-6)
    assert model.order_ == ["a", "b"]


def test_bradley_terry_ties_and_unbeaten_items_stay_finite() -> None:
    rows = [("w", "a", "b", "a"), ("w", "b", "c", "b"), ("w", "a", "c", None)]
    model = BradleyTerry().fit(Comparisons.from_records(rows))
    assert all(np.isfinite(list(model.scores_.values())))
    assert model.order_[0] == "a"


def test_noisy_bradley_terry_discounts_a_random_worker() -> None:
    rng = np.random.default_rng(0)
    items = list(range(6))
    rows = []
    for _ in range(40):
        i, j = rng.choice(6, 2, replace=False)
        rows.append(("good", int(i), int(j), int(min(i, j))))  # lower number is better
        rows.append(("random", int(i), int(j), int(i if rng.random() < 0.5 else j)))
    model = NoisyBradleyTerry().fit(Comparisons.from_records(rows))
    assert model.order_ == items
    assert model.skills_["good"] > model.skills_["random"]


@pytest.mark.parametrize(
    ("record", "message"),
    [(("w", "a", "a", "a"), "with itself"), (("w", "a", "b", "c"), "neither left"), (("w", "a", "b"), "expected")],
)
def test_comparisons_reject_bad_records(record: tuple[str, ...], message: str) -> None:
    with pytest.raises(ConsolidationError, match=message):
        Comparisons.from_records([record])


def test_unfitted_pairwise_model_raises() -> None:
    with pytest.raises(ConsolidationError, match="not fitted"):
        _ = BradleyTerry().order_


# ---------------------------------------------------------------- rankings
def test_rankings_become_pairwise_comparisons_with_ties() -> None:
    comparisons = rankings_to_comparisons({"w": [2, 1, 2]}, ["a", "b", "c"])
    assert comparisons.outcome.tolist() == [0.0, 0.5, 1.0]  # (a,b): b wins, (a,c): tie, (b,c): b wins


def test_ranking_aggregator_consensus_and_agreement() -> None:
    result = RankingAggregator().aggregate({"w1": [1, 2, 3], "w2": [1, 2, 3], "w3": [2, 1, 3]})
    assert result.order == (0, 1, 2)
    assert result.ranks == (1, 2, 3)
    assert result.agreement == pytest.approx(8 / 9)
    with pytest.raises(ConsolidationError, match="differ in length"):
        RankingAggregator().aggregate({"w1": [1, 2], "w2": [1, 2, 3]})


# ---------------------------------------------------------------- multi-label
def test_multilabel_binary_relevance() -> None:
    rows = [("t", "a", ["cat", "dog"]), ("t", "b", ["cat"]), ("t", "c", []), ("u", "a", ["dog"])]
    model = MultiLabelAggregator().fit(rows)
    assert model.labels_ == {"t": ("cat",), "u": ("dog",)}
    assert model.probas_["t"] == pytest.approx({"cat": 2 / 3, "dog": 1 / 3})
    with pytest.raises(ConsolidationError, match="outside the vocabulary"):
        MultiLabelAggregator(vocabulary=["cat"], method=MajorityVote).fit(rows)


# ---------------------------------------------------------------- boxes
def test_iou_matrix() -> None:
    a = np.array([[0, 0, 10, 10.0]])
    b = np.array([[0, 0, 10, 10.0], [5, 0, 15, 10.0], [20, 20, 30, 30.0]])
    assert iou_matrix(a, b)[0].tolist() == pytest.approx([1.0, 50 / 150, 0.0])


def test_boxes_are_clustered_fused_and_filtered_by_quorum() -> None:
    # GIVEN three workers: all draw the dog (slightly shifted), one also draws a stray box; a fourth draws nothing
    boxes = [
        WorkerBox("a", "dog", 10, 10, 50, 50),
        WorkerBox("b", "dog", 12, 10, 52, 50),
        WorkerBox("c", "dog", 14, 10, 54, 50),
        WorkerBox("c", "dog", 200, 200, 220, 220),
        WorkerBox("a", "cat", 100, 100, 140, 140),
        WorkerBox("b", "cat", 100, 100, 140, 140),
    ]
    fused = BoxAggregator().aggregate(boxes, workers=["a", "b", "c", "d"])
    # THEN the stray box (1 of 4 workers) is dropped; the dog is the mean box with support 3/4
    assert [(b.label, b.x1, b.x2, b.support) for b in fused] == [("dog", 12.0, 52.0, 0.75), ("cat", 100.0, 140.0, 0.5)]
    assert 0 < fused[0].confidence < 0.75
    # one worker never contributes two boxes to one cluster
    same_worker = BoxAggregator(quorum=0).aggregate(
        [WorkerBox("a", "x", 0, 0, 10, 10), WorkerBox("a", "x", 1, 0, 11, 10)]
    )
    assert len(same_worker) == 2


def test_boxes_edge_cases() -> None:
    assert BoxAggregator().aggregate([]) == []
    with pytest.raises(ConsolidationError, match="negative"):
        BoxAggregator().aggregate([WorkerBox("a", "x", 10, 10, 0, 0)])


# ---------------------------------------------------------------- spans
def test_exact_span_majority_and_character_fallback() -> None:
    spans = [
        WorkerSpan("a", "PER", 0, 10),
        WorkerSpan("b", "PER", 0, 10),
        WorkerSpan("c", "PER", 0, 5),
        # boundaries disagree: no exact majority, characters 22-27 are covered by 2 of 3 workers
        WorkerSpan("a", "LOC", 20, 27),
        WorkerSpan("b", "LOC", 22, 30),
    ]
    voted = SpanAggregator().aggregate(spans, workers=["a", "b", "c"])
    assert voted[0] == VotedSpan("PER", 0, 10, pytest.approx(2 / 3), True)  # type: ignore[arg-type]
    assert (voted[1].label, voted[1].start, voted[1].end, voted[1].exact) == ("LOC", 22, 27, False)


def test_overlapping_spans_of_different_labels_keep_the_stronger() -> None:
    spans = [WorkerSpan("a", "ORG", 0, 5), WorkerSpan("b", "ORG", 0, 5), WorkerSpan("c", "PER", 0, 5)]
    voted = SpanAggregator(quorum=0.3).aggregate(spans)
    assert [(s.label, s.start, s.end) for s in voted] == [("ORG", 0, 5)]


# ---------------------------------------------------------------- free text
def test_text_medoid() -> None:
    chosen = TextMedoid().choose(["Paris is the capital.", "paris is the capital", "", "Lyon"])
    assert chosen.index == 0 and chosen.confidence > 0.3
    assert TextMedoid().choose(["only"]).confidence == 0.0
    with pytest.raises(ConsolidationError, match="no non-blank"):
        TextMedoid().choose(["  "])


# ---------------------------------------------------------------- numeric
def test_numeric_mean_median_and_weighted() -> None:
    ratings = Ratings.from_records([("t", "a", 10), ("t", "b", 20), ("t", "c", 90), ("u", "a", 5), ("u", "b", 6)])
    assert NumericAggregator("mean").fit(ratings).values_ == pytest.approx({"t": 40.0, "u": 5.5})
    assert NumericAggregator("median").fit(ratings).values_ == pytest.approx({"t": 20.0, "u": 5.5})
    weighted = NumericAggregator("weighted").fit(ratings)
    # worker c disagrees most, so gets the lowest precision and pulls t less than the mean does
    assert weighted.skills_["c"] < weighted.skills_["a"]
    assert 10 < weighted.values_["t"] < 40


def test_numeric_rejects_non_numbers() -> None:
    with pytest.raises(ConsolidationError, match="not a number"):
        Ratings.from_records([("t", "a", "ten")])
    with pytest.raises(ConsolidationError, match="unknown method"):
        NumericAggregator("mode")  # type: ignore[arg-type]
