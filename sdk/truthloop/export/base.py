"""The exporter base class, the format registry and the streaming export loop.

An exporter is fed one decoded record at a time (:meth:`Exporter.add`) and writes as it goes; anything it must
summarise at the end (COCO categories, YOLO class names, a segmentation class map) is a small table, never the
annotations themselves, so memory stays constant in the number of lines.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

from truthloop.exceptions import ContractError, ExportError, ManifestError, ManifestLineError
from truthloop.manifest.io import local_output
from truthloop.manifest.labels import find_attribute
from truthloop.manifest.reader import ManifestReader, OnProgress, Record

__all__ = [
    "FORMATS",
    "ExportReport",
    "Exporter",
    "OnProgress",
    "OnSkip",
    "export",
    "get_format",
    "register",
]

OnSkip = Callable[[ManifestLineError], None]

#: How many skipped lines an :class:`ExportReport` keeps in full (all of them are counted and passed to on_skip).
KEEP_SKIPPED = 1000


class Exporter(ABC):
    """One output format. Subclasses set the class variables and implement :meth:`add` and :meth:`close`.

    ``out`` is a local path (the export loop stages S3 outputs locally and uploads them); a ``file`` format
    writes that file, a ``directory`` format creates that directory. ``attribute`` names the label attribute
    to export; ``None`` picks, per line, the first attribute whose metadata ``type`` is in :attr:`label_types`.
    """

    #: the ``--format`` name
    name: ClassVar[str]
    #: one line for ``--help`` and the docs
    summary: ClassVar[str]
    #: normalised metadata types this format reads (see ``truthloop.manifest.labels``); empty = not label-based
    label_types: ClassVar[frozenset[str]] = frozenset()
    #: ``"file"`` or ``"directory"``
    writes: ClassVar[str] = "file"
    #: whether every record must have ``source``/``source-ref`` (GT manifest lines)
    requires_source: ClassVar[bool] = True
    #: keyword options the format accepts, name → one-line help (the CLI passes ``--option name=value``)
    option_help: ClassVar[Mapping[str, str]] = {}
    #: whether ``jobs > 1`` may export parts of a file in other processes and append them (lines independent)
    parallel: ClassVar[bool] = False

    def __init__(self, out: Path, *, attribute: str | None = None, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.option_help))
        if unknown:
            known = ", ".join(sorted(self.option_help)) or "none"
            raise ExportError(f"format {self.name!r} has no option(s) {', '.join(unknown)}; its options: {known}")
        self.out = out
        self._created_out = not out.exists()
        self.attribute = attribute
        #: the metadata types :meth:`label_attribute` looks for (a format may narrow its class's label_types)
        self.wanted_types: frozenset[str] = self.label_types
        #: the S3 client of the export (set by :func:`export`), for formats that follow S3 references
        self.s3_client: Any = None
        #: lines for the report (e.g. how many prompts were excluded and where they are listed)
        self.notes: list[str] = []
        self._last_attribute: str | None = None
        self._last_key = ""
        self._last_type: Any = None

    def label_attribute(self, record: Record) -> str:
        """The attribute to export from ``record``; raises a ManifestLineError when the line has none."""
        data = record.data
        if self.attribute is not None:
            meta = data.get(self.attribute + "-metadata")
            if meta is None:
                raise record.error(f"no {self.attribute!r} label on this line (no {self.attribute}-metadata key)")
            self._last_attribute = self.attribute
            self._last_key = self.attribute + "-metadata"
            self._last_type = meta.get("type") if type(meta) is dict else None
            return self.attribute
        # Nearly every line of a manifest uses the same attribute and type string: check that first.
        last = self._last_attribute
        if last is not None:
            meta = data.get(self._last_key)
            if type(meta) is dict and meta.get("type") == self._last_type:
                return last
        found = find_attribute(data, self.wanted_types, last)
        if found is None:
            wanted = ", ".join(sorted(self.wanted_types))
            raise record.error(f"no label attribute of type {wanted} on this line")
        self._last_attribute = found
        self._last_key = found + "-metadata"
        self._last_type = data[self._last_key].get("type")
        return found

    @abstractmethod
    def add(self, record: Record) -> int:
        """Export one record and return how many items (annotations, rows, pairs…) it wrote.

        Raise :class:`ManifestLineError` or :class:`ContractError` to skip the record with a reason; the record
        must then leave no trace in the output.
        """

    @abstractmethod
    def close(self) -> list[Path]:
        """Finish the output (tables, footers) and return the files or directories written."""

    def consume(self, reader: ManifestReader, skip: OnSkip) -> tuple[int, int]:
        """Export every record of ``reader``; pass each one that cannot be exported to ``skip``.

        Returns ``(lines exported, items written)``. Formats with a hot path override this to decode lines with
        a typed decoder and keep the per-line work in one loop.
        """
        exported = written = 0
        for record in reader:
            items = self.add_or_skip(record, skip)
            if items is not None:
                exported += 1
                written += items
        return exported, written

    def add_or_skip(self, record: Record, skip: OnSkip) -> int | None:
        """:meth:`add` ``record``, returning its item count; or pass the reason it cannot be exported to ``skip``."""
        try:
            return self.add(record)
        except ManifestLineError as exc:
            skip(exc)
        except ContractError as exc:
            skip(record.error(str(exc)))
        return None

    def prepare_part(self, index: int) -> None:
        """In a ``jobs > 1`` worker, before it exports part ``index`` (1 = the second part of the file)."""
        del index  # nothing to prepare by default

    def part_state(self) -> dict[str, Any]:
        """After a worker's :meth:`close`: what :meth:`append_part` needs (picklable)."""
        return {}

    def append_part(self, folder: Path, state: Mapping[str, Any]) -> None:
        """Append the part a worker wrote into ``folder`` (in file order), before :meth:`close`."""
        raise NotImplementedError(f"the {self.name} format does not export in parts")

    def abort(self) -> None:
        """Called instead of :meth:`close` when the export fails: remove what was written.

        The default removes the output folder of a ``directory`` format if this export created it.
        """
        if self.writes == "directory" and self._created_out:
            shutil.rmtree(self.out, ignore_errors=True)


