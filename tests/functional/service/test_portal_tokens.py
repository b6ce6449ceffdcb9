"""The hosted portal's token checks: moto's Cognito tokens verified against its JWKS over HTTP, and tokens this test
signs itself (its own RSA key and JWKS) for the claims moto cannot be made to write."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey

from truthloop.local.portal import SignInError
from truthloop.service.identity import CognitoSignIn, TokenVerifier, pkce_challenge
from truthloop.service.local import LocalService

PASSWORD = "Correct-Horse-7-Battery"
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_Mine"
CLIENT = "portal-client"
COGNITO_KEY = RSAKey.generate_key(2048, parameters={"kid": "key-1", "alg": "RS256", "use": "sig"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "key-1", "alg": "RS256", "use": "sig"})


# --------------------------------------------------------------------------------------------- moto's tokens


@pytest.fixture
def service(tmp_path: Path) -> Iterator[LocalService]:
    # per test: the suite's autouse fixture clears AWS_ENDPOINT_URL (which the service sets) before each test
    with LocalService(port=0, data_dir=tmp_path, sweep_seconds=60.0, sign_in=True) as running:
        yield running


def _idp(service: LocalService) -> Any:
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    return session.client("cognito-idp", endpoint_url=service.endpoint_url)


def _tokens(service: LocalService, pool: str, client: str, user: str, groups: tuple[str, ...] = ()) -> dict[str, Any]:
    idp = _idp(service)
    idp.admin_create_user(UserPoolId=pool, Username=user)
    idp.admin_set_user_password(UserPoolId=pool, Username=user, Password=PASSWORD, Permanent=True)
    for group in groups:
        idp.create_group(UserPoolId=pool, GroupName=group)
        idp.admin_add_user_to_group(UserPoolId=pool, Username=user, GroupName=group)
    result = idp.admin_initiate_auth(
        UserPoolId=pool,
        ClientId=client,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD},
    )
    return dict(result["AuthenticationResult"])


def _verifier(service: LocalService, clock: Any = time.time) -> TokenVerifier:
    pool = service.user_pool_id
    return TokenVerifier(
        issuer=f"https://cognito-idp.us-east-1.amazonaws.com/{pool}",
        client_id=service.user_pool_client_id,
        jwks_url=f"{service.endpoint_url}/{pool}/.well-known/jwks.json",  # moto's JWKS, fetched over HTTP
        clock=clock,
    )


@pytest.mark.parametrize("kind", ["IdToken", "AccessToken"])
def test_moto_tokens_of_this_pool_and_client_are_accepted_with_their_groups(service: LocalService, kind: str) -> None:
    # GIVEN a user of the deployment's pool in group team-a, signed in to the portal's client
    tokens = _tokens(service, service.user_pool_id, service.user_pool_client_id, "carol", ("team-a",))
    # WHEN the ID or access token is verified
    worker = _verifier(service).verify(tokens[kind])
    # THEN it names the user and their groups
    assert worker.groups == frozenset({"team-a"})
    assert worker.issuer.endswith(service.user_pool_id)
    assert worker.expires > time.time()


def test_an_expired_moto_token_is_refused(service: LocalService) -> None:
    # GIVEN a valid token; WHEN it is checked two hours later (moto's tokens last one)
    token = _tokens(service, service.user_pool_id, service.user_pool_client_id, "dave")["IdToken"]
    later = _verifier(service, clock=lambda: time.time() + 7200)
    # THEN it is refused as expired
    with pytest.raises(SignInError, match="expired"):
        later.verify(token)


def test_tokens_of_another_pool_or_client_are_refused(service: LocalService) -> None:
    idp = _idp(service)
    # GIVEN a token of another pool (moto signs it with the same key) and one of another client of this pool
    other_pool = idp.create_user_pool(PoolName="elsewhere")["UserPool"]["Id"]
    other_pool_client = idp.create_user_pool_client(UserPoolId=other_pool, ClientName="c")["UserPoolClient"]
    other_client = idp.create_user_pool_client(UserPoolId=service.user_pool_id, ClientName="another-app")
    foreign = _tokens(service, other_pool, other_pool_client["ClientId"], "erin")["IdToken"]
    wrong_audience = _tokens(
        service, service.user_pool_id, other_client["UserPoolClient"]["ClientId"], "frank", ("team-a",)
    )
    verifier = _verifier(service)
    # THEN the first is refused for its issuer, the other for its audience (ID) or client (access)
    with pytest.raises(SignInError, match="not by this deployment's user pool"):
        verifier.verify(foreign)
    with pytest.raises(SignInError, match="ID token is for client"):
        verifier.verify(wrong_audience["IdToken"])
    with pytest.raises(SignInError, match="access token is for client"):
        verifier.verify(wrong_audience["AccessToken"])
    # AND over HTTP the portal's API answers 401 naming the reason
    response = httpx.get(f"{service.portal_url}/api/queues", headers={"authorization": f"Bearer {foreign}"}, timeout=20)
    assert response.status_code == 401
    assert "token refused: the token was issued by" in response.json()["error"]


def test_a_worker_without_groups_sees_no_queue_and_is_refused_a_teams_queue(service: LocalService) -> None:
    # GIVEN a workteam of group team-a, and a signed-in user in no group
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    sm = session.client("sagemaker", endpoint_url=service.endpoint_url)
    member = {"UserPool": service.user_pool_id, "UserGroup": "team-a", "ClientId": service.user_pool_client_id}
    team = sm.create_workteam(
        WorkteamName="groupless-test", Description="d", MemberDefinitions=[{"CognitoMemberDefinition": member}]
    )["WorkteamArn"]
    token = _tokens(service, service.user_pool_id, service.user_pool_client_id, "grace")["AccessToken"]
    headers = {"authorization": f"Bearer {token}"}
    # WHEN they list queues and claim from team-a's
    queues = httpx.get(f"{service.portal_url}/api/queues", headers=headers, timeout=20)
    claim = httpx.post(f"{service.portal_url}/api/tasks/claim", json={"workteamArn": team}, headers=headers, timeout=20)
    # THEN the token is valid (200) but they see no queue, and the claim is refused
    assert queues.status_code == 200 and queues.json()["queues"] == []
    assert claim.status_code == 403 and "not a member" in claim.json()["error"]


# --------------------------------------------------------------------------------------------- crafted tokens


def _claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "2b7e-worker",
        "aud": CLIENT,
        "token_use": "id",
        "iat": now,
        "exp": now + 600,
        "cognito:username": "henry",
        "cognito:groups": ["team-a"],
    }
    for name, value in changes.items():
        if value is None:
            claims.pop(name.replace("__", ":"), None)
        else:
            claims[name.replace("__", ":")] = value
    return claims


def _signed(claims: dict[str, Any], key: RSAKey = COGNITO_KEY, kid: str = "key-1") -> str:
    return str(jwt.encode({"alg": "RS256", "kid": kid}, claims, key))


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _crafted_verifier(fetched: list[str] | None = None) -> TokenVerifier:
    def fetch(url: str) -> bytes:
        if fetched is not None:
            fetched.append(url)
        return json.dumps({"keys": [COGNITO_KEY.as_dict(private=False)]}).encode()

    return TokenVerifier(issuer=ISSUER, client_id=CLIENT, fetch=fetch)


def test_a_crafted_valid_token_is_accepted_and_the_keys_are_fetched_once() -> None:
    # GIVEN a verifier whose JWKS holds key-1; WHEN two tokens signed by it are verified
    fetched: list[str] = []
    verifier = _crafted_verifier(fetched)
    first = verifier.verify(_signed(_claims()))
    verifier.verify(_signed(_claims(sub="another")))
    # THEN both pass, with the JWKS fetched once from <issuer>/.well-known/jwks.json
    assert first.groups == frozenset({"team-a"}) and first.name == "henry"
    assert fetched == [f"{ISSUER}/.well-known/jwks.json"]


_HS256 = f"{_b64({'alg': 'HS256', 'kid': 'key-1'})}.{_b64(_claims())}.c2lnbmF0dXJl"
_NONE = f"{_b64({'alg': 'none', 'kid': 'key-1'})}.{_b64(_claims())}.x"


def _tampered() -> str:
    header, _, signature = _signed(_claims()).split(".")
    return f"{header}.{_b64(_claims(**{'cognito__groups': ['team-a', 'admins']}))}.{signature}"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        pytest.param(lambda: _signed(_claims(exp=int(time.time()) - 5)), "expired", id="expired"),
        pytest.param(lambda: _signed(_claims(exp=None)), "no expiry", id="no-exp"),
        pytest.param(lambda: _signed(_claims(iss=ISSUER + "x")), "not by this deployment", id="wrong-issuer"),
        pytest.param(lambda: _signed(_claims(aud="someone-else")), "ID token is for client", id="wrong-audience"),
        pytest.param(
            lambda: _signed(_claims(token_use="access", aud=None, client_id="x")),
            "access token is for client",
            id="wrong-client-id",
        ),
        pytest.param(lambda: _signed(_claims(token_use="refresh")), "token_use must be", id="wrong-token-use"),
        pytest.param(lambda: _signed(_claims(token_use=None)), "token_use must be", id="no-token-use"),
        pytest.param(lambda: _signed(_claims(), key=OTHER_KEY), "signature does not verify", id="other-key"),
        pytest.param(_tampered, "signature does not verify", id="tampered-groups"),
        pytest.param(lambda: _signed(_claims(), kid="key-9"), "not one of the user pool's keys", id="unknown-kid"),
        pytest.param(lambda: _HS256, "must be RS256", id="hs256"),
        pytest.param(lambda: _NONE, "must be RS256", id="alg-none"),
        pytest.param(lambda: "not.a-jwt", "not a signed JWT", id="garbage"),
        pytest.param(
            lambda: _signed(_claims(**{"cognito__groups": "team-a"})), "must be a list", id="groups-not-a-list"
        ),
        pytest.param(lambda: _signed(_claims(sub=None)), "no subject", id="no-sub"),
    ],
)
def test_a_crafted_token_is_refused_with_its_reason(token: Any, reason: str) -> None:
    # GIVEN a verifier of ISSUER/CLIENT; WHEN a token that is wrong in one way is verified
    # THEN it is refused, naming that way
    with pytest.raises(SignInError, match=reason):
        _crafted_verifier().verify(token())


def test_a_token_without_groups_signs_in_with_no_team() -> None:
    # WHEN a valid token has no cognito:groups claim; THEN it is accepted with no groups (so no queue)
    assert _crafted_verifier().verify(_signed(_claims(cognito__groups=None))).groups == frozenset()


def test_an_unreachable_jwks_is_a_sign_in_error_not_a_crash() -> None:
    def fetch(url: str) -> bytes:
        raise OSError("connection refused")

    verifier = TokenVerifier(issuer=ISSUER, client_id=CLIENT, fetch=fetch)
    with pytest.raises(SignInError, match="could not be fetched"):
        verifier.verify(_signed(_claims()))


@pytest.mark.parametrize("url", ["http://cognito.example/pool", "ftp://127.0.0.1/x"])
def test_the_sign_in_urls_must_be_https_off_loopback(url: str) -> None:
    with pytest.raises(ValueError, match="must be an https:// URL"):
        CognitoSignIn.for_pool(region="us-east-1", user_pool_id="p", client_id="c", auth_url=url)


def test_the_pkce_challenge_is_s256_base64url_without_padding() -> None:
    challenge = pkce_challenge("a-verifier-of-forty-three-characters-long-xx")
    assert len(challenge) == 43 and "=" not in challenge and "+" not in challenge and "/" not in challenge
    assert challenge != pkce_challenge("a-verifier-of-forty-three-characters-long-xy")


def _authorize(client: httpx.Client, service: LocalService, params: dict[str, str]) -> str:
    authorized = client.post(
        "/local-cognito/oauth2/authorize", data={**params, "username": "ivan", "password": PASSWORD}
    )
    assert authorized.status_code == 302, authorized.text
    return str(httpx.URL(authorized.headers["location"]).params["code"])


def test_the_token_endpoint_checks_the_pkce_verifier(service: LocalService) -> None:
    # GIVEN a user, and a code issued by the local hosted UI for a challenge
    _tokens(service, service.user_pool_id, service.user_pool_client_id, "ivan")
    redirect = f"{service.portal_url}/oauth2/callback"
    verifier = "the-right-verifier-" + "v" * 30
    params = {
        "response_type": "code",
        "client_id": service.user_pool_client_id,
        "redirect_uri": redirect,
        "state": "s",
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
        "scope": "openid",
    }
    exchange = {"grant_type": "authorization_code", "client_id": params["client_id"], "redirect_uri": redirect}
    with httpx.Client(base_url=service.endpoint_url, timeout=20) as client:
        code = _authorize(client, service, params)
        # WHEN it is exchanged with a wrong verifier, THEN it is refused, and the code is spent
        wrong = client.post("/local-cognito/oauth2/token", data={**exchange, "code": code, "code_verifier": "x"})
        assert wrong.status_code == 400 and "code_verifier" in wrong.json()["error_description"]
        spent = client.post("/local-cognito/oauth2/token", data={**exchange, "code": code, "code_verifier": verifier})
        assert spent.status_code == 400 and spent.json()["error"] == "invalid_grant"
        # WHEN a new code is exchanged with the right verifier, THEN moto's tokens come back, and verify
        code = _authorize(client, service, params)
        right = client.post("/local-cognito/oauth2/token", data={**exchange, "code": code, "code_verifier": verifier})
        assert right.status_code == 200, right.text
        assert _verifier(service).verify(right.json()["id_token"]).name == "ivan"
        # AND an authorize request without S256 PKCE or for another redirect URI is refused outright
        no_pkce = client.get("/local-cognito/oauth2/authorize", params={**params, "code_challenge_method": "plain"})
        elsewhere = client.get(
            "/local-cognito/oauth2/authorize", params={**params, "redirect_uri": "https://evil.example/"}
        )
        assert no_pkce.status_code == 400 and elsewhere.status_code == 400


def test_the_portal_callback_refuses_a_state_it_did_not_start(service: LocalService) -> None:
    # WHEN the callback is called with a code but no sign-in cookie (a forged or replayed redirect)
    response = httpx.get(f"{service.portal_url}/oauth2/callback", params={"code": "c", "state": "s"}, timeout=20)
    # THEN it is refused without exchanging anything
    assert response.status_code == 400 and "was not started here" in response.text


# --------------------------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"TRUTHLOOP_SERVICE_USER_POOL_ID": "us-east-1_P"}, "missing: TRUTHLOOP_SERVICE_USER_POOL_CLIENT_ID"),
        ({"TRUTHLOOP_SERVICE_USER_POOL_CLIENT_ID": "c", "TRUTHLOOP_SERVICE_AUTH_URL": "https://a"}, "missing: "),
    ],
)
def test_a_partial_sign_in_configuration_names_what_is_missing(env: dict[str, str], fragment: str) -> None:
    from truthloop.exceptions import ServiceConfigurationError
    from truthloop.service.settings import ServiceSettings

    base = {"TRUTHLOOP_SERVICE_TABLE": "t", "TRUTHLOOP_SERVICE_BUCKET": "b", "TRUTHLOOP_SERVICE_QUEUE_URL": "q"}
    with pytest.raises(ServiceConfigurationError, match=fragment):
        ServiceSettings.from_env({**base, "AWS_REGION": "us-east-1", **env})


def _get(path: str) -> tuple[int, dict[str, str], bytes]:
    from truthloop.local.handlers import LambdaContext
    from truthloop.service.entry import handle_http
    from truthloop.service.http_api import from_http_api_response, to_http_api_event

    event = to_http_api_event("GET", path, "", {"host": "api.local"}, b"")
    context = LambdaContext(function_name="truthloop-service-api", invoked_function_arn="arn:local")
    return from_http_api_response(handle_http(event, context))


def test_without_the_hosted_ui_address_the_sign_in_says_so_and_assets_carry_the_csp(
    deployment: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from truthloop.templates._page import asset_content_security_policy

    # GIVEN a deployment with a user pool and client but no hosted UI address (an existing pool, not configured)
    monkeypatch.setenv("TRUTHLOOP_SERVICE_USER_POOL_ID", "us-east-1_Existing")
    monkeypatch.setenv("TRUTHLOOP_SERVICE_USER_POOL_CLIENT_ID", "client")
    # WHEN a browser starts the sign-in
    status, _, body = _get("/portal/oauth2/login")
    # THEN it is told what is missing (503), not sent anywhere
    assert status == 503 and b"TRUTHLOOP_SERVICE_AUTH_URL" in body
    # AND the portal's static assets are served with the CSP the CloudFront distribution sends
    status, headers, _ = _get("/portal/static/crowd-core.js")
    assert status == 200 and headers["content-security-policy"] == asset_content_security_policy()
