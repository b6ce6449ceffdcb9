"""Review router Lambda: SQS batches (or direct invocations) of prediction records → A2I human loops.

Configuration (docs/interfaces.md): ``TRUTHLOOP_FLOW_DEFINITION_ARN``, ``TRUTHLOOP_REVIEW_POLICY`` (JSON of
``ReviewPolicy.to_dict()``), optionally ``TRUTHLOOP_BUDGET_TABLE`` (shared budget counters) and
``TRUTHLOOP_SERVICE_ENDPOINT`` (start the loops on the truthloop service instead of Amazon A2I). The work is done by
:func:`truthloop.review.router.handle_event`; failed records are returned as ``batchItemFailures`` so SQS redrives
them and finally moves them to the DLQ.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import single_metric
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

from truthloop.review.router import (
    ENV_BUDGET_TABLE,
    ENV_FLOW_DEFINITION_ARN,
    ENV_REVIEW_POLICY,
    ENV_SERVICE_ENDPOINT,
    Router,
    handle_event,
    router_from_env,
)

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "truthloop-review-router")
logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "truthloop"), service=SERVICE)
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)

#: The environment a router depends on; a change (e.g. the local emulator's per-call environment) builds a new one.
_ENV_KEYS = (
    ENV_FLOW_DEFINITION_ARN,
    ENV_REVIEW_POLICY,
    ENV_BUDGET_TABLE,
    ENV_SERVICE_ENDPOINT,
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_SAGEMAKER_A2I_RUNTIME",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_DYNAMODB",
    "AWS_ENDPOINT_URL_SQS",
)


@lru_cache(maxsize=8)
def _router(environment: tuple[str | None, ...]) -> Router:
    return router_from_env({k: v for k, v in zip(_ENV_KEYS, environment) if v is not None})


def current_router() -> Router:
    """The router for the current environment (clients are built once per environment and reused)."""
    return _router(tuple(os.environ.get(key) for key in _ENV_KEYS))


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: Any, context: Any) -> Any:
    router = current_router()
    try:
        return handle_event(event, context, router=router, processor=processor, logger=logger)
    finally:
        router.take_stats().emit(metrics, single_metric)


#: The entry-point name every truthloop handler module exposes (the other handlers define it directly).
lambda_handler = handler
