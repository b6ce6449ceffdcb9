"""Thresholds learned from review outcomes: the binomial bound, calibrate, simulate, bad input, the commands."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from truthloop.cli import main
from truthloop.exceptions import ManifestLineError, PolicyError
from truthloop.review import ConfidenceBelow, ReviewPolicy
from truthloop.review.calibration import (
    Outcomes,
    binomial_cdf,
    calibrate,
    clopper_pearson_upper,
    outcome_line,
    read_outcomes,
)
from truthloop.review.simulation import simulate


@pytest.mark.parametrize(("k", "n", "p"), [(0, 10, 0.3), (3, 10, 0.3), (7, 40, 0.1), (40, 40, 0.5), (12, 500, 0.02)])
def test_the_binomial_tail_matches_the_sum_of_exact_terms(k: int, n: int, p: float) -> None:
    expected = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))
    assert binomial_cdf(k, n, p) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("k", "n"), [(0, 100), (5, 100), (30, 1000), (0, 3)])
def test_the_clopper_pearson_bound_leaves_exactly_alpha_in_the_tail(k: int, n: int) -> None:
    # WHEN
    upper = clopper_pearson_upper(k, n, 0.95)
    # THEN P(X <= k | upper) = 5%, and the bound is above the point estimate
    assert binomial_cdf(k, n, upper) == pytest.approx(0.05, abs=1e-9)
    assert upper > k / n
    if k == 0:
        assert upper == pytest.approx(1 - 0.05 ** (1 / n), rel=1e-9)


def _outcomes(rows: list[tuple[str, str, float, str]]) -> Outcomes:
    out = Outcomes()
    for item_id, label, confidence, truth in rows:
        out.ids.append(item_id)
        out.labels.append(label)
        out.confidence.append(confidence)
        out.truth.append(truth)
    return out


def test_simulate_counts_routed_items_as_corrected_and_accepts_at_exactly_the_threshold() -> None:
    # GIVEN four items and "route below 0.8"
    items = _outcomes([("1", "a", 0.9, "b"), ("2", "a", 0.8, "a"), ("3", "b", 0.5, "a"), ("4", "b", 0.79, "b")])
    # WHEN
    result = simulate(items, ReviewPolicy(ConfidenceBelow(0.8)))
    # THEN items 3 and 4 are routed; item 1 is wrong and not routed; item 2 sits at the threshold, not routed
    assert (result["n"], result["routed_fraction"], result["residual_error"], result["model_error"]) == (
        4, 0.5, 0.25, 0.5)  # fmt: skip
    assert result["per_label"] == {
        "a": {"n": 2, "routed_fraction": 0.0, "residual_error": 0.5, "model_error": 0.5},
        "b": {"n": 2, "routed_fraction": 1.0, "residual_error": 0.0, "model_error": 0.5},
    }


def _synthetic(n: int, seed: int, small_label: bool = True) -> Outcomes:
    """A calibrated model over two big labels (one much less accurate) and, optionally, a rare one."""
    rng = np.random.default_rng(seed)
    names = ["easy", "hard", "rare"] if small_label else ["easy", "hard"]
    share = [0.6, 0.39, 0.01] if small_label else [0.6, 0.4]
    label = rng.choice(len(names), size=n, p=share)
    confidence = np.round(np.where(label == 0, rng.beta(8, 1.2, n), rng.beta(3, 1.5, n)), 3)
    accuracy = confidence - np.where(label == 1, 0.08, 0.0)
    correct = rng.random(n) < accuracy
    rows = []
    for i in range(n):
        truth = names[label[i]] if correct[i] else "wrong"
        rows.append((f"{seed}-{i}", names[label[i]], float(confidence[i]), truth))
    return _outcomes(rows)


@pytest.mark.parametrize("target", [0.02, 0.05])
def test_calibrated_thresholds_hold_the_target_on_unseen_items(target: float) -> None:
    # GIVEN reviewed predictions, and unseen ones from the same model
    seen, unseen = _synthetic(8000, 1), _synthetic(8000, 2)
    # WHEN
    fitted = calibrate(seen, target=target, min_label_items=200)
    result = simulate(unseen, fitted.policy)
    # THEN the residual error on unseen items is within the target and its bound
    assert result["residual_error"] <= target
    assert fitted.upper_bound <= target
    # ... the big labels have their own thresholds (the less accurate one a higher one), the rare one the global
    assert set(fitted.per_label) <= {"easy", "hard"} and fitted.per_label["hard"] > fitted.per_label.get("easy", 0)
    assert "rare" not in fitted.per_label
    # ... and the policy is the JSON ReviewPolicy reads, with the deterministic audit sample kept
    data = json.loads(fitted.policy.to_json())
    assert ReviewPolicy.from_dict(data) == fitted.policy
    assert [r["type"] for r in data["rule"]["rules"]] == ["threshold", "sampling"]
    assert data["rule"]["rules"][1]["percentage"] == 1.0


def test_a_target_the_data_cannot_support_is_refused() -> None:
    # GIVEN 40 items, half of them wrong
    items = _outcomes([(str(i), "a", 0.5 + i / 100, "a" if i % 2 else "b") for i in range(40)])
    # WHEN / THEN even routing nearly everything cannot show 0.1% with 95% confidence from 20 test items
    with pytest.raises(PolicyError, match=r"cannot show a residual error of at most 0\.001"):
        calibrate(items, target=0.001)


def test_bad_lines_are_reported_with_their_line_number_and_skipped(tmp_path: Path) -> None:
    # GIVEN
    path = tmp_path / "predictions.jsonl"
    good = {"id": "1", "label": "cat", "confidence": 0.9, "scores": {"cat": 0.9, "dog": 0.1}, "truth": "dog"}
    path.write_text(
        "\n".join(
            [
                json.dumps(good),
                "{oops",
                json.dumps({**good, "id": "2", "scores": {"cat": 0.9, "cow": 0.1}}),
                json.dumps({**good, "id": "3", "confidence": 1.2}),
                json.dumps({k: v for k, v in good.items() if k != "truth"}),
                json.dumps({"id": "5", "label": "dog", "scores": {"dog": 0.7}, "truth": "dog"}),
            ]
        )
        + "\n"
    )
    skipped: list[ManifestLineError] = []
    # WHEN
    outcomes = read_outcomes(path, on_skip=skipped.append)
    # THEN
    assert (outcomes.ids, outcomes.confidence) == (["1", "5"], [0.9, 0.7])
    assert [(e.line_number, e.reason) for e in skipped[1:]] == [
        (3, "$.scores: scores name 'cow', which is not a class (['cat', 'dog'])"),
        (4, "$.confidence: confidence must be between 0 and 1, got 1.2"),
        (5, "$.truth: truth must be a non-empty string, got None"),
    ]
    assert skipped[0].line_number == 2 and "\n" not in skipped[0].reason
    with pytest.raises(ManifestLineError, match=":2: "):
        read_outcomes(path, strict=True)


def test_outcome_lines_come_from_stored_review_results() -> None:
    # GIVEN a stored result (ReviewResult.to_dict()) and a failed loop
    result: dict[str, Any] = {
        "humanLoopName": "loop-1",
        "status": "Completed",
        "modelLabel": "POSITIVE",
        "humanLabel": "NEGATIVE",
        "rules": ["threshold"],
        "predictions": [
            {"kind": "label", "label": "POSITIVE", "confidence": 0.61, "flagged": True},
            {"kind": "label", "label": "NEGATIVE", "confidence": 0.3, "flagged": False},
        ],
    }
    # WHEN / THEN
    assert outcome_line(result) == {
        "id": "loop-1",
        "label": "POSITIVE",
        "confidence": 0.61,
        "scores": {"POSITIVE": 0.61, "NEGATIVE": 0.3},
        "truth": "NEGATIVE",
        "rules": ["threshold"],
    }
    assert outcome_line({**result, "status": "Failed", "humanLabel": None}) is None


def test_results_to_calibrate_to_simulate_on_the_command_line(tmp_path: Path) -> None:
    # GIVEN stored review results, one per line (the last one a table item holding the record as JSON)
    data = _synthetic(3000, 5, small_label=False)
    results = []
    for item_id, label, confidence, truth in zip(data.ids, data.labels, data.confidence, data.truth, strict=True):
        record = {"humanLoopName": item_id, "status": "Completed", "modelLabel": label, "humanLabel": truth,
                  "predictions": [{"kind": "label", "label": label, "confidence": confidence}]}  # fmt: skip
        results.append(record)
    lines = [json.dumps(r) for r in results[:-1]] + [json.dumps({"pk": "x", "result": json.dumps(results[-1])})]
    (tmp_path / "results.jsonl").write_text("\n".join(lines) + "\n")
    runner = CliRunner()
    paths = {name: str(tmp_path / name) for name in ("results.jsonl", "predictions.jsonl", "policy.json", "t.png")}
    # WHEN
    made = runner.invoke(main, ["review", "outcomes", paths["results.jsonl"], "--out", paths["predictions.jsonl"]])
    fitted = runner.invoke(
        main,
        ["review", "calibrate", paths["predictions.jsonl"], "--target-error", "0.05", "--out", paths["policy.json"]],
    )
    simulate_args = ["--policy", paths["policy.json"], "--plot", paths["t.png"], "--target-error", "0.05"]
    replayed = runner.invoke(main, ["review", "simulate", paths["predictions.jsonl"], *simulate_args])
    # THEN
    assert made.exit_code == 0 and "wrote 3000 lines" in made.stderr, made.output
    assert fitted.exit_code == 0, fitted.output
    report = json.loads(fitted.stdout)
    assert report["residual_error_upper_bound"] <= 0.05 and report["items"] == 3000
    ReviewPolicy.from_dict(json.loads(Path(paths["policy.json"]).read_text()))
    assert replayed.exit_code == 0, replayed.output
    result = json.loads(replayed.stdout)
    assert {"n", "routed_fraction", "residual_error", "per_label"} <= set(result) and result["n"] == 3000
    assert result["residual_error"] <= 0.05
    assert Path(paths["t.png"]).read_bytes()[:4] == b"\x89PNG"
