"""Custom resource: an A2I flow definition (CloudFormation has no ``AWS::SageMaker::FlowDefinition``).

* Create: ``CreateFlowDefinition`` under a name derived from the request (``<prefix>-<hash>``); then
  ``is_complete`` waits until the flow is ``Active`` (a loop cannot start before that) and fails with the
  service's ``FailureReason`` if it becomes ``Failed``.
* Update: a changed request means a new name, so a new flow definition is created and its name returned as the
  new physical id; CloudFormation then deletes the old one. An update that changes nothing keeps the flow.
* Delete: ``DeleteFlowDefinition``, then wait until it is gone. A flow that does not exist counts as deleted.

Retries are safe: the name is a hash of the request, and an existing flow with that name is adopted.
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
    request_type,
    resource_name,
    sagemaker,
)
from truthloop.aws import map_client_errors
from truthloop.exceptions import AwsError, NotFoundError

_NAME = re.compile(r"[a-z0-9](-*[a-z0-9]){0,62}")


def _describe(sm: Any, name: str) -> dict[str, Any] | None:
    return describe(
        "DescribeFlowDefinition",
        f"flow definition {name}",
        lambda: sm.describe_flow_definition(FlowDefinitionName=name),
    )


def _create(sm: Any, name: str, request: dict[str, Any]) -> str:
    created = create(
        "CreateFlowDefinition",
        f"flow definition {name}",
        lambda: sm.create_flow_definition(FlowDefinitionName=name, **request),
        lambda: _describe(sm, name),
    )
    if created.get("FlowDefinitionStatus") == "Deleting":  # only a description (an adopted flow) has a status
        raise ProvisioningError(f"flow definition {name} is still being deleted; retry the deployment in a minute")
    return str(created["FlowDefinitionArn"])


def on_event(event: dict[str, Any], context: Any = None, *, client: Any = None) -> dict[str, Any]:
    """Start creating, replacing or deleting the flow definition; return its physical id (the name)."""
    sm = sagemaker(client)
    kind = request_type(event)
    if kind == DELETE:
        name = str(event.get("PhysicalResourceId", ""))
        if _NAME.fullmatch(name):
            try:
                with map_client_errors("DeleteFlowDefinition"):
                    sm.delete_flow_definition(FlowDefinitionName=name)
            except NotFoundError:
                pass
            except AwsError as exc:
                if exc.code == "ResourceNotFound":
                    pass
                elif exc.code == "ResourceInUse":
                    raise ProvisioningError(
                        f"flow definition {name} still has active human loops; stop them "
                        "(aws sagemaker-a2i-runtime stop-human-loop) and delete again"
                    ) from None
                else:
                    raise ProvisioningError(f"cannot delete flow definition {name}: {exc}") from None
        return {"PhysicalResourceId": name}

    prefix, request = api_request(event)
    name = resource_name(prefix, request)
    if kind != CREATE and event.get("PhysicalResourceId") == name:
        return {"PhysicalResourceId": name, "Data": {"FlowDefinitionName": name}}
    arn = _create(sm, name, request)
    return {"PhysicalResourceId": name, "Data": {"FlowDefinitionName": name, "FlowDefinitionArn": arn}}


def is_complete(event: dict[str, Any], context: Any = None, *, client: Any = None) -> dict[str, Any]:
    """Report whether the flow definition reached ``Active`` (create/update) or is gone (delete)."""
    sm = sagemaker(client)
    kind = request_type(event)
    name = str(event.get("PhysicalResourceId", ""))
    if kind == DELETE:
        if not _NAME.fullmatch(name):
            return {"IsComplete": True}
        return {"IsComplete": _describe(sm, name) is None}
    described = _describe(sm, name)
    if described is None:
        raise ProvisioningError(f"flow definition {name} disappeared while it was being created")
    status = described.get("FlowDefinitionStatus")
    if status == "Active":
        return {
            "IsComplete": True,
            "Data": {"FlowDefinitionName": name, "FlowDefinitionArn": described["FlowDefinitionArn"]},
        }
    if status == "Failed":
        reason = described.get("FailureReason") or "no reason given"
        raise ProvisioningError(f"flow definition {name} failed: {reason}")
    return {"IsComplete": False}
