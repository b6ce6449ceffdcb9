"""``truthloop service local``: the service's three Lambda handlers on one loopback port, over moto.

One port answers everything, as AWS would across its endpoints:

* requests signed for ``s3``, ``dynamodb``, ``sqs``, ``sns`` or ``events`` go to moto (:class:`S3Gateway`: S3 is
  written through to ``<data-dir>/s3``, DynamoDB journaled to ``<data-dir>/dynamodb``, the others are in memory);
* requests signed for ``cognito-idp`` (or unsigned ones with its ``X-Amz-Target``, such as ``InitiateAuth``), and
  ``GET /<user pool id>/.well-known/jwks.json``, go to moto's Cognito (its tokens are signed with the key that JWKS
  publishes);
* with ``sign_in`` (``--sign-in``): a user pool and portal client are made, the portal signs workers in with them,
  and ``/local-cognito/…`` is a LOCAL-ONLY stand-in for the pool's hosted UI (:mod:`truthloop.service.local_signin`);
* ``POST /_truthloop/workers`` with the admin token of ``<data-dir>/backend.json`` is a LOCAL-ONLY route that issues
  (simulated) workers, worker tokens or, with ``sign_in``, users of the pool signed in with its client
  (:mod:`truthloop.service.local_workers`): what ``truthloop local workers`` needs;
* ``GET /_truthloop/status`` with the same admin token is a LOCAL-ONLY route answering what the local backend's
  does, counted from the table (:mod:`truthloop.service.local_status`): what ``truthloop local status`` needs;
* every other request becomes an HTTP API (payload 2.0) event for ``lambdas/service_api`` (SageMaker, the A2I
  runtime and the portal), run on a worker thread;
* a :class:`QueueDriver` plays the SQS event source mapping (``lambdas/service_engine``) and the sweep schedule
  (``lambdas/service_sweep``) in the background;
* requests signed for ``lambda`` are Lambda's ``Invoke`` API for the functions mapped with ``lambdas`` (``--lambda
  ARN=module:function``, as ``truthloop local up`` takes): the service calls a labeling job's own pre- and
  post-annotation ARNs that way; an ARN mapped nowhere is ``ResourceNotFoundException``, as on AWS.

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
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote

import anyio.to_thread
import boto3
import uvicorn
from botocore.config import Config
from moto.backends import get_backend
from starlette.types import Receive, Scope, Send

from truthloop.exceptions import LocalBackendError
from truthloop.local.backend import STATE_FILE, stored_counts, write_state_file
from truthloop.local.config import LambdaConfig
from truthloop.local.dynamodb_journal import DurableDynamoDB, RestoreReport
from truthloop.local.handlers import LambdaContext, forget_file_handlers, load_handler
from truthloop.local.lambdas import LambdaError, LambdaRegistry, handler_environment
from truthloop.local.s3 import MOTO_SERVICES, DurableS3, S3Gateway, is_loopback_host, reset_moto, signing_service
from truthloop.service.driver import QueueDriver
from truthloop.service.emulated import EmulatedDeployment, create_deployment
from truthloop.service.entry import current_service, forget_service
from truthloop.service.http_api import http_api_response, to_http_api_event
from truthloop.service.local_signin import LOCAL_SIGN_IN_PREFIX, LocalHostedUI, create_worker_pool
from truthloop.service.local_status import LOCAL_STATUS_PATH, LocalStatus
from truthloop.service.local_workers import LOCAL_WORKERS_PATH, IssuedWorker, LocalWorkerIssuer, cognito_worker
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
_INVOKE_PATH = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")


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
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"x-amzn-errortype", code.encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _reply(send: Send, status: int, body: bytes, headers: Mapping[str, str]) -> None:
    encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    encoded.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": encoded})
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Receive) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return bytes(body)


def _function_name(name: str) -> str:
    """The function name in an ``Invoke`` FunctionName: a name, a (partial) ARN, either with a qualifier."""
    parts = name.split(":")
    if name.startswith("arn:") and len(parts) >= 7:
        return parts[6]
    if len(parts) >= 3 and parts[1] == "function":  # 123456789012:function:name[:qualifier]
        return parts[2]
    return parts[0]


class LambdaFunctions:
    """Lambda's ``Invoke`` API for the mapped functions (run in-process, with their environment)."""

    def __init__(self, mapping: Mapping[str, LambdaConfig], environment: Mapping[str, str]) -> None:
        self._by_name = {_function_name(arn): arn for arn in mapping}
        self.registry = LambdaRegistry(
            mapping, s3_client_factory=lambda: None, search_paths=(_LAMBDAS,)
        )
        self.registry.base_environment = dict(environment)

    def check(self) -> list[str]:
        return self.registry.check()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        matched = _INVOKE_PATH.match(scope["path"])
        payload = await _read_body(receive)
        if scope["method"] != "POST" or matched is None:
            await _refuse(send, 404, "UnknownOperationException", "only Lambda's Invoke is served here")
            return
        requested = unquote(matched["name"])
        arn = self._by_name.get(_function_name(requested))
        if arn is None:
            await _refuse(send, 404, "ResourceNotFoundException", f"Function not found: {requested}")
            return
        try:
            event = json.loads(payload) if payload else {}
        except ValueError:
            await _refuse(send, 400, "InvalidRequestContentException", "Could not parse request body into json")
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        kind = headers.get("x-amz-invocation-type", "RequestResponse")
        if kind == "DryRun":
            await _reply(send, 204, b"", {})
            return
        answer = {"content-type": "application/json", "x-amz-executed-version": "$LATEST"}
        try:
            result = await anyio.to_thread.run_sync(self.registry.invoke, arn, event)
            body = json.dumps(result).encode()
        except LambdaError as exc:
            error = exc.error
            body = json.dumps({"errorMessage": str(error), "errorType": type(error).__name__}).encode()
            answer["x-amz-function-error"] = "Unhandled"
        await _reply(send, 202 if kind == "Event" else 200, b"" if kind == "Event" else body, answer)


