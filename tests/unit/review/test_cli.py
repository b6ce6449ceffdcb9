"""``truthloop review`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from truthloop.cli import main

from .conftest import REVIEW_FIXTURES


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["review", *args])
    return result.exit_code, result.output


def test_decide_prints_the_decision() -> None:
    # WHEN
    code, output = run(
        "decide",
        "comprehend:detect_sentiment",
        str(REVIEW_FIXTURES / "comprehend_sentiment.json"),
        "--threshold",
        "0.5",
    )
    # THEN
    assert code == 0, output
    assert json.loads(output)["route"] is False


def test_decide_with_a_policy_and_input(tmp_path: Path) -> None:
    # GIVEN
    (tmp_path / "input.json").write_text('{"text": "I love it"}')
    # WHEN
    code, output = run(
        "decide",
        "textract:analyze_document",
        str(REVIEW_FIXTURES / "textract_forms_multipage.json"),
        "--policy",
        str(REVIEW_FIXTURES / "policy_payslip.json"),
        "--input",
        str(tmp_path / "input.json"),
    )
    # THEN
    assert code == 0, output
    decision = json.loads(output)
    assert decision["rules"][:2] == ["threshold", "required_keys"]
    assert 'form key "Net Pay": required but not found in the document' in decision["reasons"]


def test_adapt_prints_predictions() -> None:
    # WHEN
    code, output = run("adapt", "rekognition:detect_labels", str(REVIEW_FIXTURES / "rekognition_labels.json"))
    # THEN
    assert code == 0, output
    assert [p["label"] for p in json.loads(output)["predictions"]] == ["Dog", "Frisbee"]


def test_conditions_print_valid_activation_conditions() -> None:
    # WHEN
    code, output = run(
        "conditions", str(REVIEW_FIXTURES / "policy_sentiment.json"), "--source", "rekognition:detect_moderation_labels"
    )
    # THEN
    assert code == 0, output
    assert json.loads(output)["Conditions"][-1]["ConditionType"] == "Sampling"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["conditions", str(REVIEW_FIXTURES / "policy_payslip.json"), "--source", "textract:analyze_document"],
            "$.budget: A2I activation conditions cannot express a budget",
        ),
        (
            [
                "conditions",
                str(REVIEW_FIXTURES / "policy_payslip.json"),
                "--source",
                "rekognition:detect_moderation_labels",
                "--drop-budget",
            ],
            "word_threshold applies to Textract only",
        ),
        (
            ["decide", "comprehend:detect_sentiment", str(REVIEW_FIXTURES / "rekognition_labels.json")],
            "$.Sentiment: comprehend:detect_sentiment response: required field is missing",
        ),
        (
            [
                "decide",
                "comprehend:detect_sentiment",
                str(REVIEW_FIXTURES / "comprehend_sentiment.json"),
                "--policy",
                str(REVIEW_FIXTURES / "comprehend_sentiment.json"),
            ],
            "unknown policy keys",
        ),
    ],
)
def test_errors_are_one_clear_line(args: list[str], message: str) -> None:
    # WHEN
    code, output = run(*args)
    # THEN
    assert code == 1
    assert message in output and "Traceback" not in output
