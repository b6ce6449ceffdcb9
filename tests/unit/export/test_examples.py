"""The example output of every format in docs/examples/formats/ is exactly what the exporter writes today.

Set TRUTHLOOP_REGEN_EXAMPLES=1 to rewrite the examples after an intended change (then review the diff).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from truthloop.export import FORMATS, export, get_format

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "docs" / "examples" / "formats"
INPUT = "docs/examples/formats/input"

# format, input (relative to the repository root), example output name
CASES = [
    ("coco", f"{INPUT}/boxes.manifest", "coco.json"),
    ("yolo", f"{INPUT}/boxes.manifest", "yolo"),
    ("voc", f"{INPUT}/boxes.manifest", "voc"),
    ("csv", f"{INPUT}/classes.manifest", "csv.csv"),
    ("jsonl", f"{INPUT}/classes.manifest", "jsonl.jsonl"),
    ("conll", f"{INPUT}/ner.manifest", "conll.conll"),
    ("spacy", f"{INPUT}/ner.manifest", "spacy.jsonl"),
    ("semseg", f"{INPUT}/segmentation.manifest", "semseg"),
    ("trl", f"{INPUT}/ranking.manifest", "trl.jsonl"),
    ("kto", f"{INPUT}/ranking.manifest", "kto.jsonl"),
    ("gt-manifest", f"{INPUT}/a2i", "gt-manifest.manifest"),
    ("hf", f"{INPUT}/boxes.manifest", "hf"),
]


def _files(path: Path) -> dict[str, bytes]:
    if path.name == "hf":
        return _hf_example(path)
    if path.is_file():
        siblings = [path, *sorted(path.parent.glob(path.name.rsplit(".", 1)[0] + ".*.jsonl"))]
        return {p.name: p.read_bytes() for p in siblings}
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def _hf_example(path: Path) -> dict[str, bytes]:
    """A dataset folder holds binary Arrow data and random fingerprints: its example is what it loads back as."""
    if not (path / "state.json").exists():  # the checked-in example
        return {p.name: p.read_bytes() for p in sorted(path.parent.glob("hf.*"))}
    import datasets

    dataset = datasets.load_from_disk(str(path))
    rows = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in dataset.to_list())
    return {"hf.rows.jsonl": rows.encode()}


def test_every_registered_format_has_an_example() -> None:
    get_format("coco")  # loads the registry
    assert sorted(FORMATS) == sorted(fmt for fmt, _, _ in CASES)


@pytest.mark.parametrize(("fmt", "source", "name"), CASES, ids=[c[0] for c in CASES])
def test_example_output_matches_a_fresh_export(
    fmt: str, source: str, name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the example input, read from the repository root as the docs do
    monkeypatch.chdir(ROOT)
    out = tmp_path / name
    # WHEN
    export(source, fmt, out)
    # THEN
    if os.environ.get("TRUTHLOOP_REGEN_EXAMPLES"):
        target = EXAMPLES / name
        if fmt == "hf":
            for file_name, content in _files(out).items():
                (EXAMPLES / file_name).write_bytes(content)
        elif out.is_dir():
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(out, target)
        else:
            for file_name, content in _files(out).items():
                (EXAMPLES / file_name).write_bytes(content)
    assert _files(out) == _files(EXAMPLES / name)
    assert _files(out)
