"""Review policies: composable rules that decide whether a set of predictions goes to human review.

    >>> from truthloop.review import ReviewPolicy, ConfidenceBelow, Sampling, AnyOf, Prediction
    >>> policy = ReviewPolicy(AnyOf(ConfidenceBelow(0.7, per={"MIXED": 0.9}), Sampling(5)))
    >>> decision = policy.decide([Prediction(kind="label", label="POSITIVE", confidence=0.58)])
    >>> decision.route, decision.rules, decision.reasons
    (True, ('threshold',), ('POSITIVE: confidence 0.58 is below the 0.70 threshold',))

Rules:

* :class:`ConfidenceBelow` — a prediction whose confidence is below a threshold, global and/or per subject (label,
  entity type, form key or query alias); optionally also requiring low word confidence (Textract).
* :class:`RequiredFormKeys` — a required form key (or any alias) is absent; adds a ``missing_key`` prediction.
* :class:`Sampling` — a deterministic random audit sample: the same input always gets the same outcome.
* :class:`NoPredictions` — the model returned nothing to judge.
* :class:`AnyOf` / :class:`AllOf` — combinators. Like A2I, every child is evaluated and every finding reported.

A :class:`Budget` (:mod:`truthloop.review.budget`) caps the loops started per time window; the
:class:`~truthloop.review.client.ReviewClient` enforces it and records the excess as deferred.
:meth:`ReviewPolicy.decide` itself is pure and fast.

:meth:`ReviewPolicy.to_activation_conditions` emits the A2I activation-conditions JSON for the built-in sources
(aws-contracts.md §8) where the policy is expressible, and raises :class:`~truthloop.exceptions.PolicyError`
saying why where it is not; the compiler and the conditions' validation live in :mod:`truthloop.review.activation`.
"""

from __future__ import annotations

import hashlib
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar

from truthloop.contracts._reader import child_path
from truthloop.exceptions import PolicyError
from truthloop.review._policy_errors import _error
from truthloop.review.activation import (
    CONDITION_TYPES,
    MAX_CONDITIONS_CHARS,
    MAX_NESTING,
    Conditions,
    policy_conditions,
    validate_activation_conditions,
)
from truthloop.review.budget import Budget, BudgetStore, InMemoryBudgetStore, budget_from_dict
from truthloop.review.types import KINDS, Prediction, ReviewDecision, normalise_key

# the A2I compiler lives in truthloop.review.activation; its names stay importable from here
__all__ = [
    "CONDITION_TYPES",
    "MAX_CONDITIONS_CHARS",
    "MAX_NESTING",
    "AllOf",
    "AnyOf",
    "Budget",
    "BudgetStore",
    "ConfidenceBelow",
    "InMemoryBudgetStore",
    "NoPredictions",
    "RequiredFormKeys",
    "ReviewPolicy",
    "Rule",
    "Sampling",
    "sample_fraction",
    "validate_activation_conditions",
]

POLICY_VERSION = 1
_KEY_KINDS = frozenset({"form_field", "query_answer", "missing_key"})
_SCORED_KINDS = ("label", "entity", "form_field", "query_answer")
_TWO64 = float(1 << 64)


def sample_fraction(key: bytes, salt: bytes = b"") -> float:
    """A deterministic number in [0, 1) for ``key``: the same key (and salt) always gives the same number."""
    digest = hashlib.blake2b(key, digest_size=8, key=salt[:64]).digest()
    return int.from_bytes(digest, "big") / _TWO64


def prediction_key(predictions: Sequence[Prediction]) -> bytes:
    """A canonical byte key for a list of predictions (used for sampling when no input key is given)."""
    parts = [
        f"{p.kind}\x1f{p.label}\x1f{p.key}\x1f{p.value}\x1f{p.confidence!r}\x1f{sorted(p.locator.items())!r}"
        for p in predictions
    ]
    return "\x1e".join(parts).encode("utf-8")


# ============================================================================================ evaluation


#: A sampling key: bytes, text, ``None`` (use the predictions), or a function returning one (called only if needed).
SampleKey = bytes | str | Callable[[], bytes | str] | None


