"""A response-shape guard: every raw response body a boto3 client receives, checked against botocore's model.

botocore's parser silently drops members it does not know and accepts wrong types, so a client-side test cannot
see them. The guard looks at the *raw* response (botocore's ``before-parse`` event hands over the status, the
headers and the body bytes before parsing) and checks it against the operation's output shape (success) or the
error shape (error):

* success: a JSON object; required members present and non-null; no member the shape does not have; types,
  enums, patterns, string and list lengths, numeric ranges, timestamps in the shape's wire format;
* error: the error code (``__type`` for JSON 1.1, the ``x-amzn-ErrorType`` header for REST-JSON); for an error
  the service model defines, its members only (``Message`` spelt as the model spells it) and its HTTP status; for a
  common error (``ValidationException`` on SageMaker, ``ThrottlingException``, …) only ``message``/``Message``.

Which endpoints are checked is a predicate over the client's endpoint URL: by default loopback ones (the local
backend); pass another predicate to point the same guard at a deployed service's endpoint.

    >>> guard = ShapeGuard()
    >>> guard.attach(boto3.client("sagemaker", endpoint_url="http://127.0.0.1:4566"))  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import binascii
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import botocore.session
from botocore.model import ListShape, MapShape, NoShapeFoundError, OperationModel, ServiceModel, Shape, StructureShape

try:  # AWS patterns use Java classes (\p{L}, \p{N}) that only the `regex` module understands
    import regex as _re
except ImportError:  # pragma: no cover - regex comes with cfn-lint in the dev extra
    import re as _re  # type: ignore[no-redef]

__all__ = ["Misfit", "ShapeGuard", "check_response", "loopback"]

#: services whose responses the guard checks
SERVICES = frozenset({"sagemaker", "sagemaker-a2i-runtime"})
_BODY_LOCATIONS = (None, "")
_NUMBER = (int, float)


def loopback(endpoint_url: str) -> bool:
    """True for the local backend's endpoints (127.0.0.1, ::1, localhost)."""
    host = urlsplit(endpoint_url).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1") or host.startswith("127.")


@dataclass(frozen=True)
class Misfit:
    """One way a response does not fit its shape."""

    service: str
    operation: str
    status: int
    where: str
    problem: str

    def __str__(self) -> str:
        return f"{self.service} {self.operation} (HTTP {self.status}) at {self.where or '<body>'}: {self.problem}"


_PATTERNS: dict[str, Any] = {}


def _pattern(text: str) -> Any:
    if text not in _PATTERNS:
        try:
            _PATTERNS[text] = _re.compile(text, _re.S)
        except _re.error:
            _PATTERNS[text] = None
    return _PATTERNS[text]


def _check_value(shape: Shape, value: Any, where: str, protocol: str, out: list[tuple[str, str]]) -> None:
    kind = shape.type_name
    meta = shape.metadata
    if value is None:
        out.append((where, "null where the model has a value (omit the member instead)"))
        return
    if isinstance(shape, StructureShape):
        _check_structure(shape, value, where, protocol, out, body=False)
        return
    if isinstance(shape, ListShape):
        if not isinstance(value, list):
            out.append((where, f"expected a list ({shape.name}), got {type(value).__name__}"))
            return
        _check_size(value, meta, where, out)
        for index, item in enumerate(value):
            _check_value(shape.member, item, f"{where}[{index}]", protocol, out)
        return
    if isinstance(shape, MapShape):
        if not isinstance(value, dict):
            out.append((where, f"expected a map ({shape.name}), got {type(value).__name__}"))
            return
        _check_size(value, meta, where, out)
        for key, item in value.items():
            _check_value(shape.key, key, f"{where}.<key {key!r}>", protocol, out)
            _check_value(shape.value, item, f"{where}.{key}", protocol, out)
        return
    if kind == "string":
        if not isinstance(value, str):
            out.append((where, f"expected a string ({shape.name}), got {type(value).__name__}"))
            return
        _check_size(value, meta, where, out)
        enum = getattr(shape, "enum", None) or []
        if enum and value not in enum:
            out.append((where, f"{value!r} is not one of the {shape.name} enum values {enum}"))
        pattern = meta.get("pattern")
        compiled = _pattern(pattern) if pattern else None
        if compiled is not None and compiled.fullmatch(value) is None:
            out.append((where, f"{value[:80]!r} does not match the {shape.name} pattern {pattern}"))
        return
    if kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            out.append((where, f"expected an integer ({shape.name}), got {type(value).__name__}"))
            return
        _check_range(value, meta, where, out)
        return
    if kind in ("float", "double"):
        if not isinstance(value, _NUMBER) or isinstance(value, bool):
            out.append((where, f"expected a number ({shape.name}), got {type(value).__name__}"))
            return
        _check_range(value, meta, where, out)
        return
    if kind == "boolean":
        if not isinstance(value, bool):
            out.append((where, f"expected a boolean ({shape.name}), got {type(value).__name__}"))
        return
    if kind == "timestamp":
        _check_timestamp(shape, value, where, out)
        return
    if kind == "blob":
        if not isinstance(value, str):
            out.append((where, f"expected base64 text ({shape.name}), got {type(value).__name__}"))
            return
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            out.append((where, f"{shape.name} is not valid base64"))
        return
    out.append((where, f"the guard does not know shape type {kind!r}"))


