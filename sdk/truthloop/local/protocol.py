"""The AWS wire protocols the emulator speaks, driven by botocore's own service models.

* ``sagemaker`` is JSON 1.1: ``POST /`` with ``X-Amz-Target: SageMaker.<Operation>``; errors carry ``__type``.
* ``sagemaker-a2i-runtime`` is REST-JSON: the operation follows from method and path
  (``POST /human-loops``, ``GET /human-loops/{HumanLoopName}``, …); errors carry the ``x-amzn-ErrorType`` header.

Both are signed with SigV4 under the signing name ``sagemaker``, so the credential scope alone cannot tell them
apart: the ``X-Amz-Target`` header (JSON 1.1) and the path (REST-JSON) do. Requests are validated against the
model's constraints (required, min/max, pattern, enum) and rejected with AWS's own message format::

    1 validation error detected: Value 'Bad_Name' at 'humanLoopName' failed to satisfy constraint: Member must
    satisfy regular expression pattern: ^[a-z0-9](-*[a-z0-9])*$

Responses are serialised from plain Python values (``datetime`` for timestamps) following the output shape, so
timestamps come out as epoch seconds (JSON 1.1) or ISO-8601 strings (the A2I model's ``iso8601`` format).
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, unquote

from botocore.model import (
    ListShape,
    MapShape,
    NoShapeFoundError,
    OperationModel,
    ServiceModel,
    Shape,
    StructureShape,
)

from truthloop.local.errors import ApiError, validation

__all__ = [
    "A2I_SERVICE",
    "SAGEMAKER_SERVICE",
    "AuthInfo",
    "DecodedRequest",
    "RestRoute",
    "decode_json11",
    "decode_rest_json",
    "encode_error",
    "encode_output",
    "find_rest_route",
    "parse_authorization",
    "service_model",
    "validate_input",
]

SAGEMAKER_SERVICE = "sagemaker"
A2I_SERVICE = "sagemaker-a2i-runtime"

_SIGV4_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<akid>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/,\s]+)/(?P<service>[^/,\s]+)"
    r"/aws4_request\s*,\s*SignedHeaders=(?P<headers>[^,\s]+)\s*,\s*Signature=(?P<sig>[0-9a-fA-F]+)\s*$"
)


@functools.cache
def service_model(name: str) -> ServiceModel:
    """botocore's model for ``sagemaker`` or ``sagemaker-a2i-runtime`` (loaded once per process)."""
    import botocore.session

    session = botocore.session.get_session()
    return session.get_service_model(name)


# ----------------------------------------------------------------------------------------------------- auth


@dataclass(frozen=True)
class AuthInfo:
    """What a SigV4 ``Authorization`` header says about the caller (the signature itself is not checked)."""

    access_key_id: str
    region: str
    service: str


def parse_authorization(headers: Mapping[str, str]) -> AuthInfo:
    """Accept any well-formed SigV4 header; reject unsigned or malformed requests as AWS does."""
    value = headers.get("authorization")
    if not value:
        raise ApiError("MissingAuthenticationTokenException", "Missing Authentication Token", 403)
    match = _SIGV4_RE.match(value.strip())
    if match is None:
        raise ApiError(
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters "
            "(AWS4-HMAC-SHA256).",
            403,
        )
    if not headers.get("x-amz-date") and "x-amz-date" not in match["headers"].split(";") and not headers.get("date"):
        raise ApiError("IncompleteSignatureException", "Authorization header requires existence of X-Amz-Date.", 403)
    return AuthInfo(access_key_id=match["akid"], region=match["region"], service=match["service"])


# ----------------------------------------------------------------------------------------------------- requests


