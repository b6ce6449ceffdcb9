"""truthloop service engine Lambda: SQS batches of ``{"step": ..., "id": ...}`` messages → engine steps.

Configuration: as the API function (``TRUTHLOOP_SERVICE_*``). Each record is one step
(:func:`truthloop.service.entry.handle_step`); a record that fails is reported in ``batchItemFailures`` (powertools'
``BatchProcessor``), so only it is redelivered and, after the queue's ``maxReceiveCount``, moved to the DLQ.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from truthloop.service.entry import handle_step

logger = Logger(service="truthloop-service-engine")
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def _record(record: SQSRecord) -> None:
    handle_step(record.body, receive_count=int(record.attributes.approximate_receive_count))


@logger.inject_lambda_context
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    response = process_partial_response(event=event, record_handler=_record, processor=processor, context=context)
    return dict(response)  # {"batchItemFailures": [...]}, a TypedDict
