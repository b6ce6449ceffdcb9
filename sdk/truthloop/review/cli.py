"""``truthloop review``: try adapters and policies on saved responses, and emit A2I activation conditions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from truthloop.exceptions import ReviewError, TruthloopError
from truthloop.review.adapters import adapt
from truthloop.review.policy import ConfidenceBelow, ReviewPolicy
from truthloop.review.types import SOURCES

__all__ = ["review"]


@contextmanager
def _about(path: str) -> Iterator[None]:
    """Name the file an error came from (the message itself is printed by ``truthloop``'s one error handler)."""
    try:
        yield
    except TruthloopError as exc:
        raise ReviewError(f"{path}: {exc}") from exc


def _load_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ReviewError(f"{path}: {what} is not valid JSON: {exc}") from exc


def _policy(path: str | None, threshold: float | None) -> ReviewPolicy:
    if path is not None and threshold is not None:
        raise click.UsageError("give --policy or --threshold, not both")
    if path is not None:
        policy = _load_json(path, "the policy")
        with _about(path):
            return ReviewPolicy.from_dict(policy)
    return ReviewPolicy(ConfidenceBelow(0.7 if threshold is None else threshold))


def _echo(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


source_argument = click.argument("source", type=click.Choice(SOURCES), metavar="SOURCE")
response_argument = click.argument("response", type=click.Path(exists=True, dir_okay=False))


@click.group()
def review() -> None:
    """A2I review: adapt service responses, decide with a policy, emit activation conditions.

    SOURCE is one of: rekognition:detect_moderation_labels, rekognition:detect_labels, textract:analyze_document,
    comprehend:detect_sentiment, comprehend:classify_document, comprehend:detect_entities,
    sagemaker:invoke_endpoint.

    \b
    Example:
      truthloop review decide comprehend:detect_sentiment response.json --threshold 0.7
    """


@review.command("adapt")
@source_argument
@response_argument
def adapt_command(source: str, response: str) -> None:
    """Print the predictions a saved RESPONSE of SOURCE yields (confidences on 0..1).

    \b
    Example:
      truthloop review adapt textract:analyze_document analyze-document.json
    """
    data = _load_json(response, "the response")
    with _about(response):
        adapted = adapt(source, data)
    _echo({"predictions": [p.to_input(False) for p in adapted.predictions], "candidates": list(adapted.candidates)})


@review.command()
@source_argument
@response_argument
@click.option(
    "--policy",
    "policy_path",
    type=click.Path(exists=True, dir_okay=False),
    help="A policy JSON file (ReviewPolicy.to_dict()).",
)
@click.option("--threshold", type=float, help="Route predictions below this confidence (default policy: 0.7).")
@click.option(
    "--input",
    "input_path",
    type=click.Path(exists=True, dir_okay=False),
    help="A JSON file with what the model saw; it keys deterministic sampling.",
)
def decide(
    source: str, response: str, policy_path: str | None, threshold: float | None, input_path: str | None
) -> None:
    """Print the review decision for a saved RESPONSE of SOURCE: route or not, rules fired, reasons.

    \b
    Example:
      truthloop review decide comprehend:detect_sentiment response.json --policy policy.json
    """
    policy = _policy(policy_path, threshold)
    data = _load_json(response, "the response")
    seen = None if input_path is None else _load_json(input_path, "the input")
    with _about(response):
        adapted = adapt(source, data)
        key = None
        if seen is not None:
            from truthloop.contracts import canonical_json

            key = canonical_json([adapted.source, seen])
        decision = policy.decide(adapted.predictions, key=key)
    out = decision.to_dict()
    out["candidates"] = list(adapted.candidates)
    _echo(out)


@review.command()
@click.argument("policy_path", metavar="POLICY", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--source",
    required=True,
    type=click.Choice(["rekognition:detect_moderation_labels", "textract:analyze_document"]),
    help="The built-in A2I source the flow definition serves.",
)
@click.option("--drop-budget", is_flag=True, help="Emit the conditions even if the policy has a budget.")
def conditions(policy_path: str, source: str, drop_budget: bool) -> None:
    """Print the A2I activation-conditions JSON equivalent to a POLICY file, for a built-in source.

    Fails with the reason (and the JSON path) when A2I cannot express the policy.

    \b
    Example:
      truthloop review conditions policy.json --source textract:analyze_document
    """
    policy = _policy(policy_path, None)
    with _about(policy_path):
        result = policy.to_activation_conditions(source, drop_budget=drop_budget)
    _echo(result)
