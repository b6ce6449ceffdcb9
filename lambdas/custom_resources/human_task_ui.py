"""Custom resource: a worker task UI created through the SageMaker API (used on the truthloop service).

CloudFormation's ``AWS::SageMaker::HumanTaskUi`` only reaches SageMaker; this handler makes the same
``CreateHumanTaskUi`` call on whatever SageMaker client :func:`custom_resources._provider.sagemaker` returns, which
with ``TRUTHLOOP_SERVICE_ENDPOINT`` is the truthloop service's (signed for its API).

* Create: ``CreateHumanTaskUi`` under a name derived from the template (``<prefix>-<hash>``); ``is_complete`` waits
  until the UI is ``Active``.
* Update: an edited template means a new name, so a new UI is created and CloudFormation deletes the old one.
* Delete: ``DeleteHumanTaskUi``; a UI that does not exist counts as deleted.
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
    not_found,
    request_type,
    resource_name,
    sagemaker,
)
from truthloop.aws import map_client_errors
from truthloop.exceptions import AwsError, NotFoundError

_NAME = re.compile(r"[a-z0-9](-*[a-z0-9]){0,62}")


def _describe(sm: Any, name: str) -> dict[str, Any] | None:
    return describe(
        "DescribeHumanTaskUi", f"task UI {name}", lambda: sm.describe_human_task_ui(HumanTaskUiName=name)
    )


def on_event(event: dict[str, Any], context: Any = None, *, client: Any = None) -> dict[str, Any]:
    """Create, replace or delete the task UI; return its physical id (the name)."""
    sm = sagemaker(client)
    kind = request_type(event)
    if kind == DELETE:
        name = str(event.get("PhysicalResourceId", ""))
        if _NAME.fullmatch(name):
            try:
                with map_client_errors("DeleteHumanTaskUi"):
                    sm.delete_human_task_ui(HumanTaskUiName=name)
            except NotFoundError:
                pass
            except AwsError as exc:
                if not not_found(exc):
                    raise ProvisioningError(f"cannot delete task UI {name}: {exc}") from None
        return {"PhysicalResourceId": name}

    prefix, request = api_request(event)
    content = (request.get("UiTemplate") or {}).get("Content")
    if not isinstance(content, str) or not content.strip():
        raise ProvisioningError("ResourceProperties.Request.UiTemplate.Content must be a non-empty string")
    name = resource_name(prefix, request)
    if kind != CREATE and event.get("PhysicalResourceId") == name:
        return {"PhysicalResourceId": name}
    created = create(
        "CreateHumanTaskUi",
        f"task UI {name}",
        lambda: sm.create_human_task_ui(HumanTaskUiName=name, **request),
        lambda: _describe(sm, name),
    )
    return {"PhysicalResourceId": name, "Data": {"HumanTaskUiName": name, "HumanTaskUiArn": created["HumanTaskUiArn"]}}


def is_complete(event: dict[str, Any], context: Any = None, *, client: Any = None) -> dict[str, Any]:
    """Report whether the UI reached ``Active`` (create/update) or is gone (delete)."""
    sm = sagemaker(client)
    kind = request_type(event)
    name = str(event.get("PhysicalResourceId", ""))
    if kind == DELETE:
        return {"IsComplete": not _NAME.fullmatch(name) or _describe(sm, name) is None}
    described = _describe(sm, name)
    if described is None:
        raise ProvisioningError(f"task UI {name} disappeared while it was being created")
    if described.get("HumanTaskUiStatus", "Active") != "Active":
        return {"IsComplete": False}
    return {"IsComplete": True, "Data": {"HumanTaskUiName": name, "HumanTaskUiArn": described["HumanTaskUiArn"]}}
