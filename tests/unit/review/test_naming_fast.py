"""The client's loop name equals truthloop.naming.human_loop_name without re-serialising the content."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from truthloop.contracts import canonical_json
from truthloop.naming import human_loop_name, validate_human_loop_name
from truthloop.review.client import loop_name

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=20,
)
flows = st.sampled_from(
    [
        "arn:aws:sagemaker:us-east-1:111122223333:flow-definition/review-fd",
        "arn:aws:sagemaker:eu-west-1:111122223333:flow-definition/a-very-long-flow-definition-name-for-tests",
        "arn:aws-cn:sagemaker:cn-north-1:111122223333:flow-definition/x",
    ]
)


@settings(max_examples=200, deadline=None)
@given(flow=flows, content=st.dictionaries(st.text(), json_values, max_size=6))
def test_loop_name_matches_human_loop_name(flow: str, content: dict[str, Any]) -> None:
    # WHEN
    fast = loop_name(flow, canonical_json(content))
    # THEN
    assert fast == human_loop_name(flow, content)
    validate_human_loop_name(fast)
