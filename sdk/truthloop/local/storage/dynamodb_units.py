"""Read request units as DynamoDB would bill them, for the requests sent through watched boto3 clients.

moto reports no consumed capacity, so the storage tests and ``bench/service.py`` measure with :class:`ReadUnits`:
a ``Query`` page costs the size of the items it evaluated (re-read without its filter and without
``Select=COUNT``, so what the filter dropped counts too) rounded up to 4 KB, a ``GetItem`` or ``BatchGetItem`` key
its item rounded up to 4 KB; at least one unit per page or key, and half of it for an eventually consistent read.
Item sizes follow DynamoDB's rules (:func:`item_size`; numbers approximately). Nothing here runs in the service.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

__all__ = ["ReadUnits", "item_size"]

#: what a Query's shadow re-read keeps (the key condition, the page, the order, the consistency)
_QUERY_PARAMS = (
    "TableName",
    "IndexName",
    "KeyConditionExpression",
    "ExclusiveStartKey",
    "Limit",
    "ScanIndexForward",
    "ConsistentRead",
)


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
    """Read request units of the reads sent through the clients it watches (see the module's docstring).

    Hooked on botocore's ``provide-client-params`` events. The re-reads that size a request go through ``reader``
    (default: the watched client itself, whose hooks then skip them): give a client of its own when something else
    counts the watched client's requests, so the re-reads are not counted as the service's.
    """

    def __init__(self) -> None:
        self.units = 0.0
        #: time spent in the re-reads (a caller timing the watched code subtracts it)
        self.seconds = 0.0
        self._reader: Any = None
        self._busy = False

    def watch(self, client: Any, *, reader: Any = None) -> None:
        self._reader = reader if reader is not None else client
        client.meta.events.register("provide-client-params.dynamodb.Query", self._query)
        client.meta.events.register("provide-client-params.dynamodb.GetItem", self._get)
        client.meta.events.register("provide-client-params.dynamodb.BatchGetItem", self._batch_get)

    @staticmethod
    def _rate(params: dict[str, Any]) -> float:
        return 1.0 if params.get("ConsistentRead") else 0.5

    def _read(self, operation: str, **params: Any) -> dict[str, Any]:
        self._busy = True
        started = time.perf_counter()
        try:
            result: dict[str, Any] = getattr(self._reader, operation)(**params)
            return result
        finally:
            self._busy = False
            self.seconds += time.perf_counter() - started

    def _query(self, params: dict[str, Any], **_: Any) -> None:
        if self._busy:
            return
        used = set(re.findall(r"[#:][A-Za-z0-9_]+", params["KeyConditionExpression"]))
        shadow = {name: params[name] for name in _QUERY_PARAMS if name in params}
        shadow["ExpressionAttributeNames"] = {
            k: v for k, v in params.get("ExpressionAttributeNames", {}).items() if k in used
        }
        shadow["ExpressionAttributeValues"] = {
            k: v for k, v in params.get("ExpressionAttributeValues", {}).items() if k in used
        }
        items = self._read("query", **shadow).get("Items", [])
        self.units += max(1, math.ceil(sum(item_size(i) for i in items) / 4096)) * self._rate(params)

    def _get_units(self, table: str, key: dict[str, Any], rate: float) -> float:
        item = self._read("get_item", TableName=table, Key=key).get("Item")
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
