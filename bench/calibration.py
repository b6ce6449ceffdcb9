"""Benchmark of ``truthloop review calibrate``; prints ONE JSON object on stdout.

Synthetic reviewed predictions (seeded ``numpy`` rng) from three models of different calibration over four
labels whose error rates differ: ``calibrated`` (P(correct | confidence c) = c), ``over-confident`` (right less
often than it says: at c = 0.9 about 0.84) and ``under-confident`` (at c = 0.6 right about 0.67); see
``_accuracy``. For each
model and target error E, thresholds are calibrated on ``--calibration`` items and replayed on ``--test`` unseen
items of the same model. Reported per case: the residual error on the unseen items (``test_residual_error``,
target: at most E), the routed fraction, and the routed fraction of the best single global threshold chosen with
hindsight on the test items at the same residual error (``hindsight_routed_fraction``); ``routing_ratio`` is
their quotient (target: at most 1.25). The audit sample is off here so that only thresholds are compared.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "sdk") not in sys.path:
    sys.path.insert(0, str(ROOT / "sdk"))

from truthloop.review.calibration import Outcomes, calibrate  # noqa: E402
from truthloop.review.simulation import simulate, tradeoff_curve  # noqa: E402

LABELS = ["cat", "dog", "bird", "other"]
SHARE = [0.4, 0.3, 0.2, 0.1]
#: per label: confidence ~ Beta(a, b) rescaled to [0.25, 1]; harder labels get lower confidence
BETA = {"cat": (6.0, 1.5), "dog": (5.0, 1.5), "bird": (3.0, 1.5), "other": (2.0, 2.0)}
#: per label: how much less accurate than its confidence the label is (a second source of per-label differences)
PENALTY = {"cat": 0.0, "dog": 0.02, "bird": 0.05, "other": 0.10}
MODELS = ("calibrated", "over-confident", "under-confident")


def _accuracy(model: str, c: np.ndarray) -> np.ndarray:
    if model == "calibrated":
        return c
    if model == "over-confident":
        return 0.25 + 0.75 * (c - 0.25) ** 1.8 / 0.75**0.8  # says 0.9, is right ~0.84
    return np.minimum(1.0, c + 0.6 * (1 - c) * (c - 0.25))  # says 0.6, is right ~0.67


def generate(model: str, n: int, seed: int) -> Outcomes:
    rng = np.random.default_rng(seed)
    labels = rng.choice(len(LABELS), size=n, p=SHARE)
    out = Outcomes()
    a = np.array([BETA[x][0] for x in LABELS])[labels]
    b = np.array([BETA[x][1] for x in LABELS])[labels]
    confidence = np.round(0.25 + 0.75 * rng.beta(a, b), 4)
    penalty = np.array([PENALTY[x] for x in LABELS])[labels]
    correct = rng.random(n) < np.clip(_accuracy(model, confidence) - penalty, 0, 1)
    other = (labels + rng.integers(1, len(LABELS), n)) % len(LABELS)
    truth = np.where(correct, labels, other)
    out.ids = [f"{model}-{seed}-{i}" for i in range(n)]
    out.labels = [LABELS[i] for i in labels.tolist()]
    out.confidence = confidence.tolist()
    out.truth = [LABELS[i] for i in truth.tolist()]
    return out


def hindsight(test: Outcomes, residual: float) -> float:
    routed, errors = tradeoff_curve(test)
    ok = errors <= residual + 1e-12
    return float(routed[ok].min())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibration", type=int, default=20_000)
    parser.add_argument("--test", type=int, default=20_000)
    parser.add_argument("--targets", default="0.01,0.02,0.05")
    parser.add_argument("--confidence", type=float, default=0.95)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cases = []
    for m, model in enumerate(MODELS):
        calibration = generate(model, args.calibration, args.seed * 100 + 2 * m)
        test = generate(model, args.test, args.seed * 100 + 2 * m + 1)
        for target in (float(t) for t in args.targets.split(",")):
            start = time.perf_counter()
            fitted = calibrate(calibration, target=target, confidence=args.confidence, audit_percent=0.0)
            seconds = time.perf_counter() - start
            result = simulate(test, fitted.policy)
            best = hindsight(test, result["residual_error"])
            cases.append(
                {
                    "model": model,
                    "target_error": target,
                    "model_error": result["model_error"],
                    "test_residual_error": result["residual_error"],
                    "within_target": result["residual_error"] <= target,
                    "upper_bound": round(fitted.upper_bound, 5),
                    "routed_fraction": result["routed_fraction"],
                    "hindsight_routed_fraction": round(best, 6),
                    "routing_ratio": round(result["routed_fraction"] / best, 4) if best else None,
                    "threshold": fitted.threshold,
                    "per_label": fitted.per_label,
                    "calibrate_s": round(seconds, 3),
                }
            )
    ratios = [c["routing_ratio"] for c in cases if c["routing_ratio"] is not None]
    print(
        json.dumps(
            {
                "benchmark": "calibration",
                "python": platform.python_version(),
                "numpy": np.__version__,
                "calibration_items": args.calibration,
                "test_items": args.test,
                "confidence": args.confidence,
                "all_within_target": all(c["within_target"] for c in cases),
                "max_routing_ratio": max(ratios),
                "mean_routing_ratio": round(sum(ratios) / len(ratios), 4),
                "cases": cases,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
