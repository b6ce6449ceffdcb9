"""The value types of the review path: :class:`Prediction` and :class:`ReviewDecision`.

A :class:`Prediction` is one judgement a model made (a label, an entity, a form field, a query answer) with its
confidence normalised to 0..1. Adapters build them from service responses; the policy judges them; the
InputContent sent to A2I carries them in the uniform shape of ``docs/interfaces.md``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = [
    "KINDS",
    "SOURCES",
    "Kind",
    "Prediction",
    "ReviewDecision",
    "normalise_key",
]

Kind = Literal["label", "entity", "form_field", "query_answer", "missing_key"]

#: Every prediction kind (docs/interfaces.md "A2I review input").
KINDS: Final = ("label", "entity", "form_field", "query_answer", "missing_key")

#: The source ids truthloop adapts (docs/design.md).
SOURCES: Final = (
    "rekognition:detect_moderation_labels",
    "rekognition:detect_labels",
    "textract:analyze_document",
    "comprehend:detect_sentiment",
    "comprehend:classify_document",
    "comprehend:detect_entities",
    "sagemaker:invoke_endpoint",
)

_SPACES = re.compile(r"\s+")


def normalise_key(text: str) -> str:
    """How form keys are compared: case-folded, inner whitespace collapsed, trailing ``:`` dropped."""
    return _SPACES.sub(" ", text).strip().rstrip(":").strip().casefold()


_EMPTY: Mapping[str, Any] = {}


@dataclass(frozen=True, slots=True)
class Prediction:
    """One model judgement, ready for a review policy.

    ``confidence`` is 0..1 whatever the service's scale (``None`` only for ``missing_key``). ``subject`` is what
    per-target thresholds are keyed on: the label (``label``), the entity type (``entity``) or the form key / query
    alias (``form_field``, ``query_answer``, ``missing_key``). ``scores`` holds extra named confidences (Textract:
    ``key``, ``value``, ``words``; all 0..1) and ``raw`` the service item the prediction came from.
    """

    kind: Kind
    confidence: float | None
    label: str | None = None
    value: str | None = None
    key: str | None = None
    locator: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    scores: Mapping[str, float] = field(default_factory=lambda: _EMPTY)
    raw: Any = field(default=None, compare=False, repr=False)
    subject: str = field(default="", compare=False, repr=False)
    subject_key: str = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind in ("form_field", "query_answer", "missing_key"):
            subject = self.key or ""
            object.__setattr__(self, "subject", subject)
            object.__setattr__(self, "subject_key", normalise_key(subject))
        else:
            subject = self.label or ""
            object.__setattr__(self, "subject", subject)
            object.__setattr__(self, "subject_key", subject)

    def to_input(self, flagged: bool) -> dict[str, Any]:
        """The uniform InputContent form (docs/interfaces.md); ``scores`` is added when present."""
        out: dict[str, Any] = {
            "kind": self.kind,
            "label": self.label,
            "confidence": self.confidence,
            "value": self.value,
            "key": self.key,
            "locator": dict(self.locator),
            "flagged": flagged,
        }
        if self.scores:
            out["scores"] = dict(self.scores)
        return out

    @classmethod
    def from_input(cls, item: Mapping[str, Any], path: str = "$") -> Prediction:
        """Rebuild a prediction from its InputContent form (the completion side reads them back); a malformed item
        raises :class:`~truthloop.exceptions.ContractError` naming the JSON path."""
        from truthloop.exceptions import ContractError

        def number(value: Any, where: str) -> float | None:
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
                raise ContractError(f"expected a number or null, got {type(value).__name__}", f"{path}.{where}")
            return float(value)

        def text(name: str) -> str | None:
            value = item.get(name)
            if value is not None and not isinstance(value, str):
                raise ContractError(f"expected a string or null, got {type(value).__name__}", f"{path}.{name}")
            return value

        scores = item.get("scores") or {}
        locator = item.get("locator") or {}
        if not isinstance(scores, Mapping):
            raise ContractError(f"expected an object of scores, got {type(scores).__name__}", f"{path}.scores")
        if not isinstance(locator, Mapping):
            raise ContractError(f"expected an object, got {type(locator).__name__}", f"{path}.locator")
        kind = item.get("kind", "label")
        if not isinstance(kind, str):
            raise ContractError(f"expected a string, got {type(kind).__name__}", f"{path}.kind")
        return cls(
            kind=kind,  # type: ignore[arg-type]
            confidence=number(item.get("confidence"), "confidence"),
            label=text("label"),
            value=text("value"),
            key=text("key"),
            locator=dict(locator),
            scores={str(k): number(v, f"scores.{k}") or 0.0 for k, v in scores.items()},
        )

    def describe(self) -> str:
        """A short human-readable name for reasons: ``POSITIVE``, ``PERSON "Jane"``, ``form key "Pay Date"``."""
        if self.kind == "label":
            return self.label or "?"
        if self.kind == "entity":
            return f'{self.label} "{self.value}"'
        if self.kind == "query_answer":
            return f'query "{self.key}"'
        return f'form key "{self.key}"'


@dataclass(frozen=True, slots=True)
class ReviewDecision:
    """What a :class:`~truthloop.review.policy.ReviewPolicy` decided for one set of predictions.

    ``predictions`` are the judged predictions, including ``missing_key`` ones the policy added; ``flagged`` holds
    the indices of those that made the policy route; ``rules`` the names of the rules that fired (each once, in
    firing order) and ``reasons`` one human-readable line per finding, shown to the reviewer.
    """

    route: bool
    predictions: tuple[Prediction, ...]
    flagged: tuple[int, ...] = ()
    rules: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()

    @property
    def flagged_predictions(self) -> tuple[Prediction, ...]:
        return tuple(self.predictions[i] for i in self.flagged)

    def to_dict(self) -> dict[str, Any]:
        flagged = set(self.flagged)
        return {
            "route": self.route,
            "rules": list(self.rules),
            "reasons": list(self.reasons),
            "predictions": [p.to_input(i in flagged) for i, p in enumerate(self.predictions)],
        }
