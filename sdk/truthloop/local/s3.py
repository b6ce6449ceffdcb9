"""S3 for the local backend: moto's S3 on the API's own port, written through to the data directory.

moto keeps objects in memory. :class:`DurableS3` makes every acknowledged write durable before the response
leaves: after moto has applied a mutating request (``PutObject``, ``CopyObject``, ``CompleteMultipartUpload``,
``DeleteObject(s)``, ``CreateBucket``, ``DeleteBucket``) the affected object or bucket is written to
``<data-dir>/s3/buckets/`` (a temporary file, ``fsync``, ``rename`` over the old copy, ``fsync`` of the directory)
and only then is moto's response sent. A ``kill -9`` at any moment leaves either the old or the new copy of each
object, never neither; at start the files are loaded back into moto. Bucket configuration (policies, tagging, CORS,
versions other than the latest) is not kept, only buckets and the latest version of each object with its metadata.

:class:`S3Gateway` is the ASGI side: it serves moto's S3 (and the DynamoDB, SQS and SNS that handlers such as
``review_completed`` call) to SigV4-signed requests only, dispatching on the credential scope's service name, so one
``AWS_ENDPOINT_URL`` configures every client. moto's own admin routes (``/moto-api/…``) are never routed, browser
requests from another origin are refused, and moto's blanket ``Access-Control-Allow-Origin: *`` is stripped. Given a
:class:`~truthloop.local.dynamodb_journal.DurableDynamoDB`, it journals every DynamoDB write moto accepted (fsync)
before the answer.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import shutil
import sys
import threading
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit
from xml.sax.saxutils import escape

import anyio.to_thread
import boto3
from botocore.config import Config
from starlette.types import Receive, Scope, Send

from truthloop.exceptions import LocalBackendError
from truthloop.local.dynamodb_journal import READ_ONLY_OPERATIONS, DurableDynamoDB, JournalBroken, operation_of

__all__ = [
    "MOTO_SERVICES",
    "DurableS3",
    "S3Gateway",
    "is_loopback_origin",
    "moto_client",
    "s3_client",
    "signing_service",
]

log = logging.getLogger("truthloop.local.s3")

_DUMMY = {"aws_access_key_id": "truthloop-local", "aws_secret_access_key": "truthloop-local"}
#: signing names of the moto services served on the API port (S3 for data; the rest for handlers' own calls)
MOTO_SERVICES = ("s3", "dynamodb", "sqs", "sns")
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_MAGIC = b"truthloop-s3-object/1\n"
_LOCKS = 64
_MAX_BODY = 5 * 1024 * 1024 * 1024


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
    return moto_client("s3", endpoint_url, region, Config(s3={"addressing_style": "path"}, signature_version="s3v4"))


def signing_service(headers: Mapping[str, str], query: str) -> str | None:
    """The service a signed request is for (SigV4 ``Authorization`` header or presigned query), else ``None``.

    S3's own older signature (``Authorization: AWS <key>:<signature>``, or the ``AWSAccessKeyId``/``Signature``/
    ``Expires`` query that boto3's ``generate_presigned_url`` makes for S3 unless told ``s3v4``) means ``s3``.
    """
    auth = headers.get("authorization", "")
    credential = ""
    if auth.startswith("AWS4-HMAC-SHA256"):
        _, _, rest = auth.partition("Credential=")
        credential = rest.split(",", 1)[0].strip()
    elif "X-Amz-Credential" in query:
        credential = dict(parse_qsl(query)).get("X-Amz-Credential", "")
    elif auth.startswith("AWS ") and ":" in auth:
        return "s3"
    elif "Signature=" in query and "AWSAccessKeyId=" in query and not auth:
        params = dict(parse_qsl(query))
        return "s3" if params.get("Signature") and params.get("AWSAccessKeyId") and params.get("Expires") else None
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        return None
    return parts[3]


def _host_name(value: str) -> str:
    """``127.0.0.1:4566`` → ``127.0.0.1``; ``[::1]:80`` → ``::1``."""
    if value.startswith("["):
        return value[1:].partition("]")[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def is_loopback_host(value: str) -> bool:
    """Whether a ``Host`` header names this machine's loopback interface (anything else is DNS rebinding)."""
    return _host_name(value.strip().lower()) in _LOOPBACK_HOSTS


