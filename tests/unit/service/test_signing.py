"""truthloop.service.client signs for API Gateway; verify_request recomputes SigV4 with botocore and refuses fakes."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSPreparedRequest
from moto import mock_aws

from truthloop.exceptions import ConfigurationError, ServiceEndpointError, SignatureRejectedError
from truthloop.review import ReviewClient
from truthloop.service import client, service_endpoint, verify_request
from truthloop.service.signing import ENV_ENDPOINT, ENV_STACK, endpoint_region

ENDPOINT = "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"
SECRETS = {"testing": "testing"}
FLOW = "arn:aws:sagemaker:eu-west-1:111122223333:flow-definition/review"


class _Sent(Exception):
    """Stops a client just before the request goes on the wire."""


def capture(service: str, call: Callable[[Any], Any], **kwargs: Any) -> AWSPreparedRequest:
    """The exact request ``call`` would send (signed), without sending it."""
    captured: list[AWSPreparedRequest] = []
    boto_client = kwargs.pop("boto_client", None) or client(service, endpoint_url=ENDPOINT, **kwargs)

    def stop(request: AWSPreparedRequest, **_: Any) -> None:
        captured.append(request)
        raise _Sent

    boto_client.meta.events.register("before-send", stop)
    with pytest.raises(_Sent):
        call(boto_client)
    return captured[0]


def verify(request: AWSPreparedRequest, **kwargs: Any) -> Any:
    return verify_request(
        request.method, request.url, dict(request.headers), request.body or b"", secret_for=SECRETS.get, **kwargs
    )


CALLS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "a2i start_human_loop": (
        "sagemaker-a2i-runtime",
        lambda c: c.start_human_loop(
            HumanLoopName="loop-1", FlowDefinitionArn=FLOW, HumanLoopInput={"InputContent": "{}"}
        ),
    ),
    "a2i describe_human_loop": ("sagemaker-a2i-runtime", lambda c: c.describe_human_loop(HumanLoopName="loop-1")),
    "a2i list_human_loops": (
        "sagemaker-a2i-runtime",
        lambda c: c.list_human_loops(FlowDefinitionArn=FLOW, SortOrder="Ascending", MaxResults=5),
    ),
    "sagemaker list_workteams": ("sagemaker", lambda c: c.list_workteams()),
    "sagemaker describe_flow_definition": ("sagemaker", lambda c: c.describe_flow_definition(FlowDefinitionName="f")),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_requests_are_signed_for_execute_api_and_verify(name: str) -> None:
    # GIVEN a service client for the endpoint
    service, call = CALLS[name]
    # WHEN it makes a call
    request = capture(service, call)
    # THEN the request goes to the endpoint, scoped to execute-api in the endpoint's region, and its signature holds
    assert request.url.startswith(ENDPOINT + "/")
    assert "/eu-west-1/execute-api/aws4_request" in request.headers["Authorization"].decode()
    caller = verify(request, region="eu-west-1")
    assert (caller.access_key_id, caller.service, caller.region) == ("testing", "execute-api", "eu-west-1")


def _tamper_body(request: AWSPreparedRequest) -> None:
    request.body = (request.body or b"") + b" "


def _tamper_path(request: AWSPreparedRequest) -> None:
    request.url = request.url.replace("/human-loops", "/human-loops/other")


def _tamper_header(request: AWSPreparedRequest) -> None:
    request.headers["X-Amz-Date"] = "20200101T000000Z"


def _drop_auth(request: AWSPreparedRequest) -> None:
    del request.headers["Authorization"]


def _garble_auth(request: AWSPreparedRequest) -> None:
    request.headers["Authorization"] = "Bearer not-sigv4"


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        (_tamper_body, "signature we calculated does not match"),
        (_tamper_path, "signature we calculated does not match"),
        (_tamper_header, "credential scope date"),
        (_drop_auth, "Missing Authentication Token"),
        (_garble_auth, "requires 'Credential', 'Signature' and 'SignedHeaders'"),
    ],
)
def test_an_altered_or_unsigned_request_is_refused(tamper: Callable[[AWSPreparedRequest], None], message: str) -> None:
    # GIVEN a correctly signed StartHumanLoop request, altered after signing
    request = capture(*CALLS["a2i start_human_loop"])
    tamper(request)
    # WHEN it is verified
    with pytest.raises(SignatureRejectedError, match=message) as caught:
        verify(request)
    # THEN it is refused with a 403
    assert caught.value.status_code == 403


def test_boto3s_own_sagemaker_signature_is_refused() -> None:
    # GIVEN plain boto3 aimed at the endpoint (signs for 'sagemaker', as for Amazon A2I)
    plain = boto3.client("sagemaker-a2i-runtime", endpoint_url=ENDPOINT, region_name="eu-west-1")
    request = capture("sagemaker-a2i-runtime", CALLS["a2i describe_human_loop"][1], boto_client=plain)
    # WHEN it is verified THEN the scope is wrong
    with pytest.raises(SignatureRejectedError, match="scoped to correct service: 'execute-api'"):
        verify(request)


@pytest.mark.parametrize(
    ("secrets", "kwargs", "message"),
    [
        ({"testing": "another secret"}, {}, "signature we calculated does not match"),
        ({}, {}, "security token included in the request is invalid"),
        (SECRETS, {"region": "us-east-1"}, "scoped to a valid region: 'us-east-1'"),
        (SECRETS, {"late": datetime.timedelta(minutes=16)}, "Signature expired"),
    ],
)
def test_wrong_key_region_or_stale_signatures_are_refused(
    secrets: dict[str, str], kwargs: dict[str, Any], message: str
) -> None:
    # GIVEN a correctly signed request
    request = capture(*CALLS["sagemaker list_workteams"])
    late = kwargs.get("late")  # measured from the signing, not from collection (a long run would shrink it)
    if late is not None:
        kwargs = {"now": datetime.datetime.now(datetime.UTC) + late}
    # WHEN it is verified with another secret, in another region or too late
    with pytest.raises(SignatureRejectedError, match=message):
        verify_request(
            request.method, request.url, dict(request.headers), request.body or b"", secret_for=secrets.get, **kwargs
        )


def test_a_signature_within_the_clock_skew_is_accepted() -> None:
    request = capture(*CALLS["sagemaker list_workteams"])
    assert verify(request, now=datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=14))


def test_only_the_services_apis_get_a_client() -> None:
    with pytest.raises(ServiceEndpointError, match="'s3' is not one of them"):
        client("s3", endpoint_url=ENDPOINT)


def test_the_region_comes_from_an_execute_api_endpoint() -> None:
    assert endpoint_region(ENDPOINT) == "eu-west-1"
    assert endpoint_region("http://127.0.0.1:8080") is None
    assert client("sagemaker", endpoint_url=ENDPOINT).meta.region_name == "eu-west-1"


def test_the_endpoint_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the variable
    monkeypatch.setenv(ENV_ENDPOINT, ENDPOINT + "/")
    # WHEN a client is made without an endpoint THEN it targets the variable's endpoint
    assert client("sagemaker-a2i-runtime").meta.endpoint_url == ENDPOINT


def test_a_malformed_endpoint_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_ENDPOINT, "a1b2c3.execute-api.eu-west-1.amazonaws.com")
    with pytest.raises(ServiceEndpointError, match=f"{ENV_ENDPOINT}='a1b2c3.execute-api"):
        service_endpoint()


_STACK_TEMPLATE = """{
  "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
  "Outputs": {
    "ApiEndpoint": {"Value": "%s"},
    "TableName": {"Value": "truthloop-service-table"}
  }
}"""


@mock_aws
@pytest.mark.parametrize("stack_name", ["TruthloopService", "TruthloopServiceStaging"])
def test_the_endpoint_is_read_from_the_stack_outputs(monkeypatch: pytest.MonkeyPatch, stack_name: str) -> None:
    # GIVEN a deployed stack with the ApiEndpoint output (the default name, or one named by TRUTHLOOP_SERVICE_STACK)
    boto3.client("cloudformation").create_stack(StackName=stack_name, TemplateBody=_STACK_TEMPLATE % ENDPOINT)
    if stack_name != "TruthloopService":
        monkeypatch.setenv(ENV_STACK, stack_name)
    # WHEN a client is made with no endpoint given
    a2i = client("sagemaker-a2i-runtime")
    # THEN it targets the stack's endpoint
    assert a2i.meta.endpoint_url == ENDPOINT


@mock_aws
def test_a_missing_stack_or_output_is_named() -> None:
    # GIVEN no stack, then a stack without the output
    with pytest.raises(ServiceEndpointError, match="stack 'TruthloopService' in region us-east-1") as caught:
        service_endpoint()
    assert caught.value.__cause__ is not None  # botocore's error is chained
    boto3.client("cloudformation").create_stack(
        StackName="Other", TemplateBody='{"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}}'
    )
    with pytest.raises(ServiceEndpointError, match=r"stack 'Other' .* has no 'ApiEndpoint' output"):
        service_endpoint(stack_name="Other")


@pytest.mark.parametrize(
    ("backend", "scope"), [("service", "/eu-west-1/execute-api/"), ("a2i", "/us-east-1/sagemaker/")]
)
def test_review_client_backends_sign_for_their_api(monkeypatch: pytest.MonkeyPatch, backend: str, scope: str) -> None:
    # GIVEN the service's endpoint in the environment and a ReviewClient for one backend
    monkeypatch.setenv(ENV_ENDPOINT, ENDPOINT)
    reviewer = ReviewClient(backend=backend)  # type: ignore[arg-type]
    # WHEN its A2I client makes a call
    request = capture("sagemaker-a2i-runtime", CALLS["a2i describe_human_loop"][1], boto_client=reviewer.a2i)
    # THEN the service backend goes to the endpoint signed for execute-api; the default stays Amazon A2I's
    assert scope in request.headers["Authorization"].decode()
    assert request.url.startswith(ENDPOINT) is (backend == "service")


def test_review_client_names_an_unknown_backend() -> None:
    with pytest.raises(ConfigurationError, match="backend must be 'a2i' or 'service', got 'mturk'"):
        ReviewClient(backend="mturk")  # type: ignore[arg-type]
