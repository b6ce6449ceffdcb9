"""``/_truthloop``: the backend's own control endpoints (health, events, faults, clock, workers).

Everything except ``/health`` and the signed template URLs needs ``Authorization: Bearer <admin token>``; the
token is written to ``<data-dir>/backend.json`` (mode 0600) and printed by ``truthloop local up``.
"""

from __future__ import annotations

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

from truthloop.local.config import FaultConfig
from truthloop.local.runtime import Runtime
from truthloop.local.workforce import WorkerDirectory

__all__ = ["AdminApp"]


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
        after = int(request.query_params.get("after", "0"))
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
            body = await request.json()
            if not isinstance(body, dict):
                return JSONResponse({"error": "expected a JSON object"}, status_code=400)
            unknown = set(body) - {"max_active_human_loops", "duplicate_events", "faults"}
            if unknown:
                return JSONResponse({"error": f"unknown keys: {sorted(unknown)}"}, status_code=400)
            try:
                if "faults" in body:
                    faults = body["faults"] or {}
                    self.rt.faults = FaultConfig(
                        throttle_rate=float(faults.get("throttle_rate", 0.0)),
                        operations=tuple(faults.get("operations", ())),
                        seed=faults.get("seed"),
                    )
                if "max_active_human_loops" in body:
                    value = body["max_active_human_loops"]
                    self.rt.max_active_human_loops = None if value is None else int(value)
                if "duplicate_events" in body:
                    self.rt.events.duplicates = bool(body["duplicate_events"])
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(self._config_view())

    async def clock(self, request: Request) -> Response:
        if not self._authorised(request):
            return self._denied()
        body = await request.json()
        advance = float(body.get("advance_seconds", 0)) if isinstance(body, dict) else 0.0
        if advance < 0:
            return JSONResponse({"error": "the clock only moves forward"}, status_code=400)
        self.rt.clock_offset += advance
        self.rt.steps.enqueue("sweep")
        return JSONResponse({"clock_offset": self.rt.clock_offset, "now": self.rt.now()})

    async def create_worker(self, request: Request) -> Response:
        if not self._authorised(request):
            return self._denied()
        body = await request.json()
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name.strip():
            return JSONResponse({"error": 'expected {"name": "…"}'}, status_code=400)
        simulated = bool(body.get("simulated", False))
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