def is_loopback_origin(value: str) -> bool:
    """Whether an ``Origin`` header is a page served from loopback (``http://127.0.0.1:…``, ``http://localhost``)."""
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and host is not None and host.lower() in _LOOPBACK_HOSTS


# ----------------------------------------------------------------------------------------------------- files


def _fsync_dir(path: Path) -> None:
    if sys.platform == "win32":  # pragma: no cover - directories cannot be opened there
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, chunks: Iterable[bytes]) -> None:
    """Write ``path`` so that a crash leaves the old or the new content: temp file, fsync, rename, fsync dir."""
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in chunks:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _fsync_dir(path.parent)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class DurableS3:
    """moto's in-memory S3 mirrored to ``root`` file by file, loaded back at start."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.buckets_dir = root / "buckets"
        self._locks = [threading.Lock() for _ in range(_LOCKS)]

    # ------------------------------------------------------------------ moto access
    @staticmethod
    def _backends() -> Any:
        from moto.s3.models import s3_backends

        return s3_backends

    def _moto_bucket(self, name: str) -> Any:
        backends = self._backends()
        owner = backends.bucket_accounts.get(name)
        if owner is None:
            return None
        partition, account_id = owner
        return backends[account_id][partition].buckets.get(name)

    @staticmethod
    def _moto_key(bucket: Any, key: str) -> Any:
        from moto.s3.models import FakeKey

        if bucket is None:
            return None
        try:
            found = bucket.keys.get(key)
        except (KeyError, IndexError):
            return None
        return found if isinstance(found, FakeKey) else None

    # ------------------------------------------------------------------ paths
    def _bucket_dir(self, name: str) -> Path:
        return self.buckets_dir / _digest(name)

    def lock(self, bucket: str, key: str) -> threading.Lock:
        """The lock serialising moto's change and its write-through for one object (striped)."""
        return self._locks[int(_digest(f"{bucket}/{key}")[:8], 16) % _LOCKS]

    # ------------------------------------------------------------------ write-through
    def sync_bucket(self, name: str, *, contents: bool) -> None:
        """Make the files for bucket ``name`` match moto (its existence; every object too when ``contents``)."""
        bucket = self._moto_bucket(name)
        directory = self._bucket_dir(name)
        if bucket is None:
            self._remove_bucket_dir(directory)
            return
        if not (directory / "bucket.json").is_file():
            self._create_bucket_dir(directory, bucket)
        if not contents:
            return
        wanted: dict[str, Any] = {}
        for key_name in list(bucket.keys.keys()):
            key = self._moto_key(bucket, key_name)
            if key is not None:
                wanted[_digest(key_name)] = key
        objects = directory / "objects"
        present = {p.name for p in objects.iterdir() if not p.name.startswith(".")}
        for file_name, key in wanted.items():
            self._write_object(objects / file_name, key)
        for file_name in present - set(wanted):
            (objects / file_name).unlink(missing_ok=True)
        _fsync_dir(objects)

    def sync_key(self, bucket_name: str, key_name: str) -> None:
        """Make the file for one object match moto (written atomically, or removed when moto has no such key)."""
        bucket = self._moto_bucket(bucket_name)
        if bucket is None:
            return
        directory = self._bucket_dir(bucket_name)
        if not (directory / "bucket.json").is_file():
            self._create_bucket_dir(directory, bucket)
        path = directory / "objects" / _digest(key_name)
        key = self._moto_key(bucket, key_name)
        if key is None:
            if path.exists():
                path.unlink()
                _fsync_dir(path.parent)
            return
        self._write_object(path, key)

    def _create_bucket_dir(self, directory: Path, bucket: Any) -> None:
        self.buckets_dir.mkdir(parents=True, exist_ok=True)
        staging = self.buckets_dir / f".{directory.name}.{uuid.uuid4().hex}.tmp"
        (staging / "objects").mkdir(parents=True)
        meta = {"name": bucket.name, "account_id": bucket.account_id, "region": bucket.region_name}
        _write_atomic(staging / "bucket.json", [json.dumps(meta).encode("utf-8")])
        _fsync_dir(staging / "objects")
        try:
            os.rename(staging, directory)
        except OSError:  # created meanwhile by a concurrent request for the same bucket
            shutil.rmtree(staging, ignore_errors=True)
        _fsync_dir(self.buckets_dir)

    def _remove_bucket_dir(self, directory: Path) -> None:
        if not directory.exists():
            return
        trash = self.buckets_dir / f".{directory.name}.{uuid.uuid4().hex}.deleted"
        os.rename(directory, trash)
        _fsync_dir(self.buckets_dir)
        shutil.rmtree(trash, ignore_errors=True)

    @staticmethod
    def _write_object(path: Path, key: Any) -> None:
        header = {"key": key.name, "metadata": dict(key.metadata), "etag": key.etag}
        head = json.dumps(header, ensure_ascii=True).encode("ascii")
        _write_atomic(path, [_MAGIC, head, b"\n", key.value])

    def read(self, bucket_name: str, key_name: str) -> tuple[dict[str, Any], bytes] | None:
        """The stored header (``key``, ``metadata``, ``etag``) and body of one object, ``None`` when not stored."""
        path = self._bucket_dir(bucket_name) / "objects" / _digest(key_name)
        try:
            return _read_object(path)
        except FileNotFoundError:
            return None

    # ------------------------------------------------------------------ restore
    def restore(self) -> int:
        """Load every stored bucket and object into moto; returns the number of objects loaded."""
        self._import_legacy_snapshot()
        if not self.buckets_dir.is_dir():
            return 0
        backends = self._backends()
        count = 0
        for directory in sorted(self.buckets_dir.iterdir()):
            if directory.name.startswith("."):  # an interrupted create or delete
                shutil.rmtree(directory, ignore_errors=True)
                continue
            try:
                meta = json.loads((directory / "bucket.json").read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                log.warning("skipping unreadable local S3 bucket directory %s: %s", directory, exc)
                continue
            name = meta["name"]
            backend = backends[meta.get("account_id") or _default_account()]["aws"]
            if name not in backend.buckets:
                backend.create_bucket(name, meta.get("region") or "us-east-1")
            for path in (directory / "objects").iterdir():
                if path.name.startswith("."):
                    path.unlink(missing_ok=True)
                    continue
                loaded = _read_object(path)
                if loaded is None:
                    log.warning("skipping unreadable local S3 object file %s", path)
                    continue
                header, data = loaded
                key = backend.put_object(name, header["key"], data, disable_notification=True)
                key.set_metadata(dict(header.get("metadata") or {}))
                count += 1
        return count

    def _import_legacy_snapshot(self) -> None:
        """Bring a snapshot written by older versions (``s3/index.json`` + ``s3/objects/``) into the new layout."""
        index_path = self.root / "index.json"
        if not index_path.is_file():
            return
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LocalBackendError(f"cannot read the old S3 snapshot {index_path}: {exc}") from exc
        backend = self._backends()[_default_account()]["aws"]
        for name, objects in index.get("buckets", {}).items():
            if name not in backend.buckets:
                backend.create_bucket(name, "us-east-1")
            for key_name, meta in objects.items():
                path = self.root / "objects" / name / _digest(key_name)
                if path.is_file():
                    key = backend.put_object(name, key_name, path.read_bytes(), disable_notification=True)
                    key.set_metadata({"Content-Type": meta.get("content_type", "binary/octet-stream")})
            self.sync_bucket(name, contents=True)
        index_path.unlink()
        _fsync_dir(self.root)
        shutil.rmtree(self.root / "objects", ignore_errors=True)


def _default_account() -> str:
    from moto.core.models import DEFAULT_ACCOUNT_ID

    return str(DEFAULT_ACCOUNT_ID)


def _read_object(path: Path) -> tuple[dict[str, Any], bytes] | None:
    raw = path.read_bytes()
    if not raw.startswith(_MAGIC):
        return None
    head, sep, data = raw[len(_MAGIC) :].partition(b"\n")
    if not sep:
        return None
    try:
        header: dict[str, Any] = json.loads(head)
    except ValueError:
        return None
    return header, data


def reset_moto() -> None:
    """Empty moto's S3, DynamoDB, SQS and SNS (moto's state is per process; a backend starts from its own files)."""
    from moto.backends import get_backend

    from truthloop.local import moto_transactions

    for service in MOTO_SERVICES:
        get_backend(service).reset()  # type: ignore[call-overload]
    # a backend's table holds all its loops: without this, every transaction would copy it (see the module)
    moto_transactions.install()


# ----------------------------------------------------------------------------------------------------- ASGI side


class _Unprocessable(Exception):
    """moto raised on a request (malformed XML, a missing element, an unsupported subresource…)."""


class _Captured:
    """The status and headers a WSGI app passed to ``start_response``."""

    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[str, str]] = []

    def __call__(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        self.status = int(status.split(" ", 1)[0])
        self.headers = headers
        return lambda data: None


def _wsgi_environ(scope: Scope, body: bytes) -> dict[str, Any]:
    raw_path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
    query: bytes = scope.get("query_string", b"")
    server = scope.get("server") or ("127.0.0.1", 80)
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope["method"],
        "SCRIPT_NAME": "",
        "PATH_INFO": scope["path"].encode("utf-8", "surrogateescape").decode("latin-1"),
        "QUERY_STRING": query.decode("latin-1"),
        "RAW_URI": (raw_path + (b"?" + query if query else b"")).decode("latin-1"),
        "SERVER_NAME": str(server[0]),
        "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": f"HTTP/{scope.get('http_version', '1.1')}",
        "REMOTE_ADDR": (scope.get("client") or ("127.0.0.1", 0))[0],
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.get("scheme", "http"),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
    }
    for raw_name, raw_value in scope["headers"]:
        name = raw_name.decode("latin-1").upper().replace("-", "_")
        value = raw_value.decode("latin-1")
        if name == "CONTENT_TYPE":
            environ["CONTENT_TYPE"] = value
        elif name == "CONTENT_LENGTH":
            continue
        else:
            key = f"HTTP_{name}"
            environ[key] = f"{environ[key]},{value}" if key in environ else value
    return environ


