"""DynamoDB for the local moto gateway, kept on disk: a write-through journal, replayed and compacted at start.

moto keeps DynamoDB in memory. :class:`DurableDynamoDB` makes every acknowledged write durable before the answer
leaves: each request that may change something (anything but the known reads: ``PutItem``, ``UpdateItem``,
``DeleteItem``, ``BatchWriteItem``, ``TransactWriteItems``, ``CreateTable``, ``UpdateTable``,
``UpdateTimeToLive``, ``DeleteTable``, tagging, PartiQL, …) is applied by moto and, when moto answered 2xx, its
headers and body are appended to ``<root>/journal-<N>.log`` and ``fsync``-ed, all under one lock, before the
response is sent. A request moto refused (a failed condition, a validation error) changed nothing and is not kept.

At start the state is rebuilt in three steps:

1. ``snapshot.jsonl`` (if any) is loaded straight into moto's backend objects: the tables' definitions (keys,
   indexes, billing, streams setting, tags, TTL) and their items;
2. the journals it names as not yet included (``journal-<N>.log`` with N ≥ the snapshot's ``next_journal``) are
   replayed in order through moto's own request handler, the requests exactly as they were first applied. The
   store writes its clock into its requests (conditions such as ``purge_at < :now`` carry the value), and moto
   does not expire TTL items by itself, so a replayed conditional write meets the state it met the first time;
3. compaction: a new snapshot of everything is written (temporary file, ``fsync``, ``rename``, ``fsync`` of the
   directory) naming a new, empty journal as the next one; only then are the older journals deleted. A crash at
   any point leaves either the old snapshot with its journals or the new snapshot, never a journal applied twice.

While running, the same compaction happens whenever the current journal passes ``compact_bytes`` (64 MiB by
default), under the write lock: the snapshot is written from moto's memory, which holds exactly what the journals
hold, and appends go on in a fresh journal. So a long-running backend's journal (and its next start's replay)
stays bounded; DynamoDB requests wait while the snapshot is written (about 0.1 ms per item). A compaction that
fails (disk full) is logged and retried after another ``compact_bytes``; the journal it would have replaced is
still complete, so nothing is lost.

Every journal line is ``<crc32 hex> <json>``. A last line that is incomplete or fails its checksum is what a
``kill -9`` (or power loss) in the middle of an append leaves: it was never acknowledged, so it is dropped and
reported (a warning, and :attr:`RestoreReport.torn_tail`). A damaged line followed by good ones is not a torn
append: start refuses with an error naming the file and line rather than silently losing what follows.

Limits: backups, exports, imports, stream records and continuous-backup settings are not in the snapshot (the
tables and items they produced are). If an append fails (disk full), the journal refuses every later write with
an error until restart, so the memory never runs ahead of the disk by more than the one failed request.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import re
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from truthloop.exceptions import LocalBackendError
from truthloop.local import moto_transactions

__all__ = ["READ_ONLY_OPERATIONS", "DurableDynamoDB", "JournalBroken", "RestoreReport", "SharedLock", "operation_of"]

log = logging.getLogger("truthloop.local.dynamodb")

#: DynamoDB operations that never change state: served without the journal's lock and not journaled
READ_ONLY_OPERATIONS = frozenset(
    {
        "BatchGetItem",
        "DescribeBackup",
        "DescribeContinuousBackups",
        "DescribeContributorInsights",
        "DescribeEndpoints",
        "DescribeExport",
        "DescribeGlobalTable",
        "DescribeGlobalTableSettings",
        "DescribeImport",
        "DescribeKinesisStreamingDestination",
        "DescribeLimits",
        "DescribeTable",
        "DescribeTableReplicaAutoScaling",
        "DescribeTimeToLive",
        "GetItem",
        "GetResourcePolicy",
        "ListBackups",
        "ListContributorInsights",
        "ListExports",
        "ListGlobalTables",
        "ListImports",
        "ListTables",
        "ListTagsOfResource",
        "Query",
        "Scan",
        "TransactGetItems",
    }
)
#: request headers kept with a journaled request (moto reads the region from the credential scope)
_KEPT_HEADERS = ("authorization", "x-amz-target", "content-type", "content-encoding")
_SNAPSHOT = "snapshot.jsonl"
_SNAPSHOT_FORMAT = "truthloop-dynamodb-snapshot/1"
_JOURNAL = re.compile(r"^journal-(\d{8})\.log$")
_LINE = re.compile(rb"^([0-9a-f]{8}) (.*)$", re.DOTALL)

#: sends one recorded request (headers, body) to moto's DynamoDB handler; returns the HTTP status
Apply = Callable[[dict[str, str], bytes], int]


class JournalBroken(LocalBackendError):
    """An append to the journal failed earlier: writes are refused until the backend restarts."""


def operation_of(target: str) -> str:
    """``DynamoDB_20120810.PutItem`` → ``PutItem``."""
    return target.rpartition(".")[2]


@dataclass
class RestoreReport:
    """What :meth:`DurableDynamoDB.restore` found and did."""

    tables: int = 0
    snapshot_items: int = 0
    journal_entries: int = 0
    #: journaled requests moto refused on replay (should be 0: each was applied once already)
    replay_failures: int = 0
    #: "<file>:<line>: <why>" of a dropped incomplete last line, else None
    torn_tail: str | None = None
    load_seconds: float = 0.0
    compact_seconds: float = 0.0
    items_after: int = 0


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _frame(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode("ascii")
    return b"%08x %s\n" % (zlib.crc32(text), text)


def _unframe(raw: bytes) -> Any:
    """The value of one framed line (without its newline); ValueError when damaged."""
    match = _LINE.match(raw)
    if match is None:
        raise ValueError("not a '<crc32> <json>' line")
    body = match.group(2)
    if int(match.group(1), 16) != zlib.crc32(body):
        raise ValueError("checksum mismatch")
    return json.loads(body)


def _plain(value: Any) -> dict[str, Any]:
    """A moto ``DynamoType`` as DynamoDB JSON (what a request carries: binary as base64 text)."""
    kind, inner = value.type, value.value
    if kind == "M":
        return {"M": {key: _plain(item) for key, item in inner.items()}}
    if kind == "L":
        return {"L": [_plain(item) for item in inner]}
    if kind == "B":
        return {"B": base64.b64encode(inner).decode("ascii") if isinstance(inner, bytes) else inner}
    if kind == "BS":
        return {"BS": [base64.b64encode(v).decode("ascii") if isinstance(v, bytes) else v for v in inner]}
    return {kind: inner}


def _backends() -> Any:
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends


def _each_backend() -> Iterator[tuple[str, str, Any]]:
    backends = _backends()
    for account_id in list(backends.keys()):
        regions = backends[account_id]
        for region in list(regions.keys()):
            yield account_id, region, regions[region]


class SharedLock:
    """Many readers or one writer; a waiting writer goes before new readers (moto's DynamoDB is not safe to read
    while a write changes it: a ``Query`` iterating a table that a ``PutItem`` grows raises ``RuntimeError``)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writer = False
        self._waiting = 0

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with self._cond:
            while self._writer or self._waiting:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()


