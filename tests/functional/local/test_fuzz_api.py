"""Seeded fuzzing of every operation the emulator serves: bad input gets an AWS-shaped 4xx, never a 5xx.

S3 (moto behind the backend's gateway) gets signed requests with every subresource, method and malformed body.

Each request is built from the operation's botocore input shape, with values drawn from valid ones and from what
broke the emulator before (lone surrogates, ``1e308`` timestamps, ``null`` list members, wrong types, huge
numbers), plus raw bodies that are not JSON at all. The admin endpoints get malformed bodies and queries too.
"""

from __future__ import annotations

import json
import random
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

from truthloop.local import LocalBackend
from truthloop.local.protocol import A2I_SERVICE, SAGEMAKER_SERVICE, service_model

#: the service is not the subject here (see conftest.pytest_generate_tests)
LOCAL_ONLY = "it fuzzes the local backend's admin API and reads its in-process operation table too"

SEED = 20261204
AUTH = {
    "authorization": "AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/sagemaker/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=00",
    "x-amz-date": "20260101T000000Z",
}
NASTY_STRINGS = ["\ud800", "a\udfffb", "", " ", "x" * 5000, "💥", "\x00", "arn:aws:sagemaker:::/", "%2F..", "1e308"]
NASTY_NUMBERS = [1e308, -1e308, 10**40, -1, 0, 2**63, 1.5]
NASTY_TIMESTAMPS = [1e308, -1e308, "1e308", "nan", "not-a-date", "9999-99-99T99:99:99Z", True, [], {}]
RAW_BODIES = [b"{", b"[]", b"null", b'"x"', b"\xff\xfe", b'{"a": NaN}', b'{"a": 1e999}', b"[" * 5000 + b"]" * 5000]


def _value(shape: Shape, rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.06:
        return None
    if roll < 0.12:
        return rng.choice([[], {}, "x", 1, True, [None], {"k": None}])  # the wrong type
    kind = shape.type_name
    if isinstance(shape, StructureShape):
        if depth > 4:
            return {}
        members = list(shape.members.items())
        return {
            name: _value(member, rng, depth + 1)
            for name, member in members
            if name in shape.required_members or rng.random() < 0.5
        }
    if isinstance(shape, ListShape):
        return (
            [None] if rng.random() < 0.2 else [_value(shape.member, rng, depth + 1) for _ in range(rng.randint(0, 3))]
        )
    if isinstance(shape, MapShape):
        return {rng.choice([*NASTY_STRINGS[:4], "k"]): _value(shape.value, rng, depth + 1) for _ in range(2)}
    if kind == "timestamp":
        return rng.choice([*NASTY_TIMESTAMPS, 1767225600, "2026-01-01T00:00:00Z"])
    if kind in ("integer", "long", "float", "double"):
        return rng.choice(NASTY_NUMBERS)
    if kind == "boolean":
        return rng.choice([True, False, "true"])
    if kind == "blob":
        return rng.choice(["aGk=", "!!!", "\ud800"])
    enum = getattr(shape, "enum", None)
    if enum and rng.random() < 0.5:
        return rng.choice(enum)
    return rng.choice([*NASTY_STRINGS, "valid-name-1", f"arn:aws:sagemaker:us-east-1:123456789012:x/{rng.random()}"])


def _dumps(value: Any) -> bytes:
    # ensure_ascii keeps lone surrogates as \\ud800 escapes, as a hostile client sends them
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode("ascii")


def _body(operation: OperationModel, rng: random.Random) -> bytes:
    if rng.random() < 0.08:
        return rng.choice(RAW_BODIES)
    shape = operation.input_shape
    return _dumps(_value(shape, rng) if shape is not None else {})


def _sagemaker_request(backend: LocalBackend, rng: random.Random, names: list[str]) -> httpx.Request:
    model = service_model(SAGEMAKER_SERVICE)
    name = rng.choice(names)
    headers = {**AUTH, "x-amz-target": f"SageMaker.{name}", "content-type": "application/x-amz-json-1.1"}
    return httpx.Request(
        "POST", f"{backend.endpoint_url}/", headers=headers, content=_body(model.operation_model(name), rng)
    )


def _a2i_request(backend: LocalBackend, rng: random.Random) -> httpx.Request:
    model = service_model(A2I_SERVICE)
    operation = model.operation_model(rng.choice(list(model.operation_names)))
    uri = operation.http["requestUri"].split("?", 1)[0]
    shape = operation.input_shape
    query: dict[str, str] = {}
    body: dict[str, Any] = {}
    if shape is not None:
        assert isinstance(shape, StructureShape)
        for member_name, member in shape.members.items():
            value = _value(member, rng)
            location = member.serialization.get("location")
            wire = member.serialization.get("name", member_name)
            if location == "uri":
                text = value if isinstance(value, str) and value else "loop-name"
                uri = uri.replace("{" + wire + "}", quote(text.encode("utf-8", "surrogatepass"), safe=""))
            elif location == "querystring":
                if value is not None:
                    query[wire] = str(value)
            elif value is not None or rng.random() < 0.5:
                body[member_name] = value
    content = rng.choice(RAW_BODIES) if rng.random() < 0.08 else _dumps(body)
    return httpx.Request(
        operation.http["method"],
        f"{backend.endpoint_url}{uri}",
        params={k: v.encode("utf-8", "surrogatepass").decode("utf-8", "replace") for k, v in query.items()},
        headers={**AUTH, "content-type": "application/json"},
        content=content if operation.http["method"] in ("POST", "PUT") else b"",
    )


def _admin_request(backend: LocalBackend, rng: random.Random) -> httpx.Request:
    path, method = rng.choice(
        [("/events", "GET"), ("/config", "POST"), ("/clock", "POST"), ("/workers", "POST"), ("/status", "GET")]
    )
    params = {
        "after": rng.choice(
            ["x", "-1", "1e308", "9" * 40, "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace")]
        )
    }
    content = rng.choice(
        [
            *RAW_BODIES,
            _dumps({"advance_seconds": rng.choice([*NASTY_NUMBERS, "x", None, float("nan")])}),
            _dumps({"name": rng.choice([*NASTY_STRINGS, 1, None]), "simulated": "yes"}),
            _dumps({"faults": rng.choice([{"throttle_rate": "x"}, {"throttle_rate": 5}, {"operations": 3}, [], "x"])}),
            _dumps({"max_active_human_loops": rng.choice(["x", 1e308, -5, [], None])}),
            _dumps({"duplicate_events": {"x": 1}}),
        ]
    )
    return httpx.Request(
        method,
        f"{backend.endpoint_url}/_truthloop{path}",
        params=params if method == "GET" else None,
        headers={"authorization": f"Bearer {backend.admin_token}", "content-type": "application/json"},
        content=content if method == "POST" else b"",
    )