def _check_timestamp(shape: Shape, value: Any, where: str, out: list[tuple[str, str]]) -> None:
    fmt = shape.serialization.get("timestampFormat", "unixTimestamp").lower()
    if fmt == "iso8601":
        if not isinstance(value, str):
            out.append((where, f"expected an ISO-8601 timestamp string ({shape.name}), got {type(value).__name__}"))
            return
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            out.append((where, f"{value!r} is not an ISO-8601 timestamp"))
        return
    if not isinstance(value, _NUMBER) or isinstance(value, bool):
        out.append((where, f"expected epoch seconds ({shape.name}), got {type(value).__name__}"))


def _check_size(value: Any, meta: Mapping[str, Any], where: str, out: list[tuple[str, str]]) -> None:
    if "min" in meta and len(value) < meta["min"]:
        out.append((where, f"length {len(value)} is below the model's minimum {meta['min']}"))
    if "max" in meta and len(value) > meta["max"]:
        out.append((where, f"length {len(value)} is above the model's maximum {meta['max']}"))


def _check_range(value: float, meta: Mapping[str, Any], where: str, out: list[tuple[str, str]]) -> None:
    if "min" in meta and value < meta["min"]:
        out.append((where, f"{value} is below the model's minimum {meta['min']}"))
    if "max" in meta and value > meta["max"]:
        out.append((where, f"{value} is above the model's maximum {meta['max']}"))


def _check_structure(
    shape: StructureShape, value: Any, where: str, protocol: str, out: list[tuple[str, str]], *, body: bool
) -> None:
    if not isinstance(value, dict):
        out.append((where, f"expected an object ({shape.name}), got {type(value).__name__}"))
        return
    members = {
        member.serialization.get("name", name): (name, member)
        for name, member in shape.members.items()
        if not body or member.serialization.get("location") in _BODY_LOCATIONS
    }
    for key in value:
        if key not in members:
            out.append((_join(where, key), f"unknown member: {shape.name} has no {key!r}"))
    for wire_name, (name, member) in members.items():
        if name in shape.required_members and value.get(wire_name) is None:
            out.append((_join(where, wire_name), f"required member of {shape.name} is missing"))
        elif wire_name in value:
            _check_value(member, value[wire_name], _join(where, wire_name), protocol, out)


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


def _error_code(protocol: str, headers: Mapping[str, str], body: Any) -> str | None:
    raw = None
    for key, value in headers.items():
        if key.lower() == "x-amzn-errortype":
            raw = value
    if raw is None and isinstance(body, dict):
        raw = body.get("__type") or body.get("code")
    if not raw:
        return None
    return str(raw).split(":", 1)[0].rsplit("#", 1)[-1]


