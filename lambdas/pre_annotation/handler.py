"""Ground Truth pre-annotation Lambda: one manifest line in, ``taskInput`` out.

Configuration: ``TRUTHLOOP_TASK_TYPE`` (a truthloop task-type id, e.g. ``text-classification``) and, optional,
``TRUTHLOOP_AUTO_ACCEPT_THRESHOLD`` (0–1: a model pre-label at least this confident skips human annotation).
A malformed event raises (GT marks the object failed) after the reason is logged.
"""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from truthloop.exceptions import ConfigurationError
from truthloop.labeling import pre_annotate

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def _threshold() -> float | None:
    raw = os.environ.get("TRUTHLOOP_AUTO_ACCEPT_THRESHOLD", "").strip()
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"TRUTHLOOP_AUTO_ACCEPT_THRESHOLD must be a number, got {raw!r}") from None


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    metrics.add_metric(name="Invocations", unit=MetricUnit.Count, value=1)
    result = pre_annotate(event, task_type=os.environ["TRUTHLOOP_TASK_TYPE"], auto_accept_threshold=_threshold())
    if not result["isHumanAnnotationRequired"]:
        metrics.add_metric(name="AutoAccepted", unit=MetricUnit.Count, value=1)
    return result