S3_SUBRESOURCES = ["", "tagging", "delete", "acl", "versioning", "uploads", "uploadId=x&partNumber=1", "cors", "policy"]
S3_SUBRESOURCES += ["lifecycle", "list-type=2&max-keys=-1", "location", "encryption", "notification", "object-lock"]
S3_SUBRESOURCES += ["retention", "legal-hold", "attributes", "select&select-type=2", "website", "replication"]
S3_BODIES = [b"", b"<", b"<x/>", b"not xml", b"<Delete><Object></Object></Delete>", b"\xff\xfe", b"<Tagging/>"]


def _s3_request(backend: LocalBackend, rng: random.Random) -> httpx.Request:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    method = rng.choice(["GET", "PUT", "POST", "DELETE", "HEAD"])
    path = rng.choice(["/fuzz-bucket", "/fuzz-bucket/k", "/fuzz-bucket/new", "/no-such-bucket", "/fuzz-bucket/a%2Fb"])
    sub = rng.choice(S3_SUBRESOURCES)
    url = f"{backend.endpoint_url}{path}{'?' + sub if sub else ''}"
    body = rng.choice(S3_BODIES)
    signed = AWSRequest(method=method, url=url, data=body)
    SigV4Auth(Credentials("x", "x"), "s3", "us-east-1").add_auth(signed)
    return httpx.Request(method, url, headers=dict(signed.headers.items()), content=body)


@pytest.mark.parametrize(("kind", "count"), [("sagemaker", 1500), ("a2i", 800), ("admin", 300), ("s3", 600)])
def test_fuzzed_requests_never_get_a_5xx(backend: LocalBackend, kind: str, count: int) -> None:
    # GIVEN a seeded stream of mutated requests for every emulated operation of one API
    rng = random.Random(f"{SEED}-{kind}")
    names = sorted(backend.sagemaker.operations)
    if kind == "s3":
        backend.s3_client().create_bucket(Bucket="fuzz-bucket")
        backend.s3_client().put_object(Bucket="fuzz-bucket", Key="k", Body=b"v")
    server_errors: list[str] = []
    with httpx.Client(timeout=30) as client:
        for _ in range(count):
            if kind == "sagemaker":
                request = _sagemaker_request(backend, rng, names)
            elif kind == "a2i":
                request = _a2i_request(backend, rng)
            elif kind == "s3":
                request = _s3_request(backend, rng)
            else:
                request = _admin_request(backend, rng)
            # WHEN each is sent
            response = client.send(request)
            # THEN none is answered with a 5xx, and every AWS error is JSON naming its type
            if response.status_code >= 500:
                server_errors.append(
                    f"{request.method} {request.url} {request.content[:300]!r} -> {response.text[:300]}"
                )
            elif response.status_code >= 400 and kind not in ("admin", "s3") and request.method != "HEAD":
                error = response.json()
                assert error.get("__type") or response.headers.get("x-amzn-errortype"), response.text
        # AND the server is alive afterwards
        assert client.get(f"{backend.endpoint_url}/_truthloop/health").json() == {"status": "ok"}
    assert server_errors == []
