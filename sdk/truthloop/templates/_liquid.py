"""A python-liquid environment that behaves like Ground Truth's and A2I's template renderer (aws-contracts.md §11).

* Output is HTML-escaped by default (``autoescape``); ``skip_autoescape`` opts out for one expression.
* Dicts and lists print as JSON (then escaped), so ``initial-value="{{ task.input.blocks }}"`` works as on AWS.
* Extra filters: ``to_json``, ``escape`` / ``escape_once`` (JSON-aware), ``skip_autoescape`` and
  ``grant_read_access`` (an ``s3://`` URI becomes a presigned HTTPS URL through the given S3 client).
* Hyphenated keys (``task.input.source-ref``) and every standard tag and filter come with python-liquid.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import Any, Final, TextIO
from urllib.parse import quote, unquote, urlsplit

import markupsafe
from liquid import Environment
from liquid.builtin.output import Output, OutputNode
from liquid.builtin.tags.echo_tag import EchoNode, EchoTag
from liquid.context import RenderContext
from liquid.exceptions import FilterArgumentError
from liquid.undefined import Undefined

__all__ = ["PRESIGN_EXPIRES_SECONDS", "TemplateEnvironment", "safe_url", "to_output_string"]

#: Lifetime of the URLs ``grant_read_access`` produces (AWS documents them only as "short-lived").
PRESIGN_EXPIRES_SECONDS: Final = 3600

#: Schemes ``grant_read_access`` passes through unchanged; any other (``javascript:``, ``data:text/html``) is dropped.
_PASS_THROUGH = ("http://", "https://", "data:image/")

log = logging.getLogger("truthloop.templates")

_PLACEHOLDER_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" width="640" height="360" viewBox="0 0 640 360">'
    '<rect width="640" height="360" fill="#e9ebed"/><text x="320" y="170" font-family="sans-serif" font-size="18" '
    'text-anchor="middle" fill="#414d5c">offline preview: no AWS credentials to read</text>'
    '<text x="320" y="200" font-family="monospace" font-size="14" text-anchor="middle" fill="#414d5c">{uri}</text>'
    "</svg>"
)


def offline_url(uri: str, bucket: str, key: str, endpoint_url: str | None) -> str:
    """What ``grant_read_access`` gives without credentials: an unsigned URL on a non-AWS endpoint (the local
    backend's S3 serves it), else a ``data:`` placeholder image naming ``uri`` (nothing leaves the machine)."""
    host = urlsplit(endpoint_url or "").hostname or ""
    if endpoint_url and not host.endswith(("amazonaws.com", "amazonaws.com.cn")):
        return f"{endpoint_url.rstrip('/')}/{quote(bucket, safe='')}/{quote(key)}"
    label = markupsafe.escape(uri if len(uri) <= 70 else uri[:67] + "...")
    return "data:image/svg+xml," + quote(_PLACEHOLDER_SVG.format(uri=label), safe="")
_S3_URI = re.compile(r"^s3://(?P<bucket>[^/]+)/(?P<key>.+)$")
_S3_HTTPS = re.compile(r"^https?://(?:(?P<vhost>[^./]+)\.)?s3[.-](?:[a-z0-9-]+\.)?amazonaws\.com/(?P<rest>.+)$")


def _json(value: object) -> str:
    return json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":"))


def _plain(value: object) -> object:
    """Liquid values → JSON-able values (``Undefined`` is ``null``; Markup is its text)."""
    if isinstance(value, Undefined):
        return None
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, markupsafe.Markup):
        return str(value)
    return value


def to_output_string(value: object, autoescape: bool) -> str:
    """How GT prints a value: dicts and lists as JSON, ``nil``/undefined as nothing, booleans lower-case."""
    if isinstance(value, markupsafe.Markup):
        return str(value) if autoescape else value.unescape()
    if value is None or isinstance(value, Undefined):  # Undefined is a Mapping: test it first
        text = ""
    elif isinstance(value, Mapping | list | tuple):
        text = _json(value)
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, range):
        text = f"{value.start}..{value.stop - 1}"
    else:
        text = str(value)
    return str(markupsafe.escape(text)) if autoescape else text


class _JsonOutputNode(OutputNode):
    """``{{ expr }}`` that prints dicts and lists as JSON."""

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        return buffer.write(to_output_string(self.expression.evaluate(context), context.autoescape))

    async def render_to_output_async(self, context: RenderContext, buffer: TextIO) -> int:
        value = await self.expression.evaluate_async(context)
        return buffer.write(to_output_string(value, context.autoescape))


class _JsonOutput(Output):
    node_class = _JsonOutputNode


