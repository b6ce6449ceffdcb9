"""The A2I review path: adapt a model's response, decide with a policy, start a retry-safe human loop, and turn
the finished loop back into labeled data.

    >>> from truthloop.review import ReviewPolicy, from_response
    >>> response = {"Sentiment": "POSITIVE", "SentimentScore": {"Positive": 0.58, "Negative": 0.02,
    ...             "Neutral": 0.38, "Mixed": 0.02}}
    >>> ReviewPolicy.threshold(0.7).decide(from_response("comprehend:detect_sentiment", response)).reasons
    ('POSITIVE: confidence 0.58 is below the 0.70 threshold',)
"""

from __future__ import annotations

from truthloop.review.adapters import adapt, from_response
from truthloop.review.client import ReviewClient, ReviewOutcome
from truthloop.review.content import build_input_content
from truthloop.review.endpoints import EndpointReviewer, ReviewedPrediction
from truthloop.review.policy import (
    AllOf,
    AnyOf,
    Budget,
    BudgetStore,
    ConfidenceBelow,
    InMemoryBudgetStore,
    NoPredictions,
    RequiredFormKeys,
    ReviewPolicy,
    Rule,
    Sampling,
)
from truthloop.review.results import HumanAnswer, ReviewResult, review_result_from_output
from truthloop.review.types import KINDS, SOURCES, Prediction, ReviewDecision

__all__ = [
    "KINDS",
    "SOURCES",
    "AllOf",
    "AnyOf",
    "Budget",
    "BudgetStore",
    "ConfidenceBelow",
    "EndpointReviewer",
    "HumanAnswer",
    "InMemoryBudgetStore",
    "NoPredictions",
    "Prediction",
    "RequiredFormKeys",
    "ReviewClient",
    "ReviewDecision",
    "ReviewOutcome",
    "ReviewPolicy",
    "ReviewResult",
    "ReviewedPrediction",
    "Rule",
    "Sampling",
    "adapt",
    "build_input_content",
    "from_response",
    "review_result_from_output",
]
