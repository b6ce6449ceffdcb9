"""``truthloop service local``: the service's three Lambda handlers on one loopback port, over moto.

One port answers everything, as AWS would across its endpoints:

* requests signed for ``s3``, ``dynamodb``, ``sqs``, ``sns`` or ``events`` go to moto (:class:`S3Gateway`: S3 is
  written through to ``<data-dir>/s3``, DynamoDB journaled to ``<data-dir>/dynamodb``, the others are in memory);
* requests signed for ``cognito-idp`` (or unsigned ones with its ``X-Amz-Target``, such as ``InitiateAuth``), and
  ``GET /<user pool id>/.well-known/jwks.json``, go to moto's Cognito (its tokens are signed with the key that JWKS
  publishes);
* with ``sign_in`` (``--sign-in``): a user pool and portal client are made, the portal signs workers in with them,
  and ``/local-cognito/…`` is a LOCAL-ONLY stand-in for the pool's hosted UI (:mod:`truthloop.service.local_signin`);
* every other request becomes an HTTP API (payload 2.0) event for ``lambdas/service_api`` (SageMaker, the A2I
  runtime and the portal), run on a worker thread;
* a :class:`QueueDriver` plays the SQS event source mapping (``lambdas/service_engine``) and the sweep schedule
  (``lambdas/service_sweep``) in the background.

The handlers' own boto3 calls go to a second, internal loopback server with the same moto gateway, so they never
wait on the event loop serving the request that made them.

State survives a restart on the same data directory, ``kill -9`` included: an acknowledged S3 or DynamoDB write is
on disk before its answer (:class:`~truthloop.local.s3.DurableS3`, :class:`~truthloop.local.dynamodb_journal.
DurableDynamoDB`: the journal is replayed, then compacted into a snapshot, at start). The queues and the EventBridge
rule are recreated empty by :func:`~truthloop.service.emulated.create_deployment` (which keeps a restored table and
bucket). Engine messages lost with the queue are not needed: every step is re-derived from the table by the sweep,
which the driver runs as soon as it starts (flows still ``Initializing``, finished tasks not yet settled, whose
step also publishes the loop's event, active labeling jobs, loops left ``Stopping``). Lost for good: events already
routed to the capture queue, and messages in the dead-letter queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

import anyio.to_thread
import boto3
import uvicorn
from botocore.config import Config
from moto.backends import get_backend
from starlette.types import Receive, Scope, Send

from truthloop.exceptions import LocalBackendError
from truthloop.local.backend import STATE_FILE
from truthloop.local.dynamodb_journal import DurableDynamoDB, RestoreReport
from truthloop.local.handlers import LambdaContext, load_handler
from truthloop.local.s3 import MOTO_SERVICES, DurableS3, S3Gateway, is_loopback_host, reset_moto, signing_service
from truthloop.service.driver import QueueDriver
from truthloop.service.emulated import create_deployment
from truthloop.service.http_api import from_http_api_response, to_http_api_event
from truthloop.service.local_signin import LOCAL_SIGN_IN_PREFIX, LocalHostedUI, create_worker_pool
from truthloop.service.settings import (
    ENV_AUTH_URL,
    ENV_BASE_URL,
    ENV_JWKS_URL,
    ENV_USER_POOL_CLIENT_ID,
    ENV_USER_POOL_ID,
)

__all__ = ["SERVED_MOTO_SERVICES", "LocalService"]

#: signing names answered by moto (the service publishes its status events to EventBridge)
SERVED_MOTO_SERVICES = (*MOTO_SERVICES, "events", "cognito-idp")
#: a user pool's public keys and OpenID configuration (unsigned GETs, as on AWS)
_COGNITO_WELL_KNOWN = re.compile(r"^/[a-z0-9-]+_[0-9A-Za-z]+/\.well-known/(jwks\.json|openid-configuration)$")
_COGNITO_TARGET = "awscognitoidentityproviderservice."
_LAMBDAS = Path(__file__).resolve().parents[1] / "cdk" / "_lambdas"
_HOST = "127.0.0.1"
_ENDPOINT_SERVICES = (
    "SAGEMAKER",
    "SAGEMAKER_A2I_RUNTIME",
    *(name.upper().replace("-", "_") for name in SERVED_MOTO_SERVICES),
)

Handler = Callable[[Any, Any], Any]


def _client(service: str, endpoint_url: str, region: str) -> Any:
    """A boto3 client for the internal moto port (dummy credentials, path-style S3)."""
    session = boto3.session.Session(
        region_name=region, aws_access_key_id="truthloop-local", aws_secret_access_key="truthloop-local"
    )
    make: Any = session.client  # any service name (boto3's stubs type each one as a literal)
    return make(service, endpoint_url=endpoint_url, config=Config(s3={"addressing_style": "path"}))


def _handler(name: str) -> Handler:
    return load_handler(f"{name}/handler.py:handler", search_paths=(_LAMBDAS,))


def _call_on_own_loop(api: Handler, event: dict[str, Any], context: LambdaContext) -> Any:
    """Call the API handler (Mangum runs the app on the thread's event loop) with a loop closed afterwards, so
    the pooled worker threads leave no event loop behind."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        return api(event, context)
    finally:
        asyncio.set_event_loop(None)
        loop.close()


async def _refuse(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps({"__type": code, "message": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class _Dispatch:
    """Loopback ``Host`` only; moto's services by SigV4 scope; everything else to the API handler (if any)."""

    def __init__(self, gateway: S3Gateway, api: Handler | None, hosted_ui: Any = None) -> None:
        self.gateway = gateway
        self.api = api
        self.hosted_ui = hosted_ui

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if not is_loopback_host(headers.get("host", "")):
            await _refuse(send, 400, "InvalidHost", "truthloop service local only answers 127.0.0.1/localhost")
            return
        query = scope.get("query_string", b"").decode("latin-1")
        service = signing_service(headers, query)
        if service is None and (
            (scope["method"] == "GET" and _COGNITO_WELL_KNOWN.match(scope["path"]))
            or headers.get("x-amz-target", "").lower().startswith(_COGNITO_TARGET)
        ):
            service = "cognito-idp"
        if service is None and self.hosted_ui is not None and scope["path"].startswith(f"{LOCAL_SIGN_IN_PREFIX}/"):
            await self.hosted_ui(scope, receive, send)
            return
        if service in SERVED_MOTO_SERVICES:
            await self.gateway(scope, receive, send, service=service)
            return
        if self.api is None:
            await _refuse(send, 404, "UnknownOperationException", "only moto's services are served here")
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        client = scope.get("client") or (_HOST, 0)
        raw_headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1").lower()
            text = value.decode("latin-1")
            raw_headers[key] = f"{raw_headers[key]},{text}" if key in raw_headers else text
        event = to_http_api_event(scope["method"], scope["path"], query, raw_headers, bytes(body), source_ip=client[0])
        context = LambdaContext(function_name="truthloop-service-api", invoked_function_arn="arn:local")
        api = self.api
        # the handler blocks (its own boto3 calls): never on the event loop
        response = await anyio.to_thread.run_sync(_call_on_own_loop, api, event, context)
        status, response_headers, content = from_http_api_response(response)
        response_headers["content-length"] = str(len(content))
        response_headers.pop("set-cookie", None)  # one header per cookie (a comma-joined one breaks on Expires=)
        encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response_headers.items()]
        encoded += [(b"set-cookie", str(cookie).encode("latin-1")) for cookie in response.get("cookies") or []]
        await send({"type": "http.response.start", "status": status, "headers": encoded})
        await send({"type": "http.response.body", "body": content})


def _serve(sock: socket.socket, app: _Dispatch, name: str) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=lambda: server.run(sockets=[sock]), name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise LocalBackendError("the HTTP server did not start")
        time.sleep(0.01)
    return server, thread


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((_HOST, port))
    except OSError as exc:
        sock.close()
        raise LocalBackendError(f"cannot listen on {_HOST}:{port}: {exc.strerror}") from None
    return sock


class LocalService:
    """The service deployment emulated on 127.0.0.1:``port`` (``port=0`` picks a free one).

    It sets the ``TRUTHLOOP_SERVICE_*`` variables, region and endpoint in ``os.environ`` for the handlers (as
    Lambda does), so one process runs one of these at a time; :meth:`stop` restores the previous values.
    """

    def __init__(
        self,
        *,
        port: int,
        data_dir: Path,
        region: str = "us-east-1",
        workers: int = 3,
        sweep_seconds: float = 60.0,
        sign_in: bool = False,
        journal: bool = True,
        run_engine: bool = True,
    ) -> None:
        self.port = port
        self.data_dir = Path(data_dir)
        self.region = region
        self.worker_count = workers
        self.sweep_seconds = sweep_seconds
        self.endpoint_url = ""
        self.portal_url = ""
        self.worker_tokens: dict[str, str] = {}
        self.sign_in = sign_in
        #: with ``sign_in``: the user pool and portal app client the portal signs workers in with
        self.user_pool_id = ""
        self.user_pool_client_id = ""
        self._servers: list[tuple[uvicorn.Server, threading.Thread]] = []
        self._saved_env: dict[str, str | None] = {}
        self._driver: QueueDriver | None = None
        #: ``True``: DynamoDB is journaled to ``<data-dir>/dynamodb``; ``False``: moto's memory only (benchmarks)
        self.journal = journal
        #: ``False``: nothing consumes the engine queue and no sweep runs (tests: a crash before the engine ran)
        self.run_engine = run_engine
        self.dynamodb: DurableDynamoDB | None = None
        #: what the start found in ``<data-dir>/dynamodb`` (``None`` without the journal)
        self.restored: RestoreReport | None = None

    def start(self) -> LocalService:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            self.data_dir.chmod(0o700)
        sock = _listen(self.port)
        try:
            self._start(sock)
        except BaseException:
            sock.close()
            self.stop()
            raise
        return self

    def _start(self, sock: socket.socket) -> None:
        # moto's state is per process: it starts empty, then S3 and DynamoDB are loaded from their files
        reset_moto()
        get_backend("events").reset()
        get_backend("cognito-idp").reset()
        store = DurableS3(self.data_dir / "s3")
        store.restore()
        self.dynamodb = DurableDynamoDB(self.data_dir / "dynamodb") if self.journal else None
        gateway = S3Gateway(store, self.dynamodb)
        if self.dynamodb is not None:
            self.restored = self.dynamodb.restore(gateway.apply_dynamodb)
        internal = _listen(0)
        self._servers.append(_serve(internal, _Dispatch(gateway, None), "truthloop-service-moto"))
        internal_url = f"http://{_HOST}:{internal.getsockname()[1]}"
        self.endpoint_url = f"http://{_HOST}:{sock.getsockname()[1]}"
        self._set_env(
            {
                "AWS_ENDPOINT_URL": internal_url,
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID") or "truthloop-local",
                "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY") or "truthloop-local",
                ENV_BASE_URL: self.endpoint_url,
            }
        )
        made = create_deployment(lambda name: _client(name, internal_url, self.region))
        self._set_env(made.env)
        hosted_ui = None
        if self.sign_in:
            cognito = _client("cognito-idp", internal_url, self.region)
            pool, client = create_worker_pool(cognito, portal_url=f"{self.endpoint_url}/portal")
            self.user_pool_id, self.user_pool_client_id = pool, client
            hosted_ui = LocalHostedUI(cognito, pool).app
            self._set_env(
                {
                    ENV_USER_POOL_ID: pool,
                    ENV_USER_POOL_CLIENT_ID: client,
                    ENV_AUTH_URL: f"{self.endpoint_url}{LOCAL_SIGN_IN_PREFIX}",
                    ENV_JWKS_URL: f"{internal_url}/{pool}/.well-known/jwks.json",
                }
            )
        from truthloop.service.entry import current_service

        service = current_service()
        self.portal_url = service.runtime.portal_url
        for index in range(1, 0 if self.sign_in else self.worker_count + 1):
            _, token = service.workers.issue(f"worker-{index}")
            self.worker_tokens[f"worker-{index}"] = token
        self._driver = QueueDriver(
            _client("sqs", internal_url, self.region),
            made.queue_url,
            engine=_handler("service_engine"),
            sweep=_handler("service_sweep"),
            region=self.region,
            sweep_interval_seconds=self.sweep_seconds,
        )
        if self.run_engine:
            self._driver.start()
        public = _Dispatch(gateway, _handler("service_api"), hosted_ui)
        self._servers.append(_serve(sock, public, "truthloop-service-http"))
        self._write_state()

    def _set_env(self, values: dict[str, str]) -> None:
        for key, value in values.items():
            self._saved_env.setdefault(key, os.environ.get(key))
            os.environ[key] = value

    def _write_state(self) -> None:
        state = {
            "endpoint": self.endpoint_url,
            "s3_endpoint": self.endpoint_url,
            "portal": self.portal_url,
            "region": self.region,
            "admin_token": "",  # the service has no admin API
            "pid": os.getpid(),
            "storage": "dynamodb",
        }
        fd = os.open(self.data_dir / STATE_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(state, handle, indent=2)

    def client_env(self) -> dict[str, str]:
        """Environment variables that point unchanged boto3 code at this port (with dummy credentials)."""
        env = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }
        for service in _ENDPOINT_SERVICES:  # COGNITO_IDP too
            env[f"AWS_ENDPOINT_URL_{service}"] = self.endpoint_url
        return env

    def stop(self) -> None:
        if self._driver is not None:
            self._driver.stop()
            self._driver = None
        for server, _ in self._servers:
            server.should_exit = True
        for _, thread in self._servers:
            thread.join(timeout=15)
        self._servers = []
        if self.dynamodb is not None:
            self.dynamodb.close()
            self.dynamodb = None
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved_env = {}
        with contextlib.suppress(OSError):
            (self.data_dir / STATE_FILE).unlink()

    def __enter__(self) -> LocalService:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
