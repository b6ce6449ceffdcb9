"""An HTTP request as API Gateway's HTTP API hands it to Lambda (payload format 2.0), and the response back.

``truthloop service local`` serves real HTTP by turning each request into this event for the API handler (as the
HTTP API does on AWS); tests use it to send boto3's own requests through the handler.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from truthloop.local.handlers import LambdaContext

__all__ = ["from_http_api_response", "http_api_response", "through_handler", "to_http_api_event"]

_TEXT_TYPES = ("application/json", "application/x-amz-json-1.1", "text/", "application/x-www-form-urlencoded")


def to_http_api_event(
    method: str, path: str, query: str, headers: Mapping[str, str], body: bytes, *, source_ip: str = "127.0.0.1"
) -> dict[str, Any]:
    """The payload-2.0 event of one request (headers lower-cased and joined by commas, as the HTTP API does)."""
    lowered: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
    content_type = lowered.get("content-type", "")
    as_text = any(content_type.startswith(t) for t in _TEXT_TYPES)
    try:
        text = body.decode("utf-8") if as_text else None
    except UnicodeDecodeError:
        text = None
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "local",
            "domainName": lowered.get("host", "localhost"),
            "domainPrefix": lowered.get("host", "localhost").split(".", 1)[0],
            "http": {
                "method": method.upper(),
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": text is None and bool(body),
    }
    if body:
        event["body"] = text if text is not None else base64.b64encode(body).decode("ascii")
    return event


def from_http_api_response(response: Mapping[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body bytes of a payload-2.0 response, one value per header name (``cookies`` joined
    into one ``set-cookie`` value: enough for botocore; a browser needs :func:`http_api_response`'s headers)."""
    status, pairs, body = http_api_response(response)
    headers: dict[str, str] = {}
    for name, value in pairs:
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return status, headers, body


def http_api_response(response: Mapping[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Status, header lines and body bytes of a payload-2.0 response as the HTTP API sends it: each of the
    ``cookies`` is a ``set-cookie`` line of its own (one line holding several cannot be split by a browser, since
    ``Expires`` has a comma)."""
    raw = response.get("body") or ""
    body = base64.b64decode(raw) if response.get("isBase64Encoded") else str(raw).encode("utf-8")
    headers = [(str(k).lower(), str(v)) for k, v in (response.get("headers") or {}).items()]
    headers += [("set-cookie", str(cookie)) for cookie in response.get("cookies") or []]
    return int(response.get("statusCode", 200)), headers, body


class _Raw:
    def __init__(self, content: bytes) -> None:
        self.content = content

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.content


def through_handler(client: Any, handler: Callable[[Any, Any], Any]) -> Any:
    """Send ``client``'s requests to ``handler`` as HTTP API events instead of the network (tests, benchmarks).

    The request is signed and serialised by botocore as for AWS; only the transport is replaced.
    """

    def send(request: AWSPreparedRequest, **kwargs: Any) -> AWSResponse:
        split = request.url.split("://", 1)[1]
        path_query = "/" + split.split("/", 1)[1] if "/" in split else "/"
        path, _, query = path_query.partition("?")
        raw: Any = request.body
        body = bytes(raw) if isinstance(raw, bytes | bytearray) else str(raw or "").encode("utf-8")
        items: Any = request.headers.items()
        headers = {str(k): v.decode("latin-1") if isinstance(v, bytes) else str(v) for k, v in items}
        headers.setdefault("host", split.split("/", 1)[0])
        event = to_http_api_event(request.method, path, query, headers, body)
        context = LambdaContext(function_name="truthloop-service-api", invoked_function_arn="arn:local")
        status, response_headers, content = from_http_api_response(handler(event, context))
        fields: Any = response_headers  # AWSResponse wraps any mapping in a case-insensitive HeadersDict
        return AWSResponse(request.url, status, fields, _Raw(content))

    client.meta.events.register_first(f"before-send.{client.meta.service_model.service_id.hyphenize()}", send)
    return client