class _JsonEchoNode(EchoNode):
    """``{% echo expr %}`` with the same printing rules as ``{{ expr }}``."""

    def render_to_output(self, context: RenderContext, buffer: TextIO) -> int:
        return buffer.write(to_output_string(self.expression.evaluate(context), context.autoescape))

    async def render_to_output_async(self, context: RenderContext, buffer: TextIO) -> int:
        value = await self.expression.evaluate_async(context)
        return buffer.write(to_output_string(value, context.autoescape))


class _JsonEchoTag(EchoTag):
    node_class = _JsonEchoNode


def _to_json(value: object) -> str:
    """``to_json``: serialise any value as JSON (the caller's output is then autoescaped as usual)."""
    return _json(value)


def _text_of(value: object) -> str:
    if value is None or isinstance(value, Undefined):
        return ""
    if isinstance(value, Mapping | list | tuple):
        return _json(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _escape(value: object) -> markupsafe.Markup:
    """``escape``: HTML-escape (dicts and lists as JSON first); never double-escapes an already safe value."""
    if isinstance(value, markupsafe.Markup):
        return value
    return markupsafe.escape(_text_of(value))


def _escape_once(value: object) -> markupsafe.Markup:
    """``escape_once``: like ``escape`` but leaves existing entities (``&amp;``) alone."""
    if isinstance(value, markupsafe.Markup):
        return value
    return markupsafe.escape(markupsafe.Markup(_text_of(value)).unescape())


def _skip_autoescape(value: object) -> markupsafe.Markup:
    """``skip_autoescape``: emit the value as raw HTML (dangerous with untrusted input; lint warns)."""
    if isinstance(value, markupsafe.Markup):
        return value
    return markupsafe.Markup(_text_of(value))


def safe_url(url: str) -> str:
    """``url`` if its scheme is one a worker page may load (http, https, ``data:image/``), else ``""``."""
    stripped = url.strip()
    lowered = stripped.lower()
    if lowered.startswith(_PASS_THROUGH) or stripped.startswith(("/", "./", "../")):
        return stripped
    if "://" not in stripped and ":" not in stripped.split("/", 1)[0]:
        return stripped  # relative URL
    return ""


def _s3_location(uri: str) -> tuple[str, str] | None:
    match = _S3_URI.match(uri)
    if match:
        return match["bucket"], match["key"]
    https = _S3_HTTPS.match(uri)
    if https:
        if https["vhost"]:
            return https["vhost"], unquote(https["rest"])
        bucket, _, key = https["rest"].partition("/")
        if bucket and key:
            return bucket, unquote(key)
    return None


class TemplateEnvironment(Environment):
    """A python-liquid ``Environment`` with Ground Truth's printing rules and filters.

    ``s3_client`` is what ``grant_read_access`` presigns through (locally: the emulator's S3); without one,
    boto3's default S3 client is created the first time a URI needs presigning.
    """

    def __init__(
        self,
        *,
        s3_client: Any = None,
        presign_expires_seconds: int = PRESIGN_EXPIRES_SECONDS,
    ) -> None:
        super().__init__(autoescape=True, strict_filters=True)
        self._s3_client = s3_client
        self.presign_expires_seconds = presign_expires_seconds
        self._warned_offline = False
        self.add_tag(_JsonOutput)
        self.add_tag(_JsonEchoTag)
        self.add_filter("to_json", _to_json)
        self.add_filter("escape", _escape)
        self.add_filter("escape_once", _escape_once)
        self.add_filter("skip_autoescape", _skip_autoescape)
        self.add_filter("grant_read_access", self._grant_read_access)

    def _client(self) -> Any:
        if self._s3_client is None:
            import boto3  # deferred: rendering without S3 URIs needs no AWS client

            self._s3_client = boto3.client("s3")
        return self._s3_client

    def _grant_read_access(self, value: object) -> str:
        """``grant_read_access``: ``s3://bucket/key`` (or an S3 HTTPS URL) → presigned GET URL."""
        uri = _text_of(value).strip()
        if not uri:
            return ""
        location = _s3_location(uri)
        if location is None:
            return safe_url(uri)
        bucket, key = location
        from botocore.exceptions import NoCredentialsError

        client = self._client()
        try:
            url = client.generate_presigned_url(
                "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=self.presign_expires_seconds
            )
        except NoCredentialsError:  # a preview must not need an AWS account: render, and say so once
            endpoint = getattr(getattr(client, "meta", None), "endpoint_url", None)
            offline = offline_url(uri, bucket, key, endpoint)
            if not self._warned_offline:
                self._warned_offline = True
                what = "unsigned URLs on " + str(endpoint) if offline.startswith("http") else "placeholder images"
                log.warning(
                    "grant_read_access: no AWS credentials, so s3:// URIs render as %s "
                    "(set AWS credentials for presigned URLs)",
                    what,
                )
            return offline
        except Exception as exc:  # botocore (bad region, bad parameters, ...) must not leak raw
            raise FilterArgumentError(f"grant_read_access: cannot presign {uri}: {exc}", token=None) from exc
        return str(url)
