"""LOCAL ONLY: a stand-in for a Cognito user pool's hosted UI, for ``truthloop service local --sign-in``.

moto's Cognito has users, groups, app clients and signed tokens but no hosted UI. This serves the two endpoints the
portal's sign-in uses, under ``/local-cognito`` on the loopback port:

* ``GET /local-cognito/oauth2/authorize`` (``response_type=code``, ``client_id``, ``redirect_uri``, ``state``,
  ``code_challenge`` with ``code_challenge_method=S256``): a username/password form; the ``POST`` back checks the
  password with moto's ``AdminInitiateAuth`` (``ADMIN_USER_PASSWORD_AUTH``) and redirects to ``redirect_uri`` with a
  one-time ``code`` (valid 5 minutes) and the ``state``;
* ``POST /local-cognito/oauth2/token`` (``grant_type=authorization_code``, ``code``, ``client_id``,
  ``redirect_uri``, ``code_verifier``): the tokens moto issued at sign-in (signed with moto's key, verifiable with
  its JWKS), once the verifier's S256 matches the challenge;
* ``GET /local-cognito/logout`` (``client_id``, ``logout_uri``): back to ``logout_uri``.

The client must exist in the pool and list ``redirect_uri`` among its callback URLs, as on AWS. There is no MFA,
no password change and no federation here: it is a test fixture of the sign-in flow, never a login service.
"""

from __future__ import annotations

import html
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import anyio.to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from truthloop.service.identity import pkce_challenge

__all__ = ["LOCAL_SIGN_IN_PREFIX", "LocalHostedUI", "create_worker_pool"]

LOCAL_SIGN_IN_PREFIX = "/local-cognito"
CODE_SECONDS = 300
_HEADERS = {
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}
_FIELDS = ("response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "scope")


@dataclass(frozen=True)
class _Grant:
    client_id: str
    redirect_uri: str
    challenge: str
    tokens: dict[str, Any]
    expires: float


def create_worker_pool(cognito: Any, *, portal_url: str, group: str = "truthloop-workers") -> tuple[str, str]:
    """What the CDK stack makes for the portal: a user pool, its public app client (authorization code + PKCE,
    callback ``<portal>/oauth2/callback``) and the default work team's group. Returns (pool id, client id)."""
    pool = cognito.create_user_pool(PoolName="truthloop-workers")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool,
        ClientName="truthloop-portal",
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        AllowedOAuthFlows=["code"],
        AllowedOAuthFlowsUserPoolClient=True,
        AllowedOAuthScopes=["openid", "email", "profile"],
        CallbackURLs=[f"{portal_url}/oauth2/callback"],
        LogoutURLs=[f"{portal_url}/"],
        SupportedIdentityProviders=["COGNITO"],
    )["UserPoolClient"]["ClientId"]
    cognito.create_group(GroupName=group, UserPoolId=pool, Description="the default work team")
    return str(pool), str(client)


def _error_page(message: str, status: int) -> HTMLResponse:
    body = f"<!doctype html><html lang='en'><title>Sign-in error</title><p>{html.escape(message)}</p></html>"
    return HTMLResponse(body, status_code=status, headers=_HEADERS)


class LocalHostedUI:
    """The local hosted UI of one user pool (see the module's docstring); ``cognito`` is a boto3 client for moto."""

    def __init__(self, cognito: Any, user_pool_id: str) -> None:
        self.cognito = cognito
        self.user_pool_id = user_pool_id
        self._grants: dict[str, _Grant] = {}
        self._lock = threading.Lock()
        prefix = LOCAL_SIGN_IN_PREFIX
        self.app = Starlette(
            routes=[
                Route(f"{prefix}/oauth2/authorize", self.authorize, methods=["GET", "POST"]),
                Route(f"{prefix}/oauth2/token", self.token, methods=["POST"]),
                Route(f"{prefix}/logout", self.logout, methods=["GET"]),
            ]
        )

    # ------------------------------------------------------------------ authorize
    def _check_request(self, params: dict[str, str]) -> str | None:
        """Why an authorize request is refused (None: it is fine)."""
        if params.get("response_type") != "code":
            return "response_type must be 'code'"
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return "this client signs in with PKCE: code_challenge and code_challenge_method=S256 are required"
        try:
            client = self.cognito.describe_user_pool_client(
                UserPoolId=self.user_pool_id, ClientId=params.get("client_id", "")
            )["UserPoolClient"]
        except self.cognito.exceptions.ResourceNotFoundException:
            return f"client_id {params.get('client_id')!r} is not an app client of this user pool"
        if params.get("redirect_uri") not in client.get("CallbackURLs", []):
            return f"redirect_uri {params.get('redirect_uri')!r} is not a callback URL of this client"
        return None

    def _form(self, params: dict[str, str], *, error: str = "", status: int = 200) -> HTMLResponse:
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(params.get(name, ""))}">' for name in _FIELDS
        )
        notice = f'<p role="alert" style="color:#b0001a">{html.escape(error)}</p>' if error else ""
        body = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in · local user pool</title>
