"""Status events straight to EventBridge (``PutEvents``) with AWS's detail-type and detail shapes.

The local backend keeps an outbox that a thread delivers to in-process handlers. The service needs no outbox: an
event is published inside the engine step that made the status final, before the step is marked done, so a failed
``PutEvents`` fails the step and its retry publishes again (at-least-once, as EventBridge itself delivers).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from truthloop.local.events import EventBus
from truthloop.local.storage import Storage

__all__ = ["EventBridgePublisher", "EventPublishError"]


class EventPublishError(Exception):
    """Raised when EventBridge refused an event (``FailedEntryCount`` > 0); the step that published it is retried."""


class EventBridgePublisher(EventBus):
    """An :class:`EventBus` whose ``publish`` is one ``PutEvents`` call (source ``truthloop.service`` by default)."""

    def __init__(
        self,
        storage: Storage,
        client: Any,
        *,
        bus: str,
        source: str,
        account_id: str,
        region: str,
        clock: Callable[[], float],
    ) -> None:
        super().__init__(storage, account_id=account_id, region=region, clock=clock)
        self._client = client
        self.bus = bus
        self.source = source
        #: events put (the benchmark counts them)
        self.put = 0

    def publish(self, detail_type: str, resources: Sequence[str], detail: dict[str, Any]) -> dict[str, Any]:
        entry = {
            "Time": datetime.fromtimestamp(self._clock(), UTC),
            "Source": self.source,
            "Resources": list(resources),
            "DetailType": detail_type,
            "Detail": json.dumps(detail, ensure_ascii=False),
            "EventBusName": self.bus,
        }
        response = self._client.put_events(Entries=[entry])
        if response.get("FailedEntryCount"):
            failed = response["Entries"][0]
            raise EventPublishError(
                f"EventBridge refused the {detail_type} event: {failed.get('ErrorCode')}: {failed.get('ErrorMessage')}"
            )
        self.put += 1
        return {"detail-type": detail_type, "source": self.source, "resources": list(resources), "detail": detail}

    def start(self) -> None:
        """No delivery thread: nothing is kept in an outbox."""