class _Dispatch:
    """Loopback ``Host`` only; moto's services by SigV4 scope, Lambda's to the mapped functions; the local-only
    routes (hosted UI; ``local_routes``: path -> ASGI app, the workers and status routes) on the public port;
    everything else to the API handler (if any)."""

    def __init__(
        self,
        gateway: S3Gateway,
        api: Handler | None,
        functions: LambdaFunctions | None = None,
        hosted_ui: Any = None,
        local_routes: Mapping[str, Any] | None = None,
    ) -> None:
        self.gateway = gateway
        self.api = api
        self.functions = functions
        self.hosted_ui = hosted_ui
        self.local_routes = dict(local_routes or {})

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
        local_route = self.local_routes.get(scope["path"]) if service is None else None
        if local_route is not None:
            await local_route(scope, receive, send)
            return
        if service in SERVED_MOTO_SERVICES:
            await self.gateway(scope, receive, send, service=service)
            return
        if service == "lambda":
            if self.functions is None:
                await _refuse(send, 404, "ResourceNotFoundException", "no Lambda function is served here")
                return
            await self.functions(scope, receive, send)
            return
        if self.api is None:
            await _refuse(send, 404, "UnknownOperationException", "only moto's services are served here")
            return
        body = await _read_body(receive)
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
        status, response_headers, content = http_api_response(response)
        encoded = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response_headers if k != "content-length"]
        encoded.append((b"content-length", str(len(content)).encode()))
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
    ``lambdas`` maps a labeling job's own Lambda ARNs to in-process handlers (served as Lambda's ``Invoke``).
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
        lambdas: Mapping[str, LambdaConfig] | None = None,
    ) -> None:
        self.port = port
        self.data_dir = Path(data_dir)
        self.region = region
        self.worker_count = workers
        self.sweep_seconds = sweep_seconds
        self.endpoint_url = ""
        self.portal_url = ""
        self.worker_tokens: dict[str, str] = {}
        #: LOCAL ONLY, new at each start: authorises ``POST /_truthloop/workers`` (written to backend.json)
        self.admin_token = ""
        self.sign_in = sign_in
        #: with ``sign_in``: the user pool and portal app client the portal signs workers in with
        self.user_pool_id = ""
        self.user_pool_client_id = ""
        self.lambdas = dict(lambdas or {})
        #: the emulated resources (table, bucket, engine queue, DLQ, the queue capturing status events)
        self.deployment: EmulatedDeployment | None = None
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

    @property
    def driver(self) -> QueueDriver:
        """What plays the engine queue's event source mapping and the sweep schedule (while running)."""
        if self._driver is None:
            raise LocalBackendError("the service is not running")
        return self._driver

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
        forget_file_handlers()  # handlers start cold: module-level clients for this deployment's port, not an old one
        store = DurableS3(self.data_dir / "s3")
        store.restore()
        self.dynamodb = DurableDynamoDB(self.data_dir / "dynamodb") if self.journal else None
        # moto is not atomic per request, DynamoDB is: the journal's lock serialises writes, or the gateway does
        gateway = S3Gateway(store, self.dynamodb, one_at_a_time=() if self.dynamodb else ("dynamodb",))
        if self.dynamodb is not None:
            self.restored = self.dynamodb.restore(gateway.apply_dynamodb)
        self.endpoint_url = f"http://{_HOST}:{sock.getsockname()[1]}"
        functions = LambdaFunctions(
            self.lambdas,
            handler_environment(
                {
                    **self.client_env(),
                    "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID") or "truthloop-local",
                    "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY") or "truthloop-local",
                }
            ),
        )
        problems = functions.check()  # a wrong handler path is reported at start, not when a job first calls it
        if problems:
            raise LocalBackendError("; ".join(problems))
        internal = _listen(0)
        self._servers.append(_serve(internal, _Dispatch(gateway, None, functions), "truthloop-service-moto"))
        internal_url = f"http://{_HOST}:{internal.getsockname()[1]}"
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
        self.deployment = made
        self._set_env(made.env)
        forget_service()  # a deployment of its own: never the service another LocalService built in this process
        hosted_ui = None
        cognito: Any = None
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
        self.admin_token = secrets.token_urlsafe(32)
        issuer = LocalWorkerIssuer(self.admin_token, self._worker_issuer(cognito))
        status = LocalStatus(self.admin_token, self.status)
        local_routes = {LOCAL_WORKERS_PATH: issuer.app, LOCAL_STATUS_PATH: status.app}
        public = _Dispatch(gateway, _handler("service_api"), functions, hosted_ui, local_routes)
        self._servers.append(_serve(sock, public, "truthloop-service-http"))
        self._write_state()

    def _worker_issuer(self, cognito: Any) -> Callable[[str, bool, list[str] | None], IssuedWorker]:
        """How ``/_truthloop/workers`` issues a worker: a user of the pool with ``sign_in``, else a worker token."""
        if cognito is not None:
            pool, client = self.user_pool_id, self.user_pool_client_id
            return lambda name, simulated, groups: cognito_worker(cognito, pool, client, name, groups)

        def worker_token(name: str, simulated: bool, groups: list[str] | None) -> IssuedWorker:
            if groups is not None:
                raise LookupError("groups: only with --sign-in (a worker token sees every work team's queue)")
            worker, token = current_service().workers.issue(name, simulated=simulated)
            return IssuedWorker(worker.id, worker.name, token)

        return worker_token

    def status(self) -> dict[str, Any]:
        """What ``GET /_truthloop/status`` answers: the local backend's fields, counted from the table, and what is
        the service's own (storage, region, the engine queue and its dead-letter queue)."""
        service = current_service()
        deployment = self.deployment
        if deployment is None:
            raise LocalBackendError("the service is not running")
        sqs = service.clients.sqs
        dead = sqs.get_queue_attributes(
            QueueUrl=deployment.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return {
            "endpoint": self.endpoint_url,
            "s3_endpoint": self.endpoint_url,
            "portal": self.portal_url,
            **stored_counts(service.storage),
            # steps that raised in this process (each is retried or failed with a reason), as the local backend's
            "engine_errors": service.steps.errors,
            "storage": "dynamodb",
            "region": self.region,
            "engine_queue": self.driver.pending(),
            "dead_letters": int(dead.get("ApproximateNumberOfMessages", 0)),
        }

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
            # LOCAL ONLY: authorises POST /_truthloop/workers (truthloop local workers); the service has no admin API
            "admin_token": self.admin_token,
            "pid": os.getpid(),
            "storage": "dynamodb",
        }
        write_state_file(self.data_dir / STATE_FILE, state)

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
        forget_service()
        self.admin_token = ""
        with contextlib.suppress(OSError):
            (self.data_dir / STATE_FILE).unlink()

    def __enter__(self) -> LocalService:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
