"""The two stores the storage suite runs against: SQLite on disk and DynamoDB + S3 on moto (in process)."""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import moto

from truthloop.local.storage import SQLiteStorage, Storage
from truthloop.local.storage.dynamodb import DynamoDBStorage
from truthloop.local.storage.dynamodb_schema import create_table

STORES = ("sqlite", "dynamodb")
TABLE = "truthloop-test"
BUCKET = "truthloop-test-documents"


class ScanGuard:
    """Fails any DynamoDB ``Scan`` sent through the clients it watches (the store promises none)."""

    def __init__(self) -> None:
        self.scans: list[str] = []

    def watch(self, client: Any) -> None:
        client.meta.events.register("before-call.dynamodb.Scan", self._refuse)

    def _refuse(self, event_name: str, **kwargs: Any) -> None:
        self.scans.append(event_name)
        raise AssertionError(f"a Scan was sent to DynamoDB ({event_name}): every list must be a Query")


def item_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it: attribute names plus values (numbers approximately)."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    kind, raw = next(iter(value.items()))
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "N":
        return len(raw) // 2 + 1
    if kind in ("SS", "BS"):
        return sum(len(str(member).encode()) for member in raw)
    if kind == "NS":
        return sum(len(member) // 2 + 1 for member in raw)
    if kind == "L":
        return 3 + sum(1 + _value_size(member) for member in raw)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + _value_size(member) for name, member in raw.items())
    return len(str(raw).encode())


class ReadUnits:
    """Read request units DynamoDB would bill for the reads sent through the clients it watches (moto reports
    none): a ``Query`` page costs its evaluated items (re-read without filter or ``Select=COUNT``, so what the
    filter dropped counts too) rounded up to 4 KB, a ``GetItem``/``BatchGetItem`` key its item rounded up to 4 KB;
    at least one unit per page or key, half of it for an eventually consistent read. Hooked like :class:`ScanGuard`
    (``provide-client-params``, what ``bench/service.py``'s meter uses)."""

    def __init__(self) -> None:
        self.units = 0.0
        self._client: Any = None
        self._busy = False

    def watch(self, client: Any) -> None:
        self._client = client
        client.meta.events.register("provide-client-params.dynamodb.Query", self._query)
        client.meta.events.register("provide-client-params.dynamodb.GetItem", self._get)
        client.meta.events.register("provide-client-params.dynamodb.BatchGetItem", self._batch_get)

    def _rate(self, params: dict[str, Any]) -> float:
        return 1.0 if params.get("ConsistentRead") else 0.5

    def _query(self, params: dict[str, Any], **_: Any) -> None:
        if self._busy:
            return
        key_condition = params["KeyConditionExpression"]
        used = set(re.findall(r"[#:][A-Za-z0-9_]+", key_condition))
        shadow = {
            name: params[name]
            for name in ("TableName", "IndexName", "KeyConditionExpression", "ExclusiveStartKey", "Limit",
                         "ScanIndexForward", "ConsistentRead")
            if name in params
        }  # fmt: skip
        shadow["ExpressionAttributeNames"] = {
            k: v for k, v in params.get("ExpressionAttributeNames", {}).items() if k in used
        }
        shadow["ExpressionAttributeValues"] = {
            k: v for k, v in params.get("ExpressionAttributeValues", {}).items() if k in used
        }
        self._busy = True
        try:
            items = self._client.query(**shadow).get("Items", [])
        finally:
            self._busy = False
        self.units += max(1, math.ceil(sum(item_size(i) for i in items) / 4096)) * self._rate(params)

    def _get_units(self, table: str, key: dict[str, Any], rate: float) -> float:
        self._busy = True
        try:
            item = self._client.get_item(TableName=table, Key=key).get("Item")
        finally:
            self._busy = False
        return max(1, math.ceil(item_size(item or {}) / 4096)) * rate

    def _get(self, params: dict[str, Any], **_: Any) -> None:
        if not self._busy:
            self.units += self._get_units(params["TableName"], params["Key"], self._rate(params))

    def _batch_get(self, params: dict[str, Any], **_: Any) -> None:
        if self._busy:
            return
        for table, request in params["RequestItems"].items():
            for key in request["Keys"]:
                self.units += self._get_units(table, key, self._rate(request))


@contextlib.contextmanager
def scan_free(storage: Storage) -> Iterator[None]:
    """Fail at the end of the block if a DynamoDB store sent a Scan (a SQLite store passes through)."""
    guard = ScanGuard()
    if isinstance(storage, DynamoDBStorage):
        guard.watch(storage.client)
    yield
    assert not guard.scans, f"Scan requests were sent: {guard.scans}"


@contextlib.contextmanager
def dynamodb_storage(**options: Any) -> Iterator[tuple[DynamoDBStorage, Any, Any]]:
    """A DynamoDB store on moto with its table and bucket; yields ``(store, dynamodb client, s3 client)``."""
    with moto.mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        create_table(dynamodb, TABLE)
        guard = ScanGuard()
        guard.watch(dynamodb)
        options.setdefault("serialize_requests", True)  # moto applies requests non-atomically (see the store)
        store = DynamoDBStorage(TABLE, bucket=BUCKET, dynamodb=dynamodb, s3=s3, key_prefix="store", **options)
        yield store, dynamodb, s3
        store.close()
        assert not guard.scans, f"Scan requests were sent: {guard.scans}"


@contextlib.contextmanager
def open_store(kind: str, tmp_path: Path) -> Iterator[Storage]:
    """The store named ``kind`` (one of :data:`STORES`), empty, closed after the block."""
    if kind == "sqlite":
        store = SQLiteStorage(tmp_path / "db" / "truthloop.db")
        try:
            yield store
        finally:
            store.close()
        return
    with dynamodb_storage() as (dynamo, _, _):
        yield dynamo
