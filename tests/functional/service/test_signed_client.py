"""An A2I program, one line changed, runs through an IAM-verifying gateway; unsigned or mis-signed calls get 403.

The gateway stands where the service's API Gateway stands: it verifies each request's SigV4 signature (scope
``execute-api``) with botocore's own signer and forwards only verified requests, unchanged, to the real local
backend on loopback. Anything else is refused with 403 before the backend sees it.
"""

from __future__ import annotations

import http.client
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

import truthloop.service
from tests.functional.local.helpers import (
    COGNITO,
    FAST,
    NO_RETRIES,
    REVIEW_TEMPLATE,
    ROLE,
    active_flow,
    unique,
    wait_for,
)
from truthloop.exceptions import SignatureRejectedError
from truthloop.local import BackendConfig, LocalBackend
from truthloop.review import ReviewClient, ReviewPolicy
from truthloop.review.router import ENV_FLOW_DEFINITION_ARN, ENV_REVIEW_POLICY, ENV_SERVICE_ENDPOINT, router_from_env
from truthloop.service import verify_request

SECRETS = {"testing": "testing"}


class Gateway:
    """A loopback IAM gateway in front of ``upstream`` (host:port); ``forwarded`` counts what got through."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.forwarded = 0
        self.refused: list[str] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = dict(self.headers.items())
                try:
                    verify_request(
                        self.command, f"http://{self.headers['host']}{self.path}", headers, body, secret_for=SECRETS.get
                    )
                except SignatureRejectedError as exc:
                    gateway.refused.append(exc.code)
                    self._reply(403, {"x-amzn-ErrorType": exc.code}, json.dumps({"message": exc.message}).encode())
                    return
                gateway.forwarded += 1
                connection = http.client.HTTPConnection(gateway.upstream, timeout=30)
                connection.request(self.command, self.path, body, headers)
                response = connection.getresponse()
                payload = response.read()
                passed = {k: v for k, v in response.getheaders() if k.lower() not in {"content-length", "connection"}}
                self._reply(response.status, passed, payload)
                connection.close()

            def _reply(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_DELETE = do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Gateway:
        self.thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    config = BackendConfig(port=0, data_dir=tmp_path_factory.mktemp("truthloop-service"), workers=1, **FAST)  # type: ignore[arg-type]
    with LocalBackend(config) as backend:
        upstream = backend.client_env()["AWS_ENDPOINT_URL_SAGEMAKER"].removeprefix("http://").rstrip("/")
        with Gateway(upstream) as running:
            yield running


@pytest.fixture
def endpoint(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TRUTHLOOP_SERVICE_ENDPOINT", gateway.url)
    return gateway.url


def _create_flow(sm: Any) -> str:
    """A2I set-up code: a work team, a task UI and an Active flow definition (returns the flow's ARN)."""
    return active_flow(
        sm,
        output="s3://truthloop-signed/a2i",
        name=unique("flow"),
        template=REVIEW_TEMPLATE,
        title="Review a prediction",
    )


def test_an_a2i_program_runs_with_one_line_changed(endpoint: str, gateway: Gateway) -> None:
    # GIVEN A2I-style code whose clients are the one changed line
    sm = truthloop.service.client("sagemaker", config=NO_RETRIES)  # was: boto3.client("sagemaker")
    a2i = truthloop.service.client("sagemaker-a2i-runtime", config=NO_RETRIES)  # was: boto3.client(...)
    before = gateway.forwarded
    flow = _create_flow(sm)
    # WHEN the program starts a human loop and reads it back
    loop = unique("loop")
    a2i.start_human_loop(
        HumanLoopName=loop, FlowDefinitionArn=flow, HumanLoopInput={"InputContent": json.dumps({"text": "great"})}
    )
    described = a2i.describe_human_loop(HumanLoopName=loop)
    listed = a2i.list_human_loops(FlowDefinitionArn=flow)["HumanLoopSummaries"]
    # THEN every call went through the gateway, verified, and the backend answered as A2I would
    assert described["HumanLoopStatus"] == "InProgress" and described["FlowDefinitionArn"] == flow
    assert [s["HumanLoopName"] for s in listed] == [loop]
    assert gateway.forwarded - before >= 7


SENTIMENT = {
    "Sentiment": "POSITIVE",
    "SentimentScore": {"Positive": 0.55, "Negative": 0.2, "Neutral": 0.2, "Mixed": 0.05},
}


def test_review_client_and_router_start_loops_on_the_service(endpoint: str, gateway: Gateway) -> None:
    # GIVEN a flow on the service, a ReviewClient for the service and a router configured by its environment
    flow = _create_flow(truthloop.service.client("sagemaker", config=NO_RETRIES))
    policy = ReviewPolicy.threshold(0.9)
    client = ReviewClient(backend="service", policy=policy)
    router = router_from_env(
        {
            ENV_FLOW_DEFINITION_ARN: flow,
            ENV_REVIEW_POLICY: json.dumps(policy.to_dict()),
            ENV_SERVICE_ENDPOINT: endpoint,
        }
    )
    # WHEN each reviews an uncertain sentiment (the router's record differs in its input, so a new loop)
    outcome = client.review("comprehend:detect_sentiment", SENTIMENT, flow_definition_arn=flow, input={"text": "ok"})
    routed = router.route({"source": "comprehend:detect_sentiment", "response": SENTIMENT, "input": {"text": "fine"}})
    # THEN both loops were started on the service, through the verifying gateway
    assert outcome.status == "started" and routed.status == "started"
    a2i = truthloop.service.client("sagemaker-a2i-runtime", config=NO_RETRIES)
    names = {s["HumanLoopName"] for s in a2i.list_human_loops(FlowDefinitionArn=flow)["HumanLoopSummaries"]}
    assert names == {outcome.human_loop_name, routed.human_loop_name}
    assert router.client.a2i.meta.endpoint_url == endpoint


@pytest.mark.parametrize(
    ("make_client", "code"),
    [
        (
            lambda url: boto3.client("sagemaker-a2i-runtime", endpoint_url=url, config=NO_RETRIES),
            "InvalidSignatureException",
        ),
        (
            lambda url: truthloop.service.client(
                "sagemaker-a2i-runtime",
                endpoint_url=url,
                config=NO_RETRIES,
                aws_access_key_id="testing",
                aws_secret_access_key="not the secret",
                aws_session_token="testing",
            ),
            "InvalidSignatureException",
        ),
        (
            lambda url: truthloop.service.client(
                "sagemaker-a2i-runtime",
                endpoint_url=url,
                config=NO_RETRIES,
                aws_access_key_id="AKIAUNKNOWN",
                aws_secret_access_key="testing",
            ),
            "UnrecognizedClientException",
        ),
    ],
    ids=["boto3-signs-for-sagemaker", "wrong-secret", "unknown-key"],
)
def test_unsigned_or_wrongly_signed_calls_are_refused_before_the_backend(
    gateway: Gateway, make_client: Any, code: str
) -> None:
    # GIVEN a client that does not sign as the service expects
    a2i = make_client(gateway.url)
    before = gateway.forwarded
    # WHEN it calls
    with pytest.raises(ClientError) as caught:
        a2i.describe_human_loop(HumanLoopName="anything")
    # THEN the gateway refuses it with 403 and the backend never sees it
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert caught.value.response["Error"]["Code"] == code
    assert gateway.forwarded == before


def test_a_request_with_no_signature_at_all_is_refused(gateway: Gateway) -> None:
    # GIVEN a bare HTTP request
    host = gateway.url.removeprefix("http://")
    connection = http.client.HTTPConnection(host, timeout=10)
    # WHEN it is sent
    connection.request("GET", "/human-loops/anything")
    response = connection.getresponse()
    # THEN
    assert response.status == 403
    assert json.loads(response.read()) == {"message": "Missing Authentication Token"}
    connection.close()


SERVICE_DOC = Path(__file__).resolve().parents[3] / "docs" / "service.md"


def _before_and_after() -> tuple[str, str]:
    section = SERVICE_DOC.read_text().split("## From A2I: the one line that changes", 1)[1].split("\n## ", 1)[0]
    before, after = re.findall(r"```python\n(.*?)```", section, flags=re.S)[:2]
    return before, after


def test_the_docs_before_and_after_differ_in_the_client_line_and_its_import() -> None:
    # GIVEN the two programs of docs/service.md
    before, after = _before_and_after()
    # WHEN they are compared line by line
    changed = [(b, a) for b, a in zip(before.splitlines(), after.splitlines(), strict=True) if b != a]
    # THEN only the import and the client line differ
    assert changed == [
        ("import boto3", "import truthloop.service"),
        ('a2i = boto3.client("sagemaker-a2i-runtime")', 'a2i = truthloop.service.client("sagemaker-a2i-runtime")'),
    ]


def test_the_docs_after_program_runs_against_the_service(
    endpoint: str, gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a flow definition on the service and the documented program (endpoint from TRUTHLOOP_SERVICE_ENDPOINT)
    flow = _create_flow(truthloop.service.client("sagemaker", config=NO_RETRIES))
    _, after = _before_and_after()
    before = gateway.forwarded
    # WHEN it runs
    exec(compile(after, str(SERVICE_DOC), "exec"), {"FLOW_DEFINITION_ARN": flow})
    # THEN it started and described its loop through the verifying gateway
    assert capsys.readouterr().out.strip() == "InProgress"
    assert gateway.forwarded - before == 2


def test_the_flow_definition_provider_creates_and_deletes_on_the_service(
    endpoint: str, gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the flow-definition custom resource's handlers with the service's endpoint in their environment
    from custom_resources import _provider, flow_definition

    monkeypatch.setattr(_provider, "_client", None)  # the process's client is made on first use
    sm = truthloop.service.client("sagemaker", config=NO_RETRIES)
    team = sm.create_workteam(
        WorkteamName=unique("team"), Description="reviewers", MemberDefinitions=[{"CognitoMemberDefinition": COGNITO}]
    )["WorkteamArn"]
    ui = sm.create_human_task_ui(HumanTaskUiName=unique("ui"), UiTemplate={"Content": REVIEW_TEMPLATE})
    request = {
        "HumanLoopConfig": {
            "WorkteamArn": team,
            "HumanTaskUiArn": ui["HumanTaskUiArn"],
            "TaskCount": 1,
            "TaskTitle": "Review a prediction",
            "TaskDescription": "Is the model right?",
        },
        "OutputConfig": {"S3OutputPath": "s3://truthloop-signed/a2i"},
        "RoleArn": ROLE,
    }
    event = {"RequestType": "Create", "ResourceProperties": {"NamePrefix": "svc-flow", "Request": json.dumps(request)}}
    before = gateway.forwarded
    # WHEN CloudFormation creates the resource and polls until it is complete
    created = flow_definition.on_event(event)
    polled = {**event, "PhysicalResourceId": created["PhysicalResourceId"]}

    def complete() -> dict[str, Any] | None:
        answer = flow_definition.is_complete(polled)
        return answer if answer["IsComplete"] else None

    done = wait_for(complete, what="the flow definition to become Active on the service")
    # THEN the flow exists on the service, reached through the signed client
    arn = done["Data"]["FlowDefinitionArn"]
    assert sm.describe_flow_definition(FlowDefinitionName=created["PhysicalResourceId"])["FlowDefinitionArn"] == arn
    assert gateway.forwarded - before >= 2
    # WHEN it is deleted THEN it is gone
    delete = {"RequestType": "Delete", "PhysicalResourceId": created["PhysicalResourceId"]}
    flow_definition.on_event(delete)
    assert wait_for(lambda: flow_definition.is_complete(delete)["IsComplete"], what="the flow to be deleted")
