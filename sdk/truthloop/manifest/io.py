"""Where manifests come from and go to: local paths, ``-`` (stdin/stdout) and ``s3://`` URIs alike.

Reading is streaming: a local file is iterated line by line, an S3 object is read through botocore's streaming
body in 1 MiB chunks, so memory stays constant whatever the size. Writing to S3 goes through a local temporary
file uploaded on close (boto3's managed transfer switches to multipart for large files).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from truthloop.aws import map_client_errors
from truthloop.exceptions import ManifestError

__all__ = [
    "CHUNK_BYTES",
    "Location",
    "iter_line_chunks",
    "list_objects",
    "local_output",
    "open_output",
    "parse_location",
    "read_bytes",
]

#: How many bytes are read from an S3 streaming body at a time.
CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Location:
    """A parsed input or output location: a local path, ``-`` or an S3 bucket/key."""

    uri: str
    bucket: str | None = None
    key: str | None = None
    size: int | None = None

    @property
    def is_s3(self) -> bool:
        return self.bucket is not None

    @property
    def is_stdio(self) -> bool:
        return self.uri == "-"

    @property
    def path(self) -> Path:
        if self.is_s3 or self.is_stdio:
            raise ManifestError(f"{self.uri} is not a local path")
        return Path(self.uri)

    @property
    def name(self) -> str:
        """The last path component (file name), for S3 and local locations alike."""
        return (self.key or self.uri).rstrip("/").rsplit("/", 1)[-1]

    def is_prefix(self) -> bool:
        """True for a local directory or an S3 URI ending in ``/`` (a folder of files, not one manifest)."""
        if self.is_s3:
            return not self.key or self.key.endswith("/")
        return not self.is_stdio and self.path.is_dir()


def parse_location(uri: str | os.PathLike[str]) -> Location:
    """Parse ``s3://bucket/key``, ``-`` or a local path; raises :class:`ManifestError` for a malformed S3 URI."""
    text = os.fspath(uri)
    if text.startswith("s3://"):
        rest = text[len("s3://") :]
        bucket, _, key = rest.partition("/")
        if not bucket:
            raise ManifestError(f"{text}: an S3 URI needs a bucket (s3://bucket/key)")
        return Location(text, bucket, key)
    return Location(text)


def _s3(client: Any | None) -> Any:
    if client is not None:
        return client
    import boto3

    return boto3.client("s3")


def _split_chunks(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Re-split a stream of byte chunks into lines (without the newline)."""
    pending = b""
    for chunk in chunks:
        if not chunk:
            continue
        data = pending + chunk if pending else chunk
        lines = data.split(b"\n")
        pending = lines.pop()
        yield from lines
    if pending:
        yield pending


@contextmanager
def iter_line_chunks(
    location: Location, *, s3_client: Any | None = None
) -> Iterator[tuple[Iterator[bytes], int | None]]:
    """Open ``location`` and yield ``(lines, total_bytes)``; ``lines`` yields raw lines, newline included or not.

    ``total_bytes`` is the object/file size when known (for progress bars), else ``None``.
    """
    if location.is_stdio:
        yield iter(sys.stdin.buffer), None
        return
    if location.is_s3:
        client = _s3(s3_client)
        with map_client_errors("GetObject"):
            response = client.get_object(Bucket=location.bucket, Key=location.key)
        body = response["Body"]
        try:
            yield _split_chunks(iter(lambda: body.read(CHUNK_BYTES), b"")), response.get("ContentLength")
        finally:
            body.close()
        return
    path = location.path
    try:
        handle = path.open("rb", buffering=CHUNK_BYTES)
    except OSError as exc:
        raise ManifestError(f"{path}: cannot open: {exc.strerror or exc}") from None
    with handle:
        yield iter(handle), os.fstat(handle.fileno()).st_size


def read_bytes(location: Location, *, s3_client: Any | None = None) -> bytes:
    """The whole content of a (small) file or S3 object: a JSON document such as an A2I ``output.json``."""
    if location.is_stdio:
        return sys.stdin.buffer.read()
    if location.is_s3:
        client = _s3(s3_client)
        with map_client_errors("GetObject"):
            body = client.get_object(Bucket=location.bucket, Key=location.key)["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()
    try:
        return location.path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"{location.uri}: cannot read: {exc.strerror or exc}") from None


def list_objects(location: Location, *, s3_client: Any | None = None) -> list[Location]:
    """Every file under a local directory or S3 prefix, sorted by key/path (recursive)."""
    if location.is_s3:
        client = _s3(s3_client)
        found: list[Location] = []
        with map_client_errors("ListObjectsV2"):
            paginator = client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=location.bucket, Prefix=location.key or ""):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if not key.endswith("/"):
                        uri = f"s3://{location.bucket}/{key}"
                        found.append(Location(uri, location.bucket, key, int(item.get("Size", 0))))
        return sorted(found, key=lambda loc: loc.key or "")
    root = location.path
    return [Location(str(p), size=p.stat().st_size) for p in sorted(root.rglob("*")) if p.is_file()]


@contextmanager
def open_output(uri: str | os.PathLike[str], *, s3_client: Any | None = None) -> Iterator[IO[bytes]]:
    """A binary file to write to ``uri``: a local file (parents created), stdout for ``-``, or an S3 object.

    The S3 object is only created when the block exits without an exception, so a failed export leaves no
    partial object behind.
    """
    location = parse_location(uri)
    if location.is_stdio:
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    if location.is_s3:
        if not location.key or location.key.endswith("/"):
            raise ManifestError(f"{location.uri}: an output object needs a key, not a prefix")
        with tempfile.TemporaryFile() as spool:
            yield spool
            spool.seek(0)
            client = _s3(s3_client)
            with map_client_errors(f"PutObject {location.uri}"):
                client.upload_fileobj(spool, location.bucket, location.key)
        return
    path = location.path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("wb", buffering=CHUNK_BYTES)
    except OSError as exc:
        raise ManifestError(f"{path}: cannot write: {exc.strerror or exc}") from None
    with handle:
        yield handle


@contextmanager
def local_output(uri: str | os.PathLike[str], *, s3_client: Any | None = None) -> Iterator[Path]:
    """A local path to write a file or directory tree to; for ``s3://`` the tree is uploaded on success.

    For an S3 URI the block gets a path inside a temporary directory named like the URI's last component; every
    file written under it is uploaded to the same relative key under the URI when the block exits cleanly.
    """
    location = parse_location(uri)
    if location.is_stdio:
        raise ManifestError("this format writes files; give --out a path or an s3:// URI, not -")
    if not location.is_s3:
        yield location.path
        return
    staging = Path(tempfile.mkdtemp(prefix="truthloop-export-"))
    try:
        target = staging / (location.name or "out")
        yield target
        client = _s3(s3_client)
        base = (location.key or "").rstrip("/")
        with map_client_errors(f"PutObject {location.uri}"):
            if target.is_file():
                client.upload_file(str(target), location.bucket, base)
            else:
                for path in sorted(target.rglob("*")):
                    if path.is_file():
                        key = (
                            f"{base}/{path.relative_to(target).as_posix()}"
                            if base
                            else path.relative_to(target).as_posix()
                        )
                        client.upload_file(str(path), location.bucket, key)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
