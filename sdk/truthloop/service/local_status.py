"""LOCAL ONLY: ``GET /_truthloop/status`` for ``truthloop service local``, so ``truthloop local status`` runs there.

With ``Authorization: Bearer <admin token>`` (from ``<data-dir>/backend.json``) it answers the JSON object the
local backend's status route gives (:meth:`truthloop.local.backend.LocalBackend.status`): ``endpoint``,
``s3_endpoint``, ``portal``, ``human_loops`` and ``labeling_jobs`` by status, ``workers``, ``events`` and
``engine_errors``, counted from the service's DynamoDB table. What differs on the service is said, not left out:
``"storage": "dynamodb"``, ``region``, the engine queue's messages waiting (``engine_queue``) and those moved to
its dead-letter queue (``dead_letters``); ``workers`` counts the worker directory (worker tokens), not the users
of a user pool (``--sign-in``), which the pool holds.

Like ``/_truthloop/workers`` (:mod:`truthloop.service.local_workers`) it is served by ``service local``'s loopback
dispatcher (:mod:`truthloop.service.local`), never by the API function: on a deployed stack the path reaches the API
function's ``$default`` route, where :class:`~truthloop.service.app.ServiceApp` does not know it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from truthloop.service.local_workers import admin_authorised, admin_token_required

__all__ = ["LOCAL_STATUS_PATH", "LocalStatus"]

LOCAL_STATUS_PATH = "/_truthloop/status"


class LocalStatus:
    """The ``/_truthloop/status`` route of ``service local`` (see the module's docstring)."""

    def __init__(self, admin_token: str, status: Callable[[], dict[str, Any]]) -> None:
        if not admin_token:
            raise ValueError("the local status route needs an admin token")
        self._token = admin_token
        self._status = status
        self.app = Starlette(routes=[Route(LOCAL_STATUS_PATH, self.status, methods=["GET"])])

    async def status(self, request: Request) -> Response:
        if not admin_authorised(request, self._token):
            return admin_token_required()
        return JSONResponse(await anyio.to_thread.run_sync(self._status))
