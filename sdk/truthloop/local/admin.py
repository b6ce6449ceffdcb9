"""``/_truthloop``: the backend's own control endpoints (health, events, faults, clock, workers).

Everything except ``/health`` and the signed template URLs needs ``Authorization: Bearer <admin token>``; the
token is written to ``<data-dir>/backend.json`` (mode 0600) and printed by ``truthloop local up``.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Callable
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from truthloop.exceptions import LocalBackendError
from truthloop.local.config import FaultConfig
from truthloop.local.runtime import Runtime
from truthloop.local.workforce import WorkerDirectory

__all__ = ["AdminApp"]


class BadRequest(Exception):
    """A malformed admin request: answered 400 with ``{"error": message}``."""


async def _bad_request(request: Request, exc: Exception) -> Response:
    return JSONResponse({"error": str(exc)}, status_code=400)


async def _json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or :class:`BadRequest` saying what is wrong with it."""
    body = await request.body()
    try:
        value = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise BadRequest("expected a JSON object")
    return value


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadRequest(f"{name} must be a number, got {json.dumps(value)[:80]}")
    number = float(value)
    if not math.isfinite(number):
        raise BadRequest(f"{name} must be finite")
    return number


class AdminApp:
    """Control endpoints used by tests, simulated workers and the demo."""

    def __init__(
        self,
        runtime: Runtime,
        workers: WorkerDirectory,
        admin_token: str,
        *,
        status: Callable[[], dict[str, Any]],
        task_ui_content: Callable[[str], str | None],
    ) -> None:
        self.rt = runtime
        self.workers = workers
        self._token = admin_token
        self._status = status
        self._task_ui_content = task_ui_content
        self.app = Starlette(
            routes=[
                Route("/health", self.health, methods=["GET"]),
                Route("/status", self.status, methods=["GET"]),
                Route("/events", self.events, methods=["GET"]),
                Route("/config", self.config, methods=["GET", "POST"]),
                Route("/clock", self.clock, methods=["POST"]),
                Route("/workers", self.create_worker, methods=["POST"]),
                Route("/ui-templates/{name}", self.ui_template, methods=["GET"]),
            ],
            middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=["127.0.0.1", "localhost", "[::1]"])],
            exception_handlers={BadRequest: _bad_request},
        )

    def _authorised(self, request: Request) -> bool:
        value = request.headers.get("authorization", "")
        return value.lower().startswith("bearer ") and secrets.compare_digest(value[7:].strip(), self._token)

    @staticmethod
    def _denied() -> Response:
        return JSONResponse({"error": "the admin token is required (Authorization: Bearer …)"}, status_code=401)

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def status(self, request: Request) -> Response:
        if not self._authorised(request):
            return self._denied()
        return JSONResponse(await anyio.to_thread.run_sync(self._status))

    async def events(self, request: Request) -> Response:
        if not self._authorised(request):
            return self._denied()
        try:
            after = int(request.query_params.get("after", "0"))
        except ValueError:
            raise BadRequest("after must be an integer event id") from None
        if not 0 <= after < 2**63:
            raise BadRequest("after must be an event id between 0 and 2^63-1")
        records = await anyio.to_thread.run_sync(lambda: self.rt.storage.list_events(after_id=after))
        return JSONResponse(
            {
                "events": [
                    {
                        "id": r.id,
                        "detailType": r.detail_type,
                        "event": r.body,
                        "delivered": r.delivered,
                        "attempts": r.attempts,
                        "copies": r.copies,
                        "lastError": r.last_error,
                    }
                    for r in records
                ]
            }
        )

    def _config_view(self) -> dict[str, Any]:
        return {
            "max_active_human_loops": self.rt.max_active_human_loops,
            "duplicate_events": self.rt.events.duplicates,
            "faults": {
                "throttle_rate": self.rt.faults.throttle_rate,
                "operations": list(self.rt.faults.operations),
                "seed": self.rt.faults.seed,
            },
            "clock_offset": self.rt.clock_offset,
        }

    async def config(self, request: Request) -> Response:
        if not self._authorised(request):
            return self._denied()
        if request.method == "POST":
            body = await _json_object(request)
            unknown = set(body) - {"max_active_human_loops", "duplicate_events", "faults"}
            if unknown:
                raise BadRequest(f"unknown keys: {sorted(unknown)}")
            faults = self.rt.faults
            if "faults" in body:
                spec = body["faults"] or {}
                if not isinstance(spec, dict):
                    raise BadRequest("faults must be a JSON object")
                operations = spec.get("operations", ())
                seed = spec.get("seed")
                if not isinstance(operations, list | tuple) or not all(isinstance(o, str) for o in operations):
                    raise BadRequest("faults.operations must be a list of operation names")
                if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
                    raise BadRequest("faults.seed must be an integer")
                try:
                    faults = FaultConfig(
                        throttle_rate=_number(spec.get("throttle_rate", 0.0), "faults.throttle_rate"),
                        operations=tuple(operations),
                        seed=seed,
                    )
                except LocalBackendError as exc:
                    raise BadRequest(str(exc)) from exc
            limit = self.rt.max_active_human_loops
            if "max_active_human_loops" in body:
                value = body["max_active_human_loops"]
                if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                    raise BadRequest("max_active_human_loops must be null or an integer >= 0")
                limit = value
            duplicates = self.rt.events.duplicates
            if "duplicate_events" in body:
                if not isinstance(body["duplicate_events"], bool):
                    raise BadRequest("duplicate_events must be true or false")
                duplicates = body["duplicate_events"]
            self.rt.faults, self.rt.max_active_human_loops, self.rt.events.duplicates = faults, limit, duplicates
        return JSONResponse(self._config_view())

    async def clock(self, request: Request) -> Response:
        if not self._authorised(request):
            return self._denied()
        body = await _json_object(request)
        advance = _number(body.get("advance_seconds", 0), "advance_seconds")
        if advance < 0:
            raise BadRequest("the clock only moves forward")
        self.rt.clock_offset += advance
        self.rt.steps.enqueue("sweep")
        return JSONResponse({"clock_offset": self.rt.clock_offset, "now": self.rt.now()})

    async def create_worker(self, request: Request) -> Response:
        if not self._authorised(request):
            return self._denied()
        body = await _json_object(request)
        name = body.get("name")
        if not isinstance(name, str) or not name.strip() or len(name) > 256 or not name.isprintable():
            raise BadRequest('expected {"name": "…"} with a printable name of at most 256 characters')
        simulated = body.get("simulated", False)
        if not isinstance(simulated, bool):
            raise BadRequest("simulated must be true or false")
        worker, token = await anyio.to_thread.run_sync(lambda: self.workers.issue(name.strip(), simulated=simulated))
        return JSONResponse({"workerId": worker.id, "name": worker.name, "token": token})

    async def ui_template(self, request: Request) -> Response:
        name = request.path_params["name"]
        signature = request.query_params.get("signature", "")
        if not self.rt.verify(name, signature):
            return PlainTextResponse("AccessDenied", status_code=403)
        content = self._task_ui_content(name)
        if content is None:
            return PlainTextResponse("NoSuchKey", status_code=404)
        return PlainTextResponse(content, media_type="text/html")
