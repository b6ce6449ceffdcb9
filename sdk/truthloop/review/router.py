"""The review router: prediction records in (SQS or direct), human loops out. Used by ``lambdas/review_router``.

A record is a JSON object::

    {"source": "comprehend:detect_sentiment", "response": {...service response...},
     "input": {"text": "I love it"},                     # optional: what the model saw
     "policy": {...ReviewPolicy.to_dict()...},           # optional: overrides the configured policy
     "flowDefinitionArn": "arn:…:flow-definition/x",     # optional: overrides the configured flow
     "options": {"class_names": ["cat", "dog"]}}          # optional: adapter options

SQS batches are processed with powertools' batch processor: a record that fails (bad JSON, unknown source,
malformed response, throttling after retries, a real loop conflict…) is reported in ``batchItemFailures``, so
SQS redrives it and, after the queue's ``maxReceiveCount``, moves it to the dead-letter queue; the reason is
logged with the message id. Nothing is dropped: a record the budget defers is reported in ``batchItemFailures``
too, with its visibility timeout set (``ChangeMessageVisibility``) to when the budget window reopens, so SQS keeps
it and delivers it again then (SQS allows at most 12 hours: a longer wait is covered by several redeliveries, each
counting towards ``maxReceiveCount``). Logs name the loop and the SHA-256 of its InputContent, never the content.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from truthloop.contracts._base import canonical_json
from truthloop.exceptions import AdapterError, BudgetExceededError, ConfigurationError, PolicyError
from truthloop.review.client import ReviewClient, ReviewOutcome, check_flow_arn, default_a2i_client
from truthloop.review.policy import ReviewPolicy
from truthloop.service.signing import ENV_ENDPOINT as ENV_SERVICE_ENDPOINT  # loops go to the truthloop service

__all__ = [
    "ENV_BUDGET_TABLE",
    "ENV_FLOW_DEFINITION_ARN",
    "ENV_REVIEW_POLICY",
    "ENV_SERVICE_ENDPOINT",
    "PredictionRecord",
    "Router",
    "RouterStats",
    "handle_event",
    "parse_record",
    "router_from_env",
]

ENV_FLOW_DEFINITION_ARN = "TRUTHLOOP_FLOW_DEFINITION_ARN"
ENV_REVIEW_POLICY = "TRUTHLOOP_REVIEW_POLICY"
#: Optional: a DynamoDB table (partition key ``pk``) that holds budget counters shared by every router.
ENV_BUDGET_TABLE = "TRUTHLOOP_BUDGET_TABLE"

_RECORD_KEYS = frozenset({"source", "response", "input", "policy", "flowDefinitionArn", "options"})
#: SQS caps a message's visibility at 12 hours from its receipt; the invocation has run for up to 15 minutes since
MAX_DEFER_SECONDS = 43200 - 900


@dataclass(frozen=True)
class PredictionRecord:
    """One parsed prediction record."""

    source: str
    response: Any
    input: Any = None
    policy: ReviewPolicy | None = None
    flow_definition_arn: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)


def parse_record(body: Any) -> PredictionRecord:
    """Parse a record (a JSON string or object); raises :class:`AdapterError`/:class:`PolicyError` with a path."""
    if isinstance(body, (str, bytes, bytearray)):
        try:
            body = json.loads(body)
        except ValueError as exc:
            raise AdapterError(f"record is not valid JSON: {exc}", "$") from None
    if not isinstance(body, Mapping):
        raise AdapterError(f"a record must be a JSON object, got {type(body).__name__}", "$")
    unknown = sorted(set(body) - _RECORD_KEYS)
    if unknown:
        raise AdapterError(f"unknown record keys {unknown}; expected {sorted(_RECORD_KEYS)}", "$")
    source = body.get("source")
    if not isinstance(source, str):
        raise AdapterError("required field is missing or not a string", "$.source")
    if "response" not in body:
        raise AdapterError("required field is missing", "$.response")
    policy = None
    if body.get("policy") is not None:
        try:
            policy = ReviewPolicy.from_dict(body["policy"])
        except PolicyError as exc:
            path = getattr(exc, "path", "$")
            raise PolicyError(f"$.policy{path[1:]}: {getattr(exc, 'reason', str(exc))}") from None
    flow = body.get("flowDefinitionArn")
    if flow is not None and not isinstance(flow, str):
        raise AdapterError("flowDefinitionArn must be a string", "$.flowDefinitionArn")
    if flow is not None:
        try:
            check_flow_arn(flow)
        except ConfigurationError as exc:  # the caller's record, not the router's configuration: a 400
            raise AdapterError(str(exc), "$.flowDefinitionArn") from exc
    options = body.get("options") or {}
    if not isinstance(options, Mapping):
        raise AdapterError("options must be an object", "$.options")
    return PredictionRecord(source, body["response"], body.get("input"), policy, flow, dict(options))


@dataclass
class RouterStats:
    """Counts for one batch, flushed as EMF metrics by the Lambda."""

    seen: int = 0
    predictions: int = 0
    routed: int = 0
    started: int = 0
    already_started: int = 0
    not_routed: int = 0
    deferred: int = 0
    failed: int = 0
    by_rule: Counter[str] = field(default_factory=Counter)
    by_source: Counter[str] = field(default_factory=Counter)

    def record(self, outcome: ReviewOutcome) -> None:
        self.predictions += len(outcome.decision.predictions)
        if outcome.status == "not_routed":
            self.not_routed += 1
            return
        if outcome.status == "deferred":
            self.deferred += 1
            return
        self.routed += 1
        if outcome.status == "started":
            self.started += 1
        else:
            self.already_started += 1
        self.by_source[outcome.source] += 1
        for rule in outcome.decision.rules:
            self.by_rule[rule] += 1

    def emit(self, metrics: Any, single_metric: Callable[..., Any] | None = None) -> None:
        """Add the counts to a powertools ``Metrics`` object; per-rule and per-source counts go through
        ``single_metric`` (one EMF blob per dimension value) when given."""
        for name, value in (
            ("PredictionRecordsSeen", self.seen),
            ("PredictionsSeen", self.predictions),
            ("Routed", self.routed),
            ("LoopsStarted", self.started),
            ("LoopsAlreadyStarted", self.already_started),
            ("NotRouted", self.not_routed),
            ("BudgetDeferred", self.deferred),
            ("RecordsFailed", self.failed),
        ):
            metrics.add_metric(name=name, unit="Count", value=value)
        if single_metric is None:
            return
        for dimension, counts in (("rule", self.by_rule), ("source", self.by_source)):
            for key, value in sorted(counts.items()):
                with single_metric(
                    name=f"RoutedBy{dimension.title()}", unit="Count", value=value, namespace=metrics.namespace
                ) as metric:
                    metric.add_dimension(name=dimension, value=key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seen": self.seen,
            "predictions": self.predictions,
            "routed": self.routed,
            "started": self.started,
            "alreadyStarted": self.already_started,
            "notRouted": self.not_routed,
            "deferred": self.deferred,
            "failed": self.failed,
            "byRule": dict(self.by_rule),
            "bySource": dict(self.by_source),
        }


class Router:
    """Routes prediction records through a :class:`ReviewClient` with a configured flow and policy."""

    def __init__(
        self,
        client: ReviewClient,
        *,
        flow_definition_arn: str | None,
        policy: ReviewPolicy | None = None,
        sqs_client: Any = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.flow_definition_arn = flow_definition_arn
        self.policy = policy
        self.stats = RouterStats()
        self._sqs = sqs_client
        self._clock = clock
        self._queue_urls: dict[str, str] = {}

    @property
    def sqs(self) -> Any:
        if self._sqs is None:
            import boto3
            from botocore.config import Config

            self._sqs = boto3.client("sqs", config=Config(retries={"mode": "standard"}))
        return self._sqs

    def defer_message(self, queue_arn: str, receipt_handle: str, retry_at: float | None) -> int:
        """Hide an SQS message until ``retry_at`` (at most :data:`MAX_DEFER_SECONDS`); returns the seconds set."""
        from truthloop.aws import map_client_errors

        seconds = int(min(MAX_DEFER_SECONDS, max(0.0, (retry_at or 0.0) - self._clock()) + 1))
        url = self._queue_urls.get(queue_arn)
        if url is None:
            parts = queue_arn.split(":")
            if len(parts) != 6 or parts[2] != "sqs":
                raise ConfigurationError(f"not an SQS queue ARN: {queue_arn!r}")
            with map_client_errors("GetQueueUrl"):
                url = self.sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
            self._queue_urls[queue_arn] = url
        with map_client_errors("ChangeMessageVisibility"):
            self.sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=receipt_handle, VisibilityTimeout=seconds)
        return seconds

    def route(self, body: Any) -> ReviewOutcome:
        """Route one record (raises on a bad record; the caller reports it as a failure)."""
        self.stats.seen += 1
        try:
            record = parse_record(body)
            flow = record.flow_definition_arn or self.flow_definition_arn
            if not flow:
                raise ConfigurationError(
                    f"no flow definition: set {ENV_FLOW_DEFINITION_ARN} or the record's flowDefinitionArn"
                )
            policy = record.policy or self.policy
            if policy is None:
                raise PolicyError(f"no review policy: set {ENV_REVIEW_POLICY} or the record's policy")
            outcome = self.client.review(
                record.source,
                record.response,
                flow_definition_arn=flow,
                input=record.input,
                policy=policy,
                **record.options,
            )
        except Exception:
            self.stats.failed += 1
            raise
        self.stats.record(outcome)
        return outcome

    def take_stats(self) -> RouterStats:
        stats, self.stats = self.stats, RouterStats()
        return stats


def router_from_env(
    env: Mapping[str, str] | None = None, *, a2i_client: Any = None, s3_client: Any = None, sqs_client: Any = None
) -> Router:
    """A :class:`Router` configured from ``TRUTHLOOP_FLOW_DEFINITION_ARN``, ``TRUTHLOOP_REVIEW_POLICY`` (JSON of
    ``ReviewPolicy.to_dict()``) and, optionally, ``TRUTHLOOP_BUDGET_TABLE``; with ``TRUTHLOOP_SERVICE_ENDPOINT``
    its loops go to the truthloop service at that endpoint instead of Amazon A2I."""
    env = os.environ if env is None else env
    policy = None
    if env.get(ENV_REVIEW_POLICY):
        try:
            policy = ReviewPolicy.from_json(env[ENV_REVIEW_POLICY])
        except PolicyError as exc:
            raise ConfigurationError(f"{ENV_REVIEW_POLICY}: {exc}") from None
    store = None
    if env.get(ENV_BUDGET_TABLE):
        from truthloop.review.stores import DynamoDBBudgetStore

        store = DynamoDBBudgetStore(env[ENV_BUDGET_TABLE])
    if a2i_client is None and env.get(ENV_SERVICE_ENDPOINT):
        a2i_client = default_a2i_client("service", endpoint_url=env[ENV_SERVICE_ENDPOINT])
    client = ReviewClient(a2i_client, s3_client, policy=policy, budget_store=store)
    return Router(
        client, flow_definition_arn=env.get(ENV_FLOW_DEFINITION_ARN) or None, policy=policy, sqs_client=sqs_client
    )


def _is_sqs(event: Any) -> bool:
    records = event.get("Records") if isinstance(event, Mapping) else None
    return isinstance(records, list) and all(
        isinstance(r, Mapping) and r.get("eventSource") == "aws:sqs" for r in records
    )


def _is_http(event: Any) -> bool:
    context = event.get("requestContext") if isinstance(event, Mapping) else None
    return isinstance(context, Mapping) and isinstance(context.get("http"), Mapping)


def _status_for(exc: BaseException) -> int:
    """The HTTP status for a failed record: the caller's fault (4xx) or AWS's (5xx)."""
    from truthloop.exceptions import (
        AwsError,
        ConflictError,
        ContractError,
        QuotaExceededError,
        ReviewError,
        ThrottledError,
    )

    if isinstance(exc, ConflictError):
        return 409
    if isinstance(exc, QuotaExceededError):
        return 429
    if isinstance(exc, ThrottledError):
        return 503
    if isinstance(exc, AwsError):
        return 502
    if isinstance(exc, (ContractError, ReviewError)):
        return 400
    return 500


def _handle_http(event: Mapping[str, Any], router: Router, logger: Any) -> dict[str, Any]:
    """A Lambda function URL request (payload 2.0): the body is one record or a list of records."""
    import base64

    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode("utf-8")
    headers = {"content-type": "application/json"}
    try:
        payload = json.loads(body)
    except ValueError as exc:
        return {"statusCode": 400, "headers": headers, "body": json.dumps({"error": f"body is not JSON: {exc}"})}
    if isinstance(payload, list):
        return {"statusCode": 200, "headers": headers, "body": json.dumps(_route_list(payload, router, logger))}
    try:
        outcome = router.route(payload)
    except Exception as exc:
        logger.error("prediction record failed", extra={"reason": f"{type(exc).__name__}: {exc}"})
        error = {"error": f"{type(exc).__name__}: {exc}"}
        return {"statusCode": _status_for(exc), "headers": headers, "body": json.dumps(error)}
    _log_outcome(logger, outcome, None)
    return {"statusCode": 200, "headers": headers, "body": json.dumps(outcome.to_dict())}


def _route_list(items: list[Any], router: Router, logger: Any) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            outcome = router.route(item)
        except Exception as exc:
            logger.error("prediction record failed", extra={"index": index, "reason": f"{type(exc).__name__}: {exc}"})
            results.append({"error": f"{type(exc).__name__}: {exc}"})
            continue
        _log_outcome(logger, outcome, str(index))
        results.append(outcome.to_dict())
    return results


def handle_event(event: Any, context: Any, *, router: Router, processor: Any, logger: Any) -> Any:
    """The router Lambda's work: an SQS batch (partial failures), a function URL request, or a direct invocation.

    Direct invocation takes one record (returns its outcome, raising on failure) or a list of records (returns
    one entry per record, with ``error`` for failures instead of raising). A function URL request (payload format
    2.0) carries the same in its body and gets an HTTP response: 200 with the outcome(s), 400 for a bad record,
    409 for a real loop conflict, 429 for the A2I quota, 503 when throttled, 502 for other AWS errors.
    """
    if _is_http(event):
        return _handle_http(event, router, logger)
    if _is_sqs(event):
        from aws_lambda_powertools.utilities.batch import process_partial_response

        def record_handler(record: Any) -> dict[str, Any]:
            try:
                outcome = router.route(record.body)
            except Exception as exc:
                logger.error(
                    "prediction record failed; SQS will redrive it and, after maxReceiveCount, move it to the DLQ",
                    extra={"messageId": record.message_id, "reason": f"{type(exc).__name__}: {exc}"},
                )
                raise
            if outcome.status == "deferred":
                _defer(router, record, outcome, logger)
            _log_outcome(logger, outcome, record.message_id)
            return outcome.to_dict()

        return process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    if isinstance(event, list):
        results: list[dict[str, Any]] = []
        for index, item in enumerate(event):
            try:
                outcome = router.route(item)
            except Exception as exc:
                logger.error(
                    "prediction record failed", extra={"index": index, "reason": f"{type(exc).__name__}: {exc}"}
                )
                results.append({"error": f"{type(exc).__name__}: {exc}"})
                continue
            _log_outcome(logger, outcome, str(index))
            results.append(outcome.to_dict())
        return results
    outcome = router.route(event)
    _log_outcome(logger, outcome, None)
    return outcome.to_dict()


def _defer(router: Router, record: Any, outcome: ReviewOutcome, logger: Any) -> None:
    """Keep a deferred SQS record: hide it until the budget reopens and report it as a batch item failure."""
    try:
        seconds = router.defer_message(record.event_source_arn, record.receipt_handle, outcome.retry_at)
    except Exception as exc:  # the message still comes back, after the queue's own visibility timeout
        logger.warning(
            "could not delay the deferred record; SQS redelivers it after the queue's visibility timeout",
            extra={**_outcome_fields(outcome, record.message_id), "reason": f"{type(exc).__name__}: {exc}"},
        )
        raise BudgetExceededError(outcome.deferred_reason or "review deferred by budget") from exc
    logger.warning(
        "review deferred by budget; SQS redelivers the record when the budget window reopens",
        extra={**_outcome_fields(outcome, record.message_id), "visibilityTimeoutSeconds": seconds},
    )
    raise BudgetExceededError(f"{outcome.deferred_reason}; redelivered in {seconds} s")


def _outcome_fields(outcome: ReviewOutcome, record_id: str | None) -> dict[str, Any]:
    """What a log line may say about an outcome: names, reasons and a hash of the input, never the input."""
    digest = None
    if outcome.input_content is not None:
        digest = hashlib.sha256(canonical_json(outcome.input_content).encode("utf-8")).hexdigest()
    return {
        "recordId": record_id,
        "humanLoopName": outcome.human_loop_name,
        "flowDefinitionArn": outcome.flow_definition_arn,
        "inputSha256": digest,
        "reason": outcome.deferred_reason,
        "retryAt": outcome.retry_at,
    }


def _log_outcome(logger: Any, outcome: ReviewOutcome, record_id: str | None) -> None:
    if outcome.status == "deferred":
        logger.warning("review deferred by budget", extra=_outcome_fields(outcome, record_id))
