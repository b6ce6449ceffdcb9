"""Manifest reader, label extraction (fast path = contract path), stats, merge and filter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from truthloop.exceptions import ContractError, ManifestError, ManifestLineError
from truthloop.manifest import ManifestReader, read_manifest
from truthloop.manifest.filter import filter_manifest
from truthloop.manifest.labels import boxes, classes, label_info, spans
from truthloop.manifest.merge import merge_manifests
from truthloop.manifest.stats import manifest_stats

CLASS_LINE = {
    "source-ref": "s3://b/img.jpg",
    "sport": 0,
    "sport-metadata": {
        "class-name": "football",
        "confidence": 0.4,
        "type": "groundtruth/image-classification",
        "job-name": "identify-sport",
        "human-annotated": "yes",
        "creation-date": "2018-10-18T22:18:13.527256",
    },
}
BOX_LINE = {
    "source-ref": "s3://b/img.jpg",
    "bb": {
        "image_size": [{"width": 500, "height": 400, "depth": 3}],
        "annotations": [{"class_id": 0, "left": 111, "top": 134, "width": 61, "height": 128}],
    },
    "bb-metadata": {
        "objects": [{"confidence": 0.8}],
        "class-map": {"0": "dog"},
        "type": "groundtruth/object-detection",
        "human-annotated": "no",
        "creation-date": "2018-10-18T22:18:13.527256",
        "job-name": "find-dogs",
    },
}
NER_LINE = {
    "source": "Sift 3 cups of flour",
    "ner": {
        "annotations": {
            "labels": [{"label": "verb"}],
            "entities": [{"label": "verb", "startOffset": 0, "endOffset": 4}],
        }
    },
    "ner-metadata": {"job-name": "labeling-job/ner", "type": "groundtruth/text-span", "entities": [{"confidence": 0}]},
}


def _write(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    return path


def test_reader_reports_malformed_lines_with_numbers(tmp_path: Path) -> None:
    # GIVEN a BOM, a blank line, broken JSON, an array and a line without source
    path = tmp_path / "m.manifest"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + json.dumps(CLASS_LINE).encode()
        + b"\n\n{oops\n[1]\n"
        + b'{"x": 1}\n'
        + json.dumps(BOX_LINE).encode()
    )
    errors: list[ManifestLineError] = []
    # WHEN
    reader = ManifestReader(path, on_error=errors.append, require_source=True)
    records = list(reader)
    # THEN
    assert [r.line for r in records] == [1, 6]
    assert [(e.line_number, e.reason.split(":")[0]) for e in errors] == [
        (3, "not valid JSON"),
        (4, "expected a JSON object, got an array"),
        (5, "a manifest line needs source or source-ref"),
    ]
    assert reader.lines_read == 5 and reader.bytes_read == path.stat().st_size
    # AND without a callback the first problem is raised
    with pytest.raises(ManifestLineError, match=r"m.manifest:3: not valid JSON"):
        list(read_manifest(path))


@pytest.mark.parametrize("fmt", [None, "trl", "coco", "jsonl"])
def test_a_line_that_is_not_utf8_is_reported_not_raised(tmp_path: Path, fmt: str | None) -> None:
    # GIVEN a manifest whose second line has a byte that is not UTF-8 inside a string
    path = tmp_path / "m.manifest"
    path.write_bytes(json.dumps(CLASS_LINE).encode() + b'\n{"source": "caf\xe9"}\n')
    errors: list[ManifestLineError] = []
    # WHEN it is read, or exported by formats with and without a typed fast path
    if fmt is None:
        list(ManifestReader(path, on_error=errors.append))
    else:
        from truthloop.export import export

        export(path, fmt, tmp_path / f"out.{fmt}", on_skip=errors.append)
    # THEN the line is skipped with its line number and where the bad byte is (line 1 is a skip for trl/coco)
    assert [(e.line_number, e.reason) for e in errors if e.line_number == 2] == [
        (2, "not valid JSON: not UTF-8 at byte 15 (b'\\xe9': invalid continuation byte)")
    ]


def test_reader_reads_folders_of_json_documents(tmp_path: Path) -> None:
    # GIVEN a folder with a JSON document, a JSON array and a manifest
    (tmp_path / "d/sub").mkdir(parents=True)
    (tmp_path / "d/a.json").write_text(json.dumps({"k": 1}))
    (tmp_path / "d/sub/b.json").write_text(json.dumps([{"k": 2}, {"k": 3}]))
    _write(tmp_path / "d/c.manifest", [{"k": 4}])
    # WHEN
    records = list(ManifestReader(tmp_path / "d"))
    # THEN
    assert [(Path(r.source).name, r.line, r.data["k"]) for r in records] == [
        ("a.json", 1, 1),
        ("c.manifest", 1, 4),
        ("b.json", 1, 2),
        ("b.json", 2, 3),
    ]


# (line, attribute, extractor) — tolerated spellings and malformed values
VARIANTS: list[tuple[dict[str, Any], str, Any]] = []
for change in [
    {},
    {"sport": "0"},
    {"sport": 1.0},
    {"sport": True},
    {"sport": "zero"},
    {"sport-metadata": {**CLASS_LINE["sport-metadata"], "confidence": "0.4"}},
    {"sport-metadata": {**CLASS_LINE["sport-metadata"], "class-name": 3}},
]:
    VARIANTS.append(({**CLASS_LINE, **change}, "sport", classes))
for box in [
    {"class_id": "0", "left": 111, "top": 134, "width": 61, "height": 128},
    {"class_id": 0, "left": "111", "top": 134, "width": 61, "height": 128},
    {"class_id": 0, "left": 111, "top": 134, "width": 61},
    {"class_id": 0, "left": 111, "top": 134, "width": 0, "height": 1},
    {"class_id": 0, "left": 111.5, "top": 134, "width": 61, "height": 128.25},
]:
    VARIANTS.append(({**BOX_LINE, "bb": {**BOX_LINE["bb"], "annotations": [box]}}, "bb", boxes))
VARIANTS.append(({**BOX_LINE, "bb-metadata": {**BOX_LINE["bb-metadata"], "objects": []}}, "bb", boxes))
VARIANTS.append(
    ({**BOX_LINE, "bb-metadata": {**BOX_LINE["bb-metadata"], "objects": [{"confidence": "x"}]}}, "bb", boxes)
)
VARIANTS.append((NER_LINE, "ner", spans))
VARIANTS.append(
    (
        {**NER_LINE, "ner": {"annotations": {"entities": [{"label": "v", "startOffset": "0", "endOffset": 4}]}}},
        "ner",
        spans,
    )
)
VARIANTS.append(
    (
        {**NER_LINE, "ner": {"annotations": {"entities": [{"label": "v", "startOffset": 3, "endOffset": 2}]}}},
        "ner",
        spans,
    )
)


def _outcome(extract: Any, line: dict[str, Any], attr: str, fast: bool) -> Any:
    try:
        return extract(line, attr, fast=fast)
    except ContractError as exc:
        return ("error", exc.path, exc.message)


@pytest.mark.parametrize(("line", "attr", "extract"), VARIANTS)
def test_fast_path_and_contract_path_agree(line: dict[str, Any], attr: str, extract: Any) -> None:
    # WHEN / THEN the same value, or the same error at the same JSON path
    assert _outcome(extract, line, attr, True) == _outcome(extract, line, attr, False)


def test_label_info_tolerates_both_job_name_spellings() -> None:
    # GIVEN a custom job's underscore keys and a built-in job's labeling-job/ prefix
    custom = {
        "source": "x",
        "c": {},
        "c-metadata": {"type": "groundTruth/custom", "job_name": "j", "human-annotated": "yes"},
    }
    # WHEN / THEN
    assert label_info(custom, "c").job_name == "j" and label_info(custom, "c").type == "custom"
    assert label_info(NER_LINE, "ner").job_name == "ner"


def test_stats_counts_classes_confidences_and_workers(tmp_path: Path) -> None:
    # GIVEN
    custom = {
        "source": "p",
        "r": {"annotationsFromAllWorkers": [{"workerId": "w1"}, {"workerId": "w2"}]},
        "r-metadata": {"type": "groundTruth/custom", "job_name": "rank"},
    }
    path = _write(tmp_path / "m.manifest", [CLASS_LINE, BOX_LINE, custom, "{bad"])
    # WHEN
    stats = manifest_stats(path, on_error=lambda e: None).to_dict()
    # THEN
    assert (stats["lines"], stats["skipped"]) == (4, 1)
    sport, bb, rank = (stats["attributes"][k] for k in ("sport", "bb", "r"))
    assert sport["classes"] == {"football": 1} and sport["confidence_histogram"]["0.4-0.5"] == 1
    assert (bb["objects"], bb["auto_labeled"], bb["jobs"]) == (1, 1, {"find-dogs": 1})
    assert rank["objects_per_worker"] == {"w1": 1, "w2": 1}


def test_merge_joins_chained_jobs_on_source_ref(tmp_path: Path) -> None:
    # GIVEN two jobs over the same images, the second missing one image
    other = {**BOX_LINE, "source-ref": "s3://b/other.jpg"}
    first = _write(tmp_path / "a.manifest", [BOX_LINE, other])
    second = _write(tmp_path / "b.manifest", [CLASS_LINE])
    # WHEN
    report = merge_manifests([first, second], tmp_path / "out.manifest")
    merge_manifests([first, second], tmp_path / "inner.manifest", how="inner")
    # THEN
    lines = [json.loads(x) for x in (tmp_path / "out.manifest").read_text().splitlines()]
    assert list(lines[0]) == ["source-ref", "bb", "bb-metadata", "sport", "sport-metadata"]
    assert lines[1] == other
    assert (report.lines_read, report.lines_written, report.conflicts) == (3, 2, 0)
    assert len((tmp_path / "inner.manifest").read_text().splitlines()) == 1


def test_merge_conflicts_are_errors_unless_a_side_is_chosen(tmp_path: Path) -> None:
    # GIVEN the same attribute with different values in two inputs
    changed = {**CLASS_LINE, "sport": 1}
    a = _write(tmp_path / "a.manifest", [CLASS_LINE])
    b = _write(tmp_path / "b.manifest", [changed])
    # WHEN / THEN
    with pytest.raises(ManifestError, match=r"b.manifest:1: 'sport' differs from .*a.manifest:1"):
        merge_manifests([a, b], tmp_path / "x.manifest")
    merge_manifests([a, b], tmp_path / "last.manifest", on_conflict="last")
    assert json.loads((tmp_path / "last.manifest").read_text())["sport"] == 1


@pytest.mark.parametrize(
    ("kwargs", "kept"),
    [
        ({"max_confidence": 0.5}, ["sport"]),
        ({"min_confidence": 0.5}, ["bb"]),
        ({"human": False}, ["bb"]),
        ({"classes": ["dog"]}, ["bb"]),
        ({}, ["sport", "bb"]),
    ],
)
def test_filter_keeps_matching_lines_byte_for_byte(tmp_path: Path, kwargs: dict[str, Any], kept: list[str]) -> None:
    # GIVEN
    path = _write(tmp_path / "m.manifest", [json.dumps(CLASS_LINE, indent=None, separators=(", ", ": ")), BOX_LINE])
    # WHEN
    report = filter_manifest(path, tmp_path / "out.manifest", **kwargs)
    # THEN
    out = (tmp_path / "out.manifest").read_text().splitlines()
    assert [next(k for k in json.loads(x) if k in ("sport", "bb")) for x in out] == kept
    assert all(x in path.read_text().splitlines() for x in out)
    assert report.lines_kept == len(kept)
