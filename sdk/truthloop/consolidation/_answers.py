"""The :class:`Answers` table: one row per worker answer, integer-encoded once for every aggregator."""

from __future__ import annotations

import csv
import io
from collections.abc import Hashable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
import numpy.typing as npt

from truthloop.exceptions import ConsolidationError

__all__ = ["Answers", "factorize", "sort_key"]

IntArray = npt.NDArray[np.int64]


def sort_key(value: Hashable) -> tuple[int, float, str]:
    """A total order over mixed labels: numbers (and numeric strings) numerically, then everything else as text."""
    if isinstance(value, bool):
        return (1, 0.0, str(value))
    if isinstance(value, (int, float)):
        return (0, float(value), str(value))
    if isinstance(value, str):
        try:
            return (0, float(value), value)
        except ValueError:
            return (1, 0.0, value)
    return (2, 0.0, repr(value))


def factorize(values: Iterable[Hashable]) -> tuple[IntArray, list[Hashable]]:
    """``(codes, uniques)`` with uniques in order of first appearance."""
    index: dict[Hashable, int] = {}
    setdefault = index.setdefault
    codes = np.fromiter((setdefault(v, len(index)) for v in values), dtype=np.int64)
    return codes, list(index)


class Answers:
    """Worker answers to categorical tasks: ``(task, worker, label)`` rows.

    Tasks and workers keep their order of first appearance; classes are sorted (numbers numerically), which is
    the order every aggregator uses to break ties. Repeated ``(task, worker)`` rows are separate answers.

    >>> answers = Answers.from_records([("t1", "w1", "cat"), ("t1", "w2", "dog"), ("t2", "w1", "dog")])
    >>> len(answers), answers.tasks, answers.classes
    (3, ['t1', 't2'], ['cat', 'dog'])
    """

    __slots__ = ("_by_task", "classes", "label_index", "task_index", "tasks", "worker_index", "workers")

    def __init__(
        self,
        task_index: npt.ArrayLike,
        worker_index: npt.ArrayLike,
        label_index: npt.ArrayLike,
        *,
        tasks: Sequence[Hashable],
        workers: Sequence[Hashable],
        classes: Sequence[Hashable],
    ) -> None:
        self.task_index: IntArray = np.ascontiguousarray(task_index, dtype=np.int64)
        self.worker_index: IntArray = np.ascontiguousarray(worker_index, dtype=np.int64)
        self.label_index: IntArray = np.ascontiguousarray(label_index, dtype=np.int64)
        self.tasks: list[Hashable] = list(tasks)
        self.workers: list[Hashable] = list(workers)
        self.classes: list[Hashable] = list(classes)
        self._by_task: IntArray | None = None
        n = self.task_index.shape[0]
        if self.worker_index.shape != (n,) or self.label_index.shape != (n,) or self.task_index.ndim != 1:
            raise ConsolidationError("task, worker and label index arrays must be 1-D and of equal length")
        for name, codes, uniques in (
            ("task", self.task_index, self.tasks),
            ("worker", self.worker_index, self.workers),
            ("label", self.label_index, self.classes),
        ):
            if n and (codes.min() < 0 or codes.max() >= len(uniques)):
                raise ConsolidationError(f"{name} index out of range (0..{len(uniques) - 1})")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_columns(
        cls, tasks: Iterable[Hashable], workers: Iterable[Hashable], labels: Iterable[Hashable]
    ) -> Answers:
        """Build from three equally long columns."""
        task_codes, task_uniques = factorize(tasks)
        worker_codes, worker_uniques = factorize(workers)
        label_codes, label_uniques = factorize(labels)
        if not (task_codes.shape == worker_codes.shape == label_codes.shape):
            raise ConsolidationError(
                f"columns differ in length: {task_codes.shape[0]} tasks, {worker_codes.shape[0]} workers, "
                f"{label_codes.shape[0]} labels"
            )
        order = sorted(range(len(label_uniques)), key=lambda i: sort_key(label_uniques[i]))
        remap = np.empty(len(order), dtype=np.int64)
        remap[order] = np.arange(len(order), dtype=np.int64)
        return cls(
            task_codes,
            worker_codes,
            remap[label_codes] if len(order) else label_codes,
            tasks=task_uniques,
            workers=worker_uniques,
            classes=[label_uniques[i] for i in order],
        )

    @classmethod
    def from_records(cls, records: Iterable[Sequence[Hashable]]) -> Answers:
        """Build from ``(task, worker, label)`` tuples."""
        rows = list(records)
        for number, row in enumerate(rows):
            if len(row) != 3:
                raise ConsolidationError(f"record {number}: expected (task, worker, label), got {len(row)} values")
            if row[2] is None:
                raise ConsolidationError(f"record {number}: label is missing")
        if not rows:
            return cls.empty()
        tasks, workers, labels = zip(*rows)
        return cls.from_columns(tasks, workers, labels)

    @classmethod
    def from_csv(
        cls,
        source: str | Path | IO[str],
        *,
        task: str = "task",
        worker: str = "worker",
        label: str = "label",
    ) -> Answers:
        """Read a CSV file (or open text stream) with a header holding the ``task``, ``worker``, ``label`` columns.

        Values are kept as strings. Empty labels are rejected with the line number.
        """
        name = str(source) if isinstance(source, (str, Path)) else getattr(source, "name", "<csv>")
        if isinstance(source, (str, Path)):
            try:
                with open(source, encoding="utf-8", newline="") as handle:
                    return cls._read_csv(handle, name, task, worker, label)
            except OSError as exc:
                raise ConsolidationError(f"{name}: cannot read: {exc.strerror or exc}") from None
        return cls._read_csv(source, name, task, worker, label)

    @classmethod
    def _read_csv(cls, handle: IO[str], name: str, task: str, worker: str, label: str) -> Answers:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise ConsolidationError(f"{name}: the file is empty; expected a header with {task},{worker},{label}")
        header = [h.strip().lstrip("\ufeff") for h in header]
        missing = [c for c in (task, worker, label) if c not in header]
        if missing:
            raise ConsolidationError(f"{name}:1: missing column(s) {', '.join(missing)}; header is {','.join(header)}")
        ti, wi, li = header.index(task), header.index(worker), header.index(label)
        width = max(ti, wi, li)
        tasks: list[str] = []
        workers: list[str] = []
        labels: list[str] = []
        for number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) <= width:
                raise ConsolidationError(f"{name}:{number}: expected {len(header)} columns, got {len(row)}")
            if row[li] == "":
                raise ConsolidationError(f"{name}:{number}: the {label} column is empty")
            tasks.append(row[ti])
            workers.append(row[wi])
            labels.append(row[li])
        return cls.from_columns(tasks, workers, labels)

    @classmethod
    def empty(cls) -> Answers:
        none = np.zeros(0, dtype=np.int64)
        return cls(none, none, none, tasks=[], workers=[], classes=[])

    # ------------------------------------------------------------------ views
    def __len__(self) -> int:
        return int(self.task_index.shape[0])

    def __repr__(self) -> str:
        return f"Answers({len(self)} answers, {self.n_tasks} tasks, {self.n_workers} workers, {self.n_classes} classes)"

    @property
    def n_tasks(self) -> int:
        return len(self.tasks)

    @property
    def n_workers(self) -> int:
        return len(self.workers)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    def records(self) -> list[tuple[Hashable, Hashable, Hashable]]:
        """The rows as ``(task, worker, label)`` tuples, in input order."""
        return [
            (self.tasks[t], self.workers[w], self.classes[c])
            for t, w, c in zip(self.task_index.tolist(), self.worker_index.tolist(), self.label_index.tolist())
        ]

    def to_csv(self) -> str:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["task", "worker", "label"])
        writer.writerows(self.records())
        return out.getvalue()

    def select(self, mask: npt.NDArray[np.bool_]) -> tuple[Answers, IntArray]:
        """The answers where ``mask`` is true, and the index (in this table) of each task they still cover.

        Tasks are renumbered (the selection's task ``i`` is this table's task ``kept[i]``); workers and classes
        keep their indices, so skills and labels line up with this table's.
        """
        kept, task_codes = np.unique(self.task_index[mask], return_inverse=True)
        subset = Answers(
            task_codes,
            self.worker_index[mask],
            self.label_index[mask],
            tasks=[self.tasks[i] for i in kept.tolist()],
            workers=self.workers,
            classes=self.classes,
        )
        return subset, kept

    def counts(self, n_classes: int | None = None) -> npt.NDArray[np.float64]:
        """``(n_tasks, n_classes)`` matrix of how many answers gave each class to each task."""
        k = self.n_classes if n_classes is None else n_classes
        flat = np.bincount(self.task_index * k + self.label_index, minlength=self.n_tasks * k)
        return flat.reshape(self.n_tasks, k).astype(np.float64)

    def with_classes(self, extra: Iterable[Hashable]) -> list[Hashable]:
        """This table's classes plus ``extra`` ones it lacks (e.g. gold labels nobody gave), appended in order."""
        known = set(self.classes)
        out = list(self.classes)
        for value in extra:
            if value not in known:
                known.add(value)
                out.append(value)
        return out

    def class_index(self, label: Any, classes: Sequence[Hashable] | None = None) -> int:
        pool = self.classes if classes is None else classes
        try:
            return list(pool).index(label)
        except ValueError:
            raise ConsolidationError(f"unknown label {label!r}; known: {list(pool)!r}"[:300]) from None