#: format name → exporter class. Use :func:`register` to add one.
FORMATS: dict[str, type[Exporter]] = {}


def register(cls: type[Exporter]) -> type[Exporter]:
    """Class decorator adding an exporter to :data:`FORMATS` under its ``name``."""
    if cls.name in FORMATS and FORMATS[cls.name] is not cls:
        raise ValueError(f"export format {cls.name!r} is already registered by {FORMATS[cls.name].__qualname__}")
    FORMATS[cls.name] = cls
    return cls


def get_format(name: str) -> type[Exporter]:
    """The exporter class for ``name``; raises :class:`ExportError` listing the known formats."""
    from truthloop.export import formats  # noqa: F401 - registers the built-in formats

    try:
        return FORMATS[name]
    except KeyError:
        raise ExportError(f"unknown export format {name!r}; known formats: {', '.join(sorted(FORMATS))}") from None


@dataclass
class ExportReport:
    """What an export did: lines read/exported/skipped, items written, output paths and the first skips."""

    format: str
    input: str
    out: str
    lines_read: int = 0
    lines_exported: int = 0
    lines_skipped: int = 0
    items_written: int = 0
    seconds: float = 0.0
    outputs: list[str] = field(default_factory=list)
    skipped: list[ManifestLineError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def lines_per_second(self) -> float:
        return self.lines_read / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "input": self.input,
            "out": self.out,
            "lines_read": self.lines_read,
            "lines_exported": self.lines_exported,
            "lines_skipped": self.lines_skipped,
            "items_written": self.items_written,
            "seconds": round(self.seconds, 3),
            "outputs": list(self.outputs),
            "skipped": [{"source": e.source, "line": e.line_number, "reason": e.reason} for e in self.skipped],
            "notes": list(self.notes),
        }


