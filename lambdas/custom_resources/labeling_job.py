"""Custom resource: a one-shot (or streaming) Ground Truth labeling job (no ``AWS::SageMaker::LabelingJob``).

* Create: ``CreateLabelingJob`` under a name derived from the request (``<prefix>-<hash>``). With
  ``Wait=true`` the deployment waits (up to the provider's timeout) until the job is ``Completed``, and fails
  with the job's ``FailureReason`` when it ends ``Failed`` or ``Stopped``; otherwise it completes at once.
* Update: a changed request starts a new job under a new name; CloudFormation then deletes (stops) the old one.
* Delete: ``StopLabelingJob`` when the job is still running, then wait until it has stopped. Labeling jobs
  cannot be deleted from SageMaker; a finished job and its output stay where they are.
"""

from __future__ import annotations

import re
from typing import Any

import boto3

from custom_resources._provider import (
    CREATE,
    DELETE,
    ProvisioningError,
    api_request,
    flag,
    not_found,
    request_type,
    resource_name,
)
from truthloop.aws import map_client_errors
from truthloop.exceptions import AwsError, NotFoundError

_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
RUNNING = frozenset({"Initializing", "InProgress"})
FINISHED = frozenset({"Completed", "Failed", "Stopped"})
_client: Any = None


def _sagemaker(client: Any) -> Any:
    global _client
    if client is not None:
        return client
    if _client is None:
        _client = boto3.client("sagemaker")
    return _client


def _describe(sm: Any, name: str) -> dict[str, Any] | None:
    try:
        with map_client_errors("DescribeLabelingJob"):
            return dict(sm.describe_labeling_job(LabelingJobName=name))
    except NotFoundError:
        return None
    except AwsError as exc:
        if not_found(exc):
            return None
        raise ProvisioningError(f"cannot describe labeling job {name}: {exc}") from None


def _create(sm: Any, name: str, request: dict[str, Any]) -> str:
    try:
        with map_client_errors("CreateLabelingJob"):
            return str(sm.create_labeling_job(LabelingJobName=name, **request)["LabelingJobArn"])
    except AwsError as exc:
        if exc.code != "ResourceInUse":
            raise ProvisioningError(f"cannot create labeling job {name}: {exc}") from None
    existing = _describe(sm, name)  # a retried create: the name is the request's hash
    if existing is None:
        raise ProvisioningError(f"labeling job {name} is reported in use but cannot be described")
    return str(existing["LabelingJobArn"])


def on_event(event: dict[str, Any], context: Any = None, *, client: Any = None) -> dict[str, Any]:
    """Start the labeling job (create/update) or stop it (delete); return its physical id (the job name)."""
    sm = _sagemaker(client)
    kind = request_type(event)
    if kind == DELETE:
        name = str(event.get("PhysicalResourceId", ""))
        if not _NAME.fullmatch(name):
            return {"PhysicalResourceId": name}
        described = _describe(sm, name)
        if described is not None and described.get("LabelingJobStatus") in RUNNING:
            try:
                with map_client_errors("StopLabelingJob"):
                    sm.stop_labeling_job(LabelingJobName=name)
            except AwsError as exc:
                if not not_found(exc):
                    raise ProvisioningError(f"cannot stop labeling job {name}: {exc}") from None
        return {"PhysicalResourceId": name}

    prefix, request = api_request(event)
    name = resource_name(prefix, request)
    if kind != CREATE and event.get("PhysicalResourceId") == name:
        return {"PhysicalResourceId": name, "Data": {"LabelingJobName": name}}
    arn = _create(sm, name, request)
    return {"PhysicalResourceId": name, "Data": {"LabelingJobName": name, "LabelingJobArn": arn}}


def is_complete(event: dict[str, Any], context: Any = None, *, client: Any = None) -> dict[str, Any]:
    """Create/update: done at once, or (``Wait=true``) when the job completed. Delete: done once it stopped."""
    sm = _sagemaker(client)
    kind = request_type(event)
    name = str(event.get("PhysicalResourceId", ""))
    if kind == DELETE:
        if not _NAME.fullmatch(name):
            return {"IsComplete": True}
        described = _describe(sm, name)
        return {"IsComplete": described is None or described.get("LabelingJobStatus") in FINISHED}
    described = _describe(sm, name)
    if described is None:
        raise ProvisioningError(f"labeling job {name} disappeared while it was being created")
    data = {"LabelingJobName": name, "LabelingJobArn": described["LabelingJobArn"]}
    status = described.get("LabelingJobStatus")
    if status == "Failed":
        raise ProvisioningError(f"labeling job {name} failed: {described.get('FailureReason') or 'no reason given'}")
    if not flag(event, "Wait"):
        return {"IsComplete": True, "Data": data}
    if status == "Completed":
        output = (described.get("LabelingJobOutput") or {}).get("OutputDatasetS3Uri", "")
        return {"IsComplete": True, "Data": {**data, "OutputDatasetS3Uri": output}}
    if status == "Stopped":
        raise ProvisioningError(f"labeling job {name} was stopped before it completed")
    return {"IsComplete": False}
