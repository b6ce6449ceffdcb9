"""Malformed input must raise ContractError and nothing else."""

from __future__ import annotations

import contextlib
import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from truthloop.contracts import load
from truthloop.exceptions import ContractError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "contracts"
SEEDS: list[Any] = [json.loads(p.read_text()) for p in sorted(FIXTURES.rglob("*.json"))]
SEEDS += [json.loads(line) for p in sorted(FIXTURES.rglob("*.manifest")) for line in p.read_text().splitlines()]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for key, value in obj.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            out += _paths(value, (*prefix, index))
    return out


def _mutate(obj: Any, path: tuple[Any, ...], value: Any, delete: bool) -> Any:
    if not path:
        return value
    target = obj
    for step in path[:-1]:
        target = target[step]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return obj


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(seed=st.sampled_from(SEEDS), data=st.data(), value=json_values, delete=st.booleans())
def test_mutated_documented_payloads_raise_only_contract_error(seed: Any, data: Any, value: Any, delete: bool) -> None:
    # GIVEN a documented payload with one field replaced by junk or removed
    obj = copy.deepcopy(seed)
    path = data.draw(st.sampled_from(_paths(obj)))
    obj = _mutate(obj, path, value, delete and bool(path))
    # WHEN / THEN: either it still parses, or it fails with ContractError
    try:
        contract = load(obj)
    except ContractError:
        return
    contract.to_dict()


@settings(max_examples=300, deadline=None)
@given(value=json_values)
def test_arbitrary_json_raises_only_contract_error(value: Any) -> None:
    with contextlib.suppress(ContractError):
        load(value)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=40))
def test_arbitrary_text_raises_only_contract_error(text: str) -> None:
    with contextlib.suppress(ContractError):
        load(text)
