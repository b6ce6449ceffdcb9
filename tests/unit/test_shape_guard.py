"""The response-shape guard (tests/support/shape_guard.py) on hand-written raw responses: it must see every misfit."""

from __future__ import annotations

import json
from typing import Any

import botocore.session
import pytest

from tests.support.shape_guard import check_response, loopback

SESSION = botocore.session.get_session()
SM = SESSION.get_service_model("sagemaker")
A2I = SESSION.get_service_model("sagemaker-a2i-runtime")
TEAM_ARN = "arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/team"
FORCE_ARN = "arn:aws:sagemaker:us-east-1:123456789012:workforce/default"
COGNITO = {"UserPool": "us-east-1_P", "UserGroup": "g", "ClientId": "c"}
FLOW_ARN = "arn:aws:sagemaker:us-east-1:123456789012:flow-definition/flow"


def _team(**changes: Any) -> dict[str, Any]:
    team = {
        "WorkteamName": "team",
        "MemberDefinitions": [{"CognitoMemberDefinition": COGNITO}],
        "WorkteamArn": TEAM_ARN,
        "WorkforceArn": FORCE_ARN,
        "Description": "reviewers",
        "CreateDate": 1733300000.123,
    }
    team.update(changes)
    return {k: v for k, v in team.items() if v is not None}


def _loop(**changes: Any) -> dict[str, Any]:
    loop = {
        "CreationTime": "2026-12-04T16:00:00.000Z",
        "HumanLoopStatus": "InProgress",
        "HumanLoopName": "loop",
        "HumanLoopArn": "arn:aws:sagemaker:us-east-1:123456789012:human-loop/loop",
        "FlowDefinitionArn": FLOW_ARN,
    }
    loop.update(changes)
    return loop


def _check(model: Any, operation: str, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return check_response(model.operation_model(operation), status, headers or {}, raw)


def test_a_fitting_success_body_has_no_misfit() -> None:
    assert _check(SM, "DescribeWorkteam", {"Workteam": _team()}) == []
    assert _check(A2I, "DescribeHumanLoop", _loop()) == []
    assert _check(SM, "DeleteWorkforce", b"{}") == []


MISFITS = [
    ("unknown-member", SM, "DescribeWorkteam", {"Workteam": _team(Extra=1)}, "Workteam.Extra", "unknown member"),
    (
        "missing-required",
        SM,
        "DescribeWorkteam",
        {"Workteam": _team(Description=None)},
        "Workteam.Description",
        "required",
    ),
    ("wrong-type", SM, "DescribeWorkteam", {"Workteam": _team(CreateDate="yesterday")}, "Workteam.CreateDate", "epoch"),
    ("too-long", SM, "DescribeWorkteam", {"Workteam": _team(Description="x" * 201)}, "Workteam.Description", "maximum"),
    ("pattern", SM, "DescribeWorkteam", {"Workteam": _team(WorkteamArn="team")}, "Workteam.WorkteamArn", "pattern"),
    (
        "list-type",
        SM,
        "DescribeWorkteam",
        {"Workteam": _team(MemberDefinitions={})},
        "Workteam.MemberDefinitions",
        "list",
    ),
    ("null", SM, "ListWorkteams", {"Workteams": [], "NextToken": None}, "NextToken", "null"),
    ("enum", A2I, "DescribeHumanLoop", _loop(HumanLoopStatus="Done"), "HumanLoopStatus", "enum"),
    ("iso-timestamp", A2I, "DescribeHumanLoop", _loop(CreationTime=1733300000), "CreationTime", "ISO-8601"),
    ("boolean", SM, "DeleteWorkteam", {"Success": "true"}, "Success", "boolean"),
    ("empty-output", SM, "DeleteWorkforce", {"Deleted": True}, "Deleted", "unknown member"),
]


@pytest.mark.parametrize(
    ("model", "operation", "body", "where", "fragment"), [m[1:] for m in MISFITS], ids=[m[0] for m in MISFITS]
)
def test_each_kind_of_success_misfit_is_found_where_it_is(
    model: Any, operation: str, body: Any, where: str, fragment: str
) -> None:
    # WHEN a response body breaks the output shape in one way
    found = _check(model, operation, body)
    # THEN exactly that misfit is reported, at its path
    assert len(found) == 1, found
    assert found[0][0] == where and fragment in found[0][1]


ERRORS = [
    # (id, model, operation, status, headers, body, misfit fragment or None when it fits)
    (
        "a2i-Message",
        A2I,
        "DescribeHumanLoop",
        404,
        {"x-amzn-ErrorType": "ResourceNotFoundException"},
        {"Message": "m"},
        None,
    ),
    (
        "a2i-lowercase-message",
        A2I,
        "DescribeHumanLoop",
        404,
        {"x-amzn-ErrorType": "ResourceNotFoundException:http://internal.amazon.com/"},
        {"message": "m"},
        "unknown member",
    ),
    (
        "a2i-status",
        A2I,
        "StartHumanLoop",
        400,
        {"x-amzn-ErrorType": "ThrottlingException"},
        {"Message": "m"},
        "HTTP 429",
    ),
    ("sm-common-error", SM, "DescribeWorkteam", 400, {}, {"__type": "ValidationException", "message": "m"}, None),
    ("sm-common-extra", SM, "DescribeWorkteam", 400, {}, {"__type": "ValidationException", "detail": "x"}, "unknown"),
    ("sm-modelled", SM, "DescribeHumanTaskUi", 400, {}, {"__type": "ResourceNotFound", "Message": "m"}, None),
    (
        "sm-namespaced-code",
        SM,
        "DescribeHumanTaskUi",
        400,
        {},
        {"__type": "com.amazonaws.sagemaker#ResourceNotFound", "message": "m"},
        "unknown member",
    ),
    ("no-code", SM, "DescribeWorkteam", 400, {}, {"message": "m"}, "names no code"),
    ("message-type", SM, "DescribeWorkteam", 400, {}, {"__type": "ThrottlingException", "message": 3}, "string"),
]


@pytest.mark.parametrize(
    ("model", "operation", "status", "headers", "body", "fragment"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_error_bodies_are_checked_against_the_error_shape(
    model: Any, operation: str, status: int, headers: dict[str, str], body: Any, fragment: str | None
) -> None:
    # WHEN an error response is checked
    found = _check(model, operation, body, status, headers)
    # THEN a fitting one has no misfit, and each broken one exactly the expected one
    if fragment is None:
        assert found == []
    else:
        assert len(found) == 1 and fragment in found[0][1], found


def test_a_body_that_is_not_json_is_a_misfit() -> None:
    assert "not JSON" in _check(SM, "DescribeWorkteam", b"<html>")[0][1]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://localhost:1", True),
        ("http://[::1]:9", True),
        ("https://api.sagemaker.us-east-1.amazonaws.com", False),
        ("https://a2i-runtime.sagemaker.us-east-1.amazonaws.com", False),
    ],
)
def test_loopback_selects_only_local_endpoints(url: str, expected: bool) -> None:
    assert loopback(url) is expected
