"""The AWS-facing ASGI app: SageMaker (JSON 1.1) and A2I runtime (REST-JSON) on one port.

Requests are told apart by ``X-Amz-Target`` (SageMaker) and the ``/human-loops`` path (A2I runtime); both carry a
SigV4 ``Authorization`` header whose credential scope names the signing service ``sagemaker``. Every response
has an ``x-amzn-RequestId`` header, which botocore reports as ``ResponseMetadata.RequestId``.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import uuid
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from starlette.types import Receive, Scope, Send

from truthloop.local.a2i import A2IService
from truthloop.local.errors import ApiError, throttled
from truthloop.local.protocol import (
    A2I_SERVICE,
    SAGEMAKER_SERVICE,
    decode_json11,
    decode_rest_json,
    encode_error,
    encode_output,
    find_rest_route,
    parse_authorization,
    service_model,
    validate_input,
)
from truthloop.local.runtime import Runtime
from truthloop.local.sagemaker import SageMakerService
from truthloop.local.storage import StorageError, StorageThrottled, SupportsFutureStart

__all__ = ["AwsApi"]

#: The SigV4 service scopes a request may be signed for (boto3's own, and API Gateway's for the service).
_SIGNING_SCOPES = frozenset({"sagemaker", "execute-api"})

log = logging.getLogger("truthloop.local.api")

#: operations answered on the event loop (cheap reads); everything else runs in the thread pool
_INLINE = frozenset({"DescribeHumanLoop", "DescribeFlowDefinition", "DescribeHumanTaskUi", "DescribeWorkteam"})


async def read_body(receive: Receive, limit: int = 8 * 1024 * 1024) -> bytes:
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise ApiError("RequestEntityTooLargeException", f"Request body exceeds {limit} bytes", 413)
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class AwsApi:
    """ASGI app serving the emulated AWS APIs."""

    def __init__(self, runtime: Runtime, a2i: A2IService, sagemaker: SageMakerService) -> None:
        self.rt = runtime
        self.a2i = a2i
        self.sagemaker = sagemaker
        self._sm_model = service_model(SAGEMAKER_SERVICE)
        self._a2i_model = service_model(A2I_SERVICE)
        self._rng_lock = threading.Lock()
        self._rng = random.Random(runtime.faults.seed)
        self._rng_seed = runtime.faults.seed
        self.calls: dict[str, int] = {}

    def _throttle(self, operation: str, *, a2i: bool) -> None:
        faults = self.rt.faults
        if not faults.applies_to(operation):
            return
        with self._rng_lock:
            if faults.seed != self._rng_seed:
                self._rng = random.Random(faults.seed)
                self._rng_seed = faults.seed
            hit = self._rng.random() < faults.throttle_rate
        if hit:
            raise throttled("Rate exceeded (fault injection of the local backend)", a2i=a2i)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = str(uuid.uuid4())
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        method: str = scope["method"]
        path: str = scope["path"]
        query = scope.get("query_string", b"").decode("latin-1")
        target = headers.get("x-amz-target")
        protocol = "json" if target or not path.startswith("/human-loops") else "rest-json"
        try:
            body = await read_body(receive)
            if target:
                status, payload = await self._sagemaker(target, headers, body)
            elif path.startswith("/human-loops"):
                status, payload = await self._a2i(method, path, query, headers, body)
            else:
                raise ApiError("UnknownOperationException", f"No AWS operation is served at {method} {path}", 404)
            response_headers = {
                "content-type": "application/x-amz-json-1.1" if protocol == "json" else "application/json"
            }
        except ApiError as error:
            status, response_headers, payload = encode_error(error, protocol)
        except StorageThrottled as exc:  # the store's throughput, after its own retries: the caller backs off
            log.warning("store throttled %s %s: %s", method, path, exc)
            refusal = throttled(
                f"Rate exceeded: the store is throttling ({exc.operation}).", a2i=protocol == "rest-json"
            )
            status, response_headers, payload = encode_error(refusal, protocol)
        except Exception:
            log.exception("internal error serving %s %s", method, path)
            code = "InternalServerException" if protocol == "rest-json" else "InternalFailure"
            status, response_headers, payload = encode_error(
                ApiError(code, "The local backend failed to process the request; see its log.", 500), protocol
            )
        response_headers["x-amzn-requestid"] = request_id
        response_headers["content-length"] = str(len(payload))
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response_headers.items()],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _run(
        self, operation: str, fn: Callable[[str, dict[str, Any]], dict[str, Any]], params: dict[str, Any]
    ) -> dict[str, Any]:
        self.calls[operation] = self.calls.get(operation, 0) + 1
        if operation in _INLINE:
            return fn(operation, params)
        result: dict[str, Any] = await anyio.to_thread.run_sync(fn, operation, params)
        return result

    @staticmethod
    def _check_scope(headers: dict[str, str]) -> None:
        """Both APIs sign as ``sagemaker``; another service's signature means a client aimed at the wrong port.

        ``execute-api`` is the scope of ``truthloop.service.client``: behind the service's API Gateway (or a
        verifying proxy), the gateway has checked that signature before the request gets here.
        """
        auth = parse_authorization(headers)
        if auth.service not in _SIGNING_SCOPES:
            raise ApiError(
                "InvalidSignatureException",
                f"Credential should be scoped to correct service: 'sagemaker'. (This port serves SageMaker and the "
                f"A2I runtime; the request was signed for '{auth.service}'.)",
                403,
            )

    async def _sagemaker(self, target: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        self._check_scope(headers)
        request = decode_json11(self._sm_model, target, body)
        operation = self._sm_model.operation_model(request.operation)
        if request.operation not in self.sagemaker.operations:
            raise ApiError(
                "UnknownOperationException",
                f"The local backend does not emulate SageMaker {request.operation}; supported: "
                + ", ".join(sorted(self.sagemaker.operations)),
                400,
            )
        validate_input(operation, request.params)
        self._throttle(request.operation, a2i=False)
        result = await self._run(request.operation, self.sagemaker.dispatch, request.params)
        return 200, encode_output(operation, result, "json")

    async def _a2i(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> tuple[int, bytes]:
        found = find_rest_route(A2I_SERVICE, method, path)
        if found is None:
            raise ApiError("UnknownOperationException", f"No A2I runtime operation is served at {method} {path}", 404)
        self._check_scope(headers)
        route, labels = found
        request = decode_rest_json(self._a2i_model, route, labels, query, body)
        operation = self._a2i_model.operation_model(request.operation)
        validate_input(operation, request.params)
        self._throttle(request.operation, a2i=True)
        storage = self.rt.storage
        if request.operation == "StartHumanLoop" and isinstance(storage, SupportsFutureStart):
            # the hot path: validate on the event loop, then await the writer thread's group commit directly
            self.calls["StartHumanLoop"] = self.calls.get("StartHumanLoop", 0) + 1
            loop, task = self.a2i.prepare_start(request.params)
            try:
                future = storage.start_human_loop_future(loop, task, max_active=self.rt.max_active_human_loops)
                stored, _ = await asyncio.wrap_future(future)
            except StorageError as exc:
                raise self.a2i.start_error(loop.name, exc) from None
            return 200, encode_output(operation, {"HumanLoopArn": stored.arn}, "rest-json")
        result = await self._run(request.operation, self.a2i.dispatch, request.params)
        return 200, encode_output(operation, result, "rest-json")
