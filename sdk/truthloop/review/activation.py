"""Compile a :class:`~truthloop.review.policy.ReviewPolicy` into A2I activation conditions, and check them.

A2I's built-in integrations (aws-contracts.md §8) decide in the service whether a Rekognition or Textract response
starts a human loop, from the flow definition's ``HumanLoopActivationConditions``. :func:`policy_conditions`
translates a policy's rule tree into that JSON where it is expressible, and raises
:class:`~truthloop.exceptions.PolicyError` naming the rule's JSON path and the reason where it is not (a rule A2I
has no condition for, thresholds A2I's ``"*"`` cannot exempt, a sampling percentage below 0.01, a budget, more than
two levels of And/Or). :func:`validate_activation_conditions` checks any conditions JSON against §8.

    >>> from truthloop.review import AnyOf, ConfidenceBelow, ReviewPolicy, Sampling
    >>> policy = ReviewPolicy(AnyOf(ConfidenceBelow(0.7), Sampling(5)))
    >>> policy_conditions(policy, "rekognition:detect_moderation_labels")["Conditions"][1]
    {'ConditionType': 'Sampling', 'ConditionParameters': {'RandomSamplingPercentage': 5}}

:meth:`ReviewPolicy.to_activation_conditions` is the same call.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from truthloop.contracts.a2i import ActivationConditions
from truthloop.exceptions import ContractError, PolicyError
from truthloop.review._policy_errors import _error
from truthloop.review.types import normalise_key

if TYPE_CHECKING:
    from truthloop.review.policy import ReviewPolicy, Rule

__all__ = [
    "CONDITION_TYPES",
    "MAX_CONDITIONS_CHARS",
    "MAX_NESTING",
    "policy_conditions",
    "rule_conditions",
    "validate_activation_conditions",
]

#: Activation conditions are a JSON string of at most this many characters (CreateFlowDefinition, [BC]).
MAX_CONDITIONS_CHARS = 10240
#: A2I allows this many levels of And/Or nesting (aws-contracts.md §8).
MAX_NESTING = 2

MODERATION = "rekognition:detect_moderation_labels"
TEXTRACT = "textract:analyze_document"
#: Every name of a built-in source → its canonical name.
BUILTIN = {
    MODERATION: MODERATION,
    TEXTRACT: TEXTRACT,
    "AWS/Rekognition/DetectModerationLabels/Image/V3": MODERATION,
    "AWS/Textract/AnalyzeDocument/Forms/V1": TEXTRACT,
}
#: Condition types A2I accepts per built-in source.
CONDITION_TYPES = {
    MODERATION: frozenset({"ModerationLabelConfidenceCheck", "Sampling"}),
    TEXTRACT: frozenset({"ImportantFormKeyConfidenceCheck", "MissingImportantFormKey", "Sampling"}),
}

#: A disjunction of A2I ComplexConditions (the top-level ``Conditions`` array means "any of").
Conditions = list[dict[str, Any]]


def percent(value: float) -> float | int:
    """A 0..1 threshold on the A2I 0–100 scale, without float noise (0.7 → 70, 0.655 → 65.5)."""
    scaled = round(value * 100.0, 6)
    return int(scaled) if scaled.is_integer() else scaled


# ============================================================================================ compiling


def policy_conditions(policy: ReviewPolicy, source: str | None = None, *, drop_budget: bool = False) -> dict[str, Any]:
    """The ``HumanLoopActivationConditions`` JSON of ``policy`` for a built-in source's flow definition.

    ``source`` is ``rekognition:detect_moderation_labels`` or ``textract:analyze_document`` (or A2I's ``AWS/...``
    names); when omitted, it is inferred if exactly one built-in source can express the policy. A budget is an
    error unless ``drop_budget`` (A2I has none; the caller then enforces it).
    """
    if source is None:
        return _infer(policy, drop_budget)
    canonical = BUILTIN.get(source)
    if canonical is None:
        raise _error(
            f"activation conditions exist only for A2I's built-in sources (rekognition:detect_moderation_labels, "
            f"textract:analyze_document), not {source!r}; route other sources with ReviewClient",
            "$",
        )
    if policy.budget is not None and not drop_budget:
        raise _error(
            "A2I activation conditions cannot express a budget; pass drop_budget=True (CLI: --drop-budget) "
            "and enforce it yourself",
            "$.budget",
        )
    conditions = _flatten(rule_conditions(policy.rule, canonical, "$.rule", policy))
    result = {"Conditions": conditions}
    validate_activation_conditions(result, canonical)
    return result


def rule_conditions(rule: Rule, source: str, path: str, policy: ReviewPolicy) -> Conditions:
    """The conditions (a disjunction) equivalent to ``rule`` for the canonical ``source``; raises
    :class:`PolicyError` at ``path`` when A2I cannot express it. A rule class of your own takes part by
    overriding :meth:`Rule.conditions <truthloop.review.policy.Rule.conditions>`."""
    from truthloop.review import policy as rules

    if isinstance(rule, rules.ConfidenceBelow):
        return _threshold(rule, source, path, policy)
    if isinstance(rule, rules.RequiredFormKeys):
        return _required_keys(rule, source, path)
    if isinstance(rule, rules.Sampling):
        return _sampling(rule, path)
    if isinstance(rule, rules.NoPredictions):
        raise _error("A2I has no activation condition for an empty response", path)
    if isinstance(rule, rules.AnyOf):
        out: Conditions = []
        for index, child in enumerate(rule.rules):
            out.extend(rule_conditions(child, source, f"{path}.rules[{index}]", policy))
        return out
    if isinstance(rule, rules.AllOf):
        parts: Conditions = []
        for index, child in enumerate(rule.rules):
            found = rule_conditions(child, source, f"{path}.rules[{index}]", policy)
            if len(found) == 1:
                only = found[0]
                parts.extend(only.get("And", [only]))
            else:
                parts.append({"Or": found})
        return parts if len(parts) == 1 else [{"And": parts}]
    if type(rule).conditions is rules.Rule.conditions:
        raise _error(f"A2I has no activation condition for a {type(rule).__name__} rule", path)
    return rule.conditions(source, path, policy)


def _threshold(rule: Any, source: str, path: str, policy: ReviewPolicy) -> Conditions:
    kinds = rule.kinds
    judged = rule.judged_kinds
    if source == MODERATION:
        if "label" not in judged:
            raise _error("this threshold rule judges no moderation labels (kinds excludes 'label')", path)
        if rule.word_threshold is not None:
            raise _error("word_threshold applies to Textract only", f"{path}.word_threshold")
        return _checks(
            rule,
            path,
            "ModerationLabelName",
            lambda subject, limit: {
                "ConditionType": "ModerationLabelConfidenceCheck",
                "ConditionParameters": {"ModerationLabelName": subject, "ConfidenceLessThan": percent(limit)},
            },
        )
    if "query_answer" in (kinds or ()):
        raise _error(
            "A2I's Textract integration (AWS/Textract/AnalyzeDocument/Forms/V1) evaluates FORMS only; "
            "query answers cannot be checked by activation conditions",
            f"{path}.kinds",
        )
    if "form_field" not in judged:
        raise _error("this threshold rule judges no form fields (kinds excludes 'form_field')", path)
    aliases = policy.form_key_aliases()

    def check(subject: str, limit: float) -> dict[str, Any]:
        params: dict[str, Any] = {"ImportantFormKey": subject}
        if subject != "*" and aliases.get(normalise_key(subject)):
            params["ImportantFormKeyAliases"] = list(aliases[normalise_key(subject)])
        params["KeyValueBlockConfidenceLessThan"] = percent(limit)
        if rule.word_threshold is not None:
            params["WordBlockConfidenceLessThan"] = percent(rule.word_threshold)
        return {"ConditionType": "ImportantFormKeyConfidenceCheck", "ConditionParameters": params}

    return _checks(rule, path, "ImportantFormKey", check)


def _checks(rule: Any, path: str, what: str, make: Callable[[str, float], dict[str, Any]]) -> Conditions:
    """One check per subject whose threshold exceeds the global one, then the global ``"*"`` check."""
    out: Conditions = []
    default = rule.threshold
    for subject, limit in rule.per.items():
        if default is not None and limit < default:
            raise _error(
                f"{subject!r} has a lower threshold ({limit:g}) than the global one ({default:g}); A2I's "
                f'{what} "*" would still send it at the global threshold, so this policy is not expressible',
                f"{path}.per",
            )
        if default is None or limit > default:
            out.append(make(subject, limit))
    if default is not None:
        out.append(make("*", default))
    return out


def _required_keys(rule: Any, source: str, path: str) -> Conditions:
    if source != TEXTRACT:
        raise _error("required form keys apply to textract:analyze_document only", path)
    out: Conditions = []
    for key, aliases in rule.keys.items():
        params: dict[str, Any] = {"ImportantFormKey": key}
        if aliases:
            params["ImportantFormKeyAliases"] = list(aliases)
        out.append({"ConditionType": "MissingImportantFormKey", "ConditionParameters": params})
    return out


def _sampling(rule: Any, path: str) -> Conditions:
    if not 0.01 <= rule.percentage <= 100.0:
        raise _error(
            f"A2I's RandomSamplingPercentage must be within 0.01..100, got {rule.percentage:g}",
            f"{path}.percentage",
        )
    value = int(rule.percentage) if rule.percentage.is_integer() else rule.percentage
    return [{"ConditionType": "Sampling", "ConditionParameters": {"RandomSamplingPercentage": value}}]


def _infer(policy: ReviewPolicy, drop_budget: bool) -> dict[str, Any]:
    results: dict[str, dict[str, Any]] = {}
    errors: dict[str, PolicyError] = {}
    for source in (MODERATION, TEXTRACT):
        try:
            results[source] = policy_conditions(policy, source, drop_budget=drop_budget)
        except PolicyError as exc:
            errors[source] = exc
    if len(results) == 1:
        return next(iter(results.values()))
    if results:
        raise _error(
            "this policy fits both rekognition:detect_moderation_labels and textract:analyze_document; "
            "pass source= to choose",
            "$",
        )
    raise next(iter(errors.values()))


def _flatten(conditions: Conditions) -> Conditions:
    """Merge nested ``Or`` into the top-level disjunction and ``And`` into ``And``."""
    out: Conditions = []
    for condition in conditions:
        if "Or" in condition:
            out.extend(_flatten(condition["Or"]))
        else:
            out.append(_flatten_and(condition))
    return out


def _flatten_and(condition: dict[str, Any]) -> dict[str, Any]:
    if "And" in condition:
        parts: Conditions = []
        for child in condition["And"]:
            child = _flatten_and(child)
            parts.extend(child.get("And", [child]))
        return {"And": parts}
    if "Or" in condition:
        parts = []
        for child in condition["Or"]:
            child = _flatten_and(child)
            parts.extend(child.get("Or", [child]))
        return {"Or": parts}
    return condition


# ============================================================================================ checking

_PARAMETERS = {
    "ModerationLabelConfidenceCheck": ("ModerationLabelName", "Confidence"),
    "ImportantFormKeyConfidenceCheck": ("ImportantFormKey", "KeyValueBlockConfidence", "WordBlockConfidence"),
    "MissingImportantFormKey": ("ImportantFormKey",),
}
_COMPARISONS = ("Equals", "LessThan", "LessThanEquals", "GreaterThan", "GreaterThanEquals")


def validate_activation_conditions(conditions: Mapping[str, Any], source: str) -> None:
    """Check activation conditions against aws-contracts.md §8 for ``source``; raises :class:`PolicyError`."""
    canonical = BUILTIN.get(source)
    if canonical is None:
        raise _error(f"{source!r} is not a built-in A2I source", "$")
    try:
        ActivationConditions.parse(conditions)
    except ContractError as exc:
        raise _error(exc.message, exc.path) from None
    text = json.dumps(conditions)
    if len(text) > MAX_CONDITIONS_CHARS:
        raise _error(f"activation conditions are {len(text)} characters; A2I allows {MAX_CONDITIONS_CHARS}", "$")
    allowed = CONDITION_TYPES[canonical]

    def check(condition: Mapping[str, Any], path: str, depth: int) -> None:
        for key in ("And", "Or"):
            if key in condition:
                if depth >= MAX_NESTING:
                    raise _error(f"And/Or nests deeper than A2I's {MAX_NESTING} levels", path)
                for index, child in enumerate(condition[key]):
                    check(child, f"{path}.{key}[{index}]", depth + 1)
                return
        kind = condition["ConditionType"]
        if kind not in allowed:
            raise _error(f"{kind} is not allowed for {canonical}; allowed: {sorted(allowed)}", f"{path}.ConditionType")
        params = condition.get("ConditionParameters", {})
        if kind == "Sampling":
            value = params.get("RandomSamplingPercentage")
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0.01 <= value <= 100:
                raise _error(
                    "RandomSamplingPercentage must be a number within 0.01..100",
                    f"{path}.ConditionParameters.RandomSamplingPercentage",
                )
            return
        name_key, *measures = _PARAMETERS[kind]
        if not isinstance(params.get(name_key), str) or not params[name_key]:
            raise _error(f"{name_key} must be a non-empty string", f"{path}.ConditionParameters.{name_key}")
        aliases = params.get("ImportantFormKeyAliases", [])
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise _error("ImportantFormKeyAliases must be a list of strings", f"{path}.ConditionParameters")
        found = 0
        for measure in measures:
            for comparison in _COMPARISONS:
                value = params.get(measure + comparison)
                if value is None:
                    continue
                found += 1
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
                    raise _error(
                        f"{measure + comparison} must be within 0..100 (the service's scale), got {value!r}",
                        f"{path}.ConditionParameters.{measure + comparison}",
                    )
        if measures and not found:
            raise _error(f"{kind} needs at least one confidence comparison", f"{path}.ConditionParameters")

    for index, condition in enumerate(conditions["Conditions"]):
        check(condition, f"$.Conditions[{index}]", 0)
