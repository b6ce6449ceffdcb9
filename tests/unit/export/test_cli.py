"""``truthloop export`` and ``truthloop manifest``: counts, skipped lines on stderr, --strict exit codes."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from truthloop.cli import main

ROOT = Path(__file__).resolve().parents[3]
BOXES = str(ROOT / "docs/examples/formats/input/boxes.manifest")


def test_export_reports_skipped_lines_and_counts(tmp_path: Path) -> None:
    # WHEN
    result = CliRunner().invoke(main, ["export", "-f", "coco", BOXES, "-o", str(tmp_path / "c.json")])
    # THEN
    assert result.exit_code == 0
    assert result.stderr == f"skipped {BOXES}:4: $.bb.annotations[0]: box has a non-positive size (-3 x 10)\n"
    assert result.stdout == f"read 4 lines: exported 3 (3 items), skipped 1\nwrote {tmp_path / 'c.json'}\n"


def test_strict_fails_on_the_first_skip_and_writes_nothing(tmp_path: Path) -> None:
    # WHEN
    result = CliRunner().invoke(main, ["export", "-f", "coco", BOXES, "-o", str(tmp_path / "c.json"), "--strict"])
    # THEN
    assert result.exit_code == 1
    assert f"--strict: {BOXES}:4: $.bb.annotations[0]: box has a non-positive size" in result.stderr
    assert not (tmp_path / "c.json").exists()


def test_preference_flags_only_apply_to_preference_formats(tmp_path: Path) -> None:
    # WHEN
    result = CliRunner().invoke(main, ["export", "-f", "coco", BOXES, "-o", str(tmp_path / "c.json"), "--ties", "keep"])
    # THEN
    assert result.exit_code == 2 and "--ties only applies to --format trl, kto or hf" in result.output


def test_manifest_filter_and_merge_commands(tmp_path: Path) -> None:
    # WHEN
    filtered = CliRunner().invoke(main, ["manifest", "filter", BOXES, "-o", str(tmp_path / "f.manifest"), "--auto"])
    merged = CliRunner().invoke(main, ["manifest", "merge", BOXES, BOXES, "-o", str(tmp_path / "m.manifest")])
    # THEN
    assert filtered.exit_code == 0 and filtered.stdout == "read 4 lines: kept 1, skipped 1\n"
    assert merged.exit_code == 0
    assert merged.stdout == "read 8 lines from 2 manifests: wrote 4, skipped 0, 0 conflicting values\n"
