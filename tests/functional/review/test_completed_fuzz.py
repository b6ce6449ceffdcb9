"""Seeded fuzzing of the review completion path: every malformed event or output.json is a ``TruthloopError``
naming what is wrong (a ``ContractError`` with its JSON path), never a raw ``TypeError``/``ValueError``/
``RecursionError``; well-formed ones are stored."""

from __future__ import annotations

import copy
import json
import random
import traceback
from typing import Any

import boto3
import pytest

from truthloop.exceptions import TruthloopError
from truthloop.review.completed import CompletionConfig, process_status_event

from .test_completed_lambda import OUTPUT_KEY, _content, _event, _output

SEED = 1204
ODD_VALUES: list[Any] = [
    None,
    "",
    "\ud800",
    "x",
    0,
    -1,
    1e308,
    float("nan"),
    True,
    [],
    {},
    [None],
    {"": None},
    "not-a-date",
    "s3://",
    "s3://a2i-out/",
]


def _deep(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _mutate(value: Any, rng: random.Random, depth: int = 0) -> Any:
    if isinstance(value, dict):
        out = dict(value)
        for key in list(out):
            roll = rng.random()
            if roll < 0.08:
                del out[key]
            elif roll < 0.2:
                out[key] = rng.choice([*ODD_VALUES, _deep(rng.choice([50, 400]))])
            elif depth < 6:
                out[key] = _mutate(out[key], rng, depth + 1)
        return out
    if isinstance(value, list):
        if rng.random() < 0.2:
            return rng.choice(ODD_VALUES)
        return [_mutate(item, rng, depth + 1) for item in value]
    return rng.choice(ODD_VALUES) if rng.random() < 0.3 else value


@pytest.fixture
def stores(aws: None) -> dict[str, Any]:
    s3 = boto3.client("s3", region_name="us-east-1")
    ddb = boto3.client("dynamodb", region_name="us-east-1")
    for bucket in ("a2i-out", "reviewed"):
        s3.create_bucket(Bucket=bucket)
    ddb.create_table(
        TableName="results",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return {"s3": s3, "ddb": ddb}


def test_malformed_events_and_outputs_raise_only_truthloop_errors(stores: dict[str, Any]) -> None:
    # GIVEN a valid event and output.json, and a seeded stream of mutations of both
    rng = random.Random(SEED)
    config = CompletionConfig(results_table="results", reviewed_bucket="reviewed", label_attribute="sentiment")
    event = _event()
    output = _output(_content(), [{"sentiment": {"label": "POSITIVE"}}])
    escaped: list[str] = []
    outcomes = {"stored": 0, "refused": 0}
    for index in range(600):
        mutated_event = _mutate(copy.deepcopy(event), rng) if index % 2 == 0 else event
        if rng.random() < 0.1:
            body = rng.choice([b"{", b"[]", b"null", b"\xff", b"[" * 20000 + b"1" + b"]" * 20000])
        else:
            body = json.dumps(_mutate(copy.deepcopy(output), rng) if index % 2 else output).encode()
        stores["s3"].put_object(Bucket="a2i-out", Key=OUTPUT_KEY, Body=body)
        # WHEN each is processed
        try:
            process_status_event(mutated_event, config=config, s3_client=stores["s3"], dynamodb_client=stores["ddb"])
        except TruthloopError:
            outcomes["refused"] += 1
        except Exception as exc:  # anything else escaping is what this test looks for
            where = traceback.extract_tb(exc.__traceback__)[-1]
            escaped.append(f"{index}: {type(exc).__name__}: {str(exc)[:200]} at {where.filename}:{where.lineno}")
        else:
            outcomes["stored"] += 1
    # THEN nothing but TruthloopErrors escaped, and both outcomes occurred
    assert escaped == [], "\n".join(escaped)
    assert outcomes["stored"] > 0 and outcomes["refused"] > 0
