"""The local S3 on the API port: one endpoint for every client, signed requests only, no moto admin, no
cross-site requests, loopback ``Host`` only, and every acknowledged write on disk before the response."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.functional.local.helpers import unique
from truthloop.local import LocalBackend
from truthloop.local.s3 import DurableS3

#: the service is not the subject here (see conftest.pytest_generate_tests)
LOCAL_ONLY = "it is about the local backend's own S3 gateway and its files on disk"


def _signed_headers(method: str, url: str, service: str, body: bytes = b"") -> dict[str, str]:
    request = AWSRequest(method=method, url=url, data=body)
    SigV4Auth(Credentials("x", "x"), service, "us-east-1").add_auth(request)
    return dict(request.headers.items())


@pytest.fixture
def only_endpoint_url(backend: LocalBackend, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in backend.client_env():
        if key.startswith("AWS_ENDPOINT_URL_"):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", backend.endpoint_url)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")


@pytest.mark.usefixtures("only_endpoint_url")
def test_aws_endpoint_url_alone_configures_s3_sagemaker_and_a2i() -> None:
    # GIVEN only AWS_ENDPOINT_URL (no per-service variable)
    s3 = boto3.client("s3")
    sm = boto3.client("sagemaker")
    a2i = boto3.client("sagemaker-a2i-runtime")
    bucket = unique("one-endpoint")
    # WHEN each client is used
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    teams = sm.list_workteams()
    with pytest.raises(a2i.exceptions.ResourceNotFoundException):
        a2i.describe_human_loop(HumanLoopName=unique("missing"))
    # THEN all three reached the backend
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    assert "Workteams" in teams
    assert s3.meta.endpoint_url == sm.meta.endpoint_url == a2i.meta.endpoint_url


def test_client_env_names_one_endpoint_for_every_service(backend: LocalBackend) -> None:
    env = backend.client_env()
    endpoints = {value for key, value in env.items() if key.startswith("AWS_ENDPOINT_URL")}
    assert endpoints == {backend.endpoint_url}
    assert {"AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SAGEMAKER_A2I_RUNTIME"} <= set(env)


@pytest.mark.parametrize(
    ("headers", "query"),
    [
        pytest.param({"origin": "http://evil.example"}, "", id="cross-site-form-post"),
        pytest.param({}, "", id="same-origin-unsigned"),
        pytest.param(
            {"origin": "http://evil.example"},
            "?X-Amz-Credential=x%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Signature=00",
            id="cross-site-presigned-looking",
        ),
        pytest.param(
            {"sec-fetch-site": "cross-site"},
            "?X-Amz-Credential=x%2F20260101%2Fus-east-1%2Fs3%2Faws4_request",
            id="fetch-metadata",
        ),
    ],
)
def test_moto_admin_reset_is_never_reachable(
    backend: LocalBackend, s3: Any, bucket: str, headers: dict[str, str], query: str
) -> None:
    # GIVEN a bucket with an object
    s3.put_object(Bucket=bucket, Key="keep", Body=b"kept")
    # WHEN a page (or anyone) posts to moto's reset route on the API port
    response = httpx.post(f"{backend.endpoint_url}/moto-api/reset{query}", headers=headers)
    # THEN it is refused and nothing was reset
    assert response.status_code in (400, 403, 404)
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"kept"


def test_signed_request_to_moto_admin_route_is_not_routed(backend: LocalBackend, s3: Any, bucket: str) -> None:
    # GIVEN a bucket with an object and a correctly signed S3 request aimed at moto's admin route
    s3.put_object(Bucket=bucket, Key="keep", Body=b"kept")
    url = f"{backend.endpoint_url}/moto-api/reset"
    # WHEN it is sent
    response = httpx.post(url, headers=_signed_headers("POST", url, "s3"))
    # THEN it is not served
    assert response.status_code == 404
    assert s3.get_object(Bucket=bucket, Key="keep")["Body"].read() == b"kept"


def test_cross_origin_s3_request_is_refused_and_cors_is_not_granted(
    backend: LocalBackend, s3: Any, bucket: str
) -> None:
    # GIVEN an object
    s3.put_object(Bucket=bucket, Key="secret", Body=b"private")
    url = f"{backend.endpoint_url}/{bucket}/secret"
    # WHEN it is read with a signed request from another origin, and from a loopback origin
    foreign = httpx.get(url, headers={**_signed_headers("GET", url, "s3"), "origin": "https://evil.example"})
    local = httpx.get(url, headers={**_signed_headers("GET", url, "s3"), "origin": "http://127.0.0.1:8000"})
    # THEN the foreign origin gets 403 and nothing, the loopback one the object without a blanket CORS grant
    assert foreign.status_code == 403 and b"private" not in foreign.content
    assert local.status_code == 200 and local.content == b"private"
    assert "access-control-allow-origin" not in local.headers


@pytest.mark.parametrize("service", ["s3", None])
def test_foreign_host_header_is_refused_on_the_api_port(
    backend: LocalBackend, bucket: str, service: str | None
) -> None:
    # GIVEN a request (signed for S3, or unsigned) naming a non-loopback host: DNS rebinding
    url = f"{backend.endpoint_url}/{bucket}"
    headers = _signed_headers("GET", url, service) if service else {}
    # WHEN it is sent
    response = httpx.get(url, headers={**headers, "host": "evil.example:4566"})
    # THEN it is refused before any service sees it
    assert response.status_code == 400


def test_unsigned_s3_request_is_not_served(backend: LocalBackend, s3: Any, bucket: str) -> None:
    # GIVEN an object
    s3.put_object(Bucket=bucket, Key="obj", Body=b"data")
    # WHEN it is fetched without a SigV4 signature
    response = httpx.get(f"{backend.endpoint_url}/{bucket}/obj")
    # THEN S3 does not answer it
    assert response.status_code >= 400 and response.content != b"data"


def test_acknowledged_write_is_on_disk_before_the_response(backend: LocalBackend, s3: Any, bucket: str) -> None:
    # GIVEN a write the local S3 has acknowledged
    s3.put_object(Bucket=bucket, Key="a/b.json", Body=b'{"x": 1}', ContentType="application/json")
    # WHEN the data directory is read into a fresh store (no moto involved)
    store = DurableS3(backend.config.data_dir / "s3")
    stored = store.read(bucket, "a/b.json")
    # THEN the object and its content type are already there
    assert stored is not None
    assert stored[1] == b'{"x": 1}' and stored[0]["metadata"]["content-type"] == "application/json"


@pytest.mark.parametrize("signature_version", ["s3v4", "s3"])
def test_presigned_urls_are_served(backend: LocalBackend, bucket: str, signature_version: str) -> None:
    # GIVEN an object and a presigned GET URL of either signature kind boto3 makes
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=backend.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(signature_version=signature_version),
    )
    client.put_object(Bucket=bucket, Key="img.png", Body=b"PNG", ContentType="image/png")
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "img.png"}, ExpiresIn=60)
    # WHEN a page on the backend's own origin loads it (an <img>), and a page elsewhere tries
    same = httpx.get(url, headers={"sec-fetch-site": "same-origin"})
    foreign = httpx.get(url, headers={"sec-fetch-site": "cross-site", "origin": "https://evil.example"})
    # THEN the first gets the object, the second nothing
    assert (same.status_code, same.content, same.headers["content-type"]) == (200, b"PNG", "image/png")
    assert foreign.status_code == 403


def test_a_multipart_upload_is_on_disk_once_completed(backend: LocalBackend, s3: Any, bucket: str) -> None:
    # GIVEN a 6 MiB object uploaded in two parts (boto3's managed transfer)
    import io

    from boto3.s3.transfer import TransferConfig

    body = bytes(range(256)) * (6 * 4096)
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    # WHEN
    s3.upload_fileobj(io.BytesIO(body), bucket, "big.bin", Config=config)
    # THEN the assembled object (not its parts) is what the data directory holds
    stored = DurableS3(backend.config.data_dir / "s3").read(bucket, "big.bin")
    assert stored is not None and stored[1] == body


def test_a_snapshot_from_an_older_version_is_imported_once(tmp_path: Path) -> None:
    # GIVEN a data directory holding the 30-second snapshot layout of earlier versions
    import hashlib
    import json

    from truthloop.local import BackendConfig

    legacy = tmp_path / "s3"
    key = "a2i/loop/output.json"
    (legacy / "objects" / "old-bucket").mkdir(parents=True)
    (legacy / "objects" / "old-bucket" / hashlib.sha256(key.encode()).hexdigest()).write_bytes(b'{"kept": true}')
    index = {"buckets": {"old-bucket": {key: {"content_type": "application/json"}}}}
    (legacy / "index.json").write_text(json.dumps(index), encoding="utf-8")
    # WHEN a backend starts on it
    # (reset_s3=False: moto is shared with this module's running backend)
    with LocalBackend(BackendConfig(port=0, data_dir=tmp_path, workers=0, reset_s3=False)) as started:
        got = started.s3_client().get_object(Bucket="old-bucket", Key=key)
        # THEN the objects are served, written in the new layout, and the old files are gone
        assert (got["Body"].read(), got["ContentType"]) == (b'{"kept": true}', "application/json")
    assert not (legacy / "index.json").exists() and not (legacy / "objects").exists()
    stored = DurableS3(legacy).read("old-bucket", key)
    assert stored is not None and stored[1] == b'{"kept": true}'