class _Context:
    """Per-decision state shared by rules: the (lazily computed) sampling key."""

    __slots__ = ("_key", "predictions")

    def __init__(self, predictions: tuple[Prediction, ...], key: SampleKey) -> None:
        self.predictions = predictions
        self._key = key

    @property
    def key(self) -> bytes:
        """The sampling key: computed on first use (only sampling rules need it)."""
        key = self._key
        if callable(key):
            key = key()
        if key is None:
            key = prediction_key(self.predictions)
        if isinstance(key, str):
            key = key.encode("utf-8")
        self._key = key
        return key


class _Hit:
    """What a rule found: rule names, reasons, flagged prediction indices and extra (missing-key) predictions."""

    __slots__ = ("extra", "flagged", "reasons", "rules")

    def __init__(
        self,
        rules: list[str],
        reasons: list[str],
        flagged: list[int],
        extra: list[Prediction] | None = None,
    ) -> None:
        self.rules = rules
        self.reasons = reasons
        self.flagged = flagged
        self.extra = extra or []

    def merge(self, other: _Hit) -> None:
        self.rules.extend(other.rules)
        self.reasons.extend(other.reasons)
        self.flagged.extend(other.flagged)
        self.extra.extend(other.extra)


_Conditions = Conditions


class Rule(ABC):
    """A review rule. ``evaluate`` returns ``None`` when the rule does not fire."""

    type: ClassVar[str]
    name: str

    @abstractmethod
    def evaluate(self, predictions: tuple[Prediction, ...], context: _Context) -> _Hit | None:
        """The finding for ``predictions``, or ``None``."""

    @abstractmethod
    def to_dict(self) -> dict[str, Any]:
        """The JSON form (see :meth:`ReviewPolicy.from_dict`)."""

    def conditions(self, source: str, path: str, policy: ReviewPolicy) -> _Conditions:
        """A2I activation conditions equivalent to this rule for ``source`` (a disjunction); raise if none.

        The built-in rules are compiled by :mod:`truthloop.review.activation`; a rule class of your own overrides
        this to take part (the default says A2I cannot express it)."""
        from truthloop.review.activation import rule_conditions

        return rule_conditions(self, source, path, policy)

    def leaves(self) -> Iterable[Rule]:
        yield self

    def _named(self, out: dict[str, Any]) -> dict[str, Any]:
        if self.name != self.type:
            out["name"] = self.name
        return out


def _unit(value: Any, what: str, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        raise _error(f"{what} must be a number, got {value!r}", path)
    number = float(value)
    if not 0.0 <= number <= 1.0:
        raise _error(f"{what} must be within 0..1 (confidences are normalised), got {number:g}", path)
    return number


class ConfidenceBelow(Rule):
    """Fires for each prediction whose confidence is below its threshold.

    ``threshold`` applies to every subject not named in ``per`` (``None``: only the subjects in ``per`` are
    checked). Subjects are labels, entity types, form keys or query aliases; form keys match case-insensitively.
    ``kinds`` limits the rule to some prediction kinds. ``word_threshold`` (Textract) additionally requires the
    lowest word confidence of a form field to be below it, like A2I's ``WordBlockConfidenceLessThan``.
    """

    type: ClassVar[str] = "threshold"

    def __init__(
        self,
        threshold: float | None = None,
        *,
        per: Mapping[str, float] | None = None,
        kinds: Sequence[str] | None = None,
        word_threshold: float | None = None,
        name: str | None = None,
    ) -> None:
        self.threshold = None if threshold is None else _unit(threshold, "threshold", "$.threshold")
        self.per = {
            str(k): _unit(v, f"threshold for {k!r}", child_path("$.per", str(k))) for k, v in (per or {}).items()
        }
        if self.threshold is None and not self.per:
            raise _error("a threshold rule needs a global threshold or per-subject thresholds", "$.threshold")
        if kinds is not None:
            bad = [k for k in kinds if k not in _SCORED_KINDS]
            if bad:
                raise _error(f"unknown or unscored kinds {bad}; expected some of {list(_SCORED_KINDS)}", "$.kinds")
        self.kinds = None if kinds is None else tuple(dict.fromkeys(kinds))
        self._kinds = frozenset(self.kinds or _SCORED_KINDS)
        self.word_threshold = (
            None if word_threshold is None else _unit(word_threshold, "word_threshold", "$.word_threshold")
        )
        self.name = name or self.type
        self._per_exact = dict(self.per)
        self._per_key = {normalise_key(k): v for k, v in self.per.items()}

    @property
    def judged_kinds(self) -> frozenset[str]:
        """The prediction kinds this rule judges (``kinds``, or every scored kind)."""
        return self._kinds

    def threshold_for(self, prediction: Prediction) -> float | None:
        found = self._per_exact.get(prediction.subject)
        if found is None and prediction.kind in _KEY_KINDS:
            found = self._per_key.get(prediction.subject_key)
        return self.threshold if found is None else found

    def evaluate(self, predictions: tuple[Prediction, ...], context: _Context) -> _Hit | None:
        hit: _Hit | None = None
        kinds = self._kinds
        word = self.word_threshold
        for index, p in enumerate(predictions):
            confidence = p.confidence
            if confidence is None or p.kind not in kinds:
                continue
            limit = self.threshold_for(p)
            if limit is None or confidence >= limit:
                continue
            if word is not None and p.scores.get("words", 1.0) >= word:
                continue
            reason = f"{p.describe()}: confidence {confidence:.2f} is below the {limit:.2f} threshold"
            if word is not None:
                reason += f" and its lowest word confidence {p.scores['words']:.2f} is below {word:.2f}"
            if hit is None:
                hit = _Hit([self.name], [reason], [index])
            else:
                hit.reasons.append(reason)
                hit.flagged.append(index)
        return hit

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "threshold": self.threshold}
        if self.per:
            out["per"] = dict(self.per)
        if self.kinds is not None:
            out["kinds"] = list(self.kinds)
        if self.word_threshold is not None:
            out["word_threshold"] = self.word_threshold
        return self._named(out)


