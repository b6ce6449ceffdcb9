"""truthloop service sweep Lambda: run by an EventBridge schedule (every minute) for the time-based work.

Configuration: as the API function (``TRUTHLOOP_SERVICE_*``). :func:`truthloop.service.entry.handle_schedule`
expires tasks and assignments past their time, settles loops a crash left ``Stopping``, and enqueues every engine
step that is due.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger

from truthloop.service.entry import handle_schedule

logger = Logger(service="truthloop-service-sweep")


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_schedule()
