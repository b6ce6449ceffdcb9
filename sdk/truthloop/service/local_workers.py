"""LOCAL ONLY: issuing (simulated) workers for ``truthloop service local``, so ``truthloop local workers`` runs there.

``POST /_truthloop/workers`` with ``Authorization: Bearer <admin token>`` and ``{"name": "sim-1", "simulated": true}``
(the local backend's admin request, answered the same way: ``{"workerId", "name", "token"}``) gives a token the
portal takes as ``Authorization: Bearer``:

* without ``--sign-in``: a worker token of the service's worker directory (what the service prints at start);
* with ``--sign-in``: the worker is a user of the local user pool (created, or given a new random password if it
  exists), added to every group of the pool (or to the ``groups`` given), and signed in with ``AdminInitiateAuth``
  through the portal's app client. The token is the pool's ID token, which the portal verifies as it verifies any
  other (signature against the pool's JWKS, issuer, audience, expiry); nothing is trusted on this route's word.

Why it cannot exist on a deployed stack: it is served by ``service local``'s loopback dispatcher
(:mod:`truthloop.service.local`), never by the API function. The deployed HTTP API sends ``/_truthloop/workers`` to
the API function's ``$default`` route (IAM-authorised), where :class:`~truthloop.service.app.ServiceApp` does not
know it. The admin token is made at each start and is only in ``<data-dir>/backend.json`` (mode 0600, directory
0700); the dispatcher answers loopback ``Host`` names only.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from botocore.exceptions import ClientError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

__all__ = [
    "LOCAL_WORKERS_PATH",
    "IssuedWorker",
    "LocalWorkerIssuer",
    "admin_authorised",
    "admin_token_required",
    "cognito_worker",
]

LOCAL_WORKERS_PATH = "/_truthloop/workers"
#: Cognito's limit on a username
_MAX_NAME = 128


@dataclass(frozen=True)
class IssuedWorker:
    worker_id: str
    name: str
    token: str


#: issues a worker: (name, simulated, groups or None for the default) -> the worker and its bearer token
Issue = Callable[[str, bool, list[str] | None], IssuedWorker]


class _BadRequest(Exception):
    pass


def _request(body: bytes) -> tuple[str, bool, list[str] | None]:
    """The name, simulated flag and groups of a request body, or :class:`_BadRequest` naming the field."""
    try:
        value = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        raise _BadRequest("the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise _BadRequest("expected a JSON object")
    name = value.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > _MAX_NAME or not name.isprintable():
        raise _BadRequest(f'name: expected {{"name": "…"}} with a printable name of at most {_MAX_NAME} characters')
    simulated = value.get("simulated", False)
    if not isinstance(simulated, bool):
        raise _BadRequest("simulated: must be true or false")
    groups = value.get("groups")
    if groups is not None and (not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups)):
        raise _BadRequest("groups: must be a list of group names")
    return name.strip(), simulated, groups


def admin_authorised(request: Request, admin_token: str) -> bool:
    """Whether ``request`` carries ``Authorization: Bearer <admin token>`` (the LOCAL-ONLY routes' check)."""
    value = request.headers.get("authorization", "")
    return (
        bool(admin_token)
        and value.lower().startswith("bearer ")
        and secrets.compare_digest(value[7:].strip().encode(), admin_token.encode())
    )


def admin_token_required() -> Response:
    return JSONResponse(
        {"error": "the admin token of <data-dir>/backend.json is required (Authorization: Bearer …)"},
        status_code=401,
    )


class LocalWorkerIssuer:
    """The ``/_truthloop/workers`` route of ``service local`` (see the module's docstring)."""

    def __init__(self, admin_token: str, issue: Issue) -> None:
        if not admin_token:
            raise ValueError("the local workers route needs an admin token")
        self._token = admin_token
        self._issue = issue
        self.app = Starlette(routes=[Route(LOCAL_WORKERS_PATH, self.create_worker, methods=["POST"])])

    async def create_worker(self, request: Request) -> Response:
        if not admin_authorised(request, self._token):
            return admin_token_required()
        try:
            name, simulated, groups = _request(await request.body())
        except _BadRequest as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        try:
            issued = await anyio.to_thread.run_sync(self._issue, name, simulated, groups)
        except LookupError as exc:  # a group the pool does not have
            return JSONResponse({"error": str(exc.args[0] if exc.args else exc)}, status_code=400)
        except ClientError as exc:  # the user pool refused the name or the password
            return JSONResponse({"error": f"name: the user pool refused worker {name!r}: {exc}"}, status_code=400)
        return JSONResponse({"workerId": issued.worker_id, "name": issued.name, "token": issued.token})


def _pool_groups(cognito: Any, pool: str) -> list[str]:
    names: list[str] = []
    kwargs: dict[str, Any] = {"UserPoolId": pool, "Limit": 60}
    while True:
        page = cognito.list_groups(**kwargs)
        names.extend(str(group["GroupName"]) for group in page.get("Groups", []))
        if not page.get("NextToken"):
            return names
        kwargs["NextToken"] = page["NextToken"]


def cognito_worker(cognito: Any, pool: str, client_id: str, name: str, groups: list[str] | None) -> IssuedWorker:
    """A user ``name`` of ``pool`` in ``groups`` (default: every group of the pool), signed in through the portal's
    client: its ``sub`` and ID token. ``LookupError`` names a group the pool does not have."""
    known = _pool_groups(cognito, pool)
    wanted = known if groups is None else groups
    missing = [g for g in wanted if g not in known]
    if missing:
        raise LookupError(f"groups: the user pool {pool} has no group {', '.join(missing)}")
    try:
        cognito.admin_get_user(UserPoolId=pool, Username=name)
    except cognito.exceptions.UserNotFoundException:
        cognito.admin_create_user(UserPoolId=pool, Username=name, MessageAction="SUPPRESS")
    # a new random password each time: the one the user had is not known here (and nobody types this one)
    password = f"{secrets.token_urlsafe(24)}-Aa1"
    cognito.admin_set_user_password(UserPoolId=pool, Username=name, Password=password, Permanent=True)
    for group in wanted:
        cognito.admin_add_user_to_group(UserPoolId=pool, Username=name, GroupName=group)
    result = cognito.admin_initiate_auth(
        UserPoolId=pool,
        ClientId=client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": name, "PASSWORD": password},
    )
    attributes = cognito.admin_get_user(UserPoolId=pool, Username=name).get("UserAttributes", [])
    sub = next((str(a["Value"]) for a in attributes if a.get("Name") == "sub"), name)
    return IssuedWorker(worker_id=sub, name=name, token=str(result["AuthenticationResult"]["IdToken"]))
