"""What a routing policy would have done on reviewed predictions: routed fraction and residual error, per label.

A routed item (below its threshold, or in the audit sample) counts as corrected by the reviewer; the residual
error is the share of all items that were not routed and whose model label differs from the human's.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from truthloop.review.calibration import Outcomes
from truthloop.review.policy import ReviewPolicy
from truthloop.review.types import Prediction

__all__ = ["plot_tradeoff", "simulate"]


def _routed(outcomes: Outcomes, policy: ReviewPolicy) -> np.ndarray[Any, np.dtype[np.bool_]]:
    decide = policy.decide
    return np.fromiter(
        (
            decide([Prediction(kind="label", label=label, confidence=c)], key=item_id).route
            for item_id, label, c in zip(outcomes.ids, outcomes.labels, outcomes.confidence, strict=True)
        ),
        dtype=bool,
        count=len(outcomes),
    )


def simulate(outcomes: Outcomes, policy: ReviewPolicy) -> dict[str, Any]:
    """``{"n", "routed_fraction", "residual_error", "model_error", "per_label": {label: {…}}}``.

    Each item is decided as one label prediction keyed by its ``id`` (the key of the audit sample).
    """
    routed = _routed(outcomes, policy)
    _, wrong = outcomes.arrays()
    n = len(outcomes)

    def figures(mask: Any) -> dict[str, Any]:
        count = int(mask.sum())
        return {
            "n": count,
            "routed_fraction": round(float(routed[mask].mean()), 6) if count else 0.0,
            "residual_error": round(float((~routed[mask] & wrong[mask]).mean()), 6) if count else 0.0,
            "model_error": round(float(wrong[mask].mean()), 6) if count else 0.0,
        }

    out = figures(np.ones(n, dtype=bool))
    labels = np.array(outcomes.labels, dtype=object)
    out["per_label"] = {name: figures(labels == name) for name in sorted(set(outcomes.labels))}
    return out


def tradeoff_curve(outcomes: Outcomes) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """``(routed fraction, residual error)`` of one global threshold swept over every observed confidence."""
    confidence, wrong = outcomes.arrays()
    order = np.argsort(confidence, kind="stable")
    c, w = confidence[order], wrong[order]
    n = c.size
    # threshold just above the k-th smallest confidence routes the first k items (groups of ties kept whole)
    ends = np.append(np.flatnonzero(np.diff(c)) + 1, n)
    k = np.concatenate([[0], ends])
    errors_left = np.concatenate([[0], np.cumsum(w)])
    residual = (errors_left[-1] - errors_left[k]) / n
    return k / n, residual


def plot_tradeoff(
    outcomes: Outcomes, result: dict[str, Any], path: str | os.PathLike[str], *, target: float | None = None
) -> None:
    """Residual error against routed fraction as one global threshold moves, the policy's point, the target."""
    from truthloop._plot import pyplot

    plt = pyplot()
    routed, residual = tradeoff_curve(outcomes)
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    ax.plot(routed, residual, label="one global threshold, swept")
    ax.plot([result["routed_fraction"]], [result["residual_error"]], "o", color="C3", label="this policy")
    if target is not None:
        ax.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target:g}")
    ax.set_xlabel("routed to review (fraction of items)")
    ax.set_ylabel("residual error (wrong and not routed, fraction of items)")
    ax.set_title(f"{result['n']} reviewed predictions")
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=0)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=120)
    plt.close(fig)
