"""Routing thresholds learned from review outcomes: per-label confidence thresholds that route the fewest items
while the residual error stays within a target, with a stated confidence.

Input: one JSON object per line, ``{"id": "...", "label": "<model's label>", "confidence": 0.83, "scores":
{"<label>": p, ...}, "truth": "<label a human gave>"}`` (``scores`` optional; ``confidence`` defaults to
``scores[label]``). :func:`outcome_line` turns a stored :class:`~truthloop.review.results.ReviewResult` into one.

The **residual error** of a policy is the share of all items that are *not* routed and whose label is wrong
(a routed item counts as corrected). :func:`calibrate` guarantees, with probability at least ``confidence`` over
the calibration sample, that the residual error on new items from the same distribution is at most ``target``:

1. the items are split deterministically (a hash of ``id``) into a *shaping* half and a *testing* half;
2. on the shaping half, each label with at least ``min_label_items`` items gets its own trade-off curve (the
   others share the global one): for a price ``λ`` of an error in routed items, each label accepts the prefix of
   its most confident items that maximises ``accepted − λ·errors``. That gives a family of policies, from
   "route nearly everything" (large ``λ``) to "route nothing";
3. on the testing half the family is walked from the most to the least cautious policy, testing each against
   ``H0: residual error > target`` with the exact binomial tail; the walk stops at the first policy it cannot
   reject. Fixed-sequence testing needs no multiplicity correction, so the last rejected policy has residual
   error at most ``target`` with probability ``confidence`` (Learn-then-Test, Angelopoulos et al. 2021,
   https://arxiv.org/abs/2110.01052). Its upper bound is the one-sided Clopper–Pearson bound (Clopper and
   Pearson 1934, https://doi.org/10.1093/biomet/26.4.404), computed with numpy and :mod:`math` only.

The result is a :class:`~truthloop.review.policy.ReviewPolicy`: ``AnyOf(ConfidenceBelow(global, per={label:
threshold}), Sampling(audit_percent))``: the deterministic audit sample is kept, since audited items are what
measures the error of the items that are not routed.

>>> from truthloop.review.calibration import clopper_pearson_upper
>>> round(clopper_pearson_upper(0, 100, 0.95), 4)  # "rule of three": about 3/n
0.0295
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from truthloop.contracts._reader import child_path
from truthloop.exceptions import ContractError, ManifestLineError, PolicyError
from truthloop.manifest.reader import ManifestReader
from truthloop.review.policy import AnyOf, ConfidenceBelow, ReviewPolicy, Rule, Sampling

__all__ = [
    "Calibration",
    "Outcomes",
    "binomial_cdf",
    "calibrate",
    "clopper_pearson_upper",
    "outcome_line",
    "read_outcomes",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: Labels with fewer shaping items than this share the global threshold.
MIN_LABEL_ITEMS = 50
#: Share of inputs sampled for audit whatever their confidence.
AUDIT_PERCENT = 1.0


# ============================================================================================ reading


@dataclass
class Outcomes:
    """Reviewed predictions: per item its id, the model's label and confidence, and the human's label."""

    ids: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    confidence: list[float] = field(default_factory=list)
    truth: list[str] = field(default_factory=list)
    lines: int = 0
    skipped: int = 0

    def __len__(self) -> int:
        return len(self.ids)

    def arrays(self) -> tuple[FloatArray, BoolArray]:
        """``(confidence, wrong)`` as arrays."""
        wrong = np.array([a != b for a, b in zip(self.labels, self.truth, strict=True)], dtype=bool)
        return np.asarray(self.confidence, dtype=np.float64), wrong


def _unit_number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ContractError(f"expected a number between 0 and 1, got {value!r}"[:120], path)
    if not 0.0 <= value <= 1.0:
        raise ContractError(f"confidence must be between 0 and 1, got {value:g}", path)
    return float(value)


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        raise ContractError(f"{key} must be a non-empty string, got {value!r}"[:120], child_path("$", key))
    return value


def _parse(data: Mapping[str, Any], classes: frozenset[str] | None) -> tuple[str, str, float, str]:
    item_id, label, truth = _text(data, "id"), _text(data, "label"), _text(data, "truth")
    scores = data.get("scores")
    if scores is not None:
        if not isinstance(scores, Mapping):
            raise ContractError("scores must map each label to its probability", "$.scores")
        for name, value in scores.items():
            _unit_number(value, child_path("$.scores", name))
            if classes is not None and name not in classes:
                raise ContractError(f"scores name {name!r}, which is not a class ({sorted(classes)})"[:200], "$.scores")
    if classes is not None:
        for key, value in (("label", label), ("truth", truth)):
            if value not in classes:
                raise ContractError(f"{key} {value!r} is not a class ({sorted(classes)})"[:200], child_path("$", key))
    if "confidence" in data:
        confidence = _unit_number(data["confidence"], "$.confidence")
    elif isinstance(scores, Mapping) and label in scores:
        confidence = float(scores[label])
    else:
        raise ContractError("no confidence (and no scores entry for the label)", "$.confidence")
    return item_id, label, confidence, truth


def read_outcomes(
    path: str | os.PathLike[str],
    *,
    classes: Iterable[str] | None = None,
    strict: bool = False,
    on_skip: Callable[[ManifestLineError], None] | None = None,
) -> Outcomes:
    """Reviewed predictions from a JSON Lines file (or folder, or ``s3://`` prefix).

    ``classes``: the label set; without it, the labels and truths of the file are the classes, and a label in
    ``scores`` that is neither is reported. A bad line goes to ``on_skip`` with its line number and a one-line
    reason and is skipped, or is raised as :class:`ManifestLineError` when ``strict``.
    """
    out = Outcomes()

    def skip(error: ManifestLineError) -> None:
        if strict:
            raise error
        out.skipped += 1
        if on_skip is not None:
            on_skip(error)

    records = []
    for record in ManifestReader(path, on_error=skip):
        out.lines += 1
        records.append(record)
    known = frozenset(classes) if classes is not None else None
    if known is None:
        seen: set[str] = set()
        for record in records:
            for key in ("label", "truth"):
                value = record.data.get(key)
                if isinstance(value, str) and value:
                    seen.add(value)
        known = frozenset(seen)
    for record in records:
        try:
            item_id, label, confidence, truth = _parse(record.data, known)
        except ContractError as exc:
            skip(record.error(str(exc)))
            continue
        out.ids.append(item_id)
        out.labels.append(label)
        out.confidence.append(confidence)
        out.truth.append(truth)
    return out


def outcome_line(result: Mapping[str, Any]) -> dict[str, Any] | None:
    """A calibration line from a stored review result (``ReviewResult.to_dict()``, or a results-table item's
    ``result``); ``None`` when the loop has no single model label and human label to compare."""
    model, human = result.get("modelLabel"), result.get("humanLabel")
    if not isinstance(model, str) or not isinstance(human, str) or result.get("status", "Completed") != "Completed":
        return None
    scores: dict[str, float] = {}
    for p in result.get("predictions") or []:
        if isinstance(p, Mapping) and p.get("kind", "label") == "label" and isinstance(p.get("label"), str):
            c = p.get("confidence")
            if isinstance(c, (int, float)) and not isinstance(c, bool):
                scores.setdefault(p["label"], float(c))
    if model not in scores:
        return None
    line: dict[str, Any] = {"id": result.get("humanLoopName"), "label": model, "confidence": scores[model]}
    line["scores"] = scores
    line["truth"] = human
    line["rules"] = list(result.get("rules") or [])
    return line


# ============================================================================================ the bound


def binomial_cdf(k: int, n: int, p: float) -> float:
    """``P(X <= k)`` for ``X ~ Binomial(n, p)``, summed in log space (exact to rounding; fine for n up to 10⁷)."""
    if k < 0:
        return 0.0
    if k >= n or p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 0.0
    i = np.arange(k + 1, dtype=np.float64)
    log_terms = (
        math.lgamma(n + 1)
        - np.vectorize(math.lgamma)(i + 1)
        - np.vectorize(math.lgamma)(n - i + 1)
        + i * math.log(p)
        + (n - i) * math.log1p(-p)
    )
    top = float(log_terms.max())
    return float(min(1.0, math.exp(top) * float(np.exp(log_terms - top).sum())))


def clopper_pearson_upper(k: int, n: int, confidence: float) -> float:
    """One-sided Clopper–Pearson upper bound of a rate seen ``k`` times in ``n``: the ``p`` with
    ``P(Binomial(n, p) <= k) = 1 - confidence`` (bisection, to 1e-12)."""
    if n <= 0:
        return 1.0
    if k >= n:
        return 1.0
    alpha = 1.0 - confidence
    low, high = k / n, 1.0
    for _ in range(60):
        mid = (low + high) / 2
        if binomial_cdf(k, n, mid) > alpha:
            low = mid
        else:
            high = mid
    return high


# ============================================================================================ calibration


def _half(item_id: str) -> bool:
    """The deterministic split: ``True`` for the shaping half."""
    return hashlib.blake2b(item_id.encode("utf-8"), digest_size=8).digest()[0] & 1 == 0


@dataclass(frozen=True)
class _Curve:
    """One label's trade-off on the shaping half: accepting its ``k`` most confident groups of equal confidence."""

    cut: FloatArray  # threshold accepting exactly the first k groups (k = 0..G); route iff confidence < cut
    accepted: FloatArray
    errors: FloatArray

    @classmethod
    def of(cls, confidence: FloatArray, wrong: BoolArray) -> _Curve:
        order = np.argsort(-confidence, kind="stable")
        c, w = confidence[order], wrong[order]
        values, starts = np.unique(-c, return_index=True)  # groups of equal confidence, most confident first
        ends = np.append(starts[1:], c.size)
        cum_errors = np.concatenate([[0.0], np.cumsum(w)])
        accepted = np.concatenate([[0.0], ends.astype(np.float64)])
        errors = cum_errors[accepted.astype(np.int64)]
        if not c.size:
            return cls(cut=np.ones(1), accepted=np.zeros(1), errors=np.zeros(1))
        # accepting nothing needs a threshold above the top confidence: impossible when that is 1 (the rule
        # routes confidence < threshold <= 1), so then the least a label can accept is its confidence-1 items
        cut = np.concatenate([[float(np.nextafter(-values[0], 2.0))], -values])
        if -values[0] >= 1.0:
            return cls(cut=cut[1:], accepted=accepted[1:], errors=errors[1:])
        return cls(cut=cut, accepted=accepted, errors=errors)

    def choose(self, price: float) -> float:
        """The threshold maximising ``accepted − price·errors`` (the most cautious one among equals)."""
        gain = self.accepted - price * self.errors
        return float(self.cut[int(np.argmax(gain))])


@dataclass(frozen=True)
class Calibration:
    """What :func:`calibrate` chose and why: the policy, its thresholds and the bound it was tested against."""

    policy: ReviewPolicy
    threshold: float
    per_label: dict[str, float]
    target: float
    confidence: float
    upper_bound: float
    test_items: int
    test_residual_errors: int
    test_routed_fraction: float
    shaping_items: int
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target_error": self.target,
            "confidence": self.confidence,
            "residual_error_upper_bound": round(self.upper_bound, 6),
            "test_items": self.test_items,
            "test_residual_errors": self.test_residual_errors,
            "test_routed_fraction": round(self.test_routed_fraction, 6),
            "shaping_items": self.shaping_items,
            "threshold": self.threshold,
            "per_label": dict(self.per_label),
            **self.extra,
        }