class RequiredFormKeys(Rule):
    """Fires when a required form key (or any of its aliases) is not among the form fields (Textract FORMS).

    Each absent key is added to the decision as a ``missing_key`` prediction, flagged, so the reviewer is asked
    for it.
    """

    type: ClassVar[str] = "required_keys"

    def __init__(self, keys: Mapping[str, Sequence[str]] | Sequence[str], *, name: str | None = None) -> None:
        if isinstance(keys, str):
            raise _error("keys must be a list of keys or a mapping of key → aliases, not a string", "$.keys")
        items = keys.items() if isinstance(keys, Mapping) else ((k, ()) for k in keys)
        self.keys: dict[str, tuple[str, ...]] = {}
        for key, aliases in items:
            if not isinstance(key, str) or not key.strip():
                raise _error(f"form keys must be non-empty strings, got {key!r}", "$.keys")
            if isinstance(aliases, str) or not all(isinstance(a, str) for a in aliases):
                raise _error(f"aliases of {key!r} must be a list of strings", child_path("$.keys", str(key)))
            self.keys[key] = tuple(aliases)
        if not self.keys:
            raise _error("a required_keys rule needs at least one key", "$.keys")
        self.name = name or self.type
        self._names = [(key, frozenset({normalise_key(key), *map(normalise_key, al)})) for key, al in self.keys.items()]

    def evaluate(self, predictions: tuple[Prediction, ...], context: _Context) -> _Hit | None:
        present = {p.subject_key for p in predictions if p.kind == "form_field"}
        missing = [key for key, names in self._names if present.isdisjoint(names)]
        if not missing:
            return None
        extra = [
            Prediction(kind="missing_key", key=key, confidence=None, locator={"aliases": list(self.keys[key])})
            for key in missing
        ]
        reasons = [f'form key "{key}": required but not found in the document' for key in missing]
        return _Hit([self.name], reasons, [], extra)

    def to_dict(self) -> dict[str, Any]:
        return self._named({"type": self.type, "keys": {k: list(v) for k, v in self.keys.items()}})


class Sampling(Rule):
    """Fires for a deterministic ``percentage`` of inputs (an audit sample, like A2I's ``Sampling``).

    The outcome is a hash of the input key (the canonical input the client passes, or the predictions) and
    ``salt``, so the same input always gets the same outcome and two salts sample independently.
    """

    type: ClassVar[str] = "sampling"

    def __init__(self, percentage: float, *, salt: str = "", name: str | None = None) -> None:
        if isinstance(percentage, bool) or not isinstance(percentage, (int, float)):
            raise _error(f"percentage must be a number, got {percentage!r}", "$.percentage")
        if not 0.0 <= float(percentage) <= 100.0:
            raise _error(f"percentage must be within 0..100, got {percentage:g}", "$.percentage")
        self.percentage = float(percentage)
        self.salt = str(salt)
        self.name = name or self.type
        self._salt = hashlib.blake2b(self.salt.encode("utf-8"), digest_size=16).digest() if self.salt else b""
        self._limit = self.percentage / 100.0

    def fires_for(self, key: bytes) -> bool:
        return sample_fraction(key, self._salt) < self._limit

    def evaluate(self, predictions: tuple[Prediction, ...], context: _Context) -> _Hit | None:
        if self._limit <= 0.0 or not self.fires_for(context.key):
            return None
        return _Hit([self.name], [f"sampled for audit ({self.percentage:g}% of inputs)"], [])

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "percentage": self.percentage}
        if self.salt:
            out["salt"] = self.salt
        return self._named(out)


