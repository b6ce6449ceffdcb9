"""``parse_literal`` reads the attribute values AWS's templates write: JSON and JavaScript literals."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from truthloop.templates import LiteralError, parse_literal


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("['Cat', 'Dog']", ["Cat", "Dog"]),
        ("{ text: 'None of the above' }", {"text": "None of the above"}),
        (
            '[\n  {\n    name: "Gore",\n    parentName: "Violence",\n  },\n]',
            [{"name": "Gore", "parentName": "Violence"}],
        ),
        ("[{'label': 'person', 'shortDisplayName': 'per'}]", [{"label": "person", "shortDisplayName": "per"}]),
        (
            "{boundingBox: {labels: ['a'], value: [{left: 1.5, top: -2, width: 3e2}]}}",
            {"boundingBox": {"labels": ["a"], "value": [{"left": 1.5, "top": -2, "width": 300.0}]}},
        ),
        ("[true, false, null, undefined]", [True, False, None, None]),
        ("['it\\'s', \"a\\nb\", '\\u00e9']", ["it's", "a\nb", "é"]),
        ("[1, /* two */ 2 // three\n]", [1, 2]),
        ("[]", []),
    ],
)
def test_parses_json_and_javascript_literals(text: str, expected: Any) -> None:
    assert parse_literal(text) == expected


@pytest.mark.parametrize(
    ("text", "position"),
    [("['a', 'b'", 9), ("{a 1}", 3), ("['unterminated]", 15), ("[1] x", 4), ("[alert(1)]", 1), ("", 0)],
)
def test_rejects_anything_else_with_the_position(text: str, position: int) -> None:
    with pytest.raises(LiteralError) as info:
        parse_literal(text)
    assert info.value.position == position


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**12), 10**12) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_every_json_document_parses_to_the_same_value(value: Any) -> None:
    assert parse_literal(json.dumps(value)) == value
    assert parse_literal(json.dumps(value, ensure_ascii=False, indent=2)) == value
