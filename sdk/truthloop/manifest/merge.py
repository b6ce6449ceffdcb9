"""Join the output manifests of several (chained) jobs on ``source-ref`` / ``source`` into one manifest.

Lines are keyed by ``source-ref`` (or the inline ``source``) and staged in a temporary SQLite database, so memory
stays constant however large the manifests are. The merged line keeps every key of every input line — so the
attribute pairs of chained jobs end up side by side — in the order the keys were first seen; lines come out in
the order their key first appeared. A key present in two inputs with different values is a conflict, handled by
``on_conflict``: ``error`` (default: stop, naming both lines), ``first`` or ``last`` (keep that input's value).
``how="inner"`` keeps only the lines present in every input.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from truthloop.exceptions import ManifestError
from truthloop.manifest._json import decode, dumps_line, encode
from truthloop.manifest.io import open_output
from truthloop.manifest.reader import ManifestReader, OnError, OnProgress

__all__ = ["MergeReport", "merge_manifests"]


@dataclass
class MergeReport:
    """What a merge read and wrote."""

    inputs: int
    lines_read: int
    lines_written: int
    conflicts: int
    skipped: int


def _key(data: dict[str, Any]) -> str:
    ref = data.get("source-ref")
    if isinstance(ref, str):
        return "ref:" + ref
    return "src:" + encode(data.get("source")).decode()


def merge_manifests(
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    how: Literal["outer", "inner"] = "outer",
    on_conflict: Literal["error", "first", "last"] = "error",
    s3_client: Any | None = None,
    on_error: OnError | None = None,
    on_progress: OnProgress | None = None,
) -> MergeReport:
    """Merge ``inputs`` into ``out`` (local path, ``-`` or ``s3://``); see the module docstring."""
    if how not in ("outer", "inner") or on_conflict not in ("error", "first", "last"):
        raise ManifestError("how must be outer or inner; on_conflict must be error, first or last")
    report = MergeReport(len(inputs), 0, 0, 0, 0)

    def skip(error: Any) -> None:
        report.skipped += 1
        if on_error is None:
            raise error
        on_error(error)

    with tempfile.TemporaryDirectory(prefix="truthloop-merge-") as folder:
        db = sqlite3.connect(Path(folder) / "merge.sqlite3")
        try:
            db.execute("PRAGMA journal_mode=OFF")
            db.execute("PRAGMA synchronous=OFF")
            db.execute(
                "CREATE TABLE lines (key TEXT PRIMARY KEY, seq INTEGER, data BLOB, origin TEXT, "
                "inputs INTEGER, last_input INTEGER)"
            )
            seq = 0
            for number, uri in enumerate(inputs):
                reader = ManifestReader(
                    uri, s3_client=s3_client, on_error=skip, require_source=True, on_progress=on_progress
                )
                for record in reader:
                    key = _key(record.data)
                    where = f"{record.source}:{record.line}"
                    row = db.execute(
                        "SELECT data, origin, inputs, last_input FROM lines WHERE key = ?", (key,)
                    ).fetchone()
                    if row is None:
                        seq += 1
                        db.execute(
                            "INSERT INTO lines VALUES (?, ?, ?, ?, 1, ?)",
                            (key, seq, encode(record.data), where, number),
                        )
                        continue
                    merged: dict[str, Any] = decode(row[0])
                    for name, value in record.data.items():
                        if name in merged and merged[name] != value:
                            report.conflicts += 1
                            if on_conflict == "error":
                                raise ManifestError(
                                    f"{where}: {name!r} differs from {row[1]} (use on_conflict first/last to choose)"
                                )
                            if on_conflict == "first":
                                continue
                        merged[name] = value
                    seen = row[2] + (row[3] != number)
                    db.execute(
                        "UPDATE lines SET data = ?, origin = ?, inputs = ?, last_input = ? WHERE key = ?",
                        (encode(merged), where, seen, number, key),
                    )
                report.lines_read += reader.lines_read
            wanted = len(inputs) if how == "inner" else 1
            with open_output(out, s3_client=s3_client) as handle:
                for (data,) in db.execute("SELECT data FROM lines WHERE inputs >= ? ORDER BY seq", (wanted,)):
                    handle.write(dumps_line(decode(data)))
                    report.lines_written += 1
        finally:
            db.close()
    return report
