"""COCO, YOLO and VOC: exact output, round trips, the fast path's equivalence, skipped lines."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from truthloop.exceptions import ExportError, ManifestLineError
from truthloop.export import export
from truthloop.manifest import read_manifest
from truthloop.manifest.labels import boxes

from .conftest import box_line


def test_coco_exact_output(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN two images, one with two boxes, one with a float box and a string class id
    src = write_manifest(
        [
            box_line("s3://b/a.jpg", [(0, 111, 134, 61, 128), (1, 300, 200, 120, 80)]),
            box_line("s3://b/b.jpg", [("1", 10.5, 20, 200, 100.25)], names={"1": "car"}),
        ]
    )
    # WHEN
    report = export(src, "coco", tmp_path / "coco.json")
    # THEN
    assert json.loads((tmp_path / "coco.json").read_text()) == {
        "info": {
            "description": "Exported by truthloop from a SageMaker Ground Truth output manifest",
            "version": "1.0",
        },
        "licenses": [],
        "images": [
            {"id": 1, "file_name": "s3://b/a.jpg", "width": 640, "height": 480},
            {"id": 2, "file_name": "s3://b/b.jpg", "width": 640, "height": 480},
        ],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 0, "bbox": [111, 134, 61, 128], "area": 7808, "iscrowd": 0},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [300, 200, 120, 80], "area": 9600, "iscrowd": 0},
            {"id": 3, "image_id": 2, "category_id": 1, "bbox": [10.5, 20, 200, 100.25], "area": 20050.0, "iscrowd": 0},
        ],
        "categories": [{"id": 0, "name": "person"}, {"id": 1, "name": "car"}],
    }
    assert (report.lines_exported, report.items_written, report.lines_skipped) == (2, 3, 0)


# lines the fast path must hand to the contract path, and what the contract path decides
TOLERATED = [
    box_line("s3://b/1.jpg", [("0", 1, 2, 3, 4)]),  # class id as a string
    box_line("s3://b/2.jpg", [(0, "1", 2, 3, 4)]),  # coordinate as a numeric string
    box_line("s3://b/3.jpg", [(0, 1, 2, 3, 4)], **{"job-name": "labeling-job/street"}),
    box_line("s3://b/4.jpg", [(0, 1, 2, 3, 4)], **{"human-annotated": "Yes"}),
    box_line("s3://b/5.jpg", [(0, 1.5, 2, 3, 4.25)], confidences=[]),  # objects shorter than the boxes
    box_line("s3://b/6.jpg", [(1, 1, 2, 3, 4)], names={"1": "truck"}),  # a conflicting class name → skipped
    box_line("s3://b/7.jpg", [(0, 1, 2, 0, 4)]),  # zero width → skipped
    box_line("s3://b/8.jpg", [(True, 1, 2, 3, 4)]),  # boolean class id → skipped
    box_line("s3://b/9.jpg", [(0, 1, 2, 3, 4)], **{"human-annotated": 5}),  # bad metadata → skipped
    box_line("s3://b/10.jpg", [(0, 1, 2, 3, 4)], confidences=["high"]),  # bad confidence → skipped
    {"source-ref": "s3://b/11.jpg", "bb-metadata": {"type": "groundtruth/object-detection"}},  # no value → skipped
    box_line("s3://b/12.jpg", [(2, 1, 2, 3, 4)], names={}),  # a class without a name
    box_line("s3://b/13.jpg", [(2, 1, 2, 3, 4)], names={"2": "bus"}),  # …named later
]


def test_coco_fast_path_writes_exactly_what_the_contract_path_writes(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN well-formed lines mixed with every tolerated or malformed variant
    lines = [box_line(f"s3://b/ok{i}.jpg", [(i % 2, i, i + 1, 10 + i, 5.5)]) for i in range(20)]
    src = write_manifest(lines[:10] + TOLERATED + lines[10:])
    fast_skips: list[ManifestLineError] = []
    slow_skips: list[ManifestLineError] = []
    # WHEN the same manifest is exported through the typed fast path and through the contract path only
    export(src, "coco", tmp_path / "fast.json", on_skip=fast_skips.append)
    export(src, "coco", tmp_path / "slow.json", on_skip=slow_skips.append, options={"fast": False})
    # THEN both files are byte-identical and the same lines were skipped for the same reasons
    assert (tmp_path / "fast.json").read_bytes() == (tmp_path / "slow.json").read_bytes()
    assert [(e.line_number, e.reason) for e in fast_skips] == [(e.line_number, e.reason) for e in slow_skips]
    assert [e.line_number for e in fast_skips] == [16, 17, 18, 19, 20, 21]
    coco = json.loads((tmp_path / "fast.json").read_text())
    assert {c["id"]: c["name"] for c in coco["categories"]} == {0: "person", 1: "car", 2: "bus"}


def test_coco_round_trip_gives_back_the_manifest_boxes(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN
    lines = [box_line(f"s3://b/{i}.jpg", [(i % 2, i * 3, i, 7 + i, 9.5), (1, 1, 1, 2, 2)]) for i in range(30)]
    src = write_manifest(lines)
    # WHEN
    export(src, "coco", tmp_path / "coco.json")
    coco = json.loads((tmp_path / "coco.json").read_text())
    # THEN grouping the annotations by image gives each line's boxes back, unchanged
    by_image: dict[int, list[tuple[int, float, float, float, float]]] = {}
    for ann in coco["annotations"]:
        by_image.setdefault(ann["image_id"], []).append((ann["category_id"], *ann["bbox"]))
    for image in coco["images"]:
        record = next(r for r in read_manifest(src) if r.data["source-ref"] == image["file_name"])
        expected = [tuple(b[:5]) for b in boxes(record.data, "bb").boxes]
        assert by_image[image["id"]] == expected


def test_yolo_writes_normalised_boxes_that_round_trip_within_rounding(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN
    src = write_manifest(
        [
            box_line("s3://bucket/imgs/a.jpg", [(0, 111, 134, 61, 128), (1, 300, 200, 120, 80)]),
            box_line("s3://bucket/imgs/b.png", [], size=(100, 50)),
        ]
    )
    # WHEN
    export(src, "yolo", tmp_path / "yolo")
    # THEN
    label = (tmp_path / "yolo/labels/bucket/imgs/a.txt").read_text()
    assert label == "0 0.221094 0.412500 0.095312 0.266667\n1 0.562500 0.500000 0.187500 0.166667\n"
    assert (tmp_path / "yolo/labels/bucket/imgs/b.txt").read_text() == ""
    assert (tmp_path / "yolo/images.txt").read_text() == "./images/bucket/imgs/a.jpg\n./images/bucket/imgs/b.png\n"
    data = yaml.safe_load((tmp_path / "yolo/data.yaml").read_text())
    assert data == {"path": ".", "train": "images.txt", "val": "images.txt", "nc": 2, "names": {0: "person", 1: "car"}}
    # round trip: back to pixels within the 6-decimal rounding (≤ 0.5e-6 × size)
    for row, (_, left, top, w, h) in zip(label.splitlines(), [(0, 111, 134, 61, 128), (1, 300, 200, 120, 80)]):
        _, cx, cy, nw, nh = map(float, row.split())
        assert abs((cx - nw / 2) * 640 - left) < 1e-3 and abs((cy - nh / 2) * 480 - top) < 1e-3
        assert abs(nw * 640 - w) < 1e-3 and abs(nh * 480 - h) < 1e-3


def test_voc_writes_one_xml_per_image_with_pixel_corners(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN
    src = write_manifest([box_line("s3://bucket/a&b.jpg", [(1, 10.4, 20, 200, 100.6)])])
    # WHEN
    export(src, "voc", tmp_path / "voc")
    # THEN
    root = ET.parse(tmp_path / "voc/Annotations/bucket/a&b.xml").getroot()
    assert root.findtext("filename") == "a&b.jpg"
    assert [root.findtext(f"size/{k}") for k in ("width", "height", "depth")] == ["640", "480", "3"]
    obj = root.find("object")
    assert obj is not None and obj.findtext("name") == "car"
    assert [obj.findtext(f"bndbox/{k}") for k in ("xmin", "ymin", "xmax", "ymax")] == ["10", "20", "210", "121"]
    assert (tmp_path / "voc/labels.txt").read_text() == "car\n"


@pytest.mark.parametrize("fmt", ["coco", "yolo", "voc"])
def test_malformed_lines_are_reported_with_line_numbers_and_strict_fails(
    write_manifest, tmp_path: Path, fmt: str
) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a manifest with a good line, broken JSON, a line without image_size and a text-classification line
    good = box_line("s3://b/a.jpg", [(0, 1, 2, 3, 4)])
    no_size = box_line("s3://b/c.jpg", [(0, 1, 2, 3, 4)])
    del no_size["bb"]["image_size"]
    other = {"source": "hi", "c": 0, "c-metadata": {"type": "groundtruth/text-classification", "class-name": "x"}}
    src = write_manifest([good, '{"source-ref": "s3://b/b.jpg",', no_size, other, "", good])
    skipped: list[ManifestLineError] = []
    # WHEN
    report = export(src, fmt, tmp_path / "out", on_skip=skipped.append)
    # THEN
    assert [e.line_number for e in skipped] == [2, 3, 4]
    assert "not valid JSON" in skipped[0].reason
    assert "image_size" in skipped[1].reason
    assert "object-detection" in skipped[2].reason
    assert (report.lines_read, report.lines_exported, report.lines_skipped) == (5, 2, 3)
    # AND with strict the first problem is an error and no output file is published
    with pytest.raises(ExportError, match=r"in.manifest:2: not valid JSON"):
        export(src, fmt, tmp_path / "strict.json", strict=True)
    assert not (tmp_path / "strict.json").exists()
