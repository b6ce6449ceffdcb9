"""--jobs: a file exported in several processes gives byte-for-byte the single-process output."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from truthloop.cli import main
from truthloop.exceptions import ExportError, ManifestLineError
from truthloop.export import _parallel, export, get_format, preferences
from truthloop.export._parallel import RangeReader, _Worker, split_ranges

from .test_preferences_fast import _corpus


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Split even small test files (the real minimum keeps a process worth its start-up)."""
    monkeypatch.setattr(_parallel, "MIN_PART_BYTES", 1)


def _manifest(tmp_path: Path, copies: int = 4) -> Path:
    """The fast-path corpus (common lines and every odd one: skips, exclusions, general-path lines) repeated."""
    lines = [line for _ in range(copies) for line in _corpus()]
    path = tmp_path / "in 100%.manifest"
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def _run(src: Path, out: Path, fmt: str, jobs: int, **kwargs: Any) -> tuple[dict[str, bytes], Any]:
    skipped: list[ManifestLineError] = []
    report = export(src, fmt, out, on_skip=skipped.append, jobs=jobs, **kwargs)
    files = {p.name: p.read_bytes() for p in sorted(out.parent.iterdir())}
    summary = (
        [(e.source, e.line_number, e.reason) for e in skipped],
        report.lines_read,
        report.lines_exported,
        report.lines_skipped,
        report.items_written,
        report.notes,
    )
    return files, summary


@pytest.mark.usefixtures("small_parts")
@pytest.mark.parametrize(
    ("fmt", "options"),
    [("trl", {}), ("trl", {"ties": "keep", "conversational": True}), ("kto", {"min_agreement": 0.9})],
    ids=["trl", "trl-ties-conversational", "kto"],
)
def test_jobs_give_the_single_process_output(tmp_path: Path, fmt: str, options: dict[str, Any]) -> None:
    # GIVEN a manifest with skipped, excluded and general-path lines in every part
    src = _manifest(tmp_path)
    assert len(split_ranges(src, 3)) == 3
    # WHEN it is exported in one process and in three
    one, one_summary = _run(src, tmp_path / "one" / "out.jsonl", fmt, 1, options=options)
    three, three_summary = _run(src, tmp_path / "three" / "out.jsonl", fmt, 3, options=options)
    # THEN the files, the skipped lines (in file order), the counts and the notes are the same
    assert three == one
    assert three_summary == one_summary
    assert sorted(one) == ["out.disagreements.jsonl", "out.jsonl", "out.meta.jsonl"]
    assert one_summary[0] and one_summary[4]  # the corpus does skip lines and write rows


@pytest.mark.usefixtures("small_parts")
def test_strict_reports_the_first_skip_in_file_order_and_publishes_nothing(tmp_path: Path) -> None:
    # GIVEN a manifest whose only bad line is in its last part
    good = _corpus()[:6] * 20
    src = tmp_path / "in.manifest"
    src.write_text("".join(json.dumps(x) + "\n" for x in good) + "{broken\n")
    # WHEN / THEN the error is the single-process one
    with pytest.raises(ExportError) as single:
        export(src, "trl", tmp_path / "single" / "out.jsonl", strict=True)
    with pytest.raises(ExportError) as parallel:
        export(src, "trl", tmp_path / "parallel" / "out.jsonl", strict=True, jobs=3)
    assert str(parallel.value) == str(single.value) and ":121: not valid JSON" in str(single.value)
    assert list((tmp_path / "parallel").iterdir()) == []  # no output, no part folders


@pytest.mark.usefixtures("small_parts")
def test_progress_covers_the_whole_file(tmp_path: Path) -> None:
    # GIVEN
    src = _manifest(tmp_path, copies=2)
    seen: list[tuple[int, int | None]] = []
    # WHEN
    export(src, "trl", tmp_path / "out" / "dpo.jsonl", jobs=2, on_progress=lambda d, t: seen.append((d, t)))
    # THEN
    assert seen and seen[-1] == (src.stat().st_size, src.stat().st_size)