@dataclass(frozen=True)
class DecodedRequest:
    """An operation name and its input parameters in botocore's Python form."""

    operation: str
    params: dict[str, Any]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        value = json.loads(body, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise ApiError("SerializationException", "Request body is not valid JSON", 400) from None
    if not isinstance(value, dict):
        raise ApiError("SerializationException", "Request body must be a JSON object", 400)
    if b"\\u" in body and _has_lone_surrogate(value):
        # ``"\ud800"`` is valid JSON but no Unicode text: it could be neither stored nor echoed back
        raise ApiError("SerializationException", "Request body contains an unpaired UTF-16 surrogate escape", 400)
    return value


def _has_lone_surrogate(value: Any) -> bool:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def decode_json11(model: ServiceModel, target: str, body: bytes) -> DecodedRequest:
    """Decode a JSON 1.1 request (``X-Amz-Target: <prefix>.<Operation>``)."""
    prefix = model.metadata.get("targetPrefix", "")
    if not target.startswith(prefix + "."):
        raise ApiError("UnknownOperationException", f"Unknown target {target!r}", 400)
    operation = target[len(prefix) + 1 :]
    if operation not in model.operation_names:
        raise ApiError("UnknownOperationException", f"Unknown operation {operation!r}", 400)
    op = model.operation_model(operation)
    raw = _json_body(body)
    params = _from_wire(op.input_shape, raw, "json") if op.input_shape is not None else {}
    return DecodedRequest(operation, params if isinstance(params, dict) else {})


@dataclass(frozen=True)
class RestRoute:
    """One REST-JSON operation's method and path template compiled to a regex."""

    operation: str
    method: str
    regex: re.Pattern[str]
    labels: tuple[str, ...]


@functools.cache
def _rest_routes(service: str) -> tuple[RestRoute, ...]:
    model = service_model(service)
    routes = []
    for name in model.operation_names:
        http = model.operation_model(name).http
        uri = http["requestUri"].split("?", 1)[0]
        labels = tuple(re.findall(r"\{([^}+]+)\+?\}", uri))
        pattern = re.sub(r"\{[^}+]+\+\}", "(.+)", uri)
        pattern = re.sub(r"\{[^}]+\}", "([^/]+)", pattern)
        routes.append(RestRoute(name, http["method"], re.compile(f"^{pattern}$"), labels))
    # literal routes (``/human-loops/stop``) win over templated ones (``/human-loops/{name}``)
    return tuple(sorted(routes, key=lambda r: len(r.labels)))


def find_rest_route(service: str, method: str, path: str) -> tuple[RestRoute, dict[str, str]] | None:
    """The REST-JSON operation serving ``method path`` and its URI labels; ``None`` when none matches."""
    for route in _rest_routes(service):
        if route.method != method:
            continue
        match = route.regex.match(path)
        if match is not None:
            return route, {label: unquote(value) for label, value in zip(route.labels, match.groups())}
    return None


def decode_rest_json(
    model: ServiceModel, route: RestRoute, labels: Mapping[str, str], query: str, body: bytes
) -> DecodedRequest:
    """Decode a REST-JSON request: URI labels, query string and JSON body members."""
    op = model.operation_model(route.operation)
    shape = op.input_shape
    if shape is None:
        return DecodedRequest(route.operation, {})
    assert isinstance(shape, StructureShape)
    query_items = dict(parse_qsl(query, keep_blank_values=True))
    raw_body = _json_body(body) if body else {}
    params: dict[str, Any] = {}
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire_name = member.serialization.get("name", name)
        if location == "uri":
            if wire_name in labels:
                params[name] = labels[wire_name]
        elif location == "querystring":
            if wire_name in query_items:
                params[name] = _from_query(member, query_items[wire_name], wire_name)
        elif location in ("header", "headers", "statusCode"):
            continue
        elif name in raw_body:
            params[name] = _from_wire(member, raw_body[name], "json")
    return DecodedRequest(route.operation, params)


def _from_epoch(value: float, where: str) -> datetime:
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise validation(
            f"Value '{value}' at '{where}' failed to satisfy constraint: Member must be a timestamp between the years "
            f"1 and 9999"
        ) from None


def _parse_timestamp(value: Any, where: str) -> datetime:
    if isinstance(value, bool):
        raise validation(f"Value '{value}' at '{where}' failed to satisfy constraint: Member must be a timestamp")
    if isinstance(value, (int, float)):
        return _from_epoch(float(value), where)
    if isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            pass
        else:
            return _from_epoch(number, where)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise validation(
                f"Value '{value}' at '{where}' failed to satisfy constraint: Member must be an ISO-8601 timestamp"
            ) from None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    raise validation(f"Value '{value}' at '{where}' failed to satisfy constraint: Member must be a timestamp")


def _from_query(shape: Shape, value: str, where: str) -> Any:
    if shape.type_name in ("integer", "long"):
        try:
            return int(value)
        except ValueError:
            raise validation(
                f"Value '{value}' at '{_lower_first(where)}' failed to satisfy constraint: Member must be a number"
            ) from None
    if shape.type_name == "timestamp":
        return _parse_timestamp(value, _lower_first(where))
    if shape.type_name == "boolean":
        return value.lower() == "true"
    return value


def _from_wire(shape: Shape, value: Any, protocol: str) -> Any:
    """Convert wire JSON into botocore's Python form (timestamps → datetime, blobs → bytes)."""
    if value is None:
        return None
    kind = shape.type_name
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            return value
        out: dict[str, Any] = {}
        for key, item in value.items():
            member = shape.members.get(key)
            out[key] = item if member is None else _from_wire(member, item, protocol)
        return out
    if isinstance(shape, ListShape):
        return [_from_wire(shape.member, v, protocol) for v in value] if isinstance(value, list) else value
    if isinstance(shape, MapShape):
        return {k: _from_wire(shape.value, v, protocol) for k, v in value.items()} if isinstance(value, dict) else value
    if kind == "timestamp":
        return _parse_timestamp(value, shape.name)
    if kind == "blob" and isinstance(value, str):
        try:
            return base64.b64decode(value)
        except ValueError:
            return value
    return value


# ----------------------------------------------------------------------------------------------------- validation


def _lower_first(name: str) -> str:
    return name[:1].lower() + name[1:]


def _show(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 200 else text[:200] + "…"


@functools.lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.S)
    except re.error:  # a Java-only construct: skip the check rather than reject valid input
        return None


_TYPE_NAMES = {
    "string": (str,),
    "integer": (int,),
    "long": (int,),
    "float": (int, float),
    "double": (int, float),
    "boolean": (bool,),
    "structure": (dict,),
    "list": (list,),
    "map": (dict,),
}


def _check_length(value: Any, where: str, meta: dict[str, Any], problems: list[str]) -> None:
    """The ``min``/``max`` length constraints of a string or list shape, in AWS's words."""
    if "min" in meta and len(value) < meta["min"]:
        problems.append(
            f"Value '{_show(value)}' at '{where}' failed to satisfy constraint: Member must have length greater "
            f"than or equal to {meta['min']}"
        )
    if "max" in meta and len(value) > meta["max"]:
        problems.append(
            f"Value '{_show(value)}' at '{where}' failed to satisfy constraint: Member must have length less "
            f"than or equal to {meta['max']}"
        )


def _check(shape: Shape, value: Any, where: str, problems: list[str], type_errors: list[str]) -> None:
    kind = shape.type_name
    expected = _TYPE_NAMES.get(kind)
    if expected is not None and (
        not isinstance(value, expected) or (kind in ("integer", "long", "float", "double") and isinstance(value, bool))
    ):
        type_errors.append(f"Expected {kind} at '{where}' but got {type(value).__name__}")
        return
    meta = shape.metadata
    if isinstance(shape, StructureShape):
        for name in shape.required_members:
            if value.get(name) is None:
                problems.append(
                    f"Value null at '{_join(where, name)}' failed to satisfy constraint: Member must not be null"
                )
        for name, item in value.items():
            member = shape.members.get(name)
            if member is not None and item is not None:
                _check(member, item, _join(where, name), problems, type_errors)
        return
    if kind == "string":
        _check_length(value, where, meta, problems)
        enum: list[str] = getattr(shape, "enum", [])
        if enum and value not in enum:
            problems.append(
                f"Value '{_show(value)}' at '{where}' failed to satisfy constraint: Member must satisfy enum value "
                f"set: [{', '.join(enum)}]"
            )
        pattern = meta.get("pattern")
        if pattern:
            compiled = _compiled(pattern)
            if compiled is not None and compiled.fullmatch(value) is None:
                problems.append(
                    f"Value '{_show(value)}' at '{where}' failed to satisfy constraint: Member must satisfy regular "
                    f"expression pattern: {pattern}"
                )
        return
    if kind in ("integer", "long", "float", "double"):
        if "min" in meta and value < meta["min"]:
            problems.append(
                f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have value greater than or "
                f"equal to {meta['min']}"
            )
        if "max" in meta and value > meta["max"]:
            problems.append(
                f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have value less than or "
                f"equal to {meta['max']}"
            )
        return
    if isinstance(shape, ListShape):
        _check_length(value, where, meta, problems)
        for index, item in enumerate(value, start=1):
            if item is None:
                problems.append(
                    f"Value null at '{where}.{index}.member' failed to satisfy constraint: Member must not be null"
                )
            else:
                _check(shape.member, item, f"{where}.{index}.member", problems, type_errors)
        return
    if isinstance(shape, MapShape):
        if "max" in meta and len(value) > meta["max"]:
            problems.append(
                f"Value '{_show(value)}' at '{where}' failed to satisfy constraint: Member must have length less "
                f"than or equal to {meta['max']}"
            )
        for key, item in value.items():
            _check(shape.key, key, f"{where}.{key}.key", problems, type_errors)
            if item is None:
                problems.append(
                    f"Value null at '{where}.{key}.value' failed to satisfy constraint: Member must not be null"
                )
            else:
                _check(shape.value, item, f"{where}.{key}.value", problems, type_errors)


def _join(where: str, name: str) -> str:
    return f"{where}.{_lower_first(name)}" if where else _lower_first(name)


def validate_input(operation: OperationModel, params: Mapping[str, Any]) -> None:
    """Raise AWS's ``ValidationException`` listing every constraint ``params`` breaks (like the real service)."""
    shape = operation.input_shape
    if shape is None:
        return
    problems: list[str] = []
    type_errors: list[str] = []
    _check(shape, dict(params), "", problems, type_errors)
    if type_errors:
        raise ApiError("SerializationException", type_errors[0], 400)
    if problems:
        count = len(problems)
        noun = "error" if count == 1 else "errors"
        raise validation(f"{count} validation {noun} detected: " + "; ".join(problems))


# ----------------------------------------------------------------------------------------------------- responses


def _iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _to_wire(shape: Shape, value: Any, timestamp_format: str) -> Any:
    if value is None:
        return None
    if isinstance(shape, StructureShape):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if item is None:
                continue
            member = shape.members.get(key)
            if member is None:
                continue  # never leak fields the model does not have
            if member.serialization.get("location") in ("header", "headers", "statusCode", "uri", "querystring"):
                continue
            out[member.serialization.get("name", key)] = _to_wire(member, item, timestamp_format)
        return out
    if isinstance(shape, ListShape):
        return [_to_wire(shape.member, v, timestamp_format) for v in value]
    if isinstance(shape, MapShape):
        return {k: _to_wire(shape.value, v, timestamp_format) for k, v in value.items()}
    if shape.type_name == "timestamp":
        fmt = shape.serialization.get("timestampFormat", timestamp_format)
        if isinstance(value, (int, float)):
            value = datetime.fromtimestamp(float(value), UTC)
        if fmt == "iso8601":
            return _iso(value)
        return round(value.timestamp(), 3)
    if shape.type_name == "blob" and isinstance(value, (bytes, bytearray)):
        return base64.b64encode(value).decode("ascii")
    return value


def encode_output(operation: OperationModel, result: Mapping[str, Any] | None, protocol: str) -> bytes:
    """The JSON body for ``result`` following the operation's output shape (empty object when none)."""
    shape = operation.output_shape
    if shape is None or not result:
        return b"{}"
    # JSON 1.1 and REST-JSON both default to epoch seconds; the A2I model asks for ISO-8601 on its Timestamp shape
    wire = _to_wire(shape, dict(result), "unixtimestamp")
    return json.dumps(wire, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@functools.cache
def _message_member(service: str, code: str) -> str:
    """The body member of ``code``'s message: the model's spelling for a modelled error (``Message``), else
    ``message`` as AWS's JSON protocols send it for common errors."""
    try:
        shape = service_model(service).shape_for(code)
    except NoShapeFoundError:  # a common error the model does not define (ValidationException on SageMaker, …)
        return "message"
    members = getattr(shape, "members", {})
    return next((name for name in members if name.lower() == "message"), "message")


def encode_error(error: ApiError, protocol: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body for ``error`` as the given protocol (``json`` or ``rest-json``) sends it."""
    if protocol == "json":
        body = {"__type": error.code, _message_member(SAGEMAKER_SERVICE, error.code): error.message}
        headers = {"content-type": "application/x-amz-json-1.1"}
    else:
        body = {_message_member(A2I_SERVICE, error.code): error.message}
        headers = {"content-type": "application/json", "x-amzn-errortype": error.code}
    # ASCII escapes: an error message may quote any input, and JSON escapes keep even an odd code point well-formed
    return error.status, headers, json.dumps(body).encode("ascii")
