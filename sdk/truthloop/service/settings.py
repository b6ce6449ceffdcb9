"""The service's configuration: every environment variable its Lambda functions read, in one place."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from truthloop.exceptions import ServiceConfigurationError
from truthloop.local.config import DEFAULT_ACCOUNT_ID

__all__ = [
    "DEFAULT_EVENT_BUS",
    "DEFAULT_EVENT_SOURCE",
    "ENV_ACCOUNT_ID",
    "ENV_AUTH_URL",
    "ENV_BASE_URL",
    "ENV_BUCKET",
    "ENV_EVENT_BUS",
    "ENV_EVENT_SOURCE",
    "ENV_JWKS_URL",
    "ENV_PORTAL_URL",
    "ENV_QUEUE_URL",
    "ENV_TABLE",
    "ENV_USER_POOL_CLIENT_ID",
    "ENV_USER_POOL_ID",
    "PORTAL_ENV_KEYS",
    "ServiceSettings",
]

#: the DynamoDB table of every record (storage)
ENV_TABLE = "TRUTHLOOP_SERVICE_TABLE"
#: the S3 bucket of large documents (storage)
ENV_BUCKET = "TRUTHLOOP_SERVICE_BUCKET"
#: the SQS queue of engine steps (``{"step": ..., "id": ...}`` messages)
ENV_QUEUE_URL = "TRUTHLOOP_SERVICE_QUEUE_URL"
#: the EventBridge bus that gets the human loop and labeling job status events
ENV_EVENT_BUS = "TRUTHLOOP_SERVICE_EVENT_BUS"
#: the ``source`` of those events
ENV_EVENT_SOURCE = "TRUTHLOOP_SERVICE_EVENT_SOURCE"
#: optional: the account id in the ARNs the service makes (default: the one in the Lambda's own ARN, if known)
ENV_ACCOUNT_ID = "TRUTHLOOP_SERVICE_ACCOUNT_ID"
#: optional: the public URL of the HTTP API (the portal's address in ``Workteam.SubDomain``)
ENV_BASE_URL = "TRUTHLOOP_SERVICE_BASE_URL"
#: optional: the hosted portal's Cognito user pool (workers sign in; work teams are its groups) ...
ENV_USER_POOL_ID = "TRUTHLOOP_SERVICE_USER_POOL_ID"
#: ... its public app client (authorization code + PKCE); the tokens' ``aud``/``client_id`` ...
ENV_USER_POOL_CLIENT_ID = "TRUTHLOOP_SERVICE_USER_POOL_CLIENT_ID"
#: ... and the hosted UI's base URL (``https://<domain>.auth.<region>.amazoncognito.com``). Pool and client go
#: together; without the hosted UI's URL the portal takes Cognito tokens (Bearer) but cannot start a browser sign-in
ENV_AUTH_URL = "TRUTHLOOP_SERVICE_AUTH_URL"
#: optional: where browsers reach the portal (``https://<distribution>/portal``; default ``<base URL>/portal``)
ENV_PORTAL_URL = "TRUTHLOOP_SERVICE_PORTAL_URL"
#: optional: where the pool's signing keys are (default ``<issuer>/.well-known/jwks.json``; ``service local``: moto)
ENV_JWKS_URL = "TRUTHLOOP_SERVICE_JWKS_URL"
#: the hosted portal's variables
PORTAL_ENV_KEYS = (ENV_USER_POOL_ID, ENV_USER_POOL_CLIENT_ID, ENV_AUTH_URL, ENV_PORTAL_URL, ENV_JWKS_URL)

DEFAULT_EVENT_BUS = "default"
DEFAULT_EVENT_SOURCE = "truthloop.service"


@dataclass(frozen=True)
class ServiceSettings:
    """What one service deployment is: its table, bucket, queue, event bus, region and account."""

    table: str
    bucket: str
    queue_url: str
    region: str
    event_bus: str = DEFAULT_EVENT_BUS
    event_source: str = DEFAULT_EVENT_SOURCE
    account_id: str = DEFAULT_ACCOUNT_ID
    base_url: str = "http://127.0.0.1"
    #: whether ``base_url`` was configured (then the portal answers only that host name)
    base_url_set: bool = False
    #: the hosted portal's sign-in (empty: no Cognito; the portal takes worker tokens, as locally)
    user_pool_id: str = ""
    user_pool_client_id: str = ""
    auth_url: str = ""
    portal_url: str = ""
    jwks_url: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ServiceSettings:
        """Read the settings; :class:`ServiceConfigurationError` names every required variable that is missing."""
        missing = [name for name in (ENV_TABLE, ENV_BUCKET, ENV_QUEUE_URL) if not env.get(name)]
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or ""
        if not region:
            missing.append("AWS_REGION")
        if missing:
            raise ServiceConfigurationError(
                f"the truthloop service needs the environment variable(s) {', '.join(missing)}"
            )
        sign_in = [env.get(name) or "" for name in (ENV_USER_POOL_ID, ENV_USER_POOL_CLIENT_ID, ENV_AUTH_URL)]
        if (sign_in[0] or sign_in[2]) and not (sign_in[0] and sign_in[1]):
            absent = [n for n, v in zip((ENV_USER_POOL_ID, ENV_USER_POOL_CLIENT_ID), sign_in) if not v]
            raise ServiceConfigurationError(
                f"the hosted portal's sign-in needs {ENV_USER_POOL_ID} and {ENV_USER_POOL_CLIENT_ID} together "
                f"(and {ENV_AUTH_URL} for the browser sign-in); missing: {', '.join(absent)}"
            )
        account = env.get(ENV_ACCOUNT_ID) or DEFAULT_ACCOUNT_ID
        if not (account.isdigit() and len(account) == 12):
            raise ServiceConfigurationError(f"{ENV_ACCOUNT_ID} must be a 12-digit account id, got {account!r}")
        return cls(
            table=env[ENV_TABLE],
            bucket=env[ENV_BUCKET],
            queue_url=env[ENV_QUEUE_URL],
            region=region,
            event_bus=env.get(ENV_EVENT_BUS) or DEFAULT_EVENT_BUS,
            event_source=env.get(ENV_EVENT_SOURCE) or DEFAULT_EVENT_SOURCE,
            account_id=account,
            base_url=(env.get(ENV_BASE_URL) or "http://127.0.0.1").rstrip("/"),
            base_url_set=bool(env.get(ENV_BASE_URL)),
            user_pool_id=sign_in[0],
            user_pool_client_id=sign_in[1],
            auth_url=sign_in[2].rstrip("/"),
            portal_url=(env.get(ENV_PORTAL_URL) or "").rstrip("/"),
            jwks_url=env.get(ENV_JWKS_URL) or "",
        )