class NoPredictions(Rule):
    """Fires when the model returned no predictions (of ``kinds``, when given): nothing to trust."""

    type: ClassVar[str] = "no_predictions"

    def __init__(self, *, kinds: Sequence[str] | None = None, name: str | None = None) -> None:
        if kinds is not None:
            bad = [k for k in kinds if k not in KINDS]
            if bad:
                raise _error(f"unknown kinds {bad}; expected some of {list(KINDS)}", "$.kinds")
        self.kinds = None if kinds is None else tuple(kinds)
        self.name = name or self.type

    def evaluate(self, predictions: tuple[Prediction, ...], context: _Context) -> _Hit | None:
        kinds = self.kinds
        if any(kinds is None or p.kind in kinds for p in predictions):
            return None
        return _Hit([self.name], ["the model returned no predictions"], [])

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.kinds is not None:
            out["kinds"] = list(self.kinds)
        return self._named(out)


class _Combinator(Rule):
    def __init__(self, *rules: Rule, name: str | None = None) -> None:
        if len(rules) == 1 and isinstance(rules[0], (list, tuple)):
            rules = tuple(rules[0])
        if not rules:
            raise _error(f"{self.type} needs at least one rule", "$.rules")
        for rule in rules:
            if not isinstance(rule, Rule):
                raise _error(f"{self.type} takes rules, got {type(rule).__name__}", "$.rules")
        self.rules: tuple[Rule, ...] = tuple(rules)
        self.name = name or self.type

    def leaves(self) -> Iterable[Rule]:
        for rule in self.rules:
            yield from rule.leaves()

    def to_dict(self) -> dict[str, Any]:
        return self._named({"type": self.type, "rules": [r.to_dict() for r in self.rules]})


class AnyOf(_Combinator):
    """Fires when any child fires; every child is evaluated and all findings are reported (as A2I does)."""

    type: ClassVar[str] = "any"

    def evaluate(self, predictions: tuple[Prediction, ...], context: _Context) -> _Hit | None:
        hit: _Hit | None = None
        for rule in self.rules:
            found = rule.evaluate(predictions, context)
            if found is None:
                continue
            if hit is None:
                hit = found
            else:
                hit.merge(found)
        return hit


class AllOf(_Combinator):
    """Fires when every child fires; the findings of all children are reported."""

    type: ClassVar[str] = "all"

    def evaluate(self, predictions: tuple[Prediction, ...], context: _Context) -> _Hit | None:
        hit: _Hit | None = None
        for rule in self.rules:
            found = rule.evaluate(predictions, context)
            if found is None:
                return None
            if hit is None:
                hit = found
            else:
                hit.merge(found)
        return hit


# ============================================================================================ policy