</head><body style="font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto">
<h1>Sign in</h1><p>Local user pool <code>{html.escape(self.user_pool_id)}</code> (truthloop service local)</p>{notice}
<form method="post">{hidden}
<p><label>Username <input name="username" autocomplete="username" required></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Sign in</button></p></form></body></html>"""
        return HTMLResponse(body, status_code=status, headers=_HEADERS)

    async def authorize(self, request: Request) -> Response:
        if request.method == "GET":
            params = dict(request.query_params)
            refused = await anyio.to_thread.run_sync(self._check_request, params)
            return _error_page(refused, 400) if refused else self._form(params)
        params = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        refused = await anyio.to_thread.run_sync(self._check_request, params)
        if refused:
            return _error_page(refused, 400)
        return await anyio.to_thread.run_sync(self._sign_in, params)

    def _sign_in(self, params: dict[str, str]) -> Response:
        try:
            result = self.cognito.admin_initiate_auth(
                UserPoolId=self.user_pool_id,
                ClientId=params["client_id"],
                AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                AuthParameters={"USERNAME": params.get("username", ""), "PASSWORD": params.get("password", "")},
            )
        except (self.cognito.exceptions.NotAuthorizedException, self.cognito.exceptions.UserNotFoundException):
            return self._form(params, error="Incorrect username or password.", status=401)
        tokens = result.get("AuthenticationResult")
        if not tokens:
            challenge = result.get("ChallengeName", "a challenge")
            message = f"This user must first answer {challenge} (not offered locally)."
            return self._form(params, error=message, status=401)
        code = secrets.token_urlsafe(32)
        with self._lock:
            now = time.time()
            self._grants = {k: g for k, g in self._grants.items() if g.expires > now}
            self._grants[code] = _Grant(
                params["client_id"], params["redirect_uri"], params["code_challenge"], tokens, now + CODE_SECONDS
            )
        query = urlencode({"code": code, "state": params.get("state", "")})
        return RedirectResponse(f"{params['redirect_uri']}?{query}", status_code=302, headers=_HEADERS)

    # ------------------------------------------------------------------ token
    async def token(self, request: Request) -> Response:
        params = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        if params.get("grant_type") != "authorization_code":
            return _oauth_error("unsupported_grant_type", "grant_type must be authorization_code")
        with self._lock:
            grant = self._grants.pop(params.get("code", ""), None)  # one use only
        if grant is None or grant.expires < time.time():
            return _oauth_error("invalid_grant", "the code is unknown, used or expired")
        if params.get("client_id") != grant.client_id or params.get("redirect_uri") != grant.redirect_uri:
            return _oauth_error("invalid_grant", "client_id and redirect_uri must be those of the authorize request")
        verifier = params.get("code_verifier", "")
        if not verifier or not secrets.compare_digest(pkce_challenge(verifier), grant.challenge):
            return _oauth_error("invalid_grant", "code_verifier does not match the code_challenge")
        tokens = grant.tokens
        reply = {
            "id_token": tokens["IdToken"],
            "access_token": tokens["AccessToken"],
            "refresh_token": tokens.get("RefreshToken", ""),
            "token_type": "Bearer",
            "expires_in": int(tokens.get("ExpiresIn", 3600)),
        }
        return JSONResponse(reply, headers={"cache-control": "no-store"})

    async def logout(self, request: Request) -> Response:
        target = request.query_params.get("logout_uri", "")
        client_id = request.query_params.get("client_id", "")
        try:
            client = await anyio.to_thread.run_sync(
                lambda: self.cognito.describe_user_pool_client(UserPoolId=self.user_pool_id, ClientId=client_id)
            )
        except self.cognito.exceptions.ResourceNotFoundException:
            return _error_page(f"client_id {client_id!r} is not an app client of this user pool", 400)
        if target not in client["UserPoolClient"].get("LogoutURLs", []):
            return _error_page(f"logout_uri {target!r} is not a sign-out URL of this client", 400)
        return RedirectResponse(target, status_code=302, headers=_HEADERS)


def _oauth_error(code: str, description: str) -> JSONResponse:
    return JSONResponse({"error": code, "error_description": description}, status_code=400, headers=_HEADERS)