def _error_shape(model: ServiceModel, code: str) -> StructureShape | None:
    try:
        shape = model.shape_for(code)
    except NoShapeFoundError:
        return None
    return shape if isinstance(shape, StructureShape) and shape.metadata.get("exception") else None


def check_response(
    operation: OperationModel, status: int, headers: Mapping[str, str], body: bytes
) -> list[tuple[str, str]]:
    """``(where, problem)`` for every way the raw response does not fit the model; empty when it fits."""
    out: list[tuple[str, str]] = []
    protocol = operation.service_model.resolved_protocol
    try:
        parsed = json.loads(body) if body.strip() else {}
    except ValueError:
        return [("", f"the body is not JSON: {body[:80]!r}")]
    if status < 300:
        shape = operation.output_shape
        if shape is None:
            if parsed != {}:
                out.append(("", f"the operation has no output, the body is {body[:80]!r}"))
        elif isinstance(shape, StructureShape):
            _check_structure(shape, parsed, "", protocol, out, body=True)
        return out
    if not isinstance(parsed, dict):
        return [("", f"an error body must be a JSON object, got {type(parsed).__name__}")]
    code = _error_code(protocol, headers, parsed)
    if code is None:
        return [("", "the error names no code (__type / x-amzn-ErrorType)")]
    if status < 400:
        out.append(("", f"error {code} with a non-error HTTP status {status}"))
    error_shape = _error_shape(operation.service_model, code)
    extra = {"__type"} if protocol == "json" else set()
    if error_shape is None:
        for key, value in parsed.items():
            if key in extra:
                continue
            if key not in ("message", "Message"):
                out.append((key, f"unknown member in the body of the unmodelled error {code}"))
            elif not isinstance(value, str):
                out.append((key, f"the error message must be a string, got {type(value).__name__}"))
        return out
    expected_status = error_shape.metadata.get("error", {}).get("httpStatusCode")
    if expected_status is not None and expected_status != status:
        out.append(("", f"{code} is HTTP {expected_status} in the model, the response has {status}"))
    _check_structure(error_shape, {k: v for k, v in parsed.items() if k not in extra}, "", protocol, out, body=True)
    return out


@dataclass
class ShapeGuard:
    """Collects misfits of every response the attached clients receive (thread-safe)."""

    endpoints: Callable[[str], bool] = loopback
    services: frozenset[str] = SERVICES
    checked: int = 0
    operations: dict[str, int] = field(default_factory=dict)
    misfits: list[Misfit] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def attach(self, client: Any) -> None:
        """Check the responses ``client`` receives, when its service and endpoint are ones the guard watches."""
        if client.meta.service_model.service_name in self.services and self.endpoints(client.meta.endpoint_url):
            client.meta.events.register("before-parse", self._on_response, unique_id=self._handler_id)

    def detach(self, client: Any) -> None:
        """Stop checking ``client``'s responses."""
        client.meta.events.unregister("before-parse", unique_id=self._handler_id)

    @property
    def _handler_id(self) -> str:
        return f"truthloop-shape-guard-{id(self)}"

    def _on_response(self, operation_model: OperationModel, response_dict: Mapping[str, Any], **_: Any) -> None:
        body = response_dict.get("body", b"")
        if not isinstance(body, (bytes, bytearray)):  # a streaming body: nothing in these services streams
            return
        status = int(response_dict["status_code"])
        problems = check_response(operation_model, status, response_dict["headers"], bytes(body))
        service = operation_model.service_model.service_name
        with self._lock:
            self.checked += 1
            self.operations[f"{service}:{operation_model.name}"] = (
                self.operations.get(f"{service}:{operation_model.name}", 0) + 1
            )
            self.misfits.extend(Misfit(service, operation_model.name, status, w, p) for w, p in problems)

    @contextmanager
    def installed(self) -> Iterator[ShapeGuard]:
        """Attach the guard to every botocore client created inside the block (boto3's default session too)."""
        original = botocore.session.Session.create_client
        guard = self

        def create_client(session: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            guard.attach(client)
            return client

        botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
        try:
            yield self
        finally:
            botocore.session.Session.create_client = original  # type: ignore[method-assign]
