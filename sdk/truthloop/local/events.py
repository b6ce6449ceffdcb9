"""EventBridge-shaped events, delivered at least once to in-process handlers.

Events go to an outbox in storage first, then a delivery thread calls every matching handler. A handler that
raises is retried with exponential backoff; an event is marked delivered only when every handler accepted every
copy, so a crash in between means a redelivery after restart (at-least-once, as on AWS). ``duplicates=True``
delivers each event twice with the same ``id`` so handlers can prove they are idempotent.
"""

from __future__ import annotations

import logging
import threading
import uuid
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from truthloop.arns import arn as make_arn
from truthloop.contracts.events import A2I_DETAIL_TYPE, GT_DETAIL_TYPE, canonical_detail_type
from truthloop.local.config import EventHandlerConfig
from truthloop.local.handlers import Handler, LambdaContext, as_lambda_json, environment, load_handler
from truthloop.local.storage import EventRecord, Storage

__all__ = ["A2I_DETAIL_TYPE", "GT_DETAIL_TYPE", "EventBus", "EventTarget"]

log = logging.getLogger("truthloop.local.events")


class EventTarget:
    """A handler plus the detail-types it subscribes to (an EventBridge rule's pattern, simplified)."""

    def __init__(
        self,
        handler: Handler,
        *,
        name: str,
        detail_types: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.handler = handler
        self.name = name
        self.detail_types = tuple(detail_types)
        self.environment = dict(env or {})

    @classmethod
    def from_config(cls, config: EventHandlerConfig, *, search_paths: tuple[Path, ...] = ()) -> EventTarget:
        return cls(
            load_handler(config.handler, search_paths=search_paths),
            name=config.handler,
            detail_types=config.detail_types,
            env=dict(config.environment),
        )

    def matches(self, detail_type: str) -> bool:
        wanted = canonical_detail_type(detail_type)
        return not self.detail_types or any(canonical_detail_type(d) == wanted for d in self.detail_types)


def _iso_seconds(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventBus:
    """Publishes events into the outbox and delivers them from a background thread."""

    def __init__(
        self,
        storage: Storage,
        *,
        account_id: str,
        region: str,
        clock: Callable[[], float],
        duplicates: bool = False,
        retry_seconds: float = 1.0,
        max_attempts: int = 8,
        base_environment: dict[str, str] | None = None,
    ) -> None:
        self.base_environment = dict(base_environment or {})
        self._storage = storage
        self._account_id = account_id
        self._region = region
        self._clock = clock
        self.duplicates = duplicates
        self._retry_seconds = retry_seconds
        self._max_attempts = max_attempts
        self._targets: list[EventTarget] = []
        self._lock = threading.Lock()
        self._delivery_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: called with each new outbox id (the service enqueues a ``deliver_event`` step; locally the thread wakes)
        self.on_publish: Callable[[int], None] = lambda event_id: None

    # ------------------------------------------------------------------ targets
    def subscribe(self, target: EventTarget) -> None:
        with self._lock:
            self._targets.append(target)

    def unsubscribe(self, target: EventTarget) -> None:
        with self._lock:
            if target in self._targets:
                self._targets.remove(target)

    @property
    def targets(self) -> list[EventTarget]:
        with self._lock:
            return list(self._targets)

    # ------------------------------------------------------------------ publishing
    def publish(self, detail_type: str, resources: Sequence[str], detail: dict[str, Any]) -> dict[str, Any]:
        """Build the EventBridge envelope, store it in the outbox and wake the delivery thread."""
        now = self._clock()
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": detail_type,
            "source": "aws.sagemaker",
            "account": self._account_id,
            "time": _iso_seconds(now),
            "region": self._region,
            "resources": list(resources),
            "detail": detail,
        }
        event_id = self._storage.add_event(detail_type, event, copies=2 if self.duplicates else 1, now=now)
        self._wake.set()
        self.on_publish(event_id)
        return event

    # ------------------------------------------------------------------ delivery
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="truthloop-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                delivered = self.deliver_due()
            except Exception:  # pragma: no cover - keep the thread alive whatever storage does
                log.exception("event delivery failed")
                delivered = 0
            if not delivered:
                self._wake.wait(timeout=0.5)
                self._wake.clear()

    def deliver_due(self, limit: int = 100) -> int:
        """Deliver every event whose time has come; returns how many were attempted."""
        with self._delivery_lock:
            return self._deliver_due(limit)

    def _deliver_due(self, limit: int) -> int:
        now = self._clock()
        due = self._storage.due_events(now, limit)
        for record in due:
            self._deliver(record, now)
        return len(due)

    def deliver_one(self, event_id: int) -> bool:
        """Deliver outbox event ``event_id`` if it is still due (the ``deliver_event`` engine step)."""
        with self._delivery_lock:
            now = self._clock()
            found = self._storage.list_events(after_id=event_id - 1, limit=1)
            if not found or found[0].id != event_id:
                return False
            record = found[0]
            if record.delivered or record.next_attempt > now:
                return False
            self._deliver(record, now)
            return True

    def _deliver(self, record: EventRecord, now: float) -> None:
        errors = []
        for target in self.targets:
            if not target.matches(record.detail_type):
                continue
            for _ in range(record.copies):
                try:
                    context = LambdaContext(
                        function_name=target.name.replace(":", "-").replace("/", "-")[:64],
                        invoked_function_arn=make_arn("lambda", self._region, self._account_id, "function:local"),
                    )
                    env = {**self.base_environment, **target.environment}
                    with environment(env), warnings.catch_warnings(record=True):
                        target.handler(as_lambda_json(record.body), context)
                except Exception as exc:  # a handler failure is retried, never lost
                    errors.append(f"{target.name}: {type(exc).__name__}: {exc}")
                    log.warning("event %s to %s failed: %s", record.id, target.name, exc)
                    break
        attempts = record.attempts + 1
        if not errors:
            self._storage.record_delivery(record.id, delivered=True, attempts=attempts, next_attempt=now, error=None)
            return
        if attempts >= self._max_attempts:
            next_attempt = float("inf")  # parked: visible in the events list with its last error
        else:
            next_attempt = now + self._retry_seconds * (2 ** (attempts - 1))
        self._storage.record_delivery(
            record.id, delivered=False, attempts=attempts, next_attempt=next_attempt, error="; ".join(errors)
        )
