"""Cognito sign-in for the hosted worker portal: the OAuth code flow with PKCE, and real token verification.

* :class:`TokenVerifier` checks a Cognito ID or access token: an RS256 signature by a key of the pool's JWKS
  (``<issuer>/.well-known/jwks.json``, fetched once and cached; fetched again, at most once a minute, when a token
  names a key it does not know), ``iss`` = this deployment's pool, ``token_use`` ``id`` or ``access``, ``aud``
  (ID token) or ``client_id`` (access token) = this deployment's portal client, and ``exp``. Anything else raises
  :class:`~truthloop.local.portal.SignInError` naming the reason. The worker's teams are their ``cognito:groups``.
* :class:`CognitoSignIn` is what the portal calls: the hosted UI's ``/oauth2/authorize`` address for a state and
  PKCE challenge, the code exchange at ``/oauth2/token``, and the verification.

Nothing here trusts a token's own claims before its signature is checked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from truthloop.arns import cognito_issuer
from truthloop.local.portal import SignedInWorker, SignInError

__all__ = ["CognitoSignIn", "TokenVerifier", "cognito_issuer", "pkce_challenge"]

#: how long fetched keys are kept, and how soon an unknown ``kid`` may trigger another fetch
JWKS_TTL_SECONDS = 3600.0
JWKS_REFETCH_SECONDS = 60.0
_TIMEOUT = 5.0

Fetch = Callable[[str], bytes]


def pkce_challenge(verifier: str) -> str:
    """The S256 code challenge of a PKCE code verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    return host in ("127.0.0.1", "localhost", "::1")


def _check_url(name: str, url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and _is_loopback(url)):
        return url.rstrip("/")
    raise ValueError(f"{name} must be an https:// URL (http:// only on loopback), got {url!r}")


def _http_get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=_TIMEOUT) as response:
        body: bytes = response.read()
        return body