class DurableDynamoDB:
    """moto's in-memory DynamoDB with a write-through journal and a snapshot in ``root``."""

    def __init__(self, root: Path, *, compact_bytes: int = 64 * 1024 * 1024) -> None:
        self.root = root
        #: a journal this long is compacted into a snapshot while running (0: only at start)
        self.compact_bytes = compact_bytes
        self._journal_number = 0
        self._journal_bytes = 0
        #: compactions done while running, and the last one's error (``None`` when it succeeded)
        self.online_compactions = 0
        self.compaction_error: str | None = None
        #: a write holds it exclusively while moto applies it and it is appended (the journal's order is moto's
        #: order); reads hold it shared, so they never see moto's tables in the middle of a change
        self.lock = SharedLock()
        self._fd: int | None = None
        self._journal: Path | None = None
        self._broken: str | None = None
        #: requests appended since start
        self.appended = 0

    # ------------------------------------------------------------------ write path
    def append(self, headers: dict[str, str], body: bytes) -> None:
        """Append one applied request and ``fsync`` it (caller holds :attr:`lock` exclusively)."""
        if self._broken is not None:
            raise JournalBroken(self._broken)
        if self._fd is None:
            raise LocalBackendError("the DynamoDB journal is not open (restore() was not called)")
        kept = {name: headers[name] for name in _KEPT_HEADERS if name in headers}
        line = _frame({"h": kept, "b": body.decode("utf-8", "surrogateescape")})
        try:
            view = memoryview(line)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            os.fsync(self._fd)
            self._journal_bytes += len(line)
        except OSError as exc:
            self._broken = (
                f"writing the DynamoDB journal {self._journal} failed ({exc.strerror}); later writes are refused "
                "until the backend restarts"
            )
            log.error("%s", self._broken)
            raise JournalBroken(self._broken) from exc
        self.appended += 1
        if self.compact_bytes and self._journal_bytes >= self.compact_bytes:
            self.compact()

    def compact(self) -> bool:
        """Snapshot moto's memory and continue in a fresh journal (caller holds :attr:`lock` exclusively, or
        nothing else writes); ``False`` when it failed (logged; the current journal stays and is complete)."""
        if self._fd is None:
            raise LocalBackendError("the DynamoDB journal is not open (restore() was not called)")
        old = [path for number, path in self._journals() if number <= self._journal_number]
        following = self._journal_number + 1
        try:
            self._write_snapshot(following, RestoreReport())
        except Exception as exc:  # the write is durable already: report it, never fail the write
            self.compaction_error = f"compacting the DynamoDB journal into {self.root / _SNAPSHOT} failed: {exc}"
            log.error("%s; the journal keeps growing and compaction is retried later", self.compaction_error)
            self._journal_bytes = 0  # retry after another compact_bytes
            return False
        # the snapshot now includes every journal up to the current one: continue in the next, then drop them
        os.close(self._fd)
        self._fd = None
        self._open(following)
        for path in old:
            path.unlink(missing_ok=True)
        _fsync_dir(self.root)
        self.online_compactions += 1
        self.compaction_error = None
        return True

    def check_writable(self) -> None:
        """Raise :class:`JournalBroken` when an earlier append failed (before moto applies anything)."""
        if self._broken is not None:
            raise JournalBroken(self._broken)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    # ------------------------------------------------------------------ start
    def restore(self, apply: Apply, *, compact: bool = True) -> RestoreReport:
        """Load the snapshot, replay the journals through ``apply``, compact, open a journal for appends.

        moto's DynamoDB must be empty (reset) before this is called.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        for existing in _each_backend():
            if existing[2].tables:
                raise LocalBackendError("restoring DynamoDB needs an empty moto (reset it first)")
        for stale in self.root.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        report = RestoreReport()
        started = time.perf_counter()
        next_journal = self._load_snapshot(report)
        journals = self._journals()
        # a replay of N loops would otherwise copy the whole table N times (moto's transaction backup)
        moto_transactions.install()
        for number, path in journals:
            if number >= next_journal:
                self._replay(path, apply, report, last=number == journals[-1][0])
        report.load_seconds = time.perf_counter() - started
        started = time.perf_counter()
        newest = max([next_journal - 1, *(number for number, _ in journals)])
        if compact:
            current = newest + 1
            self._write_snapshot(current, report)
            for _, path in journals:  # all included in the snapshot now
                path.unlink(missing_ok=True)
            _fsync_dir(self.root)
        else:  # keep appending to a fresh journal after the ones replayed (benchmarks measure replay this way)
            current = newest + 1
        self._open(current)
        report.compact_seconds = time.perf_counter() - started
        report.items_after = sum(
            len(table.all_items()) for _, _, backend in _each_backend() for table in backend.tables.values()
        )
        if report.torn_tail:
            log.warning("DynamoDB journal: dropped an incomplete last write (never acknowledged): %s", report.torn_tail)
        if report.replay_failures:
            log.warning("DynamoDB journal: %d journaled request(s) were refused on replay", report.replay_failures)
        return report

    def _journals(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.root.iterdir():
            match = _JOURNAL.match(path.name)
            if match:
                found.append((int(match.group(1)), path))
        return sorted(found)

    def _open(self, number: int) -> None:
        self._journal = self.root / f"journal-{number:08d}.log"
        self._fd = os.open(self._journal, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._journal_number = number
        self._journal_bytes = os.fstat(self._fd).st_size
        os.fsync(self._fd)
        _fsync_dir(self.root)

    def _replay(self, path: Path, apply: Apply, report: RestoreReport, *, last: bool) -> None:
        raw = path.read_bytes()
        lines = raw.split(b"\n")
        complete, tail = lines[:-1], lines[-1]  # tail: empty, or an append cut short
        good = 0  # bytes of whole, valid lines
        torn: str | None = None
        for number, line in enumerate(complete, start=1):
            try:
                entry = _unframe(line)
                headers, body = dict(entry["h"]), str(entry["b"]).encode("utf-8", "surrogateescape")
            except (ValueError, KeyError, TypeError) as exc:
                if last and number == len(complete) and not tail:
                    torn = f"{path.name}:{number}: {exc}"
                    break
                raise LocalBackendError(
                    f"the DynamoDB journal {path} is damaged at line {number} ({exc}) and later lines follow; "
                    "refusing to start rather than lose them"
                ) from None
            good += len(line) + 1
            status = apply(headers, body)
            report.journal_entries += 1
            if status >= 300:
                report.replay_failures += 1
                log.warning("DynamoDB journal %s line %d: moto answered %d on replay", path.name, number, status)
        if tail and torn is None:
            if not last:
                raise LocalBackendError(
                    f"the DynamoDB journal {path} ends in an incomplete line ({len(complete) + 1}) but is not "
                    "the newest"
                )
            torn = f"{path.name}:{len(complete) + 1}: incomplete line ({len(tail)} bytes)"
        if torn is not None:  # cut the torn write off, so the file is whole again
            report.torn_tail = torn
            with path.open("r+b") as handle:
                handle.truncate(good)
                handle.flush()
                os.fsync(handle.fileno())

    # ------------------------------------------------------------------ snapshot
    def _load_snapshot(self, report: RestoreReport) -> int:
        path = self.root / _SNAPSHOT
        if not path.is_file():
            return 0
        backends = _backends()
        tables: list[Any] = []
        header: dict[str, Any] | None = None
        ended = False
        with path.open("rb") as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    value = _unframe(line.rstrip(b"\n"))
                except ValueError as exc:
                    message = f"the DynamoDB snapshot {path} is damaged at line {number}: {exc}"
                    raise LocalBackendError(message) from None
                if header is None:
                    if value.get("format") != _SNAPSHOT_FORMAT:
                        raise LocalBackendError(f"{path} is not a {_SNAPSHOT_FORMAT} file")
                    header = value
                elif "item" in value:
                    index, attrs = value["item"]
                    tables[index].put_item(attrs, overwrite=True)
                    report.snapshot_items += 1
                elif "table" in value:
                    tables.append(self._create_table(backends, value["table"]))
                    report.tables += 1
                elif "end" in value:
                    ended = value["end"] == report.snapshot_items
                    break
        if header is None or not ended:
            raise LocalBackendError(f"the DynamoDB snapshot {path} is incomplete")
        return int(header["next_journal"])

    @staticmethod
    def _create_table(backends: Any, spec: dict[str, Any]) -> Any:
        backend = backends[spec["account"]][spec["region"]]
        table = backend.create_table(
            spec["name"],
            schema=spec["schema"],
            throughput=spec.get("throughput"),
            attr=spec["attr"],
            global_indexes=spec.get("global_indexes") or [],
            indexes=spec.get("indexes") or [],
            streams=spec.get("streams"),
            billing_mode=spec["billing_mode"],
            sse_specification=spec.get("sse"),
            tags=spec.get("tags") or [],
            deletion_protection_enabled=spec.get("deletion_protection", False),
            warm_throughput=None,
        )
        table.ttl = dict(spec.get("ttl") or table.ttl)
        return table

    @staticmethod
    def _table_spec(account_id: str, region: str, table: Any) -> dict[str, Any]:
        provisioned = table.billing_mode != "PAY_PER_REQUEST"

        def throughput(value: dict[str, Any]) -> dict[str, Any] | None:
            if not provisioned:
                return None
            return {k: value[k] for k in ("ReadCapacityUnits", "WriteCapacityUnits") if k in value}

        gsis = []
        for index in table.global_indexes:
            described: dict[str, Any] = {
                "IndexName": index.name,
                "KeySchema": index.schema,
                "Projection": index.projection,
            }
            if provisioned:
                described["ProvisionedThroughput"] = throughput(index.throughput)
            gsis.append(described)
        streams = table.stream_specification if (table.stream_specification or {}).get("StreamEnabled") else None
        return {
            "account": account_id,
            "region": region,
            "name": table.name,
            "schema": table.schema,
            "attr": table.attr,
            "throughput": throughput(table.throughput),
            "billing_mode": table.billing_mode or "PROVISIONED",
            "global_indexes": gsis,
            "indexes": [index.describe() for index in table.indexes],
            "streams": streams,
            "sse": table.sse_specification,
            "tags": table.tags,
            "deletion_protection": bool(table.deletion_protection_enabled),
            "ttl": table.ttl,
        }

    def _write_snapshot(self, next_journal: int, report: RestoreReport) -> None:
        """Everything in moto now, as a snapshot whose next journal is ``next_journal`` (atomic replace)."""
        path = self.root / _SNAPSHOT
        temp = self.root / f".{_SNAPSHOT}.{uuid.uuid4().hex}.tmp"
        count = 0
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(_frame({"format": _SNAPSHOT_FORMAT, "next_journal": next_journal}))
                index = 0
                for account_id, region, backend in _each_backend():
                    for table in list(backend.tables.values()):
                        handle.write(_frame({"table": self._table_spec(account_id, region, table)}))
                        for item in table.all_items():
                            attrs = {name: _plain(value) for name, value in item.attrs.items()}
                            handle.write(_frame({"item": [index, attrs]}))
                            count += 1
                        index += 1
                handle.write(_frame({"end": count}))
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        _fsync_dir(self.root)