def test_jobs_are_declined_with_a_note_where_they_cannot_apply(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a small manifest, a format that needs every line in one process, and a folder input
    src = write_manifest([json.loads(json.dumps(_corpus()[0]))])
    # WHEN / THEN a file too small to split is exported in one process, without a note
    assert export(src, "trl", tmp_path / "a.jsonl", jobs=4).notes == [
        "3 rows written; 0 prompt(s) excluded for disagreement (see a.disagreements.jsonl)"
    ]
    assert export(src, "coco", tmp_path / "c.json", jobs=2).notes[0] == (
        "--jobs: the coco format exports in one process"
    )
    assert (
        export(tmp_path, "trl", tmp_path / "d" / "d.jsonl", jobs=2)
        .notes[0]
        .startswith("--jobs: only a local JSON Lines file is split across processes")
    )
    for bad in (0, True, "two"):
        with pytest.raises(ExportError, match="jobs must be at least 1 or 'auto'"):
            export(src, "trl", tmp_path / "e.jsonl", jobs=bad)  # type: ignore[arg-type]


@pytest.mark.usefixtures("small_parts")
@pytest.mark.parametrize(("size_limit", "processes"), [(1, 2), (1 << 40, 1)], ids=["large-file", "small-file"])
def test_auto_jobs_split_only_a_large_file_and_never_add_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size_limit: int, processes: int
) -> None:
    # GIVEN a manifest above or below the size auto splits from, two usable CPUs, and a spy on the parallel export
    monkeypatch.setattr(_parallel, "AUTO_MIN_BYTES", size_limit)
    monkeypatch.setattr(_parallel.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    src = _manifest(tmp_path, copies=2)
    parts: list[int] = []
    original = _parallel.export_parallel

    def spy(exporter: Any, fmt: str, uri: Any, ranges: list[tuple[int, int]], **kwargs: Any) -> Any:
        parts.append(len(ranges))
        return original(exporter, fmt, uri, ranges, **kwargs)

    monkeypatch.setattr(_parallel, "export_parallel", spy)
    # WHEN it is exported with jobs=auto to trl, and to coco (which exports in one process)
    auto, auto_summary = _run(src, tmp_path / "auto" / "out.jsonl", "trl", "auto")  # type: ignore[arg-type]
    one, one_summary = _run(src, tmp_path / "one" / "out.jsonl", "trl", 1)
    coco = export(src, "coco", tmp_path / "c.json", jobs="auto", on_skip=lambda error: None)
    # THEN the large file was split into one part per CPU, the output is the same, and no note was added
    assert parts == ([processes] if processes > 1 else [])
    assert (auto, auto_summary) == (one, one_summary)
    assert not any(note.startswith("--jobs") for note in coco.notes)


def test_cli_jobs_values() -> None:
    # GIVEN / WHEN / THEN auto and whole numbers are accepted; anything else is a usage error naming the option
    runner = CliRunner()
    result = runner.invoke(main, ["export", "-f", "trl", "missing.manifest", "-o", "x.jsonl", "-j", "0"])
    assert result.exit_code == 2 and "Invalid value for '--jobs'" in result.stderr
    assert "expected a whole number from 1 or 'auto', got '0'" in result.stderr
    for value in ("auto", "AUTO", "3"):
        result = runner.invoke(main, ["export", "-f", "trl", "missing.manifest", "-o", "x.jsonl", "-j", value])
        assert result.exit_code == 1 and "missing.manifest" in result.stderr  # past option parsing


def test_ranges_start_at_lines_and_cover_the_file(tmp_path: Path) -> None:
    # GIVEN lines of uneven lengths
    src = tmp_path / "in.manifest"
    lines = [f'{{"n": {i}, "pad": "{"x" * (i * 7 % 50)}"}}\n' for i in range(200)]
    src.write_text("".join(lines))
    # WHEN
    ranges = split_ranges(src, 4, min_part=1)
    # THEN the ranges are contiguous, start at line starts, and reading them gives every line once, numbered
    assert ranges[0][0] == 0 and ranges[-1][1] == src.stat().st_size and len(ranges) == 4
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    read = []
    for start, end in ranges:
        first = 1 + src.read_bytes()[:start].count(b"\n")
        read += [(r.line, r.data["n"]) for r in RangeReader(str(src), start, end, first)]
    assert read == [(i + 1, i) for i in range(200)]
    # AND the first range (this process's: the workers start later) is the longest, by at most half a range
    sizes = [end - start for start, end in ranges]
    assert max(sizes[1:]) < sizes[0] <= 1.5 * src.stat().st_size / 4 + 60
    even = [end - start for start, end in split_ranges(src, 4, min_part=1, head_start=0)]
    assert max(even) - min(even) < 60  # a line at most


def test_a_failing_worker_reports_its_error(tmp_path: Path) -> None:
    # GIVEN a worker asked to read a file that does not exist
    spec = {"index": 1, "format": "trl", "uri": str(tmp_path / "missing.manifest"), "start": 0, "end": 10,
            "out": str(tmp_path / "out.jsonl"), "attribute": None, "options": {}, "strict": False}  # fmt: skip
    worker = _Worker(1, spec, tmp_path)
    # WHEN
    while not worker.finished(0.1):
        pass
    worker.stop()
    # THEN
    assert worker.result is not None and worker.result[0] == "error" and "missing.manifest" in worker.result[1]


@pytest.mark.usefixtures("small_parts")
def test_cli_jobs_option(tmp_path: Path) -> None:
    # GIVEN
    src = _manifest(tmp_path, copies=2)
    # WHEN
    result = CliRunner().invoke(main, ["export", "-f", "trl", str(src), "-o", str(tmp_path / "o.jsonl"), "-j", "2"])
    single = CliRunner().invoke(main, ["export", "-f", "trl", str(src), "-o", str(tmp_path / "s.jsonl")])
    # THEN
    assert result.exit_code == 0, result.output
    assert result.stdout.replace("o.", "s.") == single.stdout
    assert result.stderr == single.stderr


def test_a_worker_that_dies_without_a_result_is_an_error_quoting_its_stderr(tmp_path: Path) -> None:
    # GIVEN a worker given a spec it cannot even start on (no part index)
    worker = _Worker(1, {"format": "trl"}, tmp_path)
    # WHEN / THEN
    died = r"(?s)worker 1 stopped \(exit code 1\) without a result: .*KeyError: 'index'"
    with pytest.raises(ExportError, match=died):
        _parallel._collect([worker], lambda: 0, 1, None)
    worker.stop()


@pytest.mark.parametrize("fmt", ["trl", "kto"])
def test_template_parts_are_filled_across_many_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    # GIVEN template chunks of a couple of lines, and the worker's function run in this process (so it sees that)
    monkeypatch.setattr(preferences, "TEMPLATE_CHUNK_BYTES", 1500)
    src = _manifest(tmp_path)
    one, _ = _run(src, tmp_path / "one" / "out.jsonl", fmt, 1)
    ranges = split_ranges(src, 3, min_part=1)
    joined = get_format(fmt)(tmp_path / "joined" / "out.jsonl")
    # WHEN the first range is exported here and the others as workers export them, then appended in order
    joined.consume(RangeReader(str(src), *ranges[0], 1, on_error=lambda error: None), lambda error: None)
    for index, (start, end) in enumerate(ranges[1:], 1):
        folder = tmp_path / f"part-{index}"
        folder.mkdir()
        said: list[Any] = []
        spec = {"index": index, "format": fmt, "uri": str(src), "start": start, "end": end,
                "out": str(folder / "out.jsonl"), "attribute": None, "options": {}, "strict": False}  # fmt: skip
        _parallel._work(spec, said.append)
        kind, state = said[-1]
        assert kind == "ok" and len(state["chunks"]) > 3  # the part really spans many chunks
        joined.append_part(folder, state)
    joined.close()
    # THEN the files are the single-process ones
    assert {p.name: p.read_bytes() for p in sorted((tmp_path / "joined").iterdir())} == one