class TokenVerifier:
    """Verifies the tokens of one user pool and app client (see the module's docstring)."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        jwks_url: str | None = None,
        fetch: Fetch | None = None,
        clock: Callable[[], float] = time.time,
        leeway_seconds: float = 0.0,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.jwks_url = _check_url("the JWKS URL", jwks_url or f"{self.issuer}/.well-known/jwks.json")
        self._fetch = fetch or _http_get
        self._clock = clock
        self._leeway = leeway_seconds
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._kids: frozenset[str] = frozenset()
        self._fetched = float("-inf")

    # ------------------------------------------------------------------ keys
    def _load(self) -> None:
        try:
            document = json.loads(self._fetch(self.jwks_url))
            keys = KeySet.import_key_set(document)
        except (OSError, ValueError, JoseError, urllib.error.URLError) as exc:
            raise SignInError(
                f"the user pool's signing keys could not be fetched from {self.jwks_url}: {exc}"
            ) from None
        self._keys = keys
        self._kids = frozenset(str(key.kid) for key in keys.keys if key.kid)
        self._fetched = time.monotonic()

    def _key_set(self, kid: str) -> KeySet:
        with self._lock:
            age = time.monotonic() - self._fetched
            stale = self._keys is None or age > JWKS_TTL_SECONDS
            unknown = kid not in self._kids and age > JWKS_REFETCH_SECONDS
            if stale or unknown:
                self._load()
            if kid not in self._kids or self._keys is None:
                raise SignInError(f"the token is signed by key {kid!r}, which is not one of the user pool's keys")
            return self._keys

    # ------------------------------------------------------------------ tokens
    def verify(self, token: str) -> SignedInWorker:
        """The worker a token signs in, or :class:`SignInError` with the reason it is refused."""
        parts = token.split(".")
        if len(parts) != 3 or not all(parts):
            raise SignInError("the token is not a signed JWT (header.payload.signature)")
        try:
            header = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
        except ValueError:
            raise SignInError("the token's header is not base64url JSON") from None
        if not isinstance(header, dict) or header.get("alg") != "RS256":
            alg = header.get("alg") if isinstance(header, dict) else None
            raise SignInError(f"the token's algorithm must be RS256, got {alg!r}")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise SignInError("the token's header names no signing key (kid)")
        keys = self._key_set(kid)
        try:
            decoded = jwt.decode(token, keys, algorithms=["RS256"])
        except JoseError as exc:
            raise SignInError(f"the token's signature does not verify ({exc.error})") from None
        except ValueError as exc:
            raise SignInError(f"the token cannot be decoded: {exc}") from None
        return self._identity(decoded.claims)

    def _identity(self, claims: dict[str, Any]) -> SignedInWorker:
        if claims.get("iss") != self.issuer:
            raise SignInError(f"the token was issued by {claims.get('iss')!r}, not by this deployment's user pool")
        use = claims.get("token_use")
        if use == "id":
            audience = claims.get("aud")
            matches = audience == self.client_id or (isinstance(audience, list) and self.client_id in audience)
            if not matches:
                raise SignInError(f"the ID token is for client {audience!r}, not this deployment's portal client")
        elif use == "access":
            if claims.get("client_id") != self.client_id:
                raise SignInError(
                    f"the access token is for client {claims.get('client_id')!r}, not this deployment's portal client"
                )
        else:
            raise SignInError(f"token_use must be 'id' or 'access', got {use!r}")
        now = self._clock()
        expires = claims.get("exp")
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            raise SignInError("the token has no expiry (exp)")
        if expires <= now - self._leeway:
            raise SignInError("the token has expired; sign in again")
        issued = claims.get("iat")
        if isinstance(issued, int | float) and issued > now + self._leeway + 300:
            raise SignInError("the token was issued in the future (iat)")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise SignInError("the token names no subject (sub)")
        groups = claims.get("cognito:groups", [])
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise SignInError("cognito:groups must be a list of group names")
        name = claims.get("email") or claims.get("cognito:username") or claims.get("username") or sub
        return SignedInWorker(
            sub=sub, name=str(name), groups=frozenset(groups), expires=float(expires), issuer=self.issuer
        )


@dataclass(frozen=True)
class CognitoSignIn:
    """A user pool's hosted UI (or a compatible OAuth 2.0 server) and the app client of the portal."""

    user_pool_id: str
    client_id: str
    #: the hosted UI's base address (``https://<domain>.auth.<region>.amazoncognito.com``)
    auth_url: str
    verifier: TokenVerifier
    scopes: tuple[str, ...] = ("openid", "email", "profile")
    fetch_token: Callable[[str, bytes], bytes] | None = None

    @classmethod
    def for_pool(
        cls,
        *,
        region: str,
        user_pool_id: str,
        client_id: str,
        auth_url: str,
        jwks_url: str | None = None,
        fetch: Fetch | None = None,
        clock: Callable[[], float] = time.time,
    ) -> CognitoSignIn:
        verifier = TokenVerifier(
            issuer=cognito_issuer(region, user_pool_id),
            client_id=client_id,
            jwks_url=jwks_url,
            fetch=fetch,
            clock=clock,
        )
        hosted_ui = _check_url("the sign-in (hosted UI) URL", auth_url) if auth_url else ""
        return cls(user_pool_id, client_id, hosted_ui, verifier)

    def verify(self, token: str) -> SignedInWorker:
        return self.verifier.verify(token)

    def _hosted_ui(self) -> str:
        if not self.auth_url:
            raise SignInError(
                "the portal's sign-in address is not configured (TRUTHLOOP_SERVICE_AUTH_URL: the user pool's hosted UI)"
            )
        return self.auth_url

    def authorize_url(self, *, redirect_uri: str, state: str, code_challenge: str) -> str:
        query = urllib.parse.urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": " ".join(self.scopes),
                "state": state,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            },
            quote_via=urllib.parse.quote,
        )
        return f"{self._hosted_ui()}/oauth2/authorize?{query}"

    def logout_url(self, *, logout_uri: str) -> str:
        query = urllib.parse.urlencode({"client_id": self.client_id, "logout_uri": logout_uri})
        return f"{self._hosted_ui()}/logout?{query}"

    def exchange(self, *, code: str, redirect_uri: str, code_verifier: str) -> str:
        """The ID token for an authorization code (``POST /oauth2/token``); SignInError if the server refuses."""
        body = urllib.parse.urlencode(
            {
                "grant_type": "authorization_code",
                "client_id": self.client_id,
                "code": code,
                "redirect_uri": redirect_uri,
                "code_verifier": code_verifier,
            }
        ).encode("ascii")
        url = f"{self._hosted_ui()}/oauth2/token"
        try:
            raw = (self.fetch_token or _post_form)(url, body)
            document = json.loads(raw)
        except urllib.error.HTTPError as exc:
            detail = exc.read()[:200].decode("utf-8", errors="replace")
            raise SignInError(f"the sign-in server refused the code ({exc.code}): {detail}") from None
        except (OSError, ValueError) as exc:
            raise SignInError(f"the sign-in server could not be reached at {url}: {exc}") from None
        token = document.get("id_token") if isinstance(document, dict) else None
        if not isinstance(token, str):
            raise SignInError("the sign-in server's reply has no id_token")
        return token


def _post_form(url: str, body: bytes) -> bytes:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:
        reply: bytes = response.read()
        return reply
