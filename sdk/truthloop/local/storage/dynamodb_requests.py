"""The request layer of the DynamoDB store: one table's requests, botocore errors mapped, transactions retried.

:class:`TableRequests` sends every request of :class:`~truthloop.local.storage.dynamodb.DynamoDBStorage`: it maps
``ClientError`` to :class:`ConditionFailed` / :class:`Cancelled` (which the store turns into the protocol's
answers) or to the storage errors, retries transactions cancelled by conflicts, pages Queries, and counts
requests and consumed capacity per operation.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from truthloop.local.storage import dynamodb_items as it
from truthloop.local.storage.base import StorageThrottled, StorageUnavailable
from truthloop.local.storage.dynamodb_items import Expr, Item

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

__all__ = ["ATTEMPTS", "CLIENT_CONFIG", "Cancelled", "ConditionFailed", "TableRequests", "backoff", "unwrap"]

#: botocore's standard retry mode on the clients this store creates (throttling is retried with backoff)
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8})
_THROTTLING = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "Throttling", "RequestLimitExceeded"}
)
_CONFLICT_REASONS = frozenset({"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"})
#: rounds of read-then-conditional-write before a contended item is reported as throttled
ATTEMPTS = 12


class ConditionFailed(Exception):
    """A conditional write was refused (``Item``: the item as it was, when asked for)."""

    def __init__(self, item: Item | None) -> None:
        self.item = item
        super().__init__("the conditional request failed")


class Cancelled(Exception):
    """A transaction was cancelled; ``reasons`` are DynamoDB's ``CancellationReasons``, one per item."""

    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        self.reasons = reasons
        super().__init__(f"transaction cancelled: {[r.get('Code') for r in reasons]}")

    def failed(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index].get("Code") == "ConditionalCheckFailed"

    def item(self, index: int) -> Item | None:
        found: Item | None = self.reasons[index].get("Item") if index < len(self.reasons) else None
        return found

    @property
    def condition_failed(self) -> bool:
        return any(r.get("Code") == "ConditionalCheckFailed" for r in self.reasons)

    @property
    def retryable(self) -> bool:
        codes = {r.get("Code") for r in self.reasons} - {"None", None}
        return bool(codes) and codes <= _CONFLICT_REASONS


def unwrap(given: Any) -> Any:
    """A boto3 client from a client or a resource (``resource.meta.client``)."""
    client = getattr(getattr(given, "meta", None), "client", None)
    return client if client is not None else given


def backoff(attempt: int) -> None:
    """Sleep before retry ``attempt`` (0-based): full jitter, capped at half a second."""
    time.sleep(min(0.5, 0.005 * 2**attempt) * random.random())


