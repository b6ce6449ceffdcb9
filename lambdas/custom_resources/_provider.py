"""What the flow-definition and labeling-job providers share: event parsing, clients, naming."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

import boto3

from truthloop.aws import map_client_errors
from truthloop.exceptions import AwsError, NotFoundError
from truthloop.naming import deterministic_name
from truthloop.service.signing import ENV_ENDPOINT as ENV_SERVICE_ENDPOINT
from truthloop.service.signing import client as service_client

CREATE, UPDATE, DELETE = "Create", "Update", "Delete"
_client: Any = None


class ProvisioningError(RuntimeError):
    """Raised when the resource cannot reach the requested state; the message becomes CloudFormation's reason."""


def request_type(event: dict[str, Any]) -> str:
    kind = event.get("RequestType")
    if kind not in (CREATE, UPDATE, DELETE):
        raise ProvisioningError(f"unknown RequestType {kind!r}; expected Create, Update or Delete")
    return str(kind)


def api_request(event: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The (name prefix, API request) a construct put in ``ResourceProperties``.

    The request travels as one JSON string (``Request``) because CloudFormation turns every other property
    value into a string, which would break numbers and booleans.
    """
    props = event.get("ResourceProperties") or {}
    try:
        prefix = props["NamePrefix"]
        request = json.loads(props["Request"])
    except KeyError as exc:
        raise ProvisioningError(f"ResourceProperties.{exc.args[0]} is missing") from None
    except ValueError as exc:
        raise ProvisioningError(f"ResourceProperties.Request is not JSON: {exc}") from None
    if not isinstance(request, dict):
        raise ProvisioningError("ResourceProperties.Request must be a JSON object")
    return str(prefix), request


def resource_name(prefix: str, request: dict[str, Any], *, deployment: str | None = None) -> str:
    """The deterministic resource name: a changed request gets a new name, so an update is a replacement.

    ``deployment`` (CloudFormation's ``StackId``, which holds a UUID unique to each creation of the stack) makes the
    name unique to one stack: a retry within the stack gets the same name, a stack destroyed and deployed again
    gets new ones, so it never meets the resources its predecessor left behind (labeling jobs cannot be deleted).
    """
    if deployment is None:
        return deterministic_name(prefix, request, max_length=63, lower=True)
    return deterministic_name(prefix, {"deployment": deployment, "request": request}, max_length=63, lower=True)


def not_found(exc: Exception) -> bool:
    """True when a SageMaker error means "no such resource" (some Describe calls answer ValidationException)."""
    text = str(exc).lower()
    return getattr(exc, "code", "") in {"ResourceNotFound", "ResourceNotFoundException"} or any(
        phrase in text for phrase in ("does not exist", "could not find", "not found")
    )


def flag(event: dict[str, Any], key: str) -> bool:
    value = (event.get("ResourceProperties") or {}).get(key, "false")
    return str(value).lower() == "true"


def sagemaker(client: Any = None) -> Any:
    """``client`` when given (tests pass a stubbed one), else this process's SageMaker client, made on first use.

    With ``TRUTHLOOP_SERVICE_ENDPOINT`` in the environment the client is the truthloop service's
    (``truthloop.service.client("sagemaker")``, signed for its API), so the same providers create the resources on
    the service instead of on SageMaker.
    """
    global _client
    if client is not None:
        return client
    if _client is None:
        if os.environ.get(ENV_SERVICE_ENDPOINT):
            _client = service_client("sagemaker", endpoint_url=os.environ[ENV_SERVICE_ENDPOINT])
        else:
            _client = boto3.client("sagemaker")
    return _client


def describe(operation: str, what: str, call: Callable[[], Mapping[str, Any]]) -> dict[str, Any] | None:
    """The answer of ``call()`` (the ``operation`` Describe request for ``what``), or ``None`` if it does not exist."""
    try:
        with map_client_errors(operation):
            return dict(call())
    except NotFoundError:
        return None
    except AwsError as exc:
        if not_found(exc):
            return None
        raise ProvisioningError(f"cannot describe {what}: {exc}") from None


def create(
    operation: str,
    what: str,
    call: Callable[[], Mapping[str, Any]],
    describe_existing: Callable[[], dict[str, Any] | None],
) -> dict[str, Any]:
    """The answer of ``call()`` (the ``operation`` Create request for ``what``).

    ``ResourceInUse`` is a retry of a create that already happened (the name is the request's hash, so the same
    name means the same request): then the existing resource's description is returned instead.
    """
    try:
        with map_client_errors(operation):
            return dict(call())
    except AwsError as exc:
        if exc.code != "ResourceInUse":
            raise ProvisioningError(f"cannot create {what}: {exc}") from None
    existing = describe_existing()
    if existing is None:
        raise ProvisioningError(f"{what} is reported in use but cannot be described")
    return existing
