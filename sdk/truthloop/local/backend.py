"""``LocalBackend``: the whole emulator in one process, on one port: SageMaker, A2I runtime, S3 (durable), portal.

    >>> from truthloop.local import BackendConfig, LocalBackend
    >>> with LocalBackend(BackendConfig(port=0, data_dir=tmp_path)) as backend:   # doctest: +SKIP
    ...     sm = boto3.client("sagemaker", endpoint_url=backend.endpoint_url)

``backend.client_env()`` gives the environment variables that point unchanged boto3 code at it
(``AWS_ENDPOINT_URL`` alone is enough, as with LocalStack; the per-service variables are set too).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from starlette.routing import Mount, Router
from starlette.types import Receive, Scope, Send

from truthloop.exceptions import LocalBackendError
from truthloop.local.a2i import A2IService
from truthloop.local.admin import AdminApp
from truthloop.local.api import AwsApi
from truthloop.local.config import LOCAL_DOCUMENTS_BUCKET, LOCAL_TABLE, BackendConfig
from truthloop.local.dynamodb_journal import DurableDynamoDB, RestoreReport
from truthloop.local.engine import Engine
from truthloop.local.events import EventBus, EventTarget
from truthloop.local.handlers import environment, forget_file_handlers
from truthloop.local.lambdas import LambdaRegistry, handler_environment
from truthloop.local.portal import PortalApp
from truthloop.local.runtime import Runtime
from truthloop.local.s3 import (
    MOTO_SERVICES,
    DurableS3,
    S3Gateway,
    is_loopback_host,
    moto_client,
    reset_moto,
    s3_client,
    signing_service,
)
from truthloop.local.sagemaker import SageMakerService
from truthloop.local.storage import SQLiteStorage, Storage
from truthloop.local.storage.dynamodb import DynamoDBStorage
from truthloop.local.storage.dynamodb_schema import create_table
from truthloop.local.workforce import WorkerDirectory

__all__ = ["STATE_FILE", "LocalBackend", "open_storage", "read_state", "stored_counts", "write_state_file"]

log = logging.getLogger("truthloop.local")

STATE_FILE = "backend.json"
_REPO_LAMBDAS = Path(__file__).resolve().parents[3] / "lambdas"
#: per-service endpoint variables (``AWS_ENDPOINT_URL`` covers them all; these keep older SDKs and tools working)
_ENDPOINT_SERVICES = ("SAGEMAKER", "SAGEMAKER_A2I_RUNTIME", *(name.upper() for name in MOTO_SERVICES))


def open_storage(config: BackendConfig, endpoint_url: str) -> Storage:
    """The store ``config.storage`` names: SQLite in the data directory, or DynamoDB + S3 in moto, reached through
    the backend's own port at ``endpoint_url`` (which must already be serving)."""
    if config.storage == "sqlite":
        return SQLiteStorage(config.database_path)
    dynamodb = moto_client("dynamodb", endpoint_url, config.region)
    documents = s3_client(endpoint_url, config.region)
    with contextlib.suppress(documents.exceptions.BucketAlreadyOwnedByYou):
        if config.region == "us-east-1":
            documents.create_bucket(Bucket=LOCAL_DOCUMENTS_BUCKET)
        else:
            documents.create_bucket(
                Bucket=LOCAL_DOCUMENTS_BUCKET, CreateBucketConfiguration={"LocationConstraint": config.region}
            )
    if LOCAL_TABLE not in dynamodb.list_tables()["TableNames"]:
        create_table(dynamodb, LOCAL_TABLE)
    # moto applies a request non-atomically (DynamoDB does not), hence one request at a time
    return DynamoDBStorage(
        LOCAL_TABLE, bucket=LOCAL_DOCUMENTS_BUCKET, dynamodb=dynamodb, s3=documents, serialize_requests=True
    )