class TableRequests:
    """Requests to one table. ``serialize_requests`` sends one at a time (moto; see the store)."""

    def __init__(self, table_name: str, dynamodb: DynamoDBClient, *, serialize_requests: bool) -> None:
        self.table = table_name
        self._db = dynamodb
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.Lock() if serialize_requests else contextlib.nullcontext()
        )
        self._stats_lock = threading.Lock()
        self._stats: dict[str, dict[str, float]] = {}

    @property
    def client(self) -> DynamoDBClient:
        """The DynamoDB client the store sends its requests through (tests watch it for Scans)."""
        return self._db

    @property
    def stats(self) -> dict[str, dict[str, float]]:
        """Requests (refused ones too) and consumed capacity units per DynamoDB operation since :meth:`reset_stats`."""
        with self._stats_lock:
            return {op: dict(values) for op, values in self._stats.items()}

    def reset_stats(self) -> None:
        with self._stats_lock:
            self._stats.clear()

    def _record(self, operation: str, response: dict[str, Any]) -> None:
        consumed = response.get("ConsumedCapacity") or []
        if isinstance(consumed, dict):
            consumed = [consumed]
        units = sum(float(c.get("CapacityUnits", 0.0)) for c in consumed)
        with self._stats_lock:
            entry = self._stats.setdefault(operation, {"requests": 0.0, "capacity_units": 0.0})
            entry["requests"] += 1
            entry["capacity_units"] += units

    def _call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One DynamoDB request; botocore errors become this module's or the protocol's errors."""
        params.setdefault("ReturnConsumedCapacity", "TOTAL")
        if operation not in ("transact_write_items", "batch_get_item", "batch_write_item"):
            params.setdefault("TableName", self.table)
        try:
            with self._lock:
                response: dict[str, Any] = getattr(self._db, operation)(**params)
        except ClientError as exc:
            self._record(operation, {})  # a refused request still costs: count it
            body: dict[str, Any] = dict(exc.response)
            error = body.get("Error", {})
            code, message = str(error.get("Code", "")), str(error.get("Message", ""))
            if code == "ConditionalCheckFailedException":
                raise ConditionFailed(body.get("Item")) from exc
            if code == "TransactionCanceledException":
                raise Cancelled(list(body.get("CancellationReasons", []))) from exc
            if code in _THROTTLING:
                raise StorageThrottled(operation, f"{code}: {message}") from exc
            raise StorageUnavailable(operation, f"{code}: {message} (table {self.table})") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(operation, str(exc)) from exc
        self._record(operation, response)
        return response

    def _transact(self, items: list[dict[str, Any]]) -> None:
        """TransactWriteItems, retried on transaction conflicts and throttling (never on a failed condition)."""
        if len(items) == 1:  # one item: the plain conditional write is atomic too and costs half
            ((kind, request),) = items[0].items()
            operation = {"Put": "put_item", "Update": "update_item", "Delete": "delete_item"}[kind]
            request = {k: v for k, v in request.items() if k != "TableName"}
            try:
                self._call(operation, **request)
            except ConditionFailed as exc:
                raise Cancelled(
                    [{"Code": "ConditionalCheckFailed", **({"Item": exc.item} if exc.item else {})}]
                ) from exc
            return
        for attempt in range(ATTEMPTS):
            try:
                self._call("transact_write_items", TransactItems=items)
                return
            except Cancelled as exc:
                if exc.condition_failed or not exc.retryable:
                    raise
                backoff(attempt)
        raise StorageThrottled("TransactWriteItems", "transaction conflicts persisted after retries")

    def _put(self, item: Item, condition: str | None = None, expr: Expr | None = None) -> dict[str, Any]:
        request: dict[str, Any] = {"TableName": self.table, "Item": item}
        if condition:
            request.update((expr or Expr()).params(condition=condition))
        return {"Put": request}

    def _update(self, key: Item, expr: Expr, condition: str | None = None) -> dict[str, Any]:
        return {"Update": {"TableName": self.table, "Key": key, **expr.params(condition=condition, update=True)}}

    def _delete(self, key: Item, condition: str | None = None, expr: Expr | None = None) -> dict[str, Any]:
        request: dict[str, Any] = {"TableName": self.table, "Key": key}
        if condition:
            request.update((expr or Expr()).params(condition=condition))
        return {"Delete": request}

    def _check(self, key: Item, condition: str, expr: Expr) -> dict[str, Any]:
        """A transaction's ``ConditionCheck``: the transaction goes through only while ``condition`` holds."""
        return {"ConditionCheck": {"TableName": self.table, "Key": key, **expr.params(condition=condition)}}

    def _get(self, key: Item) -> Item | None:
        found: Item | None = self._call("get_item", Key=key, ConsistentRead=True).get("Item")
        return found

    def _query(
        self,
        key_condition: str,
        expr: Expr,
        *,
        index: str | None = None,
        filter_expression: str | None = None,
        ascending: bool = True,
        page: int | None = None,
        start: Item | None = None,
        count: bool = False,
    ) -> Iterator[Item]:
        """Items of one Query, page after page (stop iterating to stop reading). Table queries read consistently."""
        params: dict[str, Any] = {"KeyConditionExpression": key_condition, "ScanIndexForward": ascending}
        params.update(expr.params())
        if index is not None:
            params["IndexName"] = index
        else:
            params["ConsistentRead"] = True
        if filter_expression:
            params["FilterExpression"] = filter_expression
        if page is not None:
            params["Limit"] = page
        if start is not None:
            params["ExclusiveStartKey"] = start
        if count:
            params["Select"] = "COUNT"
        while True:
            response = self._call("query", **params)
            if count:
                yield from ({} for _ in range(int(response.get("Count", 0))))
            else:
                yield from response.get("Items", [])
            last = response.get("LastEvaluatedKey")
            if not last:
                return
            params["ExclusiveStartKey"] = last

    def _page(
        self,
        key_condition: str,
        expr: Expr,
        *,
        index: str | None,
        filter_expression: str | None,
        ascending: bool,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[Item], str | None]:
        """One page of ``limit`` items and the cursor of the next page (``None`` when no item follows)."""
        limit = max(1, limit)
        start = it.decode_cursor(cursor) if cursor else None
        found = list(
            itertools.islice(
                self._query(
                    key_condition,
                    expr,
                    index=index,
                    filter_expression=filter_expression,
                    ascending=ascending,
                    page=limit + 1,
                    start=start,
                ),
                limit + 1,
            )
        )
        if len(found) > limit:
            return found[:limit], it.encode_cursor(it.key_of(found[limit - 1], index))
        return found, None
