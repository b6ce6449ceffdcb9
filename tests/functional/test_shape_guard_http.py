"""The shape guard on real HTTP: a loopback server answering raw bodies, clients from any boto3 session."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from tests.functional.conftest import GUARD
from tests.support.shape_guard import ShapeGuard

TEAM = {
    "WorkteamName": "team",
    "MemberDefinitions": [{"CognitoMemberDefinition": {"UserPool": "us-east-1_P", "UserGroup": "g", "ClientId": "c"}}],
    "WorkteamArn": "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/team",
    "Description": "reviewers",
}


class _Handler(BaseHTTPRequestHandler):
    body: bytes = b"{}"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/x-amz-json-1.1")
        self.send_header("content-length", str(len(self.server.body)))  # type: ignore[attr-defined]
        self.end_headers()
        self.wfile.write(self.server.body)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _client(server: ThreadingHTTPServer) -> Any:
    url = f"http://127.0.0.1:{server.server_address[1]}"
    return boto3.session.Session().client("sagemaker", endpoint_url=url, region_name="us-east-1")


def test_the_suite_guard_checks_clients_of_any_session(server: ThreadingHTTPServer) -> None:
    # GIVEN a loopback endpoint answering a fitting DescribeWorkteam, and a client from a fresh boto3 session
    server.body = json.dumps({"Workteam": TEAM}).encode()  # type: ignore[attr-defined]
    client = _client(server)
    before = GUARD.checked
    # WHEN called
    client.describe_workteam(WorkteamName="team")
    # THEN the suite's guard checked that response
    assert GUARD.checked == before + 1


def test_a_member_botocore_would_drop_is_a_misfit(server: ThreadingHTTPServer) -> None:
    # GIVEN a response with a member the model does not have (botocore's parser drops it silently)
    server.body = json.dumps({"Workteam": {**TEAM, "Secret": "leaked"}}).encode()  # type: ignore[attr-defined]
    client = _client(server)
    GUARD.detach(client)  # this test expects the misfit: a guard of its own sees it instead of the suite's
    guard = ShapeGuard()
    guard.attach(client)
    # WHEN called
    parsed = client.describe_workteam(WorkteamName="team")
    # THEN botocore hides it, the guard reports it with its path
    assert "Secret" not in parsed["Workteam"]
    assert guard.checked == 1
    assert [(m.operation, m.where) for m in guard.misfits] == [("DescribeWorkteam", "Workteam.Secret")]


@pytest.mark.parametrize(("endpoints", "checked"), [(lambda url: False, 0), (lambda url: True, 1)], ids=["not", "all"])
def test_the_endpoint_predicate_decides_what_is_checked(
    server: ThreadingHTTPServer, endpoints: Any, checked: int
) -> None:
    # GIVEN a guard whose predicate refuses / accepts every endpoint (a deployed service would be one it accepts)
    server.body = json.dumps({"Workteam": TEAM}).encode()  # type: ignore[attr-defined]
    client = _client(server)
    guard = ShapeGuard(endpoints=endpoints)
    guard.attach(client)
    # WHEN called
    client.describe_workteam(WorkteamName="team")
    # THEN it checked the response only when the predicate accepted the endpoint
    assert guard.checked == checked