def _thresholds(per_label_curves: Mapping[str, _Curve], pooled: _Curve, price: float) -> tuple[float, dict[str, float]]:
    return pooled.choose(price), {name: curve.choose(price) for name, curve in per_label_curves.items()}


def _route(confidence: FloatArray, labels: list[str], threshold: float, per: Mapping[str, float]) -> BoolArray:
    limits = np.array([per.get(name, threshold) for name in labels], dtype=np.float64)
    routed: BoolArray = confidence < limits
    return routed


def calibrate(
    outcomes: Outcomes,
    *,
    target: float,
    confidence: float = 0.95,
    min_label_items: int = MIN_LABEL_ITEMS,
    audit_percent: float = AUDIT_PERCENT,
    audit_salt: str = "",
    prices: int = 1000,
) -> Calibration:
    """Per-label thresholds routing the fewest items with residual error at most ``target`` (see the module).

    Raises :class:`PolicyError` when the target or confidence is out of range, or when even routing every item
    cannot be shown to meet the target with the data given.
    """
    if not 0.0 < target < 1.0:
        raise PolicyError(f"the target error must be between 0 and 1 (exclusive), got {target:g}")
    if not 0.5 <= confidence < 1.0:
        raise PolicyError(f"the confidence must be within [0.5, 1), got {confidence:g}")
    if len(outcomes) == 0:
        raise PolicyError("no reviewed predictions to calibrate on")
    conf, wrong = outcomes.arrays()
    shaping = np.array([_half(i) for i in outcomes.ids], dtype=bool)
    if shaping.all() or not shaping.any():
        shaping = np.arange(len(outcomes)) % 2 == 0
    labels = outcomes.labels
    shape_labels = [labels[i] for i in np.flatnonzero(shaping).tolist()]
    test_idx = np.flatnonzero(~shaping)
    test_labels = [labels[i] for i in test_idx.tolist()]
    s_conf, s_wrong = conf[shaping], wrong[shaping]
    pooled = _Curve.of(s_conf, s_wrong)
    per_label_curves: dict[str, _Curve] = {}
    names = np.array(shape_labels, dtype=object)
    for name in sorted(set(shape_labels)):
        mask = names == name
        if int(mask.sum()) >= min_label_items:
            per_label_curves[name] = _Curve.of(s_conf[mask], s_wrong[mask])
    # the family, most cautious first: prices from "an error outweighs every accepted item" down to 0
    top = float(len(shape_labels) + 1)
    grid = np.concatenate([[top], np.geomspace(top, 1e-3, prices), [0.0]])
    n_test = int(test_idx.size)
    t_conf, t_wrong = conf[test_idx], wrong[test_idx]
    alpha = 1.0 - confidence
    chosen: tuple[float, dict[str, float], int, float] | None = None
    seen: set[tuple[float, tuple[tuple[str, float], ...]]] = set()
    for price in grid.tolist():
        threshold, per = _thresholds(per_label_curves, pooled, price)
        key = (threshold, tuple(sorted(per.items())))
        if key in seen:
            continue
        seen.add(key)
        routed = _route(t_conf, test_labels, threshold, per)
        residual = int(np.sum(~routed & t_wrong))
        # H0: residual error > target; reject when P(X <= residual | n, target) <= alpha
        if binomial_cdf(residual, n_test, target) > alpha:
            break
        chosen = (threshold, per, residual, float(routed.mean()) if n_test else 0.0)
    if chosen is None:
        raise PolicyError(
            f"cannot show a residual error of at most {target:g} with {confidence:.0%} confidence from "
            f"{n_test} test items, even routing nearly everything: give more reviewed items or a larger target"
        )
    threshold, per, residual, routed_fraction = chosen
    per = {name: value for name, value in per.items() if value != threshold}
    rules: list[Rule] = [ConfidenceBelow(threshold, per=per or None)]
    if audit_percent > 0:
        rules.append(Sampling(audit_percent, salt=audit_salt, name="audit"))
    policy = ReviewPolicy(AnyOf(*rules) if len(rules) > 1 else rules[0])
    return Calibration(
        policy=policy,
        threshold=threshold,
        per_label=per,
        target=target,
        confidence=confidence,
        upper_bound=clopper_pearson_upper(residual, n_test, confidence),
        test_items=n_test,
        test_residual_errors=residual,
        test_routed_fraction=routed_fraction,
        shaping_items=int(shaping.sum()),
    )
