"""Custom resource: a private work team created through the SageMaker API (used on the truthloop service).

CloudFormation's ``AWS::SageMaker::Workteam`` only reaches SageMaker; this handler makes the same ``CreateWorkteam``
call on whatever SageMaker client :func:`custom_resources._provider.sagemaker` returns, which with
``TRUTHLOOP_SERVICE_ENDPOINT`` is the truthloop service's (signed for its API). The team's members are a Cognito
group (``CognitoMemberDefinition``); the first team on the service also creates its ``default`` workforce.

* Create: ``CreateWorkteam`` under a name derived from the request (``<prefix>-<hash>``); a team exists as soon
  as the call returns, ``is_complete`` confirms it with ``DescribeWorkteam``.
* Update: a changed request means a new name, so a new team is created and CloudFormation deletes the old one.
* Delete: ``DeleteWorkteam``; a team that does not exist counts as deleted.
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

_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


def _describe(sm: Any, name: str) -> dict[str, Any] | None:
    described = describe("DescribeWorkteam", f"work team {name}", lambda: sm.describe_workteam(WorkteamName=name))
    return None if described is None else dict(described.get("Workteam") or {})


def _data(name: str, described: dict[str, Any]) -> dict[str, Any]:
    return {"WorkteamName": name, "WorkteamArn": described["WorkteamArn"]}


def on_event(event: dict[str, Any], context: Any = None, *, client: Any = None) -> dict[str, Any]:
    """Create, replace or delete the work team; return its physical id (the name) and its ARN."""
    sm = sagemaker(client)
    kind = request_type(event)
    if kind == DELETE:
        name = str(event.get("PhysicalResourceId", ""))
        if _NAME.fullmatch(name):
            try:
                with map_client_errors("DeleteWorkteam"):
                    sm.delete_workteam(WorkteamName=name)
            except NotFoundError:
                pass
            except AwsError as exc:
                if not not_found(exc):
                    raise ProvisioningError(f"cannot delete work team {name}: {exc}") from None
        return {"PhysicalResourceId": name}

    prefix, request = api_request(event)
    if not isinstance(request.get("MemberDefinitions"), list) or not request["MemberDefinitions"]:
        raise ProvisioningError("ResourceProperties.Request.MemberDefinitions must be a non-empty list")
    name = resource_name(prefix, request)
    if kind != CREATE and event.get("PhysicalResourceId") == name:
        existing = _describe(sm, name)
        if existing is not None:
            return {"PhysicalResourceId": name, "Data": _data(name, existing)}
    created = create(
        "CreateWorkteam",
        f"work team {name}",
        lambda: sm.create_workteam(WorkteamName=name, **request),
        lambda: _describe(sm, name),
    )
    return {"PhysicalResourceId": name, "Data": _data(name, created)}


def is_complete(event: dict[str, Any], context: Any = None, *, client: Any = None) -> dict[str, Any]:
    """Report whether the team exists (create/update) or is gone (delete)."""
    sm = sagemaker(client)
    kind = request_type(event)
    name = str(event.get("PhysicalResourceId", ""))
    if kind == DELETE:
        return {"IsComplete": not _NAME.fullmatch(name) or _describe(sm, name) is None}
    described = _describe(sm, name)
    if described is None:
        raise ProvisioningError(f"work team {name} disappeared while it was being created")
    return {"IsComplete": True, "Data": _data(name, described)}
