"""Custom resource: a one-shot (or streaming) Ground Truth labeling job (no ``AWS::SageMaker::LabelingJob``).

* Create: ``CreateLabelingJob`` under a name derived from the request and the stack's id
  (``<prefix>-<hash>``: a retry reuses it, a stack deployed again after a destroy gets a new one). With
  ``Wait=true`` the deployment waits (up to the provider's timeout, under CloudFormation's one hour) until the job
  is ``Completed``, and fails with the job's ``FailureReason`` when it ends ``Failed`` or ``Stopped``; otherwise
  it completes at once. An existing job of that name is adopted only while it runs or after it completed: a
  stopped or failed one is reported as an error, never as a job that runs.
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


#: An existing job in one of these states cannot be adopted: no job would run.
DEAD = frozenset({"Stopping", "Stopped", "Failed"})


def _create(sm: Any, name: str, request: dict[str, Any]) -> str:
    created = create(
        "CreateLabelingJob",
        f"labeling job {name}",
        lambda: sm.create_labeling_job(LabelingJobName=name, **request),
        lambda: _describe(sm, name),
    )
    status = created.get("LabelingJobStatus")  # only a description (an existing job) has a status
    if status in DEAD:
        raise ProvisioningError(
            f"labeling job {name} already exists and is {status}; job names cannot be reused, so change the job "
            "(any setting) or its name_prefix to start a new one"
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
    stack_id = event.get("StackId")
    name = resource_name(prefix, request, deployment=str(stack_id) if stack_id else None)
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
