"""The two stores the storage suite runs against: SQLite on disk and DynamoDB + S3 on moto (in process)."""

from __future__ import annotations

import contextlib
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
