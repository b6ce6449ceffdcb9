"""``--jobs N``: export one local JSON Lines file in N processes and join the parts into the single-process output.

The file is cut into N byte ranges at line starts. This process exports the first range itself while N - 1
worker processes (``python -m truthloop.export._parallel``, so it works from any script, notebook or CLI) export
the others, each into its own folder next to the output, with line numbers counted from
the start of the file so every message and ``source`` reference is the one a single process would give. The
parts are then appended in order to this process's output files before they are committed, so the result is
byte-for-byte the single-process output (tests compare them). Skipped lines are reported in file order once the
workers are done; with ``--strict`` the first skip in file order is the error.

Only exporters whose lines are independent of each other (``Exporter.parallel``) take part. A part's row numbers
depend on how many rows the parts before it wrote, which is only known at the end: the preference sidecar of a
later part is written as a ``bytes % numbers`` template and filled in while it is appended
(:class:`truthloop.export.preferences.PromptSidecar`, :func:`fill_templates`). Appending plain files uses
``copy_file_range`` (no copy through Python).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import traceback
from array import array
from collections.abc import Callable, Iterator, Mapping
from itertools import accumulate, islice
from pathlib import Path
from typing import Any

from truthloop.exceptions import ContractError, ExportError, ManifestLineError, TruthloopError
from truthloop.export._files import AtomicFile
from truthloop.manifest._json import DecodeError, decode, encode
from truthloop.manifest.io import CHUNK_BYTES, Location, parse_location
from truthloop.manifest.reader import BATCH_LINES, JSON_SUFFIXES, ManifestReader, OnError, OnProgress, RawBatch

__all__ = [
    "AUTO_MAX_JOBS",
    "AUTO_MIN_BYTES",
    "HEAD_START_BYTES",
    "MIN_PART_BYTES",
    "RangeReader",
    "append_file",
    "auto_jobs",
    "export_parallel",
    "fill_templates",
    "split_ranges",
    "why_not_parallel",
]

#: A range smaller than this is not worth a process (its start-up costs about a third of a second).
MIN_PART_BYTES = 8 << 20
#: How much longer the first range is: a worker starts about 0.3 s after this process (interpreter, imports,
#: counting the lines before its range), in which this process exports about this many bytes of a ranking manifest.
HEAD_START_BYTES = 32 << 20
_POLL_SECONDS = 0.2


def why_not_parallel(exporter_cls: type[Any], uri: str | os.PathLike[str]) -> str | None:
    """Why ``--jobs`` cannot split this export (``None`` when it can)."""
    if not exporter_cls.parallel:
        return f"--jobs: the {exporter_cls.name} format exports in one process"
    location = parse_location(uri)
    if location.is_s3 or location.is_stdio or location.is_prefix():
        return "--jobs: only a local JSON Lines file is split across processes; this input was read in one"
    if location.uri.lower().endswith(JSON_SUFFIXES):
        return "--jobs: a JSON document is read in one process"
    return None


#: ``jobs="auto"`` splits only files at least this large: below it a worker's start-up (about 0.3 s) and the
#: appending eat most of the gain.
AUTO_MIN_BYTES = 256 << 20
#: ``jobs="auto"`` uses at most this many processes (the parts are appended one after another by this process).
AUTO_MAX_JOBS = 4


def auto_jobs(exporter_cls: type[Any], uri: str | os.PathLike[str]) -> int:
    """How many processes ``jobs="auto"`` uses: one per usable CPU (at most :data:`AUTO_MAX_JOBS`) for a local JSON
    Lines file of at least :data:`AUTO_MIN_BYTES` in a format that exports in parts, else 1."""
    if why_not_parallel(exporter_cls, uri) is not None:
        return 1
    try:
        size = parse_location(uri).path.stat().st_size
    except OSError:
        return 1  # the reader reports a missing or unreadable file
    if size < AUTO_MIN_BYTES:
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cpus, AUTO_MAX_JOBS))


def split_ranges(
    path: Path, jobs: int, *, min_part: int | None = None, head_start: int = HEAD_START_BYTES
) -> list[tuple[int, int]]:
    """Up to ``jobs`` byte ranges ``[start, end)`` of ``path``, each starting at a line start.

    The first range (this process's) is longer by ``head_start`` bytes, at most half a range, because the workers
    start later; the others share the rest evenly.
    """
    size = path.stat().st_size
    parts = max(1, min(jobs, size // (MIN_PART_BYTES if min_part is None else min_part)))
    first = size // parts + min(head_start, size // (2 * parts)) if parts > 1 else size
    cuts = [first + (index - 1) * (size - first) // (parts - 1) for index in range(1, parts)]
    starts = [0]
    with path.open("rb") as handle:
        for cut in cuts:
            handle.seek(max(cut, starts[-1]))
            handle.readline()  # to the end of the line the cut falls in
            position = handle.tell()
            if position < size and position > starts[-1]:
                starts.append(position)
    return list(zip(starts, [*starts[1:], size], strict=True))


def count_lines(path: Path, end: int) -> int:
    """How many newlines ``path`` has before byte ``end``."""
    count = 0
    with path.open("rb", buffering=0) as handle:
        left = end
        while left > 0:
            chunk = handle.read(min(left, 8 << 20))
            if not chunk:
                break
            count += chunk.count(b"\n")
            left -= len(chunk)
    return count


class RangeReader(ManifestReader):
    """A :class:`ManifestReader` of the lines in bytes ``[start, end)`` of a local file, numbered from ``first``."""

    def __init__(
        self,
        uri: str | os.PathLike[str],
        start: int,
        end: int,
        first: int,
        *,
        on_error: OnError | None = None,
        require_source: bool = False,
        on_progress: OnProgress | None = None,
    ) -> None:
        super().__init__(uri, on_error=on_error, require_source=require_source, on_progress=on_progress)
        self._range = (start, end, first)

    def _batches(self, location: Location) -> Iterator[RawBatch]:
        start, end, first = self._range
        self.total_bytes = end - start
        left = end - start
        with location.path.open("rb", buffering=CHUNK_BYTES) as handle:
            handle.seek(start)
            while left > 0 and (batch := list(islice(handle, BATCH_LINES))):
                size = sum(map(len, batch))
                if size > left:  # the range ends within this batch, at a line end
                    kept = 0
                    for count, line in enumerate(batch):
                        if kept >= left:
                            del batch[count:]
                            break
                        kept += len(line)
                    size = kept
                left -= size
                self.bytes_read += size
                self._seen += len(batch)
                if self.on_progress is not None:
                    self.on_progress(self.bytes_read, self.total_bytes)
                yield location.uri, first, batch
                first += len(batch)


class _Strict(Exception):
    """A worker met a line to skip under --strict."""

    def __init__(self, error: ManifestLineError) -> None:
        super().__init__(str(error))
        self.error = error


def _work(spec: dict[str, Any], say: Callable[[list[Any]], None]) -> None:
    """Export bytes ``[start, end)`` of the input into ``out``'s folder; ``say`` reports progress and the result."""
    index = spec["index"]
    try:
        from truthloop.export.base import get_format

        path = parse_location(spec["uri"]).path
        first = 1 + count_lines(path, spec["start"])
        out = Path(spec["out"])
        exporter = get_format(spec["format"])(out, attribute=spec["attribute"], **spec["options"])
        exporter.prepare_part(index)
        with out.with_name(".skipped.jsonl").open("wb") as skips:

            def skip(error: ManifestLineError) -> None:
                if spec["strict"]:
                    raise _Strict(error)
                skips.write(encode([error.source, error.line_number, error.reason]) + b"\n")

            reader = RangeReader(
                spec["uri"],
                spec["start"],
                spec["end"],
                first,
                on_error=skip,
                require_source=exporter.requires_source,
                on_progress=lambda done, _total: say(["progress", done]),
            )
            try:
                exported, written = exporter.consume(reader, skip)
                exporter.close()
            except BaseException:
                exporter.abort()
                raise
        say(["ok", {"lines": reader.lines_read, "exported": exported, "written": written, **exporter.part_state()}])
    except _Strict as exc:
        say(["strict", [exc.error.line_number, exc.error.reason, exc.error.source]])
    except (TruthloopError, ContractError, OSError) as exc:
        say(["error", str(exc)])
    except BaseException as exc:  # a bug: say where
        say(["error", "".join(traceback.format_exception(exc)).strip()])


def main() -> None:
    """A worker process (``python -m truthloop.export._parallel``): the spec on stdin, messages on stdout."""
    spec = decode(sys.stdin.buffer.read())
    out = sys.stdout.buffer

    def say(message: list[Any]) -> None:
        out.write(encode(message) + b"\n")
        out.flush()

    _work(spec, say)


class _Worker:
    """One worker process and a thread that reads its messages (so its stdout never fills up).

    Its stderr goes to ``.stderr`` in its folder (a pipe nobody reads could fill up and block it) and is quoted
    when the worker stops without a result.
    """

    def __init__(self, index: int, spec: dict[str, Any], folder: Path) -> None:
        self.index = index
        self.done = 0
        self.result: list[Any] | None = None
        self._stderr_path = folder / ".stderr"
        with self._stderr_path.open("wb") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "truthloop.export._parallel"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=stderr,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
            )
        assert self.process.stdin is not None
        self.process.stdin.write(encode(spec))
        self.process.stdin.close()
        self._thread = threading.Thread(target=self._read, name=f"truthloop-export-part-{index}", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            try:
                kind, payload = decode(raw)
            except (DecodeError, ValueError, TypeError):  # not a message (something else printed): ignore it
                continue
            if kind == "progress":
                self.done = payload
            else:
                self.result = [kind, payload]

    @property
    def stderr(self) -> str:
        try:
            return self._stderr_path.read_text(errors="replace").strip()[-2000:]
        except OSError:
            return ""

    def finished(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        self.process.wait()
        self._thread.join()
        if self.process.stdout is not None:
            self.process.stdout.close()


def export_parallel(
    exporter: Any,
    fmt: str,
    uri: str | os.PathLike[str],
    ranges: list[tuple[int, int]],
    *,
    attribute: str | None,
    options: Mapping[str, Any],
    strict: bool,
    skip: Callable[[ManifestLineError], None],
    on_progress: OnProgress | None,
) -> tuple[int, int, int]:
    """Export ``ranges`` of ``uri`` into ``exporter`` (this process takes the first); ``(lines, exported, items)``.

    ``exporter`` is left open with every part appended; the caller closes (commits) or aborts it.
    """
    text = os.fspath(uri)
    total = sum(end - start for start, end in ranges)
    work = Path(tempfile.mkdtemp(prefix=".truthloop-jobs-", dir=exporter.out.parent))
    workers: list[_Worker] = []
    try:
        for index, (start, end) in enumerate(ranges[1:], 1):
            folder = work / f"part-{index:03d}"
            folder.mkdir()
            spec = {
                "index": index,
                "format": fmt,
                "uri": text,
                "start": start,
                "end": end,
                "out": str(folder / exporter.out.name),
                "attribute": attribute,
                "options": dict(options),
                "strict": strict,
            }
            workers.append(_Worker(index, spec, folder))
        own = [0]

        def report(done: int, _total: int | None) -> None:
            own[0] = done
            if on_progress is not None:
                on_progress(done + sum(w.done for w in workers), total)

        start, end = ranges[0]
        reader = RangeReader(
            text, start, end, 1, on_error=skip, require_source=exporter.requires_source, on_progress=report
        )
        exported, written = exporter.consume(reader, skip)
        lines = reader.lines_read
        states = _collect(workers, lambda: own[0], total, on_progress)
        if on_progress is not None:  # every part is read: the last poll may have missed the workers' final counts
            on_progress(total, total)
        for worker in workers:
            state = states[worker.index]
            folder = work / f"part-{worker.index:03d}"
            for number, reason, source in _skips(folder / ".skipped.jsonl"):
                skip(ManifestLineError(number, reason, source))
            exporter.append_part(folder, state)
            lines += state["lines"]
            exported += state["exported"]
            written += state["written"]
        return lines, exported, written
    finally:
        for worker in workers:
            worker.stop()
        shutil.rmtree(work, ignore_errors=True)


def _collect(
    workers: list[_Worker], own: Callable[[], int], total: int, on_progress: OnProgress | None
) -> dict[int, dict[str, Any]]:
    """Wait for every worker; raise the first (in file order) strict skip, or any worker's error."""
    states: dict[int, dict[str, Any]] = {}
    strict: dict[int, list[Any]] = {}
    for worker in workers:
        if strict:  # an earlier part failed under --strict: later parts cannot come first
            worker.stop()
            continue
        while not worker.finished(_POLL_SECONDS):
            if on_progress is not None:
                on_progress(own() + sum(w.done for w in workers), total)
        if worker.result is None:
            code = worker.process.wait()
            raise ExportError(
                f"--jobs: worker {worker.index} stopped (exit code {code}) without a result: {worker.stderr}"
            )
        kind, payload = worker.result
        if kind == "ok":
            states[worker.index] = payload
        elif kind == "strict":
            strict[worker.index] = payload
        else:
            raise ExportError(f"--jobs: worker {worker.index}: {payload}")
    if strict:
        number, reason, source = strict[min(strict)]
        raise ExportError(f"--strict: {ManifestLineError(number, reason, source)}")
    return states


def _skips(path: Path) -> Iterator[tuple[int, str, str | None]]:
    with path.open("rb") as handle:
        for raw in handle:
            source, number, reason = decode(raw)
            yield number, reason, source


def append_file(atomic: AtomicFile, path: Path) -> None:
    """Append the file at ``path`` to ``atomic`` (copied in the kernel when the OS can)."""
    target = atomic.handle
    target.flush()
    with path.open("rb") as source:
        left = os.fstat(source.fileno()).st_size
        with contextlib.suppress(OSError):  # no copy_file_range here: copy through Python below
            while left > 0:
                copied = os.copy_file_range(source.fileno(), target.fileno(), left)
                if copied == 0:
                    break
                left -= copied
        if left > 0:
            source.seek(os.fstat(source.fileno()).st_size - left)
            shutil.copyfileobj(source, target, CHUNK_BYTES)


def fill_templates(target: AtomicFile, path: Path, counts: Path, chunks: list[list[int]], first: int) -> None:
    """Append the template sidecar at ``path`` to ``target`` with the first row numbers filled in from ``first``.

    ``counts`` holds each template line's row count and ``chunks`` indexes the template in ``[bytes, lines]`` runs
    (see :class:`~truthloop.export.preferences.PromptSidecar`), so each run is filled with one ``bytes % numbers``.
    """
    with path.open("rb") as source, counts.open("rb") as sizes:
        for size, lines in chunks:
            data = source.read(size)
            rows = array("I")
            rows.frombytes(sizes.read(4 * lines))
            if len(data) != size or len(rows) != lines:
                raise ExportError(f"{path}: the template part is shorter than its index (a bug)")
            starts = tuple(accumulate(rows, initial=first))
            target.write(data % starts[:-1])
            first = starts[-1]


if __name__ == "__main__":
    main()
