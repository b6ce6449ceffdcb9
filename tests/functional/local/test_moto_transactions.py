"""moto's ``TransactWriteItems`` with truthloop's per-item undo log: all or nothing, without copying the table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import moto
import pytest
from botocore.exceptions import ClientError

from truthloop.local import moto_transactions

TABLE = "tx"


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with moto.mock_aws():
        assert moto_transactions.install()
        client = boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        for name, value in (("a", "1"), ("b", "2")):
            client.put_item(TableName=TABLE, Item={"pk": {"S": "p"}, "sk": {"S": name}, "v": {"N": value}})
        yield client


def _key(sk: str, pk: str = "p") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _state(client: Any) -> dict[str, Any]:
    """Every item the transactions below can touch (reads by key: no Scan)."""
    keys = [_key(sk) for sk in ("a", "b", "c")] + [_key("d", pk="new-partition")]
    return {str(key): client.get_item(TableName=TABLE, Key=key).get("Item") for key in keys}


def _moto_table() -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends["123456789012"]["us-east-1"].tables[TABLE]


UPDATE_A = {
    "Update": {
        "TableName": TABLE,
        "Key": _key("a"),
        "UpdateExpression": "SET v = v + :one",
        "ExpressionAttributeValues": {":one": {"N": "1"}},
    }
}
DELETE_B = {"Delete": {"TableName": TABLE, "Key": _key("b")}}
PUT_C = {"Put": {"TableName": TABLE, "Item": {**_key("c"), "v": {"N": "3"}}}}
PUT_NEW_PARTITION = {"Put": {"TableName": TABLE, "Item": {**_key("d", pk="new-partition"), "v": {"N": "4"}}}}
FAILING_CHECK = {
    "ConditionCheck": {
        "TableName": TABLE,
        "Key": _key("b"),
        "ConditionExpression": "v = :nine",
        "ExpressionAttributeValues": {":nine": {"N": "9"}},
    }
}
FAILING_PUT = {
    "Put": {
        "TableName": TABLE,
        "Item": {**_key("a"), "v": {"N": "0"}},
        "ConditionExpression": "attribute_not_exists(pk)",
    }
}


@pytest.mark.parametrize(
    ("items", "error"),
    [
        pytest.param(
            [UPDATE_A, PUT_C, PUT_NEW_PARTITION, FAILING_CHECK],
            "TransactionCanceledException",
            id="writes-then-failed-check",
        ),
        pytest.param([FAILING_CHECK, UPDATE_A, PUT_C], "TransactionCanceledException", id="failed-check-first"),
        pytest.param([PUT_C, FAILING_PUT, DELETE_B], "TransactionCanceledException", id="failed-conditional-put"),
        pytest.param(
            [UPDATE_A, DELETE_B, {"Update": {**UPDATE_A["Update"]}}], "ValidationException", id="same-item-twice"
        ),
    ],
)
def test_a_refused_transaction_changes_nothing_and_copies_no_table(
    dynamodb: Any, items: list[dict[str, Any]], error: str
) -> None:
    # GIVEN two items and the moto table object that holds them
    before = _state(dynamodb)
    table = _moto_table()
    # WHEN a transaction that fails part-way is written
    with pytest.raises(ClientError) as raised:
        dynamodb.transact_write_items(TransactItems=items)
    # THEN it is refused, every item is as before (updated ones restored, created ones gone, deleted ones back)
    assert raised.value.response["Error"]["Code"] == error
    assert _state(dynamodb) == before
    # AND moto's table was rolled back in place, not replaced by a whole-table copy
    assert _moto_table() is table
    assert (
        dynamodb.query(
            TableName=TABLE, KeyConditionExpression="pk = :p", ExpressionAttributeValues={":p": {"S": "new-partition"}}
        )["Items"]
        == []
    )


def test_an_accepted_transaction_applies_every_operation(dynamodb: Any) -> None:
    # GIVEN items a and b
    # WHEN a transaction updates a, deletes b and creates c and d
    dynamodb.transact_write_items(TransactItems=[UPDATE_A, DELETE_B, PUT_C, PUT_NEW_PARTITION])
    # THEN all four changes are there
    state = _state(dynamodb)
    assert state[str(_key("a"))]["v"] == {"N": "2"}
    assert state[str(_key("b"))] is None
    assert state[str(_key("c"))]["v"] == {"N": "3"}
    assert state[str(_key("d", pk="new-partition"))]["v"] == {"N": "4"}


def test_install_is_idempotent_and_uninstall_restores_moto() -> None:
    # GIVEN the patch installed (the local runtimes install it when they start moto)
    from moto.dynamodb.models import DynamoDBBackend

    assert moto_transactions.install()
    patched = DynamoDBBackend.transact_write_items
    # WHEN it is installed again, then removed and installed once more
    assert moto_transactions.install() and DynamoDBBackend.transact_write_items is patched
    moto_transactions.uninstall()
    unpatched = DynamoDBBackend.transact_write_items
    assert moto_transactions.install()
    # THEN the second install changed nothing, and uninstall put moto's own method back
    assert unpatched is not patched and moto_transactions.installed()
    assert DynamoDBBackend.transact_write_items.__wrapped__ is unpatched  # type: ignore[attr-defined]
