"""Loop completion: an A2I status event in, a stored :class:`ReviewResult` and a reviewed-dataset line out.

Used by ``lambdas/review_completed``. For each ``SageMaker A2I HumanLoop Status Change`` event:

* ``Completed`` — read ``output.json`` from the event's ``outputS3Uri`` (and the offloaded input, if the loop
  got an ``inputRef``), interpret it as a :class:`ReviewResult`, write it to the results table, and write its
  GT augmented-manifest line to ``s3://<bucket>/<prefix><flow>/<yyyy>/<mm>/<dd>/<loop>.manifest``;
* ``Failed`` / ``Stopped`` — record the loop with its failure reason and code (no manifest line).

Every write is deterministic in the event (same key, same content), and the Lambda wraps
:func:`process_status_event` in powertools idempotency keyed on the loop ARN and status, so a duplicate event
(EventBridge delivers at least once) stores once.

Results table items: partition key ``pk`` (S) = the human loop name; attributes ``humanLoopName``, ``status``,
``flowDefinitionArn``, ``source``, ``modelLabel``, ``humanLabel``, ``agreement``, ``agreementRate``,
``workerIds``, ``completedAt``, ``failureReason``, ``failureCode``, ``outputS3Uri``, ``manifestS3Uri`` or
``manifestSkipped``, ``storedAt``, and ``result`` (the full record as JSON).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from truthloop.aws import map_client_errors, split_s3_uri
from truthloop.contracts._base import arn_resource_name
from truthloop.contracts.a2i import HumanLoopOutput
from truthloop.contracts.events import A2ILoopStatusEvent
from truthloop.exceptions import ConfigurationError, ContractError
from truthloop.naming import validate_label_attribute_name
from truthloop.review.results import ReviewResult, review_result_from_output

__all__ = [
    "ENV_LABEL_ATTRIBUTE",
    "ENV_RESULTS_TABLE",
    "ENV_REVIEWED_BUCKET",
    "ENV_REVIEWED_PREFIX",
    "CompletionConfig",
    "process_status_event",
]

ENV_RESULTS_TABLE = "TRUTHLOOP_RESULTS_TABLE"
ENV_REVIEWED_BUCKET = "TRUTHLOOP_REVIEWED_BUCKET"
ENV_REVIEWED_PREFIX = "TRUTHLOOP_REVIEWED_PREFIX"
ENV_LABEL_ATTRIBUTE = "TRUTHLOOP_LABEL_ATTRIBUTE"

#: DynamoDB items are at most 400 KB; beyond this the stored JSON drops raw answers (output.json keeps them).
_MAX_RESULT_JSON = 300_000


@dataclass(frozen=True)
class CompletionConfig:
    """Where completed reviews go (environment: ``TRUTHLOOP_RESULTS_TABLE``, ``TRUTHLOOP_REVIEWED_BUCKET``,
    ``TRUTHLOOP_REVIEWED_PREFIX``, ``TRUTHLOOP_LABEL_ATTRIBUTE``)."""

    results_table: str
    reviewed_bucket: str
    reviewed_prefix: str = "reviewed/"
    label_attribute: str = "review"

    def __post_init__(self) -> None:
        problems = []
        if not self.results_table:
            problems.append(f"{ENV_RESULTS_TABLE} (the results table name) is required")
        if not self.reviewed_bucket:
            problems.append(f"{ENV_REVIEWED_BUCKET} (the reviewed dataset bucket) is required")
        if problems:
            raise ConfigurationError("; ".join(problems))
        validate_label_attribute_name(self.label_attribute)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> CompletionConfig:
        env = os.environ if env is None else env
        prefix = env.get(ENV_REVIEWED_PREFIX, "reviewed/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return cls(
            results_table=env.get(ENV_RESULTS_TABLE, ""),
            reviewed_bucket=env.get(ENV_REVIEWED_BUCKET, ""),
            reviewed_prefix=prefix,
            label_attribute=env.get(ENV_LABEL_ATTRIBUTE) or "review",
        )

    def manifest_key(self, event: A2ILoopStatusEvent) -> str:
        flow = arn_resource_name(event.flow_definition_arn, "flow-definition")
        created = event.creation_time
        if created is None:
            return f"{self.reviewed_prefix}{flow}/{event.human_loop_name}.manifest"
        stamp = created.astimezone(UTC) if created.tzinfo else created
        return f"{self.reviewed_prefix}{flow}/{stamp:%Y/%m/%d}/{event.human_loop_name}.manifest"


def _read_json(s3: Any, uri: str, what: str) -> Any:
    bucket, key = split_s3_uri(uri, what, "$.detail.humanLoopOutput.outputS3Uri")
    with map_client_errors("GetObject"):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        value = json.loads(body)
        if b"\\u" in body:
            json.dumps(value, ensure_ascii=False).encode("utf-8")  # an unpaired surrogate escape cannot be stored
    except (ValueError, RecursionError) as exc:
        raise ContractError(f"{what} at {uri} is not JSON (or not Unicode text): {exc}") from exc
    return value


def _load_output(s3: Any, event: A2ILoopStatusEvent) -> HumanLoopOutput:
    if not event.output_s3_uri:
        raise ContractError(
            "a Completed event must carry humanLoopOutput.outputS3Uri", "$.detail.humanLoopOutput.outputS3Uri"
        )
    output = HumanLoopOutput.parse(_read_json(s3, event.output_s3_uri, "output.json"))
    content = output.input_content
    ref = content.get("inputRef") if isinstance(content, Mapping) else None
    if isinstance(ref, Mapping) and isinstance(ref.get("s3Uri"), str):
        full = _read_json(s3, ref["s3Uri"], "offloaded review input")
        output = HumanLoopOutput(
            flow_definition_arn=output.flow_definition_arn,
            human_loop_name=output.human_loop_name,
            input_content=full,
            human_answers=output.human_answers,
            aws_managed_human_loop_request_source=output.aws_managed_human_loop_request_source,
        )
    return output


def _item(record: Mapping[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    plain = json.loads(json.dumps(record, default=str), parse_float=Decimal)
    serializer = TypeSerializer()
    return {k: serializer.serialize(v) for k, v in plain.items() if v is not None and v != []}


def _stored_json(result: ReviewResult) -> str:
    text = json.dumps(result.to_dict(), ensure_ascii=False, sort_keys=True, default=str)
    if len(text.encode("utf-8")) <= _MAX_RESULT_JSON:
        return text
    slim = result.to_dict()
    for answer in slim.get("answers", []):
        answer.pop("answer", None)
        answer.pop("predictions", None)
    slim.pop("predictions", None)
    slim.pop("humanPredictions", None)
    slim["truncated"] = "raw answers and predictions dropped to fit DynamoDB; see outputS3Uri"
    return json.dumps(slim, ensure_ascii=False, sort_keys=True, default=str)


def process_status_event(
    event: Mapping[str, Any],
    *,
    config: CompletionConfig,
    s3_client: Any,
    dynamodb_client: Any,
    clock: Any = time.time,
) -> dict[str, Any]:
    """Record one A2I status event (see the module docstring); returns a JSON summary of what was stored."""
    parsed = A2ILoopStatusEvent.parse(event)
    status = parsed.human_loop_status
    if status not in ("Completed", "Failed", "Stopped"):
        return {
            "humanLoopName": parsed.human_loop_name,
            "status": status,
            "stored": False,
            "reason": f"{status} is not a final status",
        }
    if status == "Completed":
        output = _load_output(s3_client, parsed)
        result = review_result_from_output(
            output, status=status, output_s3_uri=parsed.output_s3_uri, created_at=parsed.creation_time
        )
    else:
        result = ReviewResult(
            human_loop_name=parsed.human_loop_name,
            flow_definition_arn=parsed.flow_definition_arn,
            status=status,
            failure_reason=parsed.failure_reason or f"the loop ended {status} without a reason",
            failure_code=parsed.failure_code,
            output_s3_uri=parsed.output_s3_uri,
            created_at=parsed.creation_time,
        )
    summary: dict[str, Any] = {
        "pk": result.human_loop_name,
        "humanLoopName": result.human_loop_name,
        "humanLoopArn": parsed.human_loop_arn,
        "status": status,
        "flowDefinitionArn": result.flow_definition_arn,
        "source": result.source,
        "modelLabel": result.model_label,
        "humanLabel": result.human_label,
        "agreement": result.agreement,
        "agreementRate": result.agreement_rate,
        "workerIds": list(result.worker_ids),
        "completedAt": None if result.completed_at is None else result.to_dict().get("completedAt"),
        "failureReason": result.failure_reason,
        "failureCode": result.failure_code,
        "outputS3Uri": result.output_s3_uri,
        "eventId": parsed.id,
    }
    problem = result.manifest_problem()
    if problem is None:
        line = result.to_manifest_line(config.label_attribute)
        key = config.manifest_key(parsed)
        body = (json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        with map_client_errors("PutObject"):
            s3_client.put_object(Bucket=config.reviewed_bucket, Key=key, Body=body, ContentType="application/x-ndjson")
        summary["manifestS3Uri"] = f"s3://{config.reviewed_bucket}/{key}"
    else:
        summary["manifestSkipped"] = problem
    summary["storedAt"] = datetime.fromtimestamp(clock(), UTC).isoformat(timespec="milliseconds")
    summary["result"] = _stored_json(result)
    with map_client_errors("PutItem"):
        dynamodb_client.put_item(TableName=config.results_table, Item=_item(summary))
    summary.pop("result")
    summary["stored"] = True
    return summary
