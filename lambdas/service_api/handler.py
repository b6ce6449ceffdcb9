"""truthloop service API Lambda: HTTP API (payload v2) → the A2I runtime, SageMaker and portal application.

Configuration: ``TRUTHLOOP_SERVICE_TABLE``, ``TRUTHLOOP_SERVICE_BUCKET``, ``TRUTHLOOP_SERVICE_QUEUE_URL``,
``TRUTHLOOP_SERVICE_EVENT_BUS`` (default ``default``), ``TRUTHLOOP_SERVICE_EVENT_SOURCE`` (default
``truthloop.service``). The work is done by :func:`truthloop.service.entry.handle_http` (Mangum + the ASGI app that
``truthloop local up`` serves).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from truthloop.service.entry import handle_http

logger = Logger(service="truthloop-service-api")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_http(event, context)