def write_state_file(path: Path, state: dict[str, Any]) -> None:
    """Write ``backend.json`` (mode 0600) whole or not at all: a temporary file renamed over it, so a reader never
    sees it empty or half-written (a CLI started while the backend starts, or a restart over an old file)."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=2)
    os.replace(temp, path)


def stored_counts(storage: Storage) -> dict[str, Any]:
    """The counts ``truthloop local status`` shows from a store (the local backend's or the service's): human loops
    and labeling jobs by status, workers, events (at most the first 1,000)."""
    loops = {s: storage.count_human_loops(s) for s in ("InProgress", "Stopping", "Completed", "Failed", "Stopped")}
    jobs: dict[str, int] = {}
    for status in ("Initializing", "InProgress", "Stopping", "Completed", "Failed", "Stopped"):
        jobs[status] = len(storage.resources_in_status("labeling-job", (status,)))
    return {
        "human_loops": loops,
        "labeling_jobs": jobs,
        "workers": len(storage.list_workers()),
        "events": len(storage.list_events()),
    }


def read_state(data_dir: str | Path) -> dict[str, Any]:
    """The running backend's endpoints and admin token, from ``<data-dir>/backend.json``."""
    path = Path(data_dir) / STATE_FILE
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except OSError:
        raise LocalBackendError(
            f"no local backend is running with data directory {data_dir} ({path} is missing)"
        ) from None
    except ValueError as exc:
        raise LocalBackendError(f"{path} is not valid JSON ({exc}); is the backend still starting?") from None
    if not isinstance(state, dict):
        raise LocalBackendError(f"{path} is not a JSON object")
    return state


