"""S3 for the local backend: moto's server on its own loopback port, snapshotted to the data directory.

moto keeps objects in memory, so the backend copies every bucket to ``<data-dir>/s3/`` on a clean shutdown (and
periodically while running) and loads the copy back at start: manifests, templates and outputs survive a restart
like the SQLite state does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Any, Literal

import boto3
import httpx
from botocore.config import Config

__all__ = ["S3Server", "moto_client", "parse_s3_uri", "s3_client"]

log = logging.getLogger("truthloop.local.s3")

_DUMMY = {"aws_access_key_id": "truthloop-local", "aws_secret_access_key": "truthloop-local"}


def _file_name(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` → ``(bucket, key)``; raises ValueError naming the URI otherwise."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, key = uri[5:].partition("/")
    if not bucket:
        raise ValueError(f"S3 URI has no bucket: {uri!r}")
    return bucket, key


def moto_client(
    service: Literal["s3", "dynamodb"], endpoint_url: str, region: str, config: Config | None = None
) -> Any:
    """A boto3 client of ``service`` for the local moto endpoint (dummy credentials, standard retries)."""
    session = boto3.session.Session(
        region_name=region,
        aws_access_key_id=_DUMMY["aws_access_key_id"],
        aws_secret_access_key=_DUMMY["aws_secret_access_key"],
    )
    base = Config(retries={"max_attempts": 3, "mode": "standard"})
    return session.client(service, endpoint_url=endpoint_url, config=base if config is None else base.merge(config))


def s3_client(endpoint_url: str, region: str) -> Any:
    """A boto3 S3 client for the local endpoint (path-style addressing, dummy credentials)."""
    return moto_client("s3", endpoint_url, region, Config(s3={"addressing_style": "path"}))


class S3Server:
    """moto's threaded server bound to 127.0.0.1, plus snapshot/restore of its buckets."""

    def __init__(self, *, host: str, port: int, region: str, snapshot_dir: Path | None, reset: bool = True) -> None:
        self._reset = reset
        self._host = host
        self._port = port
        self._region = region
        self._snapshot_dir = snapshot_dir
        self._server: Any = None
        self.url = ""
        self._lock = threading.Lock()

    def start(self) -> str:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request otherwise
        self._server = ThreadedMotoServer(ip_address=self._host, port=self._port, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        # moto keeps its state per process: a backend starts from its own snapshot, not from an earlier backend's
        if self._reset:
            httpx.post(f"{self.url}/moto-api/reset", timeout=30).raise_for_status()
        if self._snapshot_dir is not None:
            self.restore()
        return self.url

    def stop(self) -> None:
        if self._server is None:
            return
        if self._snapshot_dir is not None:
            try:
                self.snapshot()
            except Exception:  # never lose the shutdown over a snapshot problem
                log.exception("S3 snapshot failed")
        self._server.stop()
        self._server = None

    def client(self) -> Any:
        return s3_client(self.url, self._region)

    # ------------------------------------------------------------------ snapshot
    def snapshot(self) -> int:
        """Copy every bucket and object to the snapshot directory (replacing the previous copy)."""
        if self._snapshot_dir is None or not self.url:
            return 0
        with self._lock:
            client = self.client()
            staging = self._snapshot_dir.with_name(self._snapshot_dir.name + ".tmp")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            count = 0
            index: dict[str, Any] = {"buckets": {}}
            for bucket in client.list_buckets().get("Buckets", []):
                name = bucket["Name"]
                objects: dict[str, Any] = {}
                paginator = client.get_paginator("list_objects_v2")
                for page in paginator.paginate(Bucket=name):
                    for item in page.get("Contents", []):
                        key = item["Key"]
                        response = client.get_object(Bucket=name, Key=key)
                        target = staging / "objects" / name / _file_name(key)
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_bytes(response["Body"].read())
                        objects[key] = {"content_type": response.get("ContentType", "binary/octet-stream")}
                        count += 1
                index["buckets"][name] = objects
            (staging / "index.json").write_text(json.dumps(index), encoding="utf-8")
            shutil.rmtree(self._snapshot_dir, ignore_errors=True)
            os.replace(staging, self._snapshot_dir)
            return count

    def restore(self) -> int:
        """Load the snapshot (if any) into the running server."""
        if self._snapshot_dir is None:
            return 0
        index_path = self._snapshot_dir / "index.json"
        if not index_path.is_file():
            return 0
        index = json.loads(index_path.read_text(encoding="utf-8"))
        client = self.client()
        count = 0
        for name, objects in index.get("buckets", {}).items():
            try:
                if self._region == "us-east-1":
                    client.create_bucket(Bucket=name)
                else:
                    client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self._region})
            except client.exceptions.BucketAlreadyOwnedByYou:
                pass
            for key, meta in objects.items():
                path = self._snapshot_dir / "objects" / name / _file_name(key)
                if not path.is_file():
                    continue
                client.put_object(Bucket=name, Key=key, Body=path.read_bytes(), ContentType=meta["content_type"])
                count += 1
        return count
