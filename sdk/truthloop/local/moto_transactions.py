"""``TransactWriteItems`` on moto's DynamoDB in time that does not grow with the table.

moto (5.x) makes a transaction all-or-nothing by deep-copying every table the transaction touches before it
applies anything, and putting the copies back when an operation fails. A local backend's table holds every loop,
task and job, so each API call that writes a transaction (start, claim, submit, settle…) copies all of them: on
`truthloop service local`, seeding 1,000 human loops took about 25 minutes and 4.8 GB, growing with the square of
the loops.

:func:`install` replaces that backup with an undo log of the items the transaction names: before moto applies it,
each named item (at most 100, DynamoDB's limit) is copied, or remembered as absent; when moto raises, those items
are put back as they were, or removed. Nothing else can change, because a transaction only writes the items it
names. Callers serialise writes (the runtimes hold one lock around every moto DynamoDB write), as moto itself is
not atomic per request.

The patch is process-wide, idempotent and semantics-preserving (the same items survive a cancelled transaction as
with moto's copy), so it is installed whenever truthloop starts moto's DynamoDB for a backend. When moto's
internals are not the ones this was written against, :func:`install` leaves moto alone and says why.
"""

from __future__ import annotations

import copy
import functools
import importlib
import logging
import threading
import types
from typing import Any

__all__ = ["install", "installed", "uninstall"]

log = logging.getLogger(__name__)

_lock = threading.Lock()
_installed = False
#: what install() replaced: moto's ``copy`` module reference and ``transact_write_items``
_saved: tuple[Any, Any] | None = None


def installed() -> bool:
    """Whether :func:`install` patched moto in this process."""
    return _installed


def _key_of(table: Any, op_type: str, op: dict[str, Any]) -> tuple[Any, Any] | None:
    """``(hash, range)`` as moto indexes ``table.items``; ``None`` when the operation names no usable key (moto
    then refuses it itself, before changing anything)."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    attrs = op.get("Item") if op_type == "Put" else op.get("Key")
    if not isinstance(attrs, dict) or table.hash_key_attr not in attrs:
        return None
    try:
        hash_value = DynamoType(attrs[table.hash_key_attr])
        range_value = None
        if table.range_key_attr is not None:
            if table.range_key_attr not in attrs:
                return None
            range_value = DynamoType(attrs[table.range_key_attr])
    except (TypeError, KeyError, ValueError, AttributeError):
        return None
    return hash_value, range_value


def _undo_log(backend: Any, transact_items: Any) -> list[tuple[Any, Any, Any, Any]]:
    """``(table, hash, range, copy of the item or None)`` for each item the transaction names."""
    entries: list[tuple[Any, Any, Any, Any]] = []
    if not isinstance(transact_items, list):
        return entries
    for entry in transact_items:
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        op_type, op = next(iter(entry.items()))
        if not isinstance(op, dict):
            continue
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            continue
        key = _key_of(table, op_type, op)
        if key is None:
            continue
        hash_value, range_value = key
        if range_value is not None:
            current = table.items.get(hash_value, {}).get(range_value)
        else:
            current = table.items.get(hash_value)
        entries.append((table, hash_value, range_value, copy.deepcopy(current) if current is not None else None))
    return entries


def _roll_back(entries: list[tuple[Any, Any, Any, Any]]) -> None:
    for table, hash_value, range_value, item in reversed(entries):
        if range_value is not None:
            partition = table.items[hash_value]
            if item is None:
                partition.pop(range_value, None)
                if not partition:
                    del table.items[hash_value]
            else:
                partition[range_value] = item
        elif item is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = item


def install() -> bool:
    """Patch moto's ``TransactWriteItems`` (once per process); ``False`` when moto's internals differ."""
    global _installed, _saved
    with _lock:
        if _installed:
            return True
        try:
            models: Any = importlib.import_module("moto.dynamodb.models")
            backend_type = models.DynamoDBBackend
            table_type = models.Table
            original = backend_type.transact_write_items
            real_copy = models.copy
        except (ImportError, AttributeError) as exc:
            log.warning("moto's DynamoDB is not the version truthloop patches (%s): transactions copy tables", exc)
            return False
        if not hasattr(real_copy, "deepcopy"):
            log.warning("moto.dynamodb.models.copy has no deepcopy: transactions copy tables")
            return False

        def deepcopy(value: Any, memo: Any = None) -> Any:
            # moto's whole-table backup becomes the table itself; the undo log below restores what changed
            return value if isinstance(value, table_type) else copy.deepcopy(value, memo)

        @functools.wraps(original)
        def transact_write_items(self: Any, transact_items: Any) -> Any:
            entries = _undo_log(self, transact_items)
            try:
                return original(self, transact_items)
            except BaseException:
                _roll_back(entries)
                raise

        _saved = (real_copy, original)
        models.copy = types.SimpleNamespace(deepcopy=deepcopy, copy=copy.copy)
        backend_type.transact_write_items = transact_write_items
        _installed = True
        return True


def uninstall() -> None:
    """Put moto's own whole-table backup back (benchmarks compare against it); a no-op when not installed."""
    global _installed, _saved
    with _lock:
        if not _installed or _saved is None:
            return
        models: Any = importlib.import_module("moto.dynamodb.models")
        models.copy, models.DynamoDBBackend.transact_write_items = _saved
        _installed, _saved = False, None
