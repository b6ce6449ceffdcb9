"""sagemaker-a2i-runtime against the local backend with plain boto3 clients: every operation, errors, paging."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import botocore.session
import httpx
import pytest
from botocore.exceptions import ClientError

from tests.functional.local.helpers import NO_RETRIES, Worker, admin, events, s3_json, unique, wait_for
from tests.functional.local.service import local_only
from truthloop.contracts import A2ILoopStatusEvent, DescribeHumanLoopResponse, HumanLoopOutput, load
from truthloop.local import LocalBackend
from truthloop.local.storage import StorageThrottled

ABSENT_FLOW = "arn:aws:sagemaker:us-east-1:123456789012:flow-definition/absent"


def _start(a2i: Any, flow_arn: str, name: str | None = None, content: dict[str, Any] | None = None) -> str:
    name = name or unique("loop")
    a2i.start_human_loop(
        HumanLoopName=name,
        FlowDefinitionArn=flow_arn,
        HumanLoopInput={"InputContent": json.dumps(content or {"text": "I love it", "confidence": 0.58})},
        DataAttributes={"ContentClassifiers": ["FreeOfPersonallyIdentifiableInformation"]},
    )
    return name


def _error(call: Callable[[], Any]) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as info:
        call()
    response = info.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Message"]


def test_start_describe_returns_the_documented_shape(a2i: Any, flow: Callable[..., str]) -> None:
    # GIVEN an active flow
    flow_arn = flow()
    # WHEN a loop starts
    name = unique("loop")
    started = a2i.start_human_loop(
        HumanLoopName=name, FlowDefinitionArn=flow_arn, HumanLoopInput={"InputContent": json.dumps({"text": "hi"})}
    )
    described = a2i.describe_human_loop(HumanLoopName=name)
    # THEN the ARN and the description match AWS's shapes (CreationTime is a datetime, parsed by botocore)
    assert started["HumanLoopArn"] == f"arn:aws:sagemaker:us-east-1:123456789012:human-loop/{name}"
    assert described["HumanLoopStatus"] == "InProgress"
    assert described["FlowDefinitionArn"] == flow_arn
    assert isinstance(described["CreationTime"], datetime)
    assert abs(described["CreationTime"] - datetime.now(UTC)) < timedelta(minutes=1)
    assert "HumanLoopOutput" not in described
    parsed = load({k: v for k, v in described.items() if k != "ResponseMetadata"})
    assert isinstance(parsed, DescribeHumanLoopResponse)
    assert described["ResponseMetadata"]["RequestId"]


def test_retry_with_identical_input_is_idempotent_and_different_input_conflicts(
    a2i: Any, flow: Callable[..., str]
) -> None:
    # GIVEN a started loop
    flow_arn = flow()
    name = _start(a2i, flow_arn, content={"text": "same"})
    # WHEN the same name starts again with the same input, then with different input
    again = a2i.start_human_loop(
        HumanLoopName=name, FlowDefinitionArn=flow_arn, HumanLoopInput={"InputContent": json.dumps({"text": "same"})}
    )
    code, status, message = _error(
        lambda: a2i.start_human_loop(
            HumanLoopName=name, FlowDefinitionArn=flow_arn, HumanLoopInput={"InputContent": '{"text": "other"}'}
        )
    )
    # THEN the retry returns the same loop and the different input is a 409 ConflictException
    assert again["HumanLoopArn"].endswith(f"/{name}")
    assert (code, status) == ("ConflictException", 409)
    assert name in message


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        (
            {"HumanLoopName": "Not_Lower"},
            "Value 'Not_Lower' at 'humanLoopName' failed to satisfy constraint: Member must satisfy regular "
            "expression pattern: ^[a-z0-9](-*[a-z0-9])*$",
        ),
        ({"HumanLoopName": "x" * 64}, "Member must have length less than or equal to 63"),
        ({"FlowDefinitionArn": "arn:aws:sagemaker:us-east-1:123:flow-definition/x"}, "at 'flowDefinitionArn'"),
        ({"InputContent": "not json"}, "InputContent is not valid JSON"),
    ],
    ids=["pattern", "max-length", "arn-pattern", "input-not-json"],
)
def test_invalid_requests_get_validation_exception_with_aws_message(
    a2i: Any, flow: Callable[..., str], kwargs: dict[str, Any], fragment: str
) -> None:
    # GIVEN a valid request with one part broken (a copy: the parameters are shared by both stores' runs)
    kwargs = dict(kwargs)
    request: dict[str, Any] = {
        "HumanLoopName": unique("loop"),
        "FlowDefinitionArn": flow(),
        "HumanLoopInput": {"InputContent": kwargs.pop("InputContent", "{}")},
    }
    request.update(kwargs)
    # WHEN / THEN
    code, status, message = _error(lambda: a2i.start_human_loop(**request))
    assert (code, status) == ("ValidationException", 400)
    assert fragment in message


def test_unknown_flow_and_unknown_loop(a2i: Any) -> None:
    missing_flow = "arn:aws:sagemaker:us-east-1:123456789012:flow-definition/missing"
    # WHEN / THEN
    assert _error(lambda: _start(a2i, missing_flow))[:2] == ("ValidationException", 400)
    assert _error(lambda: a2i.describe_human_loop(HumanLoopName="no-such-loop"))[:2] == (
        "ResourceNotFoundException",
        404,
    )
    assert _error(lambda: a2i.stop_human_loop(HumanLoopName="no-such-loop"))[:2] == ("ResourceNotFoundException", 404)
    assert _error(lambda: a2i.delete_human_loop(HumanLoopName="no-such-loop"))[:2] == (
        "ResourceNotFoundException",
        404,
    )
    assert _error(lambda: a2i.list_human_loops(FlowDefinitionArn=missing_flow))[:2] == (
        "ResourceNotFoundException",
        404,
    )


def test_unsigned_requests_are_rejected_like_aws(backend: LocalBackend) -> None:
    # WHEN requests arrive without a SigV4 Authorization header, or with a malformed one
    unsigned = httpx.get(f"{backend.endpoint_url}/human-loops/x")
    bad = httpx.get(f"{backend.endpoint_url}/human-loops/x", headers={"authorization": "Basic Zm9vOmJhcg=="})
    json11 = httpx.post(f"{backend.endpoint_url}/", headers={"x-amz-target": "SageMaker.ListWorkteams"}, content=b"{}")
    # THEN AWS's error types come back
    assert unsigned.status_code == 403
    assert unsigned.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert bad.headers["x-amzn-errortype"] == "IncompleteSignatureException"
    assert json11.json()["__type"] == "MissingAuthenticationTokenException"


def test_list_filters_sorts_and_pages_with_tokens_and_the_paginator(a2i: Any, flow: Callable[..., str]) -> None:
    # GIVEN seven loops on one flow
    flow_arn = flow()
    names = [_start(a2i, flow_arn, name=f"page-{i}-{unique('l')}") for i in range(7)]
    # WHEN listing three at a time, ascending, following NextToken
    seen: list[str] = []
    token = None
    pages = 0
    while True:
        kwargs: dict[str, Any] = {"FlowDefinitionArn": flow_arn, "MaxResults": 3, "SortOrder": "Ascending"}
        if token:
            kwargs["NextToken"] = token
        page = a2i.list_human_loops(**kwargs)
        pages += 1
        seen += [s["HumanLoopName"] for s in page["HumanLoopSummaries"]]
        token = page.get("NextToken")
        if not token:
            break
    # THEN every loop comes once, in creation order, over three pages
    assert seen == names
    assert pages == 3
    # AND the boto3 paginator walks the same loops (default order: newest first)
    paginated = [
        s["HumanLoopName"]
        for p in a2i.get_paginator("list_human_loops").paginate(
            FlowDefinitionArn=flow_arn, PaginationConfig={"PageSize": 2}
        )
        for s in p["HumanLoopSummaries"]
    ]
    assert paginated == list(reversed(names))
    # AND creation-time filters apply
    future = datetime.now(UTC) + timedelta(hours=1)
    assert a2i.list_human_loops(FlowDefinitionArn=flow_arn, CreationTimeAfter=future)["HumanLoopSummaries"] == []
    assert len(a2i.list_human_loops(FlowDefinitionArn=flow_arn, CreationTimeBefore=future)["HumanLoopSummaries"]) == 7
    # AND a token from another query is refused
    other = flow()
    _start(a2i, other)
    first = a2i.list_human_loops(FlowDefinitionArn=flow_arn, MaxResults=1)
    code, status, _ = _error(lambda: a2i.list_human_loops(FlowDefinitionArn=other, NextToken=first["NextToken"]))
    assert (code, status) == ("ValidationException", 400)


def test_answers_complete_the_loop_and_write_output_json(
    backend: LocalBackend, a2i: Any, s3: Any, flow: Callable[..., str], team: str, worker: Callable[[str], Worker]
) -> None:
    # GIVEN a flow that needs two answers
    flow_arn = flow(task_count=2)
    name = _start(a2i, flow_arn, content={"text": "The battery died", "modelLabel": "POSITIVE"})
    first, second = worker("alice"), worker("bob")
    # WHEN the first worker answers, the loop is still in progress; the same worker gets no second copy
    task = first.claim(team)
    assert task is not None and task["humanLoopName"] == name
    assert task["taskInput"] == {"text": "The battery died", "modelLabel": "POSITIVE"}
    assert first.answer(task["id"], {"sentiment": {"label": "NEGATIVE"}}).status_code == 200
    assert first.claim(team) is None
    assert a2i.describe_human_loop(HumanLoopName=name)["HumanLoopStatus"] == "InProgress"
    other = second.claim(team)
    assert other is not None and other["id"] == task["id"]
    assert second.answer(other["id"], [{"sentiment": {"label": "NEGATIVE"}}]).status_code == 200
    # THEN the loop completes with output.json at the documented key
    done = wait_for(
        lambda: (d := a2i.describe_human_loop(HumanLoopName=name))["HumanLoopStatus"] == "Completed" and d,
        what="loop to complete",
    )
    uri = done["HumanLoopOutput"]["OutputS3Uri"]
    created = done["CreationTime"].astimezone(UTC)
    flow_name = flow_arn.rsplit("/", 1)[1]
    assert uri.endswith(f"/a2i/{flow_name}/{created:%Y/%m/%d/%H/%M/%S}/{name}/output.json")
    output = load(s3_json(s3, uri))
    assert isinstance(output, HumanLoopOutput)
    assert output.human_loop_name == name and output.flow_definition_arn == flow_arn
    assert output.input_content == {"text": "The battery died", "modelLabel": "POSITIVE"}
    assert [a.answer_content for a in output.human_answers] == [{"sentiment": {"label": "NEGATIVE"}}] * 2
    assert all(a.identity is not None and a.identity.identity_provider_type == "Cognito" for a in output.human_answers)
    # AND the status-change event was delivered with the documented detail
    backend.wait_idle()
    loop_events = [
        e for e in events(backend, "SageMaker A2I HumanLoop Status Change") if name in e["event"]["resources"][0]
    ]
    assert len(loop_events) == 1 and loop_events[0]["delivered"]
    event = load(loop_events[0]["event"])
    assert isinstance(event, A2ILoopStatusEvent)
    assert event.human_loop_status == "Completed" and event.output_s3_uri == uri


def test_stop_then_delete_and_delete_needs_a_stopped_loop(
    a2i: Any, flow: Callable[..., str], team: str, worker: Callable[[str], Worker]
) -> None:
    # GIVEN an in-progress loop
    name = _start(a2i, flow())
    # WHEN it is deleted before being stopped
    code, status, message = _error(lambda: a2i.delete_human_loop(HumanLoopName=name))
    # THEN AWS's rule applies: stop first
    assert (code, status) == ("ValidationException", 400)
    assert "stop" in message.lower()
    # WHEN stopped (nobody holds the task), it becomes Stopped; its task leaves the queue
    a2i.stop_human_loop(HumanLoopName=name)
    wait_for(lambda: a2i.describe_human_loop(HumanLoopName=name)["HumanLoopStatus"] == "Stopped", what="Stopped")
    assert worker("carol").claim(team) is None
    a2i.stop_human_loop(HumanLoopName=name)  # stopping again is harmless
    # THEN it can be deleted, after which it is gone from Describe and List
    a2i.delete_human_loop(HumanLoopName=name)
    assert _error(lambda: a2i.describe_human_loop(HumanLoopName=name))[0] == "ResourceNotFoundException"


def test_stop_waits_for_a_worker_holding_the_task(
    a2i: Any, s3: Any, flow: Callable[..., str], team: str, worker: Callable[[str], Worker]
) -> None:
    # GIVEN a worker holding the task of a loop
    name = _start(a2i, flow())
    holder = worker("dave")
    task = holder.claim(team)
    assert task is not None
    # WHEN the loop is stopped, it is Stopping while the worker works
    a2i.stop_human_loop(HumanLoopName=name)
    assert a2i.describe_human_loop(HumanLoopName=name)["HumanLoopStatus"] == "Stopping"
    assert holder.answer(task["id"], {"sentiment": {"label": "MIXED"}}).status_code == 200
    # THEN the submitted answer is kept and the loop ends Stopped
    done = wait_for(
        lambda: (d := a2i.describe_human_loop(HumanLoopName=name))["HumanLoopStatus"] == "Stopped" and d,
        what="Stopped",
    )
    output = load(s3_json(s3, done["HumanLoopOutput"]["OutputS3Uri"]))
    assert isinstance(output, HumanLoopOutput)
    assert output.human_answers[0].answer_content == {"sentiment": {"label": "MIXED"}}


def test_expired_loop_fails_with_expired_code(backend: LocalBackend, a2i: Any, flow: Callable[..., str]) -> None:
    # GIVEN a loop whose task is available for 60 s
    name = _start(a2i, flow(lifetime=60))
    # WHEN 61 s pass without an answer
    backend.advance_clock(61)
    # THEN the loop fails as Expired and a Failed event is delivered
    failed = wait_for(
        lambda: (d := a2i.describe_human_loop(HumanLoopName=name))["HumanLoopStatus"] == "Failed" and d,
        what="Failed",
    )
    assert failed["FailureCode"] == "Expired"
    assert "TaskAvailabilityLifetimeInSeconds" in failed["FailureReason"]
    backend.wait_idle()
    detail = [e["event"]["detail"] for e in events(backend) if e["event"]["resources"][0].endswith(f"/{name}")]
    assert detail and detail[0]["humanLoopStatus"] == "Failed" and detail[0]["failureCode"] == "Expired"


@local_only("the quota and fault injection are set through the local backend's admin API; the service has neither")
def test_quota_gives_402_and_fault_injection_gives_429(
    backend: LocalBackend, a2i: Any, flow: Callable[..., str]
) -> None:
    flow_arn = flow()
    active = backend.storage.count_human_loops("InProgress") + backend.storage.count_human_loops("Stopping")
    try:
        # GIVEN a quota equal to the loops already active
        admin(backend, "POST", "/config", {"max_active_human_loops": active})
        # WHEN / THEN StartHumanLoop is refused with HTTP 402, which botocore does not retry
        code, status, _ = _error(lambda: _start(a2i, flow_arn))
        assert (code, status) == ("ServiceQuotaExceededException", 402)
        # GIVEN throttling of every StartHumanLoop
        admin(
            backend,
            "POST",
            "/config",
            {"max_active_human_loops": None, "faults": {"throttle_rate": 1.0, "operations": ["StartHumanLoop"]}},
        )
        code, status, _ = _error(lambda: _start(a2i, flow_arn))
        assert (code, status) == ("ThrottlingException", 429)
        # AND other operations are not throttled
        a2i.list_human_loops(FlowDefinitionArn=flow_arn)
    finally:
        admin(backend, "POST", "/config", {"max_active_human_loops": None, "faults": {}})


def test_a_throttling_store_gives_429_not_a_conflict_or_a_500(
    backend: LocalBackend, a2i: Any, flow: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    flow_arn = flow()
    name = _start(a2i, flow_arn)

    def throttle(*args: Any, **kwargs: Any) -> Any:
        raise StorageThrottled("TransactWriteItems", "ProvisionedThroughputExceededException: slow down")

    # GIVEN a store that still throttles after its own retries (StartHumanLoop's both paths, and reads)
    for method in ("start_human_loop", "start_human_loop_future", "get_human_loop"):
        monkeypatch.setattr(backend.storage, method, throttle, raising=False)
    # WHEN / THEN StartHumanLoop and DescribeHumanLoop answer ThrottlingException with HTTP 429 (botocore retries it)
    assert _error(lambda: _start(a2i, flow_arn))[:2] == ("ThrottlingException", 429)
    assert _error(lambda: a2i.describe_human_loop(HumanLoopName=name))[:2] == ("ThrottlingException", 429)


def test_botocore_model_routes_are_all_served(a2i: Any) -> None:
    # GIVEN every operation of the botocore model
    model = botocore.session.get_session().get_service_model("sagemaker-a2i-runtime")
    # THEN each answers with a modelled error rather than UnknownOperation
    for operation in model.operation_names:
        method = getattr(a2i, botocore.xform_name(operation))
        kwargs: dict[str, Any] = {"HumanLoopName": "absent-loop"}
        if operation == "ListHumanLoops":
            kwargs = {"FlowDefinitionArn": ABSENT_FLOW}
        if operation == "StartHumanLoop":
            kwargs = {
                "HumanLoopName": "absent",
                "FlowDefinitionArn": ABSENT_FLOW,
                "HumanLoopInput": {"InputContent": "{}"},
            }
        code = _error(lambda m=method, k=kwargs: m(**k))[0]
        assert code in {"ResourceNotFoundException", "ValidationException"}, operation


def test_a_request_signed_for_another_service_is_refused(backend: LocalBackend) -> None:
    # GIVEN a Comprehend client pointed at the SageMaker port by mistake
    import boto3

    comprehend = boto3.client("comprehend", endpoint_url=backend.endpoint_url, config=NO_RETRIES)
    # WHEN / THEN the credential scope gives it away, as on AWS
    with pytest.raises(ClientError) as info:
        comprehend.detect_sentiment(Text="hi", LanguageCode="en")
    assert info.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert "'comprehend'" in info.value.response["Error"]["Message"]
