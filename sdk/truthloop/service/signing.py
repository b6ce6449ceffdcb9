"""Call the truthloop service with plain boto3 clients, signed with IAM for API Gateway.

The deployed service sits behind an API Gateway HTTP API whose every route requires IAM authorisation. API Gateway
checks SigV4 signatures made for the service name ``execute-api``; boto3 signs SageMaker and A2I calls for
``sagemaker``. :func:`client` returns an ordinary boto3 client aimed at the service's endpoint whose requests are
signed for ``execute-api`` instead, so existing A2I and Ground Truth code changes one line::

    a2i = boto3.client("sagemaker-a2i-runtime")                      # before: Amazon A2I
    a2i = truthloop.service.client("sagemaker-a2i-runtime")          # after: the truthloop service

The endpoint comes from ``endpoint_url``, else ``TRUTHLOOP_SERVICE_ENDPOINT``, else the ``ApiEndpoint`` output of
the CloudFormation stack ``TRUTHLOOP_SERVICE_STACK`` (default ``TruthloopService``) in the client's region.

:func:`verify_request` is the other side: it recomputes a request's SigV4 signature with botocore's own signer and
refuses anything unsigned, signed for another service or region, stale, or altered, the way API Gateway does.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from truthloop.exceptions import ServiceEndpointError, SignatureRejectedError

if TYPE_CHECKING:
    import boto3

__all__ = [
    "API_ENDPOINT_OUTPUT",
    "DEFAULT_STACK_NAME",
    "ENV_ENDPOINT",
    "ENV_STACK",
    "SERVICES",
    "SIGNING_NAME",
    "VerifiedCaller",
    "client",
    "service_endpoint",
    "sign_for_api_gateway",
    "verify_request",
]

#: The deployed service's endpoint (``https://<api id>.execute-api.<region>.amazonaws.com``).
ENV_ENDPOINT = "TRUTHLOOP_SERVICE_ENDPOINT"
#: The CloudFormation stack whose ``ApiEndpoint`` output names the endpoint when ``ENV_ENDPOINT`` is not set.
ENV_STACK = "TRUTHLOOP_SERVICE_STACK"
DEFAULT_STACK_NAME = "TruthloopService"
API_ENDPOINT_OUTPUT = "ApiEndpoint"
#: The signing name API Gateway verifies.
SIGNING_NAME = "execute-api"
#: The boto3 services the truthloop service serves.
SERVICES = ("sagemaker-a2i-runtime", "sagemaker")
#: How far a request's ``X-Amz-Date`` may be from the verifier's clock (AWS allows 15 minutes).
MAX_CLOCK_SKEW = datetime.timedelta(minutes=15)

_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/\s]+)/(?P<date>\d{8})/(?P<region>[^/\s]+)/(?P<service>[^/\s]+)"
    r"/aws4_request,\s*SignedHeaders=(?P<headers>[a-z0-9;._-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


# --------------------------------------------------------------------------------------------- clients


def client(
    service_name: str,
    *,
    endpoint_url: str | None = None,
    stack_name: str | None = None,
    session: boto3.session.Session | None = None,
    region_name: str | None = None,
    **kwargs: Any,
) -> Any:
    """A boto3 client for ``service_name`` that calls the truthloop service, signed for API Gateway.

    ``service_name`` is ``"sagemaker-a2i-runtime"`` or ``"sagemaker"``; other keyword arguments go to
    ``session.client`` (``config=``, credentials, ...). The region defaults to the endpoint's (an
    ``execute-api`` host names it), then to the session's. Raises :class:`ServiceEndpointError` when no endpoint
    can be found.
    """
    import boto3

    if service_name not in SERVICES:
        raise ServiceEndpointError(
            f"the truthloop service serves {', '.join(SERVICES)}; {service_name!r} is not one of them"
        )
    session = session or boto3.session.Session(region_name=region_name)
    endpoint = endpoint_url or service_endpoint(session=session, stack_name=stack_name, region_name=region_name)
    region = region_name or endpoint_region(endpoint) or session.region_name
    make: Callable[..., Any] = session.client  # one of two service names, so no single stub overload applies
    boto_client = make(service_name, endpoint_url=endpoint, region_name=region, **kwargs)
    sign_for_api_gateway(boto_client)
    return boto_client


def sign_for_api_gateway(boto_client: Any) -> None:
    """Make ``boto_client`` sign its requests for ``execute-api`` (API Gateway) instead of its own service.

    Registers on botocore's ``before-sign.<service>`` event, which fires for every operation just before the
    signature is computed; the request's signing context then names ``execute-api``. Idempotent.
    """
    service_id = boto_client.meta.service_model.service_id.hyphenize()
    boto_client.meta.events.register(
        f"before-sign.{service_id}", _sign_as_execute_api, unique_id="truthloop-service-execute-api"
    )


def _sign_as_execute_api(request: Any, **_: Any) -> None:
    request.context.setdefault("signing", {})["signing_name"] = SIGNING_NAME


def endpoint_region(endpoint: str) -> str | None:
    """The region of an ``https://<id>.execute-api.<region>.amazonaws.com`` endpoint (None for other hosts)."""
    match = _EXECUTE_API_HOST.match(urlsplit(endpoint).hostname or "")
    return match.group(1) if match else None


