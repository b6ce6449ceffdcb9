"""Ground Truth post-annotation (consolidation) Lambda: a batch payload in S3 in, consolidated labels out.

Configuration: ``TRUTHLOOP_TASK_TYPE`` (a truthloop task-type id) and, optional, ``TRUTHLOOP_CONSOLIDATION_METHOD``
(``mv``, ``wawa``, ``ds``, ``ods``, ``glad``, ``mace`` or ``auto`` for classification jobs; unset means ``auto``,
which is a majority vote on batches too small to estimate worker skills) and ``TRUTHLOOP_CARRY_SKILLS``
(default ``true``; with ``auto``, each batch is consolidated with the job so far, whose answers are kept in
``<outputConfig>/truthloop/worker-skills.json`` and written with S3 conditional requests; ``false`` turns it
off). Objects that cannot be
consolidated are left out of the response, logged with their reason and counted in the ``FailedObjects`` metric
(dropped answers in ``DroppedAnswers``); the rest of the batch is returned.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from truthloop.labeling import consolidate_report
from truthloop.labeling.post import ENV_CARRY_SKILLS

logger = Logger()
tracer = Tracer()
metrics = Metrics()
s3 = boto3.client("s3")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> list[dict[str, Any]]:
    metrics.add_metric(name="Invocations", unit=MetricUnit.Count, value=1)
    report = consolidate_report(
        event,
        task_type=os.environ["TRUTHLOOP_TASK_TYPE"],
        method=os.environ.get("TRUTHLOOP_CONSOLIDATION_METHOD") or None,
        s3_client=s3,
        carry_skills=os.environ.get(ENV_CARRY_SKILLS, "true").strip().lower() not in ("0", "false", "no"),
    )
    for failure in report.failures:
        logger.warning(
            "object left out", extra={"datasetObjectId": failure.dataset_object_id, "reason": failure.reason}
        )
    for dropped in report.dropped:
        logger.warning(
            "answer dropped",
            extra={
                "datasetObjectId": dropped.dataset_object_id,
                "workerId": dropped.worker_id,
                "reason": dropped.reason,
            },
        )
    metrics.add_metric(name="ConsolidatedObjects", unit=MetricUnit.Count, value=len(report.responses))
    metrics.add_metric(name="FailedObjects", unit=MetricUnit.Count, value=len(report.failures))
    metrics.add_metric(name="DroppedAnswers", unit=MetricUnit.Count, value=len(report.dropped))
    return report.responses