class ReviewPolicy:
    """A rule tree plus an optional :class:`Budget`. Serialisable: ``to_dict``/``from_dict`` round-trip."""

    def __init__(self, rule: Rule, *, budget: Budget | None = None) -> None:
        if not isinstance(rule, Rule):
            raise _error(f"a policy needs a rule, got {type(rule).__name__}", "$.rule")
        self.rule = rule
        self.budget = budget
        self._evaluate = rule.evaluate

    # -------------------------------------------------------------------------------------------- deciding

    def decide(self, predictions: Iterable[Prediction], *, key: SampleKey = None) -> ReviewDecision:
        """Whether to route ``predictions``, which rules fired and why.

        ``key`` identifies the input for sampling (the client passes the canonical input, lazily); without it the
        predictions themselves are the key. Pure: no budget is consumed.
        """
        preds = predictions if type(predictions) is tuple else tuple(predictions)
        hit = self._evaluate(preds, _Context(preds, key))
        if hit is None:
            return ReviewDecision(False, preds)
        flagged = hit.flagged
        if hit.extra:
            seen: set[str] = set()
            extra = []
            for p in hit.extra:
                if p.subject_key not in seen:
                    seen.add(p.subject_key)
                    extra.append(p)
            flagged = flagged + list(range(len(preds), len(preds) + len(extra)))
            preds = preds + tuple(extra)
        rules = hit.rules if len(hit.rules) == 1 else list(dict.fromkeys(hit.rules))
        return ReviewDecision(True, preds, tuple(sorted(set(flagged))), tuple(rules), tuple(hit.reasons))

    @classmethod
    def threshold(cls, threshold: float, **kwargs: Any) -> ReviewPolicy:
        """A policy with one :class:`ConfidenceBelow` rule."""
        return cls(ConfidenceBelow(threshold, **kwargs))

    def rule_names(self) -> list[str]:
        return list(dict.fromkeys(leaf.name for leaf in self.rule.leaves()))

    def form_key_aliases(self) -> dict[str, tuple[str, ...]]:
        """Normalised form key → aliases, from every :class:`RequiredFormKeys` rule."""
        out: dict[str, tuple[str, ...]] = {}
        for leaf in self.rule.leaves():
            if isinstance(leaf, RequiredFormKeys):
                for key, aliases in leaf.keys.items():
                    out[normalise_key(key)] = tuple(dict.fromkeys([*out.get(normalise_key(key), ()), *aliases]))
        return out

    def important_form_keys(self) -> list[dict[str, Any]]:
        """``humanLoopContext.importantFormKeys`` for Textract reviews: required keys and keys with thresholds."""
        out: dict[str, dict[str, Any]] = {}
        for leaf in self.rule.leaves():
            if isinstance(leaf, RequiredFormKeys):
                for key, aliases in leaf.keys.items():
                    entry = out.setdefault(normalise_key(key), {"importantFormKey": key, "importantFormKeyAliases": []})
                    entry["importantFormKeyAliases"] = list(
                        dict.fromkeys([*entry["importantFormKeyAliases"], *aliases])
                    )
            elif isinstance(leaf, ConfidenceBelow) and (leaf.kinds is None or "form_field" in leaf.kinds):
                for key in leaf.per:
                    out.setdefault(normalise_key(key), {"importantFormKey": key, "importantFormKeyAliases": []})
        return list(out.values())

    # -------------------------------------------------------------------------------------------- serialising

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": POLICY_VERSION, "rule": self.rule.to_dict()}
        if self.budget is not None:
            out["budget"] = self.budget.to_dict()
        return out

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: Any) -> ReviewPolicy:
        """Parse the JSON form; raises :class:`PolicyError` naming the JSON path of the first problem."""
        if not isinstance(data, Mapping):
            raise _error(f"a policy must be a JSON object, got {type(data).__name__}", "$")
        unknown = sorted(set(data) - {"version", "rule", "budget"})
        if unknown:
            raise _error(f"unknown policy keys {unknown}; expected version, rule, budget", "$")
        version = data.get("version", POLICY_VERSION)
        if version != POLICY_VERSION:
            raise _error(f"unsupported policy version {version!r}; this truthloop reads version 1", "$.version")
        if "rule" not in data:
            raise _error("required field is missing", "$.rule")
        rule = _rule_from_dict(data["rule"], "$.rule")
        budget = None
        if data.get("budget") is not None:
            budget = budget_from_dict(data["budget"], "$.budget")
        return cls(rule, budget=budget)

    @classmethod
    def from_json(cls, text: str | bytes) -> ReviewPolicy:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise _error(f"policy is not valid JSON: {exc}", "$") from None
        return cls.from_dict(data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReviewPolicy) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __repr__(self) -> str:
        return f"ReviewPolicy({self.to_json(sort_keys=True)})"

    # -------------------------------------------------------------------------------------------- A2I

    def to_activation_conditions(self, source: str | None = None, *, drop_budget: bool = False) -> dict[str, Any]:
        """The ``HumanLoopActivationConditions`` JSON for a built-in source's flow definition
        (:func:`truthloop.review.activation.policy_conditions`).

        ``source`` is ``rekognition:detect_moderation_labels`` or ``textract:analyze_document`` (or A2I's
        ``AWS/...`` names); when omitted, it is inferred if exactly one built-in source can express the policy.
        Raises :class:`PolicyError` when the policy cannot be expressed: a non-built-in source, a rule A2I has no
        condition for, thresholds A2I's ``"*"`` cannot exempt, more than two levels of And/Or nesting, a sampling
        percentage below 0.01, or a budget (A2I has none; ``drop_budget=True`` emits the conditions anyway and
        leaves the budget to the caller).
        """
        return policy_conditions(self, source, drop_budget=drop_budget)


