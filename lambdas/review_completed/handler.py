"""Review completion Lambda: ``SageMaker A2I HumanLoop Status Change`` → results table + reviewed dataset.

Configuration (docs/interfaces.md): ``TRUTHLOOP_RESULTS_TABLE``, ``TRUTHLOOP_REVIEWED_BUCKET``,
``TRUTHLOOP_REVIEWED_PREFIX``, ``TRUTHLOOP_LABEL_ATTRIBUTE``; optionally ``TRUTHLOOP_IDEMPOTENCY_TABLE`` (default:
the results table, whose partition key is ``pk``). The work is done by
:func:`truthloop.review.completed.process_status_event`, made idempotent with powertools on the loop ARN and
status, so duplicate events (EventBridge delivers at least once) store once.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from typing import Any, cast

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from truthloop.contracts import A2ILoopStatusEvent
from truthloop.review.completed import (
    ENV_LABEL_ATTRIBUTE,
    ENV_RESULTS_TABLE,
    ENV_REVIEWED_BUCKET,
    ENV_REVIEWED_PREFIX,
    CompletionConfig,
    process_status_event,
)

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME", "truthloop-review-completed")
ENV_IDEMPOTENCY_TABLE = "TRUTHLOOP_IDEMPOTENCY_TABLE"
#: Duplicate deliveries arrive within minutes; a week of idempotency records is ample.
IDEMPOTENCY_SECONDS = 7 * 24 * 3600

logger = Logger(service=SERVICE)
tracer = Tracer(service=SERVICE)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "truthloop"), service=SERVICE)

_ENV_KEYS = (
    ENV_RESULTS_TABLE,
    ENV_REVIEWED_BUCKET,
    ENV_REVIEWED_PREFIX,
    ENV_LABEL_ATTRIBUTE,
    ENV_IDEMPOTENCY_TABLE,
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_DYNAMODB",
)


def _duplicate(response: Any, idempotent_data: DataRecord) -> Any:
    metrics.add_metric(name="DuplicateEvents", unit="Count", value=1)
    logger.info("duplicate status event: already stored", extra={"idempotencyKey": idempotent_data.idempotency_key})
    if isinstance(response, dict):
        response = {**response, "duplicate": True}
    return response


@lru_cache(maxsize=8)
def _processor(environment: tuple[str | None, ...]) -> tuple[Callable[..., Any], IdempotencyConfig]:
    env = {k: v for k, v in zip(_ENV_KEYS, environment) if v is not None}
    config = CompletionConfig.from_env(env)
    s3 = boto3.client("s3")
    dynamodb = boto3.client("dynamodb")
    persistence = DynamoDBPersistenceLayer(
        table_name=env.get(ENV_IDEMPOTENCY_TABLE) or config.results_table, key_attr="pk", boto3_client=dynamodb
    )
    idempotency = IdempotencyConfig(
        event_key_jmespath="[detail.humanLoopArn, detail.humanLoopStatus]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=IDEMPOTENCY_SECONDS,
        response_hook=_duplicate,
    )

    def store(event: dict[str, Any]) -> dict[str, Any]:
        return process_status_event(event, config=config, s3_client=s3, dynamodb_client=dynamodb)

    # powertools' decorator is untyped: keep the wrapped function's signature.
    process = cast(
        Callable[..., dict[str, Any]],
        idempotent_function(store, data_keyword_argument="event", persistence_store=persistence, config=idempotency),
    )

    return process, idempotency


@metrics.log_metrics
@logger.inject_lambda_context
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    metrics.add_metric(name="StatusEventsSeen", unit="Count", value=1)
    process, idempotency = _processor(tuple(os.environ.get(key) for key in _ENV_KEYS))
    A2ILoopStatusEvent.parse(event)  # a malformed event fails here, naming the JSON path, before idempotency
    idempotency.register_lambda_context(context)
    summary: dict[str, Any] = process(event=event)
    metrics.add_metric(name=f"Loops{summary.get('status', 'Unknown')}", unit="Count", value=1)
    if summary.get("agreement") is not None:
        metrics.add_metric(name="ReviewAgreed", unit="Count", value=1 if summary["agreement"] else 0)
    if summary.get("status") in ("Failed", "Stopped"):
        logger.warning(
            "human loop did not complete",
            extra={k: summary.get(k) for k in ("humanLoopName", "status", "failureReason", "failureCode")},
        )
    return summary


#: The entry-point name every truthloop handler module exposes (the other handlers define it directly).
lambda_handler = handler