def _mutation(method: str, path: str, query: str) -> tuple[str, str | None, bool] | None:
    """What a successful S3 request changed: ``(bucket, key or None, whole bucket?)``; ``None`` for reads."""
    if method not in ("PUT", "POST", "DELETE"):
        return None
    bucket, _, key = path.lstrip("/").partition("/")
    if not bucket:
        return None
    params = {name for name, _ in parse_qsl(query, keep_blank_values=True)}
    if not key:
        # CreateBucket, DeleteBucket, DeleteObjects (POST ?delete) and browser POST uploads
        return bucket, None, method == "POST"
    if "uploads" in params or ("uploadId" in params and method != "POST"):
        return None  # multipart bookkeeping: the object appears with CompleteMultipartUpload (POST ?uploadId)
    return bucket, key, False


class S3Gateway:
    """ASGI app serving moto's S3, DynamoDB, SQS and SNS on the API port, with S3 written through to disk.

    Requests for the services in ``one_at_a_time`` are applied one after another: moto does not apply a DynamoDB
    request atomically (it copies and restores the whole table around a transaction), so a client that cannot
    serialise its own requests (the service's Lambda handlers, which expect DynamoDB's atomicity) needs the server to.
    A journaled DynamoDB (``dynamodb``) is serialised by the journal's own lock: writes one at a time, reads beside
    each other but never beside a write.
    """

    def __init__(
        self, store: DurableS3 | None, dynamodb: DurableDynamoDB | None = None, *, one_at_a_time: Collection[str] = ()
    ) -> None:
        self.store = store
        self.dynamodb = dynamodb
        self._apps: dict[str, Any] = {}
        self._apps_lock = threading.Lock()
        self._serial = {service: threading.Lock() for service in one_at_a_time}

    def _app(self, service: str) -> Any:
        with self._apps_lock:
            app = self._apps.get(service)
            if app is None:
                from moto.moto_server.werkzeug_app import create_backend_app

                logging.getLogger("werkzeug").setLevel(logging.WARNING)
                app = create_backend_app(service)  # type: ignore[arg-type]
                self._apps[service] = app
            return app

    async def __call__(self, scope: Scope, receive: Receive, send: Send, *, service: str) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        origin = headers.get("origin")
        if (origin is not None and not is_loopback_origin(origin)) or headers.get("sec-fetch-site") == "cross-site":
            await self._error(send, service, 403, "AccessDenied", "Cross-origin requests are not served.")
            return
        if scope["path"].startswith("/moto-api"):
            await self._error(send, service, 404, "NotFound", "No such route.")
            return
        body = bytearray()
        while True:
            message = await receive()
            body.extend(message.get("body", b""))
            if len(body) > _MAX_BODY:
                await self._error(send, service, 413, "EntityTooLarge", "The request body is too large.")
                return
            if message["type"] == "http.disconnect" or not message.get("more_body", False):
                break
        environ = _wsgi_environ(scope, bytes(body))
        try:
            status, response_headers, payload = await anyio.to_thread.run_sync(self._handle, service, environ, scope)
        except JournalBroken as exc:
            await self._error(send, service, 500, "InternalServerError", str(exc))
            return
        except _Unprocessable as exc:
            cause = exc.__cause__
            log.warning("local %s could not process %s %s: %r", service, scope["method"], scope["path"], cause)
            await self._error(
                send,
                service,
                400,
                "InvalidRequest",
                f"The local {service} could not process this request ({type(cause).__name__}: {cause}); it is "
                "malformed or uses a feature the emulator does not support.",
            )
            return
        except Exception:
            log.exception("local %s failed on %s %s", service, scope["method"], scope["path"])
            await self._error(send, service, 500, "InternalError", "The local backend failed; see its log.")
            return
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": payload})

    def _handle(
        self, service: str, environ: dict[str, Any], scope: Scope
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        app = self._app(service)
        if service == "dynamodb" and self.dynamodb is not None:
            return self._handle_dynamodb(app, self.dynamodb, environ, scope)
        serial = self._serial.get(service)
        if serial is not None:
            with serial:
                return self._call(app, environ)
        store = self.store if service == "s3" else None
        mutation = None if store is None else _mutation(scope["method"], scope["path"], environ["QUERY_STRING"])
        if store is None or mutation is None:
            return self._call(app, environ)
        bucket, key, whole = mutation
        with store.lock(bucket, key or ""):
            status, headers, payload = self._call(app, environ)
            if status < 300:  # durable before moto's answer is sent
                if key is None:
                    store.sync_bucket(bucket, contents=whole)
                else:
                    store.sync_key(bucket, key)
        return status, headers, payload

    def _handle_dynamodb(
        self, app: Any, journal: DurableDynamoDB, environ: dict[str, Any], scope: Scope
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """A read under the journal's lock shared; anything else applied and journaled (fsync) under it exclusively."""
        if operation_of(environ.get("HTTP_X_AMZ_TARGET", "")) in READ_ONLY_OPERATIONS:
            with journal.lock.shared():
                return self._call(app, environ)
        body: bytes = environ["wsgi.input"].getvalue()
        with journal.lock.exclusive():
            journal.check_writable()
            status, headers, payload = self._call(app, environ)
            if status < 300:  # durable before moto's answer is sent
                journal.append({k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}, body)
        return status, headers, payload

    def apply_dynamodb(self, headers: dict[str, str], body: bytes) -> int:
        """Send one recorded DynamoDB request to moto (the journal's replay); returns moto's HTTP status."""
        scope: Scope = {
            "type": "http",
            "method": "POST",
            "path": "/",
            "raw_path": b"/",
            "query_string": b"",
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
        }
        try:
            status, _, _ = self._call(self._app("dynamodb"), _wsgi_environ(scope, body))
        except _Unprocessable:
            return 500
        return status

    @staticmethod
    def _call(app: Any, environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        captured = _Captured()
        try:
            result = app(environ, captured)
            try:
                payload = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        except Exception as exc:  # moto's parsing of the request failed; the write-through never ran
            raise _Unprocessable() from exc
        headers = [
            (name.lower().encode("latin-1"), value.encode("latin-1"))
            for name, value in captured.headers
            if not name.lower().startswith("access-control-")
        ]
        return captured.status, headers, payload

    @staticmethod
    async def _error(send: Send, service: str, status: int, code: str, message: str) -> None:
        if service == "s3":
            body = (
                f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{escape(code)}</Code>'
                f"<Message>{escape(message)}</Message></Error>"
            ).encode("utf-8", "backslashreplace")
            content_type = b"application/xml"
        else:
            body = json.dumps({"__type": code, "message": message}).encode("ascii")
            content_type = b"application/x-amz-json-1.0"
        headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