def export(
    input: str | os.PathLike[str],
    format: str,
    out: str | os.PathLike[str],
    *,
    attribute: str | None = None,
    strict: bool = False,
    on_skip: OnSkip | None = None,
    on_progress: OnProgress | None = None,
    s3_client: Any | None = None,
    options: Mapping[str, Any] | None = None,
    jobs: int | Literal["auto"] = 1,
) -> ExportReport:
    """Stream ``input`` (a manifest, JSON file, folder or ``s3://`` URI) into ``format`` at ``out``.

    Every line that cannot be exported is passed to ``on_skip`` (a :class:`ManifestLineError` with the line
    number and reason) and counted; with ``strict=True`` the first one raises :class:`ExportError` instead and
    no output is published. ``on_progress(bytes_read, total_bytes)`` is called every few thousand lines.

    ``jobs > 1`` exports a large local JSON Lines file in up to that many processes (formats whose lines are
    independent: ``trl``, ``kto``); the output is byte-for-byte the single-process one, and skipped lines of the
    later parts are passed to ``on_skip`` when those parts are done. Otherwise a note says why it ran in one.
    ``jobs="auto"`` (the CLI's default) uses :func:`~truthloop.export._parallel.auto_jobs` processes when the
    input qualifies and is large, and one process (without a note) otherwise.
    """
    exporter_cls = get_format(format)
    report = ExportReport(format=format, input=os.fspath(input), out=os.fspath(out))
    auto = jobs == "auto"
    if auto:
        from truthloop.export._parallel import auto_jobs

        jobs = auto_jobs(exporter_cls, input)
    elif not isinstance(jobs, int) or isinstance(jobs, bool) or jobs < 1:
        raise ExportError(f"jobs must be at least 1 or 'auto', got {jobs!r}")
    ranges: list[tuple[int, int]] = []
    if jobs > 1:
        from truthloop.export._parallel import split_ranges, why_not_parallel

        why = why_not_parallel(exporter_cls, input)
        if why is None:
            with contextlib.suppress(OSError):  # a missing or unreadable file: the reader says so below
                ranges = split_ranges(Path(os.fspath(input)), jobs)
        elif not auto:
            report.notes.append(why)

    def skip(error: ManifestLineError) -> None:
        if strict:
            raise ExportError(f"--strict: {error}")
        report.lines_skipped += 1
        if len(report.skipped) < KEEP_SKIPPED:
            report.skipped.append(error)
        if on_skip is not None:
            on_skip(error)

    started = time.perf_counter()
    with local_output(out, s3_client=s3_client) as target:
        exporter = exporter_cls(target, attribute=attribute, **dict(options or {}))
        exporter.s3_client = s3_client
        try:
            if len(ranges) > 1:
                from truthloop.export._parallel import export_parallel

                lines_read, exported, written = export_parallel(
                    exporter,
                    format,
                    input,
                    ranges,
                    attribute=attribute,
                    options=dict(options or {}),
                    strict=strict,
                    skip=skip,
                    on_progress=on_progress,
                )
            else:
                reader = ManifestReader(
                    input,
                    s3_client=s3_client,
                    on_error=skip,
                    require_source=exporter_cls.requires_source,
                    on_progress=on_progress,
                )
                exported, written = exporter.consume(reader, skip)
                lines_read = reader.lines_read
            outputs = exporter.close()
        except BaseException:
            exporter.abort()
            raise
    report.lines_read = lines_read
    report.lines_exported = exported
    report.items_written = written
    report.outputs = [_published(p, target, out) for p in outputs]
    report.notes.extend(exporter.notes)
    report.seconds = time.perf_counter() - started
    return report


def _published(path: Path, staged: Path, out: str | os.PathLike[str]) -> str:
    """The user-facing location of an output path (its S3 URI when the export was staged for upload)."""
    text = os.fspath(out)
    if not text.startswith("s3://"):
        return str(path)
    try:
        relative = path.relative_to(staged)
    except ValueError:
        return str(path)
    suffix = relative.as_posix()
    return text if suffix == "." else f"{text.rstrip('/')}/{suffix}"


def check_writable(paths: Iterable[Path]) -> None:
    """Raise ExportError when an output path's parent cannot be created."""
    for path in paths:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ManifestError(f"{path}: cannot create its folder: {exc.strerror or exc}") from None
