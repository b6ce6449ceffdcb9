"""Output files that appear only when complete: written as ``<name>.part`` and renamed on commit."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO

from truthloop.exceptions import ExportError
from truthloop.manifest._json import encode

__all__ = ["AtomicFile", "SpoolFile", "json_str", "path_for_source"]

BUFFER_BYTES = 1 << 20


class AtomicFile:
    """A binary file written next to ``path`` and moved into place by :meth:`commit` (dropped by :meth:`discard`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".part")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.handle: IO[bytes] = self.partial.open("wb", buffering=BUFFER_BYTES)
        except OSError as exc:
            raise ExportError(f"{path}: cannot write: {exc.strerror or exc}") from None

    def write(self, data: bytes) -> None:
        self.handle.write(data)

    def commit(self) -> Path:
        self.handle.close()
        os.replace(self.partial, self.path)
        return self.path

    def discard(self) -> None:
        self.handle.close()
        with contextlib.suppress(FileNotFoundError):
            self.partial.unlink()


class SpoolFile:
    """An anonymous temporary file (next to the output) to stream a section into and copy out later."""

    def __init__(self, near: Path) -> None:
        near.parent.mkdir(parents=True, exist_ok=True)
        self.handle: IO[bytes] = tempfile.TemporaryFile(  # noqa: SIM115 - closed by close()
            dir=near.parent, prefix=".truthloop-", buffering=BUFFER_BYTES
        )
        self.size = 0

    def write(self, data: bytes) -> None:
        self.handle.write(data)

    def copy_to(self, target: AtomicFile) -> None:
        self.handle.flush()
        self.handle.seek(0)
        while chunk := self.handle.read(BUFFER_BYTES):
            target.write(chunk)

    def close(self) -> None:
        self.handle.close()


def json_str(text: str) -> str:
    """``text`` as a JSON string literal (UTF-8 kept)."""
    return encode(text).decode()


def path_for_source(source: str, suffix: str) -> Path:
    """A relative output path mirroring ``source``: ``s3://b/k/img.jpg`` → ``b/k/img<suffix>``.

    Mirroring the bucket and key keeps names unique without remembering earlier ones (constant memory) and lets
    tools that map ``images/…`` to ``labels/…`` (YOLO) find the label next to a synced copy of the image.
    """
    text = source
    for scheme in ("s3://", "https://", "http://", "file://"):
        if text.startswith(scheme):
            text = text[len(scheme) :]
            break
    parts = [p for p in text.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    if not parts:
        raise ExportError(f"cannot derive a file name from source {source!r}")
    stem = parts[-1].rsplit(".", 1)[0] if "." in parts[-1] else parts[-1]
    parts[-1] = (stem or parts[-1]) + suffix
    return Path(*parts)
