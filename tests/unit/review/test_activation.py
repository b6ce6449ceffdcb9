"""truthloop.review.activation: the A2I compiler as its own module, its re-exports and rule classes of your own."""

from __future__ import annotations

import doctest
from collections.abc import Iterable
from typing import Any, ClassVar

import pytest

import truthloop.review.activation as activation
import truthloop.review.policy as policy
from truthloop.exceptions import PolicyError
from truthloop.review import AnyOf, ReviewPolicy, Rule, Sampling
from truthloop.review.types import Prediction


class _Never(Rule):
    """A rule of one's own that does not say how A2I could express it."""

    type: ClassVar[str] = "never"

    def __init__(self) -> None:
        self.name = self.type

    def evaluate(self, predictions: tuple[Prediction, ...], context: Any) -> None:
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type}


class _Always(_Never):
    """One that does: every input is sampled."""

    type: ClassVar[str] = "always"

    def conditions(self, source: str, path: str, policy: ReviewPolicy) -> list[dict[str, Any]]:
        return [{"ConditionType": "Sampling", "ConditionParameters": {"RandomSamplingPercentage": 100}}]


@pytest.mark.parametrize("module", [activation, policy], ids=lambda m: m.__name__)
def test_docstring_examples(module: Any) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(
    "name", ["validate_activation_conditions", "MAX_CONDITIONS_CHARS", "MAX_NESTING", "CONDITION_TYPES"]
)
def test_the_compilers_names_are_still_importable_from_policy(name: str) -> None:
    assert getattr(policy, name) is getattr(activation, name)
    assert name in policy.__all__


def test_to_activation_conditions_is_the_compiler() -> None:
    # GIVEN a policy A2I can express for both sources only once a source is named
    review = ReviewPolicy(AnyOf(Sampling(5), Sampling(0.5, salt="b")))
    source = "textract:analyze_document"
    # THEN the method and the module function agree
    assert review.to_activation_conditions(source) == activation.policy_conditions(review, source)


def test_a_rule_of_your_own_without_conditions_is_a_policy_error_at_its_path() -> None:
    review = ReviewPolicy(AnyOf(Sampling(5), _Never()))
    with pytest.raises(PolicyError, match=r"^\$\.rule\.rules\[1\]: A2I has no activation condition for a _Never rule"):
        review.to_activation_conditions("rekognition:detect_moderation_labels")


def test_a_rule_of_your_own_with_conditions_is_compiled() -> None:
    review = ReviewPolicy(AnyOf(Sampling(5), _Always()))
    conditions: Iterable[dict[str, Any]] = review.to_activation_conditions("rekognition:detect_moderation_labels")[
        "Conditions"
    ]
    assert [c["ConditionParameters"]["RandomSamplingPercentage"] for c in conditions] == [5, 100]
