"""Review policies: rules, combinators, serialisation, sampling properties and activation conditions (§8)."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truthloop.contracts import ActivationConditions
from truthloop.exceptions import PolicyError
from truthloop.review.adapters import from_response
from truthloop.review.policy import (
    AllOf,
    AnyOf,
    Budget,
    ConfidenceBelow,
    InMemoryBudgetStore,
    NoPredictions,
    RequiredFormKeys,
    ReviewPolicy,
    Sampling,
    validate_activation_conditions,
)
from truthloop.review.types import Prediction

from .conftest import load_fixture


def label(name: str, confidence: float) -> Prediction:
    return Prediction(kind="label", label=name, confidence=confidence)


# ============================================================================================ deciding


def test_threshold_routes_low_confidence_with_a_reason_for_the_reviewer() -> None:
    # GIVEN
    policy = ReviewPolicy.threshold(0.7)
    # WHEN
    decision = policy.decide([label("POSITIVE", 0.58), label("NEGATIVE", 0.9)])
    # THEN
    assert decision.route
    assert decision.flagged == (0,)
    assert decision.rules == ("threshold",)
    assert decision.reasons == ("POSITIVE: confidence 0.58 is below the 0.70 threshold",)


def test_confident_predictions_are_not_routed() -> None:
    # WHEN
    decision = ReviewPolicy.threshold(0.7).decide([label("POSITIVE", 0.7)])
    # THEN the threshold is exclusive: 0.70 is confident enough
    assert not decision.route
    assert decision.reasons == () and decision.flagged == ()


@pytest.mark.parametrize(
    ("prediction", "routed"),
    [
        (Prediction(kind="label", label="Alcohol", confidence=0.85), True),  # per-label 0.9
        (Prediction(kind="label", label="Suggestive", confidence=0.85), False),  # global 0.8
        (Prediction(kind="form_field", key="pay date :", value="x", confidence=0.93), True),  # normalised key, 0.95
        (Prediction(kind="entity", label="PERSON", value="J", confidence=0.79), True),
        (Prediction(kind="missing_key", key="Pay Date", confidence=None), False),  # no confidence to judge
    ],
)
def test_per_subject_thresholds_override_the_global_one(prediction: Prediction, routed: bool) -> None:
    # GIVEN
    policy = ReviewPolicy(ConfidenceBelow(0.8, per={"Alcohol": 0.9, "Pay Date": 0.95}))
    # WHEN / THEN
    assert policy.decide([prediction]).route is routed


def test_kinds_limit_a_threshold_rule() -> None:
    # GIVEN a rule for entities only
    policy = ReviewPolicy(ConfidenceBelow(0.9, kinds=["entity"]))
    # WHEN / THEN
    assert not policy.decide([label("x", 0.1)]).route
    assert policy.decide([Prediction(kind="entity", label="PERSON", value="J", confidence=0.5)]).route


def test_word_threshold_requires_low_words_too() -> None:
    # GIVEN Textract fields: Pay Date (kv 0.61, words 0.715) and Gross Pay (kv 0.40, words 0.96)
    fields = from_response("textract:analyze_document", load_fixture("textract_forms_multipage.json"))
    policy = ReviewPolicy(ConfidenceBelow(0.65, word_threshold=0.9))
    # WHEN
    decision = policy.decide(fields)
    # THEN only Pay Date has both a low key/value and a low word confidence
    assert [decision.predictions[i].key for i in decision.flagged] == ["Pay Date:"]
    assert "lowest word confidence 0.71 is below 0.90" in decision.reasons[0]


def test_required_keys_add_flagged_missing_key_predictions() -> None:
    # GIVEN
    fields = from_response("textract:analyze_document", load_fixture("textract_forms_multipage.json"))
    policy = ReviewPolicy(RequiredFormKeys({"Net Pay": ["NetPay", "Net"], "Employee Name": ["Employee"]}))
    # WHEN
    decision = policy.decide(fields)
    # THEN
    missing = [decision.predictions[i] for i in decision.flagged]
    assert [(p.kind, p.key, p.locator["aliases"]) for p in missing] == [("missing_key", "Net Pay", ["NetPay", "Net"])]
    assert decision.reasons == ('form key "Net Pay": required but not found in the document',)
    assert len(decision.predictions) == len(fields) + 1


def test_any_reports_every_finding_and_all_needs_every_child() -> None:
    # GIVEN
    preds = [label("a", 0.5), label("b", 0.95)]
    low = ConfidenceBelow(0.6, name="low")
    high = ConfidenceBelow(0.99, per={"b": 0.99}, kinds=["label"], name="strict")
    never = ConfidenceBelow(0.1, name="never")
    # WHEN
    any_decision = ReviewPolicy(AnyOf(low, high)).decide(preds)
    all_decision = ReviewPolicy(AllOf(low, high)).decide(preds)
    none_decision = ReviewPolicy(AllOf(low, never)).decide(preds)
    # THEN
    assert any_decision.rules == ("low", "strict")
    assert any_decision.flagged == (0, 1)
    assert len(any_decision.reasons) == 3
    assert all_decision.route and all_decision.rules == ("low", "strict")
    assert not none_decision.route


def test_no_predictions_rule() -> None:
    # GIVEN
    policy = ReviewPolicy(NoPredictions())
    # WHEN / THEN
    assert policy.decide([]).reasons == ("the model returned no predictions",)
    assert not policy.decide([label("a", 0.2)]).route


def test_sampling_is_deterministic_per_input_key() -> None:
    # GIVEN
    policy = ReviewPolicy(Sampling(50))
    preds = [label("a", 0.99)]
    # WHEN
    outcomes = {key: policy.decide(preds, key=key).route for key in (f"input-{i}" for i in range(200))}
    again = {key: policy.decide(preds, key=key).route for key in outcomes}
    # THEN
    assert outcomes == again
    assert 0 < sum(outcomes.values()) < 200
    assert policy.decide(preds, key="input-1").reasons in ((), ("sampled for audit (50% of inputs)",))


def test_sampling_salts_sample_independently() -> None:
    # GIVEN two 50 % samplers with different salts
    first, second = Sampling(50, salt="a"), Sampling(50, salt="b")
    keys = [f"k{i}".encode() for i in range(4000)]
    # WHEN
    both = sum(1 for k in keys if first.fires_for(k) and second.fires_for(k))
    # THEN about a quarter are picked by both (independent), not a half (identical)
    assert abs(both / len(keys) - 0.25) < 0.03


@settings(max_examples=8, deadline=None)
@given(percentage=st.floats(min_value=0.5, max_value=99.5), salt=st.text(max_size=8))
def test_sampling_rate_is_within_one_percent_over_100k_inputs(percentage: float, salt: str) -> None:
    # GIVEN a sampler and 100,000 distinct inputs
    sampler = Sampling(percentage, salt=salt)
    n = 100_000
    # WHEN
    hits = sum(1 for i in range(n) if sampler.fires_for(b"input-%d" % i))
    # THEN the observed rate is within 1 percentage point (and within 5 standard deviations)
    rate, p = hits / n, percentage / 100
    assert abs(rate - p) <= 0.01
    assert abs(rate - p) <= 5 * math.sqrt(p * (1 - p) / n)


confidences = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(confidences, min_size=1, max_size=8),
    t1=confidences,
    t2=confidences,
)
def test_thresholds_are_monotone(values: list[float], t1: float, t2: float) -> None:
    # GIVEN two thresholds t1 <= t2
    low, high = sorted((t1, t2))
    preds = [label(f"l{i}", v) for i, v in enumerate(values)]
    # WHEN
    at_low = ReviewPolicy.threshold(low).decide(preds)
    at_high = ReviewPolicy.threshold(high).decide(preds)
    # THEN raising the threshold never routes less, and flags a superset
    assert not at_low.route or at_high.route
    assert set(at_low.flagged) <= set(at_high.flagged)


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(confidences, min_size=0, max_size=6),
    percentage=st.floats(min_value=0, max_value=100),
    key=st.binary(max_size=32),
)
def test_decisions_are_deterministic(values: list[float], percentage: float, key: bytes) -> None:
    # GIVEN a composite policy
    policy = ReviewPolicy(AnyOf(ConfidenceBelow(0.5), Sampling(percentage)))
    preds = [label(f"l{i}", v) for i, v in enumerate(values)]
    # WHEN / THEN the same input always gives the same decision, with or without an explicit key
    assert policy.decide(preds, key=key) == policy.decide(list(preds), key=key)
    assert policy.decide(preds) == policy.decide(preds)


# ============================================================================================ serialising

POLICIES = [
    ReviewPolicy.threshold(0.7),
    ReviewPolicy(AnyOf(ConfidenceBelow(0.6, per={"Alcohol": 0.9}, kinds=["label"]), Sampling(2.5, salt="audit"))),
    ReviewPolicy(
        AnyOf(
            RequiredFormKeys({"Pay Date": ["PayDate"]}),
            AllOf(Sampling(10), ConfidenceBelow(None, per={"Gross Pay": 0.8}, word_threshold=0.9, name="gross")),
            NoPredictions(kinds=["form_field"]),
        ),
        budget=Budget(max_loops=100, window_seconds=3600, scope="forms"),
    ),
]


@pytest.mark.parametrize("policy", POLICIES, ids=["threshold", "any", "nested-budget"])
def test_policies_round_trip_through_json(policy: ReviewPolicy) -> None:
    # WHEN
    text = policy.to_json()
    again = ReviewPolicy.from_json(text)
    # THEN
    assert again == policy
    assert again.to_dict() == json.loads(text)


BAD_POLICIES = [
    ({"rule": {"type": "threshold", "threshold": 70}}, "$.rule.threshold", "within 0..1"),
    ({"rule": {"type": "nope"}}, "$.rule.type", "unknown rule type"),
    ({"rule": {"type": "any", "rules": [{"type": "sampling"}]}}, "$.rule.rules[0].percentage", "missing"),
    (
        {"rule": {"type": "any", "rules": [{"type": "threshold", "per": {"Pay Date": "x"}}]}},
        '$.rule.rules[0].per["Pay Date"]',
        "must be a number",
    ),
    ({"rule": {"type": "all", "rules": []}}, "$.rule.rules", "non-empty"),
    ({"rule": {"type": "threshold", "threshold": 0.5, "kinds": ["missing_key"]}}, "$.rule.kinds", "unscored"),
    ({"rule": {"type": "threshold", "treshold": 0.5}}, "$.rule", "unknown keys ['treshold']"),
    ({"rule": {"type": "required_keys", "keys": {"A": "B"}}}, "$.rule.keys.A", "list of strings"),
    ({"rule": {"type": "sampling", "percentage": 101}}, "$.rule.percentage", "within 0..100"),
    ({"rule": {"type": "threshold", "threshold": 0.5}, "budget": {"max_loops": -1}}, "$.budget.max_loops", ""),
    ({"version": 2, "rule": {"type": "threshold", "threshold": 0.5}}, "$.version", "unsupported"),
    ({}, "$.rule", "missing"),
    ([], "$", "JSON object"),
]


@pytest.mark.parametrize(("data", "path", "message"), BAD_POLICIES, ids=[p for _, p, _ in BAD_POLICIES])
def test_bad_policies_name_the_json_path(data: Any, path: str, message: str) -> None:
    # WHEN / THEN
    with pytest.raises(PolicyError) as info:
        ReviewPolicy.from_dict(data)
    assert info.value.path == path  # type: ignore[attr-defined]
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


# ============================================================================================ budget


def test_budget_windows_and_in_memory_store() -> None:
    # GIVEN a budget of 2 loops per minute
    budget = Budget(max_loops=2, window_seconds=60)
    store = InMemoryBudgetStore(clock=lambda: 125.0)
    counter, ends = budget.counter("flow", now=125.0)
    # WHEN
    taken = [store.acquire(counter, budget.max_loops, ends) for _ in range(3)]
    store.release(counter)
    after_release = store.acquire(counter, budget.max_loops, ends)
    next_window, _ = budget.counter("flow", now=185.0)
    # THEN
    assert taken == [True, True, False]
    assert after_release
    assert counter == "flow#60#2" and ends == 180.0
    assert next_window == "flow#60#3"


# ============================================================================================ activation conditions


def _check(conditions: dict[str, Any]) -> None:
    ActivationConditions.parse(conditions)


def test_moderation_conditions() -> None:
    # GIVEN
    policy = ReviewPolicy(AnyOf(ConfidenceBelow(0.7, per={"Explicit Nudity": 0.95}), Sampling(5)))
    # WHEN
    conditions = policy.to_activation_conditions("rekognition:detect_moderation_labels")
    # THEN
    _check(conditions)
    assert conditions == {
        "Conditions": [
            {
                "ConditionType": "ModerationLabelConfidenceCheck",
                "ConditionParameters": {"ModerationLabelName": "Explicit Nudity", "ConfidenceLessThan": 95},
            },
            {
                "ConditionType": "ModerationLabelConfidenceCheck",
                "ConditionParameters": {"ModerationLabelName": "*", "ConfidenceLessThan": 70},
            },
            {"ConditionType": "Sampling", "ConditionParameters": {"RandomSamplingPercentage": 5}},
        ]
    }


def test_textract_conditions_match_the_documented_example() -> None:
    # GIVEN the policy behind aws-contracts.md §8's example
    policy = ReviewPolicy(
        AnyOf(
            ConfidenceBelow(None, per={"Pay Date": 0.65}, word_threshold=0.85),
            AllOf(Sampling(5), RequiredFormKeys({"Employee Name": ["Name"]})),
        )
    )
    policy_aliases = ReviewPolicy(AnyOf(policy.rule, RequiredFormKeys({"Pay Date": ["PayDate"]})))
    # WHEN
    conditions = policy_aliases.to_activation_conditions("AWS/Textract/AnalyzeDocument/Forms/V1")
    # THEN
    _check(conditions)
    assert conditions["Conditions"][0] == {
        "ConditionType": "ImportantFormKeyConfidenceCheck",
        "ConditionParameters": {
            "ImportantFormKey": "Pay Date",
            "ImportantFormKeyAliases": ["PayDate"],
            "KeyValueBlockConfidenceLessThan": 65,
            "WordBlockConfidenceLessThan": 85,
        },
    }
    assert conditions["Conditions"][1] == {
        "And": [
            {"ConditionType": "Sampling", "ConditionParameters": {"RandomSamplingPercentage": 5}},
            {
                "ConditionType": "MissingImportantFormKey",
                "ConditionParameters": {"ImportantFormKey": "Employee Name", "ImportantFormKeyAliases": ["Name"]},
            },
        ]
    }
    assert conditions["Conditions"][2]["ConditionType"] == "MissingImportantFormKey"


def test_two_levels_of_nesting_are_allowed() -> None:
    # GIVEN And(Sampling, Or(two per-key checks)) inside the top level: 2 levels
    policy = ReviewPolicy(AllOf(Sampling(10), ConfidenceBelow(None, per={"A": 0.5, "B": 0.6})))
    # WHEN
    conditions = policy.to_activation_conditions("textract:analyze_document")
    # THEN
    _check(conditions)
    assert list(conditions["Conditions"][0]) == ["And"]
    assert "Or" in conditions["Conditions"][0]["And"][1]


INEXPRESSIBLE = [
    ("comprehend:detect_sentiment", ReviewPolicy.threshold(0.7), "$", "only for A2I's built-in sources"),
    (
        "rekognition:detect_moderation_labels",
        ReviewPolicy(ConfidenceBelow(0.7, per={"Alcohol": 0.5})),
        "$.rule.per",
        "lower threshold",
    ),
    ("rekognition:detect_moderation_labels", ReviewPolicy(RequiredFormKeys(["A"])), "$.rule", "textract"),
    (
        "rekognition:detect_moderation_labels",
        ReviewPolicy(ConfidenceBelow(0.5, kinds=["entity"])),
        "$.rule",
        "no moderation labels",
    ),
    (
        "textract:analyze_document",
        ReviewPolicy(ConfidenceBelow(0.5, kinds=["query_answer"])),
        "$.rule.kinds",
        "FORMS only",
    ),
    ("textract:analyze_document", ReviewPolicy(NoPredictions()), "$.rule", "empty response"),
    ("textract:analyze_document", ReviewPolicy(Sampling(0.001)), "$.rule.percentage", "0.01..100"),
    ("textract:analyze_document", ReviewPolicy(ConfidenceBelow(0.5), budget=Budget(10)), "$.budget", "budget"),
    (
        "textract:analyze_document",
        ReviewPolicy(
            AllOf(
                Sampling(5),
                AnyOf(ConfidenceBelow(None, per={"A": 0.5, "B": 0.6}), AllOf(Sampling(1), ConfidenceBelow(0.2))),
            )
        ),
        "$.Conditions[0].And[1].Or[2]",
        "nest at most 2 levels",
    ),
]


@pytest.mark.parametrize(("source", "policy", "path", "message"), INEXPRESSIBLE, ids=[m for *_, m in INEXPRESSIBLE])
def test_inexpressible_policies_raise_clear_errors(source: str, policy: ReviewPolicy, path: str, message: str) -> None:
    # WHEN / THEN
    with pytest.raises(PolicyError) as info:
        policy.to_activation_conditions(source)
    assert info.value.path == path  # type: ignore[attr-defined]
    assert message in str(info.value)


def test_budget_can_be_dropped_explicitly() -> None:
    # GIVEN
    policy = ReviewPolicy(ConfidenceBelow(0.5), budget=Budget(10))
    # WHEN
    conditions = policy.to_activation_conditions("textract:analyze_document", drop_budget=True)
    # THEN
    assert conditions["Conditions"][0]["ConditionParameters"]["KeyValueBlockConfidenceLessThan"] == 50


@pytest.mark.parametrize(
    ("conditions", "source", "message"),
    [
        (
            {
                "Conditions": [
                    {"ConditionType": "MissingImportantFormKey", "ConditionParameters": {"ImportantFormKey": "A"}}
                ]
            },
            "rekognition:detect_moderation_labels",
            "not allowed",
        ),
        (
            {
                "Conditions": [
                    {
                        "ConditionType": "ModerationLabelConfidenceCheck",
                        "ConditionParameters": {"ModerationLabelName": "*", "ConfidenceLessThan": 0.7 * 200},
                    }
                ]
            },
            "rekognition:detect_moderation_labels",
            "within 0..100",
        ),
        (
            {
                "Conditions": [
                    {
                        "ConditionType": "ModerationLabelConfidenceCheck",
                        "ConditionParameters": {"ModerationLabelName": "*"},
                    }
                ]
            },
            "rekognition:detect_moderation_labels",
            "at least one confidence comparison",
        ),
        (
            {"Conditions": [{"ConditionType": "Sampling", "ConditionParameters": {"RandomSamplingPercentage": 0}}]},
            "textract:analyze_document",
            "0.01..100",
        ),
    ],
)
def test_validation_rejects_what_a2i_rejects(conditions: dict[str, Any], source: str, message: str) -> None:
    # WHEN / THEN
    with pytest.raises(PolicyError, match=message):
        validate_activation_conditions(conditions, source)


def test_thresholds_convert_to_the_service_scale_without_float_noise() -> None:
    # WHEN
    conditions = ReviewPolicy.threshold(0.655).to_activation_conditions("rekognition:detect_moderation_labels")
    # THEN
    assert conditions["Conditions"][0]["ConditionParameters"]["ConfidenceLessThan"] == 65.5


def test_the_source_is_inferred_when_only_one_builtin_source_fits() -> None:
    # GIVEN a policy only Textract can express, and one both can
    forms = ReviewPolicy(RequiredFormKeys(["Net Pay"]))
    either = ReviewPolicy.threshold(0.5)
    # WHEN / THEN
    assert forms.to_activation_conditions()["Conditions"][0]["ConditionType"] == "MissingImportantFormKey"
    with pytest.raises(PolicyError, match=r"fits both .* pass source="):
        either.to_activation_conditions()
    with pytest.raises(PolicyError, match="empty response"):
        ReviewPolicy(NoPredictions()).to_activation_conditions()