def service_endpoint(
    *,
    session: boto3.session.Session | None = None,
    stack_name: str | None = None,
    region_name: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The service's endpoint: ``TRUTHLOOP_SERVICE_ENDPOINT``, else the stack's ``ApiEndpoint`` output.

    Raises :class:`ServiceEndpointError` naming the stack and region when the stack or its output is missing.
    """
    environ = os.environ if environ is None else environ
    configured = environ.get(ENV_ENDPOINT, "").strip()
    if configured:
        if not configured.startswith(("https://", "http://")):
            raise ServiceEndpointError(f"{ENV_ENDPOINT}={configured!r} is not an http(s) URL")
        return configured.rstrip("/")
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    session = session or boto3.session.Session(region_name=region_name)
    stack = stack_name or environ.get(ENV_STACK, "").strip() or DEFAULT_STACK_NAME
    region = region_name or session.region_name
    where = f"stack {stack!r} in region {region or '(no region configured)'}"
    try:
        stacks = session.client("cloudformation", region_name=region).describe_stacks(StackName=stack)["Stacks"]
    except (ClientError, BotoCoreError) as exc:
        raise ServiceEndpointError(
            f"cannot read the truthloop service's endpoint from {where}: {exc}; deploy it with "
            f"`cdk deploy -c truthloop:backend=service`, or set {ENV_ENDPOINT}"
        ) from exc
    for output in stacks[0].get("Outputs", []) if stacks else []:
        if output.get("OutputKey") == API_ENDPOINT_OUTPUT and output.get("OutputValue"):
            return str(output["OutputValue"]).rstrip("/")
    raise ServiceEndpointError(
        f"{where} has no {API_ENDPOINT_OUTPUT!r} output; is it the truthloop service stack? (or set {ENV_ENDPOINT})"
    )


# --------------------------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class VerifiedCaller:
    """Who signed a request that :func:`verify_request` accepted."""

    access_key_id: str
    region: str
    service: str


def verify_request(
    method: str,
    url: str,
    headers: Mapping[str, str | bytes],
    body: bytes,
    *,
    secret_for: Callable[[str], str | None],
    service: str = SIGNING_NAME,
    region: str | None = None,
    now: datetime.datetime | None = None,
) -> VerifiedCaller:
    """Check a request's SigV4 signature as API Gateway's IAM authorisation does; return who signed it.

    The signature is recomputed with botocore's own ``SigV4Auth`` from the received method, URL, the headers the
    client says it signed, and the body. ``secret_for`` maps an access key id to its secret (None: unknown key).
    Raises :class:`SignatureRejectedError` (HTTP 403) when the request is unsigned, signed for another service or
    region, older or newer than 15 minutes, signed with an unknown key, or altered after signing.
    """
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    lower = {k.lower(): v.decode("latin-1") if isinstance(v, bytes) else v for k, v in headers.items()}
    value = lower.get("authorization", "").strip()
    if not value:
        raise SignatureRejectedError("Missing Authentication Token", code="MissingAuthenticationTokenException")
    match = _AUTHORIZATION.match(value)
    if match is None:
        raise SignatureRejectedError(
            "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' (AWS4-HMAC-SHA256)",
            code="IncompleteSignatureException",
        )
    if match["service"] != service:
        raise SignatureRejectedError(
            f"Credential should be scoped to correct service: '{service}' (the request was signed for "
            f"'{match['service']}')"
        )
    if region is not None and match["region"] != region:
        raise SignatureRejectedError(
            f"Credential should be scoped to a valid region: '{region}' (not '{match['region']}')"
        )
    amz_date = lower.get("x-amz-date", "")
    try:
        signed_at = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        raise SignatureRejectedError(
            f"X-Amz-Date {amz_date!r} is missing or not in ISO 8601 basic format", code="IncompleteSignatureException"
        ) from None
    if not amz_date.startswith(match["date"]):
        raise SignatureRejectedError(f"the credential scope date {match['date']} is not the day of {amz_date}")
    clock = now or datetime.datetime.now(datetime.UTC)
    if abs(clock - signed_at) > MAX_CLOCK_SKEW:
        raise SignatureRejectedError(
            f"Signature expired: {amz_date} is more than 15 minutes from the server's time "
            f"{clock.strftime('%Y%m%dT%H%M%SZ')}"
        )
    signed = match["headers"].split(";")
    if "host" not in signed:
        raise SignatureRejectedError("the Host header must be signed")
    # Host may be absent from a captured request's headers: botocore then derives it from the URL, as it signed it.
    missing = [name for name in signed if name not in lower and name != "host"]
    if missing:
        raise SignatureRejectedError(f"signed headers {missing} are missing from the request")
    content_sha = lower.get("x-amz-content-sha256")
    if content_sha and content_sha != "UNSIGNED-PAYLOAD" and content_sha != hashlib.sha256(body).hexdigest():
        raise SignatureRejectedError("X-Amz-Content-SHA256 does not match the body")
    secret = secret_for(match["key"])
    if secret is None:
        raise SignatureRejectedError(
            "The security token included in the request is invalid", code="UnrecognizedClientException"
        )
    request = AWSRequest(
        method=method.upper(), url=url, data=body, headers={name: lower[name] for name in signed if name in lower}
    )
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(
        Credentials(match["key"], secret, lower.get("x-amz-security-token")), match["service"], match["region"]
    )
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, match["signature"]):
        raise SignatureRejectedError(
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
            "Access Key and signing method."
        )
    return VerifiedCaller(access_key_id=match["key"], region=match["region"], service=match["service"])
