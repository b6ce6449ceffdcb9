"""Labeling launcher Lambda (SQS → this function): register uploads, launch jobs, re-queue failed items.

Configuration: ``TRUTHLOOP_JOB_CONFIG`` (JSON, see :class:`truthloop.labeling.launcher.JobConfig`) and
``TRUTHLOOP_PENDING_TABLE`` (the DynamoDB table of items); with ``TRUTHLOOP_SERVICE_ENDPOINT`` the jobs are created
on the truthloop service (its SageMaker client, signed for its API) instead of Ground Truth. Messages that cannot be
handled are reported as partial batch failures (and reach the DLQ after the queue's maxReceiveCount); if launching
jobs fails, the whole batch is retried, which is safe because registration is idempotent and job names are
deterministic.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from truthloop.labeling.launcher import JobConfig, Launcher
from truthloop.service.signing import ENV_ENDPOINT as ENV_SERVICE_ENDPOINT
from truthloop.service.signing import client as service_client

logger = Logger()
tracer = Tracer()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.SQS)

CONFIG = JobConfig.from_json(os.environ.get("TRUTHLOOP_JOB_CONFIG", "{}"))
TABLE = boto3.resource("dynamodb").Table(os.environ["TRUTHLOOP_PENDING_TABLE"])
S3 = boto3.client("s3")
SAGEMAKER = (
    service_client("sagemaker", endpoint_url=os.environ[ENV_SERVICE_ENDPOINT])
    if os.environ.get(ENV_SERVICE_ENDPOINT)
    else boto3.client("sagemaker")
)
SNS = boto3.client("sns")


def _record_handler(launcher: Launcher) -> Any:
    def handle(record: SQSRecord) -> None:
        launcher.handle_message(record.body)

    return handle


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    launcher = Launcher(CONFIG, table=TABLE, s3=S3, sagemaker=SAGEMAKER, sns=SNS)
    response = process_partial_response(
        event=event, record_handler=_record_handler(launcher), processor=processor, context=context
    )
    launcher.launch_pending()  # an exception here fails the whole batch, which is retried
    outcome = launcher.outcome
    metrics.add_metric(name="ItemsRegistered", unit=MetricUnit.Count, value=outcome.registered)
    metrics.add_metric(name="JobsLaunched", unit=MetricUnit.Count, value=len(outcome.launched_jobs))
    metrics.add_metric(name="ItemsRequeued", unit=MetricUnit.Count, value=outcome.requeued)
    metrics.add_metric(name="ItemsFailed", unit=MetricUnit.Count, value=len(outcome.failed))
    logger.info("launcher batch done", extra={"outcome": outcome.__dict__})
    return dict(response)
