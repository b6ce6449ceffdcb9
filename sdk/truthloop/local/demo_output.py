"""The files ``truthloop demo`` leaves behind: reviewed and labeled manifests, training files, the backend's state.

Layout of the output directory (``demo-output/`` by default)::

    reviewed.manifest          A2I reviews as GT augmented-manifest lines (what review_completed wrote to S3)
    labeled.manifest           the bounding-box labeling job's output manifest
    training/boxes.coco.json   COCO detection file made from labeled.manifest
    training/sentiment.jsonl   classification rows (JSON Lines) made from reviewed.manifest
    images/                    the demo's images (the manifests' ``source-ref`` point at their S3 copies)
    backend/                   the local backend's state: ``truthloop local up --data-dir <dir>/backend`` re-opens it

The directory is the demo's own: a new run replaces it, and a directory the demo did not make is never touched.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from truthloop.exceptions import TruthloopError

__all__ = ["MARKER", "DemoOutput", "prepare_output_dir"]

#: a file only the demo writes: a directory holding it may be replaced by the next run
MARKER = ".truthloop-demo"


def prepare_output_dir(directory: Path) -> None:
    """Empty ``directory`` for a new run (creating it); refuse one that holds files the demo did not write."""
    if directory.exists():
        if not directory.is_dir():
            raise TruthloopError(f"demo output {directory} exists and is not a directory")
        if any(directory.iterdir()) and not (directory / MARKER).is_file():
            raise TruthloopError(
                f"demo output {directory} holds files the demo did not write; "
                "pass another --output-dir or move it away (the demo never deletes what it did not make)"
            )
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    (directory / MARKER).write_text("written by `truthloop demo`; the next run replaces this directory\n")


@dataclass
class DemoOutput:
    """Writes the demo's files into ``root`` from the local S3; ``files`` maps what → local path."""

    root: Path
    files: dict[str, Path] = field(default_factory=dict)

    @property
    def backend_dir(self) -> Path:
        return self.root / "backend"

    def reopen_command(self) -> str:
        return f"truthloop local up --data-dir {self.backend_dir}"

    def _download(self, s3: Any, bucket: str, keys: list[str], target: Path) -> int:
        """Concatenate the objects ``keys`` (JSON Lines) into ``target``; returns the number of lines."""
        lines = 0
        with target.open("wb") as out:
            for key in keys:
                body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                if body and not body.endswith(b"\n"):
                    body += b"\n"
                lines += body.count(b"\n")
                out.write(body)
        return lines

    def write(self, s3: Any, *, bucket: str, reviewed_prefix: str, labeled_manifest_uri: str, images: str) -> None:
        """Fetch the reviewed dataset, the labeled manifest and the images, and export the training files."""
        from truthloop.aws import split_s3_uri
        from truthloop.export import export

        reviewed = self.root / "reviewed.manifest"
        keys = sorted(
            o["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=reviewed_prefix)
            for o in page.get("Contents", [])
        )
        self._download(s3, bucket, keys, reviewed)
        self.files["reviewed dataset (GT manifest)"] = reviewed
        training = self.root / "training"
        training.mkdir(exist_ok=True)
        if labeled_manifest_uri:
            labeled = self.root / "labeled.manifest"
            manifest_bucket, manifest_key = split_s3_uri(labeled_manifest_uri, "labeled manifest")
            self._download(s3, manifest_bucket, [manifest_key], labeled)
            self.files["labeled manifest (boxes)"] = labeled
            coco = training / "boxes.coco.json"
            export(labeled, "coco", coco)
            self.files["COCO detection file"] = coco
        if keys:
            jsonl = training / "sentiment.jsonl"
            export(reviewed, "jsonl", jsonl)
            self.files["sentiment classification (JSON Lines)"] = jsonl
        image_dir = self.root / "images"
        image_dir.mkdir(exist_ok=True)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=images):
            for obj in page.get("Contents", []):
                name = obj["Key"].rsplit("/", 1)[-1]
                (image_dir / name).write_bytes(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())
        self.files["images"] = image_dir
