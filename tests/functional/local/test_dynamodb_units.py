"""``ReadUnits``: read request units of the reads sent through a watched client, sized from the items they
evaluated (DynamoDB bills them; moto reports none). ``bench/service.py`` and the storage tests measure with it."""

from __future__ import annotations

from collections import Counter
from typing import Any

import boto3
import pytest
from moto import mock_aws

from truthloop.local.storage.dynamodb_units import ReadUnits, item_size

TABLE = "units"


def _table() -> Any:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for n in range(10):  # 10 items of about 2 KB in one partition: 20 KB, 5 pages of 4 KB
        item = {"pk": {"S": "P"}, "sk": {"S": f"{n:02}"}, "body": {"S": "x" * 2000}, "n": {"N": str(n)}}
        dynamodb.put_item(TableName=TABLE, Item=item)
    return dynamodb


@pytest.mark.parametrize("own_reader", [False, True], ids=["re-read-through-the-client", "own-reader"])
def test_a_filtered_count_costs_what_it_evaluated_and_the_re_reads_are_not_the_clients(own_reader: bool) -> None:
    with mock_aws():
        watched = _table()
        # GIVEN a meter on the client, and a count of the requests that client sends
        sent: Counter[str] = Counter()
        watched.meta.events.register("after-call.dynamodb", lambda model, **_: sent.update([model.name]))
        units = ReadUnits()
        reader = boto3.session.Session(region_name="us-east-1").client("dynamodb") if own_reader else None
        units.watch(watched, reader=reader)
        # WHEN the client counts the items a filter keeps (one of ten), eventually consistent, and gets one item
        counted = watched.query(
            TableName=TABLE,
            KeyConditionExpression="pk = :p",
            FilterExpression="n = :one",
            ExpressionAttributeValues={":p": {"S": "P"}, ":one": {"N": "1"}},
            Select="COUNT",
        )
        item = watched.get_item(TableName=TABLE, Key={"pk": {"S": "P"}, "sk": {"S": "01"}}, ConsistentRead=True)[
            "Item"
        ]
    # THEN the count is billed for the ten items it evaluated (5 × 4 KB at half a unit), the get for one 4 KB unit
    assert counted["Count"] == 1 and 4096 < item_size(item) * 10 <= 5 * 4096
    assert units.units == 5 * 0.5 + 1
    # AND with a reader of its own, the meter's re-reads are not among the client's requests
    assert sent == ({"Query": 1, "GetItem": 1} if own_reader else {"Query": 2, "GetItem": 2})
    assert units.seconds > 0
