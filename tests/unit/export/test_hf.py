"""The hf format: every row type written as a datasets folder and read back with datasets.load_from_disk."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from truthloop.exceptions import ExportError, ManifestLineError
from truthloop.export import export
from truthloop.export.hf import BATCH_ROWS, _features

from .conftest import box_line

datasets = pytest.importorskip("datasets")

CLASS = {
    "source": "Where is my order?",
    "intent": 0,
    "intent-metadata": {
        "class-name": "question",
        "confidence": 0.64,
        "type": "groundtruth/text-classification",
        "job-name": "labeling-job/intents",
        "human-annotated": "no",
    },
}
MULTI = {
    "source-ref": "s3://b/p.jpg",
    "pets": [1, 0],
    "pets-metadata": {
        "class-map": {"1": "dog"},
        "confidence-map": {"1": 0.95, "0": 0.5},
        "type": "groundtruth/image-classification-multilabel",
        "human-annotated": "yes",
        "job-name": "pets",
    },
}
NER = {
    "source": "Anna met Bob.",
    "ner": {
        "annotations": {
            "entities": [{"label": "person", "startOffset": 9, "endOffset": 12},
                         {"label": "person", "startOffset": 0, "endOffset": 4}],
            "labels": [{"label": "person"}],
        }
    },
    "ner-metadata": {"type": "groundtruth/text-span", "job-name": "people"},
}  # fmt: skip
MASK = {
    "source-ref": "s3://b/city.png",
    "seg-ref": "s3://out/mask.png",
    "seg-ref-metadata": {
        "type": "groundtruth/semantic-segmentation",
        "internal-color-map": {"0": {"class-name": "BACKGROUND", "hex-color": "#ffffff"}, "2": {"class-name": "car"}},
    },
}


def _ranking(prompt: str, workers: list[tuple[str, list[int]]]) -> dict[str, Any]:
    answers = [
        {"workerId": w, "annotationData": {"content": json.dumps({"r": {"rankings": {"h": r}}})}} for w, r in workers
    ]
    return {
        "source": prompt,
        "responses": ["x", "y", "z"],
        "responseIds": ["a", "b", "c"],
        "rank": {"annotationsFromAllWorkers": answers},
        "rank-metadata": {"type": "groundTruth/custom", "job-name": "rank"},
    }  # fmt: skip


def _without_confidences(line: dict[str, Any]) -> dict[str, Any]:
    del line["bb-metadata"]["objects"]
    return line


def _load(path: Path) -> Any:
    return datasets.load_from_disk(str(path))


@pytest.mark.parametrize(
    ("lines", "kind", "rows"),
    [
        (
            [box_line("s3://b/a.jpg", [(0, 1, 2.5, 30, 40), (1, 5, 6, 7, 8)], confidences=[0.9, 1]),
             _without_confidences(box_line("s3://b/b.jpg", [("2", 1, 1, 1, 1)], names={}, size=(64.0, 32)))],
            "detection",
            [{"image": "s3://b/a.jpg", "width": 640, "height": 480, "objects": [
                {"bbox": [1.0, 2.5, 30.0, 40.0], "category": 0, "label": "person", "confidence": 0.9},
                {"bbox": [5.0, 6.0, 7.0, 8.0], "category": 1, "label": "car", "confidence": 1.0}]},
             {"image": "s3://b/b.jpg", "width": 64, "height": 32, "objects": [
                {"bbox": [1.0, 1.0, 1.0, 1.0], "category": 2, "label": "2", "confidence": None}]}],
        ),
        (
            [CLASS],
            "classification",
            [{"source": "Where is my order?", "label": "question", "class_id": 0, "confidence": 0.64,
              "human_annotated": False, "job_name": "intents"}],
        ),
        (
            [MULTI],
            "multilabel",
            [{"source": "s3://b/p.jpg", "labels": ["dog", "0"], "class_ids": [1, 0], "confidences": [0.95, 0.5],
              "human_annotated": True, "job_name": "pets"}],
        ),
        (
            [NER],
            "ner",
            [{"text": "Anna met Bob.", "spans": [{"start": 0, "end": 4, "label": "person"},
                                                 {"start": 9, "end": 12, "label": "person"}],
              "tokens": ["Anna", "met", "Bob", "."], "ner_tags": ["B-person", "O", "B-person", "O"]}],
        ),
        (
            [MASK],
            "segmentation",
            [{"image": "s3://b/city.png", "mask": "s3://out/mask.png", "classes": [
                {"index": 0, "name": "BACKGROUND", "color": "#ffffff"}, {"index": 2, "name": "car", "color": None}]}],
        ),
    ],
    ids=["detection", "classification", "multilabel", "ner", "segmentation"],
)  # fmt: skip
def test_each_row_type_loads_back_exactly(write_manifest, tmp_path: Path, lines: Any, kind: str, rows: Any) -> None:  # type: ignore[no-untyped-def]
    # GIVEN
    src = write_manifest(lines)
    # WHEN
    report = export(src, "hf", tmp_path / "ds")
    # THEN the folder loads with datasets and holds exactly these rows, typed by the row type's features
    dataset = _load(tmp_path / "ds")
    assert dataset.to_list() == rows
    assert dataset.features == _features(kind)
    assert (report.lines_exported, report.items_written, report.outputs) == (
        len(rows),
        len(rows),
        [str(tmp_path / "ds")],
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([src.name, "ds"])  # no staging folder left


@pytest.mark.parametrize(
    "options",
    [{}, {"conversational": True}, {"ties": "keep"}, {"pairs": "best-worst", "min_agreement": 0.9}],
    ids=["plain", "conversational", "ties-keep", "best-worst"],
)
def test_preference_rows_are_the_trl_rows(write_manifest, tmp_path: Path, options: dict[str, Any]) -> None:  # type: ignore[no-untyped-def]
    # GIVEN ranking lines, one with a tie and one contested
    src = write_manifest(
        [
            _ranking("q1", [("w1", [1, 2, 3]), ("w2", [1, 3, 2]), ("w3", [1, 2, 3])]),
            _ranking("q2", [("w1", [1, 1, 2])]),
            _ranking("q3", [("w1", [1, 2, 3]), ("w2", [3, 2, 1])]),
        ]
    )
    # WHEN the same manifest is exported to hf and to trl
    report = export(src, "hf", tmp_path / "ds", options=options)
    export(src, "trl", tmp_path / "trl.jsonl", options=options)
    # THEN the dataset rows are the TRL rows, and the sidecars are inside the folder
    trl = [json.loads(x) for x in (tmp_path / "trl.jsonl").read_text().splitlines()]
    if options.get("ties") == "keep":
        trl = [{**row, "tie": row.get("tie", False)} for row in trl]
    assert _load(tmp_path / "ds").to_list() == trl and trl
    assert (tmp_path / "ds/meta.jsonl").read_bytes() == (tmp_path / "trl.meta.jsonl").read_bytes()
    assert (tmp_path / "ds/disagreements.jsonl").read_bytes() == (tmp_path / "trl.disagreements.jsonl").read_bytes()
    excluded = len((tmp_path / "trl.disagreements.jsonl").read_text().splitlines())
    assert report.notes == [
        f"{len(trl)} rows written; {excluded} prompt(s) excluded for disagreement (see ds/disagreements.jsonl)"
    ]


def test_kto_rows(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN / WHEN
    src = write_manifest([_ranking("q", [("w1", [1, 2, 3]), ("w2", [1, 2, 3])])])
    export(src, "hf", tmp_path / "ds", options={"rows": "kto"})
    # THEN
    assert _load(tmp_path / "ds").to_list() == [
        {"prompt": "q", "completion": "x", "label": True},
        {"prompt": "q", "completion": "z", "label": False},
    ]


def test_rows_of_another_type_are_skipped_with_the_reason(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a classification line first, then a multi-label and a bounding-box line
    src = write_manifest([CLASS, MULTI, box_line("s3://b/a.jpg", [(0, 1, 2, 3, 4)])])
    skipped: list[ManifestLineError] = []
    # WHEN
    export(src, "hf", tmp_path / "ds", on_skip=skipped.append)
    # THEN
    assert [(e.line_number, e.reason) for e in skipped] == [
        (2, "pets: multilabel rows cannot join this dataset of classification rows (from line 1 of in.manifest); "
            "export them on their own with -O rows=multilabel"),
        (3, "bb: detection rows cannot join this dataset of classification rows (from line 1 of in.manifest); "
            "export them on their own with -O rows=detection"),
    ]  # fmt: skip
    assert len(_load(tmp_path / "ds")) == 1
    # AND choosing the row type exports the other lines instead
    export(src, "hf", tmp_path / "multi", options={"rows": "multilabel"}, on_skip=skipped.append)
    assert _load(tmp_path / "multi")["labels"] == [["dog", "0"]]


def test_many_rows_span_several_batches(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN more lines than one Arrow batch holds
    count = BATCH_ROWS * 2 + 7
    src = write_manifest([{**CLASS, "source": f"text {i}"} for i in range(count)])
    # WHEN
    export(src, "hf", tmp_path / "ds")
    # THEN every row is there, in order
    assert _load(tmp_path / "ds")["source"] == [f"text {i}" for i in range(count)]


def test_an_export_without_rows_is_an_empty_loadable_dataset(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN / WHEN
    export(write_manifest([CLASS]), "hf", tmp_path / "ds", options={"rows": "ner"})
    # THEN
    dataset = _load(tmp_path / "ds")
    assert len(dataset) == 0 and dataset.features == _features("ner")


def test_strict_failure_leaves_no_folder(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN
    src = write_manifest([CLASS, "{broken"])
    # WHEN / THEN
    with pytest.raises(ExportError, match=r"in\.manifest:2: not valid JSON"):
        export(src, "hf", tmp_path / "ds", strict=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.manifest"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"rows": "tables"}, "option rows must be one of auto, detection"),
        ({"rows": "ner", "ties": "keep"}, "option(s) ties only apply to preference or kto rows, not ner rows"),
    ],
)
def test_bad_options(tmp_path: Path, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ExportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        export(tmp_path / "none.manifest", "hf", tmp_path / "ds", options=options)


def test_without_datasets_the_format_says_how_to_install_it(
    write_manifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    # GIVEN an environment where datasets cannot be imported
    monkeypatch.setitem(sys.modules, "datasets", None)
    # WHEN / THEN
    with pytest.raises(ExportError, match=r"pip install 'truthloop\[hf\]'"):
        export(write_manifest([CLASS]), "hf", tmp_path / "ds")
