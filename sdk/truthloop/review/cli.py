"""``truthloop review``: try adapters and policies on saved responses, and emit A2I activation conditions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from truthloop.exceptions import ManifestLineError, ReviewError, TruthloopError
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


def _skipped(error: ManifestLineError) -> None:
    click.echo(f"skipped {error}", err=True)


def _classes(value: str | None) -> list[str] | None:
    return None if value is None else [c.strip() for c in value.split(",") if c.strip()]


predictions_argument = click.argument("predictions", metavar="PREDICTIONS.jsonl")
classes_option = click.option("--classes", help="The label set, comma-separated (default: the labels in the file).")
strict_option = click.option("--strict", is_flag=True, help="Stop at the first malformed line instead of skipping it.")


@review.command()
@predictions_argument
@click.option("--target-error", "target", required=True, type=float, help="Residual error to stay within (0..1).")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, writable=True), help="policy.json")
@click.option("--confidence", default=0.95, show_default=True, type=float, help="Confidence of the bound.")
@click.option("--min-label-items", default=50, show_default=True, type=click.IntRange(min=1),
              help="Labels with fewer items share the global threshold.")  # fmt: skip
@click.option("--audit-percent", default=1.0, show_default=True, type=float, help="Deterministic audit sample (%).")
@click.option("--audit-salt", default="", help="Salt of the audit sample.")
@classes_option
@strict_option
def calibrate(
    predictions: str,
    target: float,
    out: str,
    confidence: float,
    min_label_items: int,
    audit_percent: float,
    audit_salt: str,
    classes: str | None,
    strict: bool,
) -> None:
    """Learn routing thresholds from reviewed predictions: route the fewest items with residual error <= E.

    PREDICTIONS.jsonl has one reviewed prediction per line: {"id", "label" (the model's), "confidence" (0..1),
    "scores"? ({label: p}), "truth" (the human's label)}; `truthloop review outcomes` makes it from review
    results. The residual error (items not routed whose label is wrong, over all items) is bounded above with the
    stated confidence, not estimated. Writes a ReviewPolicy JSON (per-label thresholds, a global one for the
    rest, and a deterministic audit sample) and prints what was chosen and its bound.

    \b
    Example:
      truthloop review calibrate predictions.jsonl --target-error 0.02 --out policy.json
    """
    from truthloop.review.calibration import calibrate as fit
    from truthloop.review.calibration import read_outcomes

    with _about(predictions):
        outcomes = read_outcomes(predictions, classes=_classes(classes), strict=strict, on_skip=_skipped)
        result = fit(
            outcomes,
            target=target,
            confidence=confidence,
            min_label_items=min_label_items,
            audit_percent=audit_percent,
            audit_salt=audit_salt,
        )
    Path(out).write_text(result.policy.to_json(indent=2) + "\n", encoding="utf-8")
    _echo({"policy": out, "items": len(outcomes), "skipped_lines": outcomes.skipped, **result.to_dict()})


@review.command()
@predictions_argument
@click.option("--policy", "policy_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="A policy JSON file (ReviewPolicy.to_dict(), as calibrate writes).")  # fmt: skip
@click.option("--plot", type=click.Path(dir_okay=False, writable=True), help="Draw the trade-off (PNG, plot extra).")
@click.option("--target-error", "target", type=float, help="Mark this target on the plot.")
@classes_option
@strict_option
def simulate(
    predictions: str, policy_path: str, plot: str | None, target: float | None, classes: str | None, strict: bool
) -> None:
    """Replay reviewed predictions through a policy: routed fraction and residual error, overall and per label.

    A routed item (below its threshold or in the audit sample, keyed by its id) counts as corrected.

    \b
    Example:
      truthloop review simulate predictions.jsonl --policy policy.json --plot tradeoff.png
    """
    from truthloop.review.calibration import read_outcomes
    from truthloop.review.simulation import plot_tradeoff
    from truthloop.review.simulation import simulate as replay

    policy = _policy(policy_path, None)
    with _about(predictions):
        outcomes = read_outcomes(predictions, classes=_classes(classes), strict=strict, on_skip=_skipped)
        if not len(outcomes):
            raise ReviewError("no reviewed predictions to simulate")
        result = replay(outcomes, policy)
        if plot:
            plot_tradeoff(outcomes, result, plot, target=target)
    _echo(result)


@review.command()
@click.argument("results", metavar="RESULTS.jsonl")
@click.option("--out", "-o", required=True, type=click.Path(dir_okay=False, writable=True), help="predictions.jsonl")
@strict_option
def outcomes(results: str, out: str, strict: bool) -> None:
    """Turn stored review results into calibration input (one line per loop with a model and a human label).

    RESULTS.jsonl holds ReviewResult records, one per line: what the completion Lambda stores as the results
    table's `result` attribute (a line may also be a table item with a `result` JSON string).

    \b
    Example:
      truthloop review outcomes results.jsonl --out predictions.jsonl
    """
    from truthloop.manifest.reader import ManifestReader
    from truthloop.review.calibration import outcome_line

    written = skipped = 0

    def skip(error: ManifestLineError) -> None:
        nonlocal skipped
        if strict:
            raise error
        skipped += 1
        _skipped(error)

    lines = []
    with _about(results):
        for record in ManifestReader(results, on_error=skip):
            data = record.data
            if isinstance(data.get("result"), str):
                try:
                    data = json.loads(data["result"])
                except ValueError:
                    skip(record.error("result is not valid JSON"))
                    continue
            line = outcome_line(data)
            if line is None:
                skip(record.error("no single model label with a confidence and human label to compare"))
                continue
            lines.append(json.dumps(line, ensure_ascii=False))
            written += 1
    Path(out).write_text("".join(x + "\n" for x in lines), encoding="utf-8")
    click.echo(f"wrote {written} lines to {out} ({skipped} skipped)", err=True)
