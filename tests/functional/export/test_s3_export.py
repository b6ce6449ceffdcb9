"""Manifests and exports on S3 (moto): streamed reads, uploaded outputs, the CLI end to end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

from truthloop.cli import main
from truthloop.export import export
from truthloop.manifest.stats import manifest_stats

LINE = {
    "source-ref": "s3://images/a.jpg",
    "bb": {
        "image_size": [{"width": 10, "height": 10}],
        "annotations": [{"class_id": 0, "left": 1, "top": 1, "width": 2, "height": 2}],
    },
    "bb-metadata": {
        "objects": [{"confidence": 0.9}],
        "class-map": {"0": "dog"},
        "type": "groundtruth/object-detection",
        "job-name": "j",
    },
}


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="data")
        yield client


def test_export_reads_and_writes_s3(s3: Any) -> None:
    # GIVEN a manifest on S3 with a bad line
    body = "\n".join([json.dumps(LINE)] * 3 + ["{bad", json.dumps(LINE)]) + "\n"
    s3.put_object(Bucket="data", Key="job/output.manifest", Body=body.encode())
    # WHEN
    report = export("s3://data/job/output.manifest", "coco", "s3://data/export/coco.json", s3_client=s3)
    yolo = export("s3://data/job/output.manifest", "yolo", "s3://data/export/yolo", s3_client=s3)
    # THEN
    coco = json.loads(s3.get_object(Bucket="data", Key="export/coco.json")["Body"].read())
    assert len(coco["images"]) == 4 and report.lines_skipped == 1 and report.skipped[0].line_number == 4
    assert report.outputs == ["s3://data/export/coco.json"]
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="data", Prefix="export/yolo/")["Contents"])
    assert keys == ["export/yolo/data.yaml", "export/yolo/images.txt", "export/yolo/labels/images/a.txt"]
    assert yolo.outputs == ["s3://data/export/yolo"]


def test_stats_and_cli_on_s3(s3: Any) -> None:
    # GIVEN
    s3.put_object(Bucket="data", Key="m/output.manifest", Body=(json.dumps(LINE) + "\n").encode())
    # WHEN
    stats = manifest_stats("s3://data/m/output.manifest", s3_client=s3)
    result = CliRunner().invoke(
        main, ["export", "-f", "coco", "s3://data/m/output.manifest", "-o", "s3://data/out/c.json"]
    )
    # THEN
    assert stats.attributes["bb"].classes == {"dog": 1}
    assert result.exit_code == 0, result.output
    assert "wrote s3://data/out/c.json" in result.output


def test_missing_s3_object_is_a_clear_error(s3: Any) -> None:
    # WHEN
    result = CliRunner().invoke(main, ["export", "-f", "coco", "s3://data/nope.manifest", "-o", "s3://data/o.json"])
    # THEN
    assert result.exit_code == 1
    assert "GetObject" in result.output and "NoSuchKey" in result.output


@pytest.mark.parametrize(("fmt", "out"), [("coco", "s3://no-such-bucket/o.json"), ("yolo", "s3://no-such-bucket/yolo")])
def test_export_to_a_missing_bucket_is_one_line_not_a_traceback(s3: Any, fmt: str, out: str) -> None:
    # GIVEN a manifest, and an output bucket that does not exist
    s3.put_object(Bucket="data", Key="m/output.manifest", Body=(json.dumps(LINE) + "\n").encode())
    # WHEN
    result = CliRunner().invoke(main, ["export", "-f", fmt, "s3://data/m/output.manifest", "-o", out])
    # THEN a one-line error names the object and AWS's reason; botocore's error stays chained for the request id
    assert result.exit_code == 1
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1
    assert f"PutObject {out}" in result.output and "NoSuchBucket" in result.output
    assert isinstance(result.exception, SystemExit)


def test_hf_dataset_folder_is_uploaded_and_loads_back(s3: Any, tmp_path: Any) -> None:
    datasets = pytest.importorskip("datasets")
    # GIVEN a manifest on S3 whose rows type is read from its first line (a second S3 read)
    s3.put_object(Bucket="data", Key="job/output.manifest", Body=(json.dumps(LINE) + "\n").encode() * 2)
    # WHEN
    report = export("s3://data/job/output.manifest", "hf", "s3://data/export/ds", s3_client=s3)
    # THEN the dataset folder is on S3, and a downloaded copy loads with datasets
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="data", Prefix="export/ds/")["Contents"])
    assert keys == ["export/ds/data-00000-of-00001.arrow", "export/ds/dataset_info.json", "export/ds/state.json"]
    assert report.outputs == ["s3://data/export/ds"]
    for key in keys:
        s3.download_file("data", key, str(tmp_path / key.rsplit("/", 1)[-1]))
    assert datasets.load_from_disk(str(tmp_path))["image"] == ["s3://images/a.jpg"] * 2
