"""`truthloop contracts identify`."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from truthloop.cli import main

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "contracts"


def test_identify_prints_kind_per_file_and_per_manifest_line() -> None:
    # GIVEN
    event = FIXTURES / "event.a2i_loop_status" / "documented.json"
    manifest = FIXTURES / "gt.input_manifest_line" / "input.manifest"
    # WHEN
    result = CliRunner().invoke(main, ["contracts", "identify", str(event), str(manifest)], catch_exceptions=False)
    # THEN
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{event}: event.a2i_loop_status",
        f"{manifest}:1: gt.input_manifest_line",
        f"{manifest}:2: gt.input_manifest_line",
    ]


def test_identify_exits_1_on_unrecognised_payload(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"labelingJobArn": "arn", "dataObject": []}))
    result = CliRunner().invoke(main, ["contracts", "identify", str(bad)])
    assert result.exit_code == 1
    assert "$.dataObject" in result.output


def test_identify_reports_an_unmodelled_label_as_opaque() -> None:
    # GIVEN a 3D point cloud object tracking output manifest line (a task type truthloop does not model)
    line = FIXTURES / "gt.output_manifest_line" / "point-cloud-object-tracking.json"
    # WHEN identified
    result = CliRunner().invoke(main, ["contracts", "identify", str(line)], catch_exceptions=False)
    # THEN it is an output manifest line, not an error, and the label is reported as opaque with its type
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"{line}: gt.output_manifest_line (opaque label, task type not modelled: "
        "tracks-ref [groundtruth/point_cloud_object_tracking])"
    ]
