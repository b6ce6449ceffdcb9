"""Plays what AWS does around the service's Lambdas: the SQS event source mapping and the sweep schedule.

``truthloop service local`` and the tests use it to run the real handlers (``lambdas/service_engine`` and
``lambdas/service_sweep``) against a queue: it receives up to ten messages, hands them to the engine handler as the
event Lambda's SQS integration builds, deletes the ones the handler did not report in ``batchItemFailures`` and
leaves the others to reappear after the visibility timeout, exactly as the event source mapping does.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from truthloop.local.handlers import LambdaContext

__all__ = ["QueueDriver", "sqs_event"]

log = logging.getLogger("truthloop.service.driver")

Handler = Callable[[Any, Any], Any]


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping delivers for ``messages`` from ``ReceiveMessage``."""
    return {
        "Records": [
            {
                "messageId": m["MessageId"],
                "receiptHandle": m["ReceiptHandle"],
                "body": m["Body"],
                "attributes": {k: str(v) for k, v in m.get("Attributes", {}).items()},
                "messageAttributes": {},
                "md5OfBody": m["MD5OfBody"],
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for m in messages
        ]
    }


class QueueDriver:
    """Feeds the engine queue to the engine handler and fires the sweep handler on a schedule."""

    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        *,
        engine: Handler,
        sweep: Handler,
        region: str,
        sweep_interval_seconds: float = 60.0,
    ) -> None:
        self._sqs = sqs
        self.queue_url = queue_url
        self._engine = engine
        self._sweep = sweep
        self.region = region
        self.sweep_interval_seconds = sweep_interval_seconds
        self._queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: engine invocations and records handed to them, records reported failed, sweeps run
        self.invocations = 0
        self.records = 0
        self.failures = 0
        self.sweeps = 0

    # ------------------------------------------------------------------ one invocation
    def pump(self, wait_seconds: int = 0) -> int:
        """One ``ReceiveMessage`` and, if it got any, one engine invocation; returns how many records it handled."""
        received = self._sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
        ).get("Messages", [])
        if not received:
            return 0
        context = LambdaContext(function_name="truthloop-service-engine", invoked_function_arn=self._queue_arn)
        result = self._engine(sqs_event(received, self._queue_arn, self.region), context) or {}
        failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
        done = [m for m in received if m["MessageId"] not in failed]
        if done:
            self._sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        self.invocations += 1
        self.records += len(received)
        self.failures += len(failed)
        return len(received)

    def sweep(self) -> Any:
        """One scheduled sweep invocation."""
        context = LambdaContext(function_name="truthloop-service-sweep", invoked_function_arn=self._queue_arn)
        self.sweeps += 1
        return self._sweep({"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}, context)

    def pending(self) -> int:
        """Messages in the queue, visible, in flight or delayed."""
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        attributes = self._sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=names)["Attributes"]
        return sum(int(attributes.get(name, 0)) for name in names)

    def drain(self, timeout: float = 30.0) -> int:
        """Run the engine until the queue is empty (delayed messages included); returns the records handled."""
        handled = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            count = self.pump()
            handled += count
            if count == 0:
                if self.pending() == 0:
                    return handled
                time.sleep(0.05)
        raise TimeoutError(f"the engine queue did not drain within {timeout} s ({self.pending()} messages left)")

    # ------------------------------------------------------------------ background (truthloop service local)
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="truthloop-service-driver", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        next_sweep = 0.0
        while not self._stop.is_set():
            try:
                if time.monotonic() >= next_sweep:
                    self.sweep()
                    next_sweep = time.monotonic() + self.sweep_interval_seconds
                if self.pump() == 0:
                    self._stop.wait(0.1)
            except Exception:  # keep driving: a handler failure is the queue's to redeliver
                log.exception("service driver round failed")
                self._stop.wait(1.0)
