"""What the service's three Lambda functions do; ``lambdas/service_*/handler.py`` only parse, call and return.

* the API (``lambdas/service_api``): an HTTP API (payload v2) event through Mangum into :attr:`Service.app`;
* the engine (``lambdas/service_engine``): one SQS record = one :class:`~truthloop.local.steps.StepMessage`;
* the sweep (``lambdas/service_sweep``): the schedule's time-based work.

The service is built once per Lambda container from the environment (again if the ``TRUTHLOOP_SERVICE_*``
variables or the region change; ``truthloop service local`` calls :func:`forget_service` when it starts and stops a
deployment). ``AWS_ENDPOINT_URL`` is read once, when the clients are made: a host process that changes it later (a
test clearing it) does not make the next invocation rebuild the service and lose what the built one holds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

from mangum import Mangum

from truthloop.local.steps import StepMessage
from truthloop.service.app import Service
from truthloop.service.settings import (
    ENV_ACCOUNT_ID,
    ENV_BASE_URL,
    ENV_BUCKET,
    ENV_EVENT_BUS,
    ENV_EVENT_SOURCE,
    ENV_QUEUE_URL,
    ENV_TABLE,
    PORTAL_ENV_KEYS,
)

__all__ = ["current_service", "forget_service", "handle_http", "handle_schedule", "handle_step"]

log = logging.getLogger("truthloop.service")

_ENV_KEYS = (
    ENV_TABLE,
    ENV_BUCKET,
    ENV_QUEUE_URL,
    ENV_EVENT_BUS,
    ENV_EVENT_SOURCE,
    ENV_ACCOUNT_ID,
    ENV_BASE_URL,
    *PORTAL_ENV_KEYS,
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
)
_lock = threading.Lock()
_built: dict[tuple[str | None, ...], tuple[Service, Mangum]] = {}


def _current() -> tuple[Service, Mangum]:
    key = tuple(os.environ.get(name) for name in _ENV_KEYS)
    with _lock:
        found = _built.get(key)
        if found is None:
            service = Service.from_env(os.environ)
            # lifespan off: nothing to start or stop; the base path is the HTTP API's $default stage (none)
            found = (service, Mangum(service.app, lifespan="off"))
            _built.clear()
            _built[key] = found
        return found


def forget_service() -> None:
    """Drop the built service: the next invocation builds it again from the environment (a new deployment)."""
    with _lock:
        _built.clear()


def current_service() -> Service:
    """The service of this container's environment."""
    return _current()[0]


def _thread_loop() -> None:
    """Mangum runs the application on the thread's current event loop: make sure the thread has an open one.

    An existing loop is kept (replacing it would orphan it); a thread without one (or with a closed one) gets one.
    """
    try:
        if not asyncio.get_event_loop().is_closed():
            return
    except RuntimeError:  # a thread other than the main one, or the main one after asyncio.run()
        pass
    asyncio.set_event_loop(asyncio.new_event_loop())


def handle_http(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """An HTTP API (payload format 2.0) request → the same ASGI application as the local backend's."""
    adapter = _current()[1]
    _thread_loop()
    response: dict[str, Any] = adapter(event, context)
    return response


def handle_step(body: str, *, receive_count: int = 1) -> None:
    """One engine message. A malformed one raises :class:`~truthloop.local.steps.StepMessageError` (logged with
    its reason); SQS redelivers it and, after the queue's ``maxReceiveCount``, moves it to the DLQ."""
    try:
        message = StepMessage.parse(body)
    except Exception as exc:
        log.error("poison engine message (receive %d): %s; body starts %r", receive_count, exc, body[:200])
        raise
    current_service().run_step(message)


def handle_schedule() -> dict[str, Any]:
    """The scheduled sweep: expire tasks and assignments, settle stuck loops, enqueue every step that is due."""
    service = current_service()
    before = service.runner.sent
    outcome = service.sweep()
    return {"changed": outcome.changed, "enqueued": service.runner.sent - before}
