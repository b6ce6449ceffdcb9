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

from custom_resources._provider import (
    CREATE,
    DELETE,
    ProvisioningError,
    api_request,
    create,
    describe,
    flag,
    not_found,
    request_type,
    resource_name,
    sagemaker,
)
from truthloop.aws import map_client_errors
from truthloop.exceptions import AwsError

_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
RUNNING = frozenset({"Initializing", "InProgress"})
FINISHED = frozenset({"Completed", "Failed", "Stopped"})


def _describe(sm: Any, name: str) -> dict[str, Any] | None:
    return describe(
        "DescribeLabelingJob", f"labeling job {name}", lambda: sm.describe_labeling_job(LabelingJobName=name)
    )


def _create(sm: Any, name: str, request: dict[str, Any]) -> str:
    created = create(
        "CreateLabelingJob",
        f"labeling job {name}",
        lambda: sm.create_labeling_job(LabelingJobName=name, **request),
        lambda: _describe(sm, name),
    )
    return str(created["LabelingJobArn"])


def on_event(event: dict[str, Any], context: Any = None, *, client: Any = None) -> dict[str, Any]:
    """Start the labeling job (create/update) or stop it (delete); return its physical id (the job name)."""
    sm = sagemaker(client)
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
    sm = sagemaker(client)
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