# ============================================================================================ parsing


def _rule_from_dict(data: Any, path: str) -> Rule:
    if not isinstance(data, Mapping):
        raise _error(f"a rule must be an object, got {type(data).__name__}", path)
    kind = data.get("type")
    factory = _RULES.get(kind) if isinstance(kind, str) else None
    if factory is None:
        raise _error(f"unknown rule type {kind!r}; expected one of {sorted(_RULES)}", f"{path}.type")
    allowed, build = factory
    unknown = sorted(set(data) - allowed - {"type", "name"})
    if unknown:
        raise _error(f"unknown keys {unknown} for a {kind} rule; allowed: {sorted(allowed | {'name'})}", path)
    name = data.get("name")
    if name is not None and (not isinstance(name, str) or not name):
        raise _error("name must be a non-empty string", f"{path}.name")
    try:
        rule: Rule = build(data, path, name)
    except PolicyError as exc:
        if getattr(exc, "absolute", False):
            raise
        inner = getattr(exc, "path", "$")
        raise _error(getattr(exc, "reason", str(exc)), path + inner[1:], absolute=True) from None
    return rule


def _children(data: Mapping[str, Any], path: str) -> list[Rule]:
    rules = data.get("rules")
    if not isinstance(rules, list) or not rules:
        raise _error("rules must be a non-empty array", f"{path}.rules", absolute=True)
    return [_rule_from_dict(child, f"{path}.rules[{i}]") for i, child in enumerate(rules)]


def _number(data: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> Any:
    value = data.get(key)
    if value is None:
        if required:
            raise _error("required field is missing", f"{path}.{key}", absolute=True)
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _error(f"{key} must be a number, got {value!r}", f"{path}.{key}", absolute=True)
    return value


def _build_threshold(data: Mapping[str, Any], path: str, name: str | None) -> Rule:
    per = data.get("per")
    if per is not None and not isinstance(per, Mapping):
        raise _error("per must be an object of subject → threshold", f"{path}.per", absolute=True)
    kinds = data.get("kinds")
    if kinds is not None and (not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds)):
        raise _error("kinds must be a list of strings", f"{path}.kinds", absolute=True)
    return ConfidenceBelow(
        _number(data, "threshold", path),
        per=per,
        kinds=kinds,
        word_threshold=_number(data, "word_threshold", path),
        name=name,
    )


def _build_required(data: Mapping[str, Any], path: str, name: str | None) -> Rule:
    keys = data.get("keys")
    if not isinstance(keys, (list, Mapping)):
        raise _error("keys must be a list of keys or an object of key → aliases", f"{path}.keys", absolute=True)
    return RequiredFormKeys(keys, name=name)


def _build_sampling(data: Mapping[str, Any], path: str, name: str | None) -> Rule:
    salt = data.get("salt", "")
    if not isinstance(salt, str):
        raise _error("salt must be a string", f"{path}.salt", absolute=True)
    return Sampling(_number(data, "percentage", path, required=True), salt=salt, name=name)


def _build_empty(data: Mapping[str, Any], path: str, name: str | None) -> Rule:
    kinds = data.get("kinds")
    if kinds is not None and (not isinstance(kinds, list) or not all(isinstance(k, str) for k in kinds)):
        raise _error("kinds must be a list of strings", f"{path}.kinds", absolute=True)
    return NoPredictions(kinds=kinds, name=name)


_RULES: dict[str, tuple[frozenset[str], Any]] = {
    "threshold": (frozenset({"threshold", "per", "kinds", "word_threshold"}), _build_threshold),
    "required_keys": (frozenset({"keys"}), _build_required),
    "sampling": (frozenset({"percentage", "salt"}), _build_sampling),
    "no_predictions": (frozenset({"kinds"}), _build_empty),
    "any": (frozenset({"rules"}), lambda d, p, n: AnyOf(*_children(d, p), name=n)),
    "all": (frozenset({"rules"}), lambda d, p, n: AllOf(*_children(d, p), name=n)),
}
