"""AWS name rules and deterministic names."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truthloop import naming
from truthloop.exceptions import InvalidNameError

LOOP_RE = re.compile(r"^[a-z0-9](-*[a-z0-9])*$")


@pytest.mark.parametrize(
    ("validator", "good", "bad"),
    [
        (naming.validate_labeling_job_name, ["Intent-Demo-1", "a", "A" * 63], ["-a", "a-", "a_b", "A" * 64, ""]),
        (naming.validate_workteam_name, ["private-crowd", "Team1"], ["team 1", "x" * 64]),
        (naming.validate_human_loop_name, ["loop-7f3a2c", "a--b"], ["Loop", "loop_1", "a" * 64]),
        (naming.validate_flow_definition_name, ["review-fd"], ["Review-fd", "fd-"]),
        (naming.validate_human_task_ui_name, ["sentiment-ui"], ["Sentiment", "ui."]),
    ],
)
def test_validators_accept_good_and_reject_bad_names(validator: Any, good: list[str], bad: list[str]) -> None:
    for name in good:
        assert validator(name) == name
    for name in bad:
        with pytest.raises(InvalidNameError) as info:
            validator(name)
        assert info.value.name == name
        assert info.value.reason


@pytest.mark.parametrize(
    ("name", "task_type", "ok"),
    [
        ("sport", "ImageMultiClass", True),
        ("sport-metadata", None, False),
        ("city-ref", "SemanticSegmentation", True),
        ("city", "SemanticSegmentation", False),
        ("city-ref", "VerificationSemanticSegmentation", False),
        ("city-verify", "VerificationSemanticSegmentation", True),
        ("bb-ref", "BoundingBox", False),
        ("anything-ref", "custom", True),
        ("track-ref", "VideoObjectTracking", True),
    ],
)
def test_label_attribute_suffix_rules(name: str, task_type: str | None, ok: bool) -> None:
    if ok:
        assert naming.validate_label_attribute_name(name, task_type) == name
    else:
        with pytest.raises(InvalidNameError):
            naming.validate_label_attribute_name(name, task_type)


def test_error_message_names_the_bad_characters() -> None:
    with pytest.raises(InvalidNameError, match="contains '_'"):
        naming.validate_labeling_job_name("my_job")


json_inputs = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=5), c, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(flow=st.text(min_size=0, max_size=100), payload=json_inputs)
def test_human_loop_name_is_valid_and_deterministic(flow: str, payload: Any) -> None:
    # WHEN
    first = naming.human_loop_name(flow, payload)
    second = naming.human_loop_name(flow, payload)
    # THEN
    assert first == second
    assert len(first) <= 63
    assert LOOP_RE.match(first)
    naming.validate_human_loop_name(first)


def test_human_loop_name_same_for_arn_name_and_json_string() -> None:
    arn = "arn:aws:sagemaker:us-east-1:111122223333:flow-definition/review-fd"
    payload = {"b": 1, "a": [1, 2]}
    assert naming.human_loop_name(arn, payload) == naming.human_loop_name("review-fd", '{"a":[1,2],"b":1}')
    assert naming.human_loop_name("review-fd", payload).startswith("review-fd-")


def test_human_loop_name_differs_for_different_inputs_or_flows() -> None:
    assert naming.human_loop_name("fd", {"x": 1}) != naming.human_loop_name("fd", {"x": 2})
    assert naming.human_loop_name("fd-a", {"x": 1}) != naming.human_loop_name("fd-b", {"x": 1})


def test_deterministic_labeling_job_name_keeps_case_when_asked() -> None:
    name = naming.deterministic_name("Reviews Batch", ["s3://b/1", "s3://b/2"], lower=False, digest_chars=16)
    assert naming.validate_labeling_job_name(name) == name
    assert name.startswith("Reviews-Batch-")