class _App:
    """Top-level ASGI dispatcher: loopback ``Host`` only; S3 (and handlers' moto services) by SigV4 scope; portal
    and admin through Starlette; the hot AWS path straight to the API."""

    def __init__(self, gateway: S3Gateway) -> None:
        self.gateway = gateway
        self.api: AwsApi | None = None
        self.router: Router | None = None

    def attach(self, api: AwsApi, portal: PortalApp, admin: AdminApp) -> None:
        """Serve the AWS APIs, the portal and the admin routes (moto's services are served from the start)."""
        self.router = Router(routes=[Mount("/portal", app=portal.app), Mount("/_truthloop", app=admin.app)])
        self.api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            message = await receive()
            while message["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
                message = await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not is_loopback_host(headers.get("host", "")):
            # a page on another name resolving to 127.0.0.1 (DNS rebinding) must not reach the API, S3 or the portal
            await _refuse(send, 400, "InvalidHost", "the local backend only answers requests for 127.0.0.1/localhost")
            return
        path: str = scope.get("path", "")
        service = signing_service(headers, scope.get("query_string", b"").decode("latin-1"))
        if service in MOTO_SERVICES and scope["type"] == "http":
            await self.gateway(scope, receive, send, service=service)
        elif self.api is None or self.router is None:
            await _refuse(send, 503, "ServiceUnavailable", "the local backend is starting; retry in a moment")
        elif path.startswith(("/portal", "/_truthloop/")):
            await self.router(scope, receive, send)
        else:
            await self.api(scope, receive, send)


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"__type": code, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class LocalBackend:
    """Starts and stops S3 (moto, written through to disk), storage, the engine, event delivery and the HTTP server."""

    def __init__(self, config: BackendConfig | None = None, *, event_targets: Sequence[EventTarget] = ()) -> None:
        self.config = config or BackendConfig()
        self._extra_targets = list(event_targets)
        self.worker_tokens: dict[str, str] = {}
        self.admin_token = ""
        #: (server, thread) of the port clients use, and of the internal moto port a DynamoDB store talks to
        self._main: tuple[uvicorn.Server, threading.Thread] | None = None
        self._internal: tuple[uvicorn.Server, threading.Thread] | None = None
        self._started = False
        self.dynamodb_journal: DurableDynamoDB | None = None
        #: what the start found in ``<data-dir>/dynamodb`` (``None`` when moto is shared, ``reset_s3=False``)
        self.dynamodb_restored: RestoreReport | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> LocalBackend:
        if self._started:
            return self
        config = self.config
        data_dir = config.data_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            data_dir.chmod(0o700)
        # proto=IPPROTO_TCP matters: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP, and
        # without it every response (headers and body are two writes) waits ~40 ms for a delayed ACK
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.bind((config.host, config.port))
        except OSError as exc:
            sock.close()
            raise LocalBackendError(f"cannot listen on {config.host}:{config.port}: {exc.strerror}") from None
        port = sock.getsockname()[1]
        base_url = f"http://{config.host}:{port}"
        self.endpoint_url = base_url
        self.s3_store = DurableS3(data_dir / "s3")
        # moto's DynamoDB (the store's table with "storage": "dynamodb", and any handler's) is journaled to disk when
        # this backend owns moto; with reset_s3=False moto is shared with another backend in the process
        self.dynamodb_journal = DurableDynamoDB(data_dir / "dynamodb") if config.reset_s3 else None
        gateway = S3Gateway(self.s3_store, self.dynamodb_journal)
        try:
            if config.reset_s3:
                reset_moto()
            self.s3_store.restore()
            if self.dynamodb_journal is not None:
                self.dynamodb_restored = self.dynamodb_journal.restore(gateway.apply_dynamodb)
        except BaseException:
            sock.close()
            self._close_journal()
            raise
        self._app = _App(gateway)
        try:
            if config.storage == "sqlite":
                self.storage = open_storage(config, base_url)
            else:
                # the store's own requests must not wait on the event loop that serves the API calls making them,
                # so moto's services get a second, internal loopback server (same gateway: no admin routes)
                internal = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
                internal.bind((config.host, 0))
                self._internal = self._serve(internal, _App(gateway), "truthloop-store-http")
                self.storage = open_storage(config, f"http://{config.host}:{internal.getsockname()[1]}")
        except BaseException:
            sock.close()
            self._stop_servers()
            self._close_journal()
            raise
        secret = self.storage.get_meta("secret")
        if secret is None:
            secret = secrets.token_hex(32)
            self.storage.set_meta("secret", secret)
        self.admin_token = secrets.token_urlsafe(32)
        handler_env = handler_environment(self.client_env())
        events = EventBus(
            self.storage,
            account_id=config.account_id,
            region=config.region,
            clock=lambda: self.runtime.now(),
            duplicates=config.duplicate_events,
            retry_seconds=config.event_retry_seconds,
            max_attempts=config.event_max_attempts,
            base_environment=handler_env,
        )
        forget_file_handlers()  # this backend's handlers start cold, with clients for its own endpoints
        for handler in config.event_handlers:
            with environment({**handler_env, **handler.environment}):
                events.subscribe(EventTarget.from_config(handler, search_paths=(_REPO_LAMBDAS,)))
        for target in self._extra_targets:
            events.subscribe(target)
        lambdas = LambdaRegistry(
            config.lambdas,
            s3_client_factory=self.s3_client,
            search_paths=(_REPO_LAMBDAS,),
            base_environment=handler_env,
        )
        problems = lambdas.check()  # a wrong handler path is reported at start, not when a job first calls it
        if problems:
            sock.close()
            self._stop_servers()
            self.storage.close()
            self._close_journal()
            raise LocalBackendError("; ".join(problems))
        self.runtime = Runtime(
            config=config,
            storage=self.storage,
            s3_url=base_url,
            s3_client_factory=self.s3_client,
            lambdas=lambdas,
            events=events,
            base_url=base_url,
            secret=bytes.fromhex(secret),
            faults=config.faults,
            max_active_human_loops=config.max_active_human_loops,
        )
        self.workers = WorkerDirectory(self.runtime)
        self.sagemaker = SageMakerService(self.runtime)
        self.a2i = A2IService(self.runtime)
        self.engine = Engine(self.runtime, self.workers)
        self.runtime.steps = self.engine
        self.api = AwsApi(self.runtime, self.a2i, self.sagemaker)
        self.portal = PortalApp(self.runtime, self.workers, self.sagemaker)
        self.admin = AdminApp(
            self.runtime,
            self.workers,
            self.admin_token,
            status=self.status,
            task_ui_content=self.sagemaker.task_ui_content,
        )
        for index in range(1, config.workers + 1):
            _, token = self.workers.issue(f"worker-{index}")
            self.worker_tokens[f"worker-{index}"] = token
        self.engine.start()
        events.start()
        self._app.attach(self.api, self.portal, self.admin)
        self._main = self._serve(sock, self._app, "truthloop-http")
        self._write_state()
        self._started = True
        return self

    @staticmethod
    def _serve(sock: socket.socket, app: _App, name: str) -> tuple[uvicorn.Server, threading.Thread]:
        uv_config = uvicorn.Config(
            app, log_level="warning", access_log=False, lifespan="off", timeout_keep_alive=30, backlog=2048
        )
        server = uvicorn.Server(uv_config)

        def run() -> None:
            server.run(sockets=[sock])  # uvloop + httptools when installed (the ``local`` extra), else asyncio + h11

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise LocalBackendError("the HTTP server did not start")
            time.sleep(0.01)
        return server, thread

    def _stop_servers(self) -> None:
        for running in (self._main, self._internal):
            if running is not None:
                running[0].should_exit = True
        for running in (self._main, self._internal):
            if running is not None:
                running[1].join(timeout=15)
        self._main = self._internal = None

    def _write_state(self) -> None:
        path = self.config.data_dir / STATE_FILE
        state = {
            "endpoint": self.endpoint_url,
            "s3_endpoint": self.endpoint_url,
            "portal": self.runtime.portal_url,
            "region": self.config.region,
            "admin_token": self.admin_token,
            "pid": os.getpid(),
        }
        write_state_file(path, state)

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self._stop_servers()
        self.engine.stop()
        self.runtime.events.stop()
        self.storage.close()
        self._close_journal()
        with contextlib.suppress(OSError):
            (self.config.data_dir / STATE_FILE).unlink()

    def _close_journal(self) -> None:
        if self.dynamodb_journal is not None:
            self.dynamodb_journal.close()
            self.dynamodb_journal = None

    def __enter__(self) -> LocalBackend:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # ------------------------------------------------------------------ helpers for callers
    @property
    def portal_url(self) -> str:
        return self.runtime.portal_url

    @property
    def s3_url(self) -> str:
        """S3 is served on the API's own port (the same endpoint after a restart)."""
        return self.endpoint_url

    def s3_client(self) -> Any:
        """A boto3 S3 client for this backend (path-style addressing, dummy credentials)."""
        return s3_client(self.endpoint_url, self.config.region)

    def client_env(self) -> dict[str, str]:
        """Environment variables that point unchanged boto3 code at this backend (with dummy credentials)."""
        env = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.config.region,
            "AWS_REGION": self.config.region,
            "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID") or "truthloop-local",
            "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY") or "truthloop-local",
        }
        for service in _ENDPOINT_SERVICES:
            env[f"AWS_ENDPOINT_URL_{service}"] = self.endpoint_url
        return env

    @contextlib.contextmanager
    def environment(self) -> Iterator[dict[str, str]]:
        """Set :meth:`client_env` in ``os.environ`` for the block (restoring the previous values after)."""
        env = self.client_env()
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield env
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def issue_worker(self, name: str, *, simulated: bool = False) -> str:
        """A (new) token for worker ``name``."""
        _, token = self.workers.issue(name, simulated=simulated)
        return token

    def advance_clock(self, seconds: float) -> None:
        """Move the backend's clock forward (expiry tests), then let the engine run."""
        self.runtime.clock_offset += seconds
        self.engine.wake()

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Run engine rounds until nothing changes and the outbox is empty (tests and the demo use it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = self.engine.step()
            pending = self.storage.due_events(self.runtime.now(), 1)
            if pending:
                self.runtime.events.deliver_due()
            if not busy and not pending:
                return
        raise LocalBackendError(f"the local backend did not become idle within {timeout} s")

    def status(self) -> dict[str, Any]:
        """What ``GET /_truthloop/status`` (``truthloop local status``) answers."""
        return {
            "endpoint": self.endpoint_url,
            "s3_endpoint": self.endpoint_url,
            "portal": self.runtime.portal_url,
            **stored_counts(self.storage),
            "engine_errors": self.engine.errors,
        }
