"""The hosted portal in Chromium: ``truthloop service local --sign-in``, moto's Cognito issuing real signed tokens.

A worker of team A signs in through the authorization-code flow with PKCE (the local stand-in for the hosted UI),
takes the task, submits, and the loop completes; a worker of team B is refused A's queue and task; a token of
another user pool is refused.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest

from tests.functional.local.helpers import active_flow
from truthloop.service.local import LocalService
from truthloop.templates import catalogue

ROLE = "arn:aws:iam::123456789012:role/hosted-portal-test"
PASSWORD = "Correct-Horse-7-Battery"


@dataclass
class Hosted:
    service: LocalService
    sm: Any
    a2i: Any
    idp: Any
    team_a: str
    team_b: str
    text: str


def _client(service: LocalService, name: str) -> Any:
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    return session.client(name, endpoint_url=service.endpoint_url)


def _until(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def _user(idp: Any, pool: str, name: str, group: str | None) -> None:
    idp.admin_create_user(UserPoolId=pool, Username=name)
    idp.admin_set_user_password(UserPoolId=pool, Username=name, Password=PASSWORD, Permanent=True)
    if group:
        idp.admin_add_user_to_group(UserPoolId=pool, Username=name, GroupName=group)


@pytest.fixture
def hosted(tmp_path: Path, service_env: pytest.MonkeyPatch) -> Iterator[Hosted]:
    with LocalService(port=0, data_dir=tmp_path, sweep_seconds=1.0, sign_in=True) as service:
        sm, a2i, s3, idp = (_client(service, n) for n in ("sagemaker", "sagemaker-a2i-runtime", "s3", "cognito-idp"))
        pool, client = service.user_pool_id, service.user_pool_client_id
        for group in ("team-a", "team-b"):
            idp.create_group(UserPoolId=pool, GroupName=group)
        _user(idp, pool, "alice", "team-a")
        _user(idp, pool, "bob", "team-b")
        teams = []
        for group in ("team-a", "team-b"):
            member = {"UserPool": pool, "UserGroup": group, "ClientId": client}
            teams.append(
                sm.create_workteam(
                    WorkteamName=group, Description=group, MemberDefinitions=[{"CognitoMemberDefinition": member}]
                )["WorkteamArn"]
            )
        s3.create_bucket(Bucket="hosted-output")
        template = catalogue.load("a2i/comprehend-sentiment-review")
        flow = active_flow(
            sm,
            output="s3://hosted-output/a2i",
            name="team-a-review",
            team=teams[0],
            template=template.text(),
            title="Check the sentiment",
            role=ROLE,
        )
        a2i.start_human_loop(
            HumanLoopName="hosted-loop-1",
            FlowDefinitionArn=flow,
            HumanLoopInput={"InputContent": json.dumps(template.task_input())},
        )
        yield Hosted(service, sm, a2i, idp, teams[0], teams[1], template.task_input()["input"]["text"])


def _sign_in(page: Any, hosted: Hosted, username: str) -> None:
    page.goto(f"{hosted.service.portal_url}/")
    page.get_by_role("link", name="Sign in").click()
    page.wait_for_url("**/local-cognito/oauth2/authorize?**")
    query = parse_qs(urlsplit(page.url).query)
    # the portal started the code flow with PKCE (S256) and a state
    assert query["response_type"] == ["code"] and query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43 and query["state"][0]
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{hosted.service.portal_url}/")


def _api(hosted: Hosted, method: str, path: str, token: str, body: Any = None) -> httpx.Response:
    return httpx.request(
        method,
        f"{hosted.service.portal_url}/api{path}",
        json=body,
        headers={"authorization": f"Bearer {token}"},
        timeout=20,
    )


def _token(hosted: Hosted, pool: str, client: str, username: str) -> str:
    result = hosted.idp.admin_initiate_auth(
        UserPoolId=pool,
        ClientId=client,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": username, "PASSWORD": PASSWORD},
    )
    return str(result["AuthenticationResult"]["IdToken"])


def test_a_team_a_worker_signs_in_and_completes_the_loop_and_team_b_is_refused(hosted: Hosted, page: Any) -> None:
    from tests.browser.conftest import ready

    service = hosted.service
    # GIVEN a loop waiting in team A's queue; WHEN bob (team B) signs in through the hosted UI
    _sign_in(page, hosted, "bob")
    # THEN he sees only team B's queue, and is refused team A's
    assert page.locator('td[data-team="team-b"]').inner_text() == "0 task(s) available"
    assert page.locator('td[data-team="team-a"]').count() == 0
    csrf = page.locator('input[name="csrf"]').first.get_attribute("value") or ""
    refused = page.request.post(f"{service.portal_url}/teams/team-a/start", form={"csrf": csrf})
    assert refused.status == 403 and "not a member of workteam team-a" in refused.text()
    bob = _token(hosted, service.user_pool_id, service.user_pool_client_id, "bob")
    assert _api(hosted, "POST", "/tasks/claim", bob, {"workteamArn": hosted.team_a}).status_code == 403
    assert _api(hosted, "POST", "/tasks/claim", bob, {}).status_code == 204  # nothing in B's own queue
    queues = _api(hosted, "GET", "/queues", bob).json()["queues"]
    assert [q["workteamName"] for q in queues] == ["team-b"]
    page.context.clear_cookies()

    # WHEN alice (team A) signs in and takes the task
    _sign_in(page, hosted, "alice")
    page.get_by_text("1 task(s) available").wait_for()
    page.get_by_role("button", name="Start working").click()
    page.wait_for_url("**/portal/tasks/**")
    ready(page)
    task_id = page.url.rsplit("/", 1)[1]
    # THEN the task page is the same as locally (the template's text, the offline elements, the CSP)
    assert hosted.text in page.content()
    csp = page.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute("content") or ""
    assert "default-src 'none'" in csp and "'nonce-" in csp
    # AND bob cannot open or answer it, even with its id
    assert _api(hosted, "GET", f"/tasks/{task_id}", bob).status_code == 403
    answer = {"answer": {"verdict": {"label": "correct"}}}
    assert _api(hosted, "POST", f"/tasks/{task_id}/answer", bob, answer).status_code == 403
    # WHEN alice answers and submits
    page.locator('crowd-classifier[name="verdict"]').get_by_role("radio", name="incorrect").click()
    page.locator('crowd-classifier[name="correction"]').get_by_role("radio", name="NEUTRAL").click()
    page.get_by_role("button", name="Submit").click()
    page.wait_for_url("**/portal/?message=*")
    # THEN the loop completes with her answer
    assert _until(
        lambda: hosted.a2i.describe_human_loop(HumanLoopName="hosted-loop-1")["HumanLoopStatus"] == "Completed"
    )


def test_a_token_of_another_user_pool_is_refused(hosted: Hosted, page: Any) -> None:
    # GIVEN another user pool (moto signs its tokens with the same key) with an alice in a group "team-a"
    idp = hosted.idp
    other = idp.create_user_pool(PoolName="another-deployment")["UserPool"]["Id"]
    client = idp.create_user_pool_client(
        UserPoolId=other, ClientName="c", ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    idp.create_group(UserPoolId=other, GroupName="team-a")
    _user(idp, other, "alice", "team-a")
    token = _token(hosted, other, client, "alice")
    # WHEN it is presented as a Bearer token, and as the portal's session cookie in the browser
    response = _api(hosted, "GET", "/queues", token)
    page.context.add_cookies([{"name": "truthloop_session", "value": token, "url": hosted.service.portal_url}])
    page.goto(f"{hosted.service.portal_url}/")
    # THEN both are refused: 401 naming the issuer, and the sign-in page
    assert response.status_code == 401
    assert "not by this deployment's user pool" in response.json()["error"]
    assert page.get_by_role("link", name="Sign in").is_visible()
    assert page.locator('td[data-team="team-a"]').count() == 0
    # AND the hosted sign-in page has no serious accessibility violation
    from tests.browser.test_accessibility import axe_violations

    assert not axe_violations(page)
