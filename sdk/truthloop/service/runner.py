"""Engine steps as SQS messages: the service's :class:`~truthloop.local.steps.StepRunner`.

The message body is ``{"step": NAME, "id": ITEM}`` (:class:`~truthloop.local.steps.StepMessage`). A standard queue
may deliver a message twice; every step is idempotent, so that changes nothing. On a FIFO queue (URL ending in
``.fifo``) the deduplication id is deterministic: the same step on the same item within SQS's five-minute window is
sent once.
"""

from __future__ import annotations

import hashlib
import logging
import time
from typing import Any

from truthloop.local.steps import StepMessage

__all__ = ["MAX_DELAY_SECONDS", "SqsStepRunner"]

log = logging.getLogger("truthloop.service.runner")

#: SQS's largest DelaySeconds; a longer wait is left to the scheduled sweep, which names every step that is due
MAX_DELAY_SECONDS = 900


class SqsStepRunner:
    """Sends each requested step to the engine queue."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self.fifo = queue_url.endswith(".fifo")
        #: messages sent by this runner (the benchmark and tests count them)
        self.sent = 0

    def enqueue(self, step: str, item_id: str = "", *, delay_seconds: float = 0.0) -> None:
        message = StepMessage(step, item_id)
        if delay_seconds > MAX_DELAY_SECONDS:
            log.debug("%s(%s) is due in %.0f s: left to the scheduled sweep", step, item_id, delay_seconds)
            return
        params: dict[str, Any] = {"QueueUrl": self.queue_url, "MessageBody": message.to_json()}
        if self.fifo:  # FIFO queues take no per-message delay; dedup within a five-minute slot instead
            slot = int(time.time() // 300)
            params["MessageGroupId"] = f"{step}:{item_id}"[:128]
            params["MessageDeduplicationId"] = hashlib.sha256(f"{step}:{item_id}:{slot}".encode()).hexdigest()
        elif delay_seconds > 0:
            params["DelaySeconds"] = min(MAX_DELAY_SECONDS, int(delay_seconds + 0.999))
        self._sqs.send_message(**params)
        self.sent += 1
