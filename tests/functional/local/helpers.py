"""Helpers shared by the local backend's and the service's functional tests and the browser tests (plain functions;
fixtures are in conftest.py)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from botocore.config import Config

from truthloop.local import LocalBackend
from truthloop.local.simulate import Crowd

FAST = {
    "flow_activation_seconds": 0.05,
    "consolidation_wait_seconds": 0.2,
    "engine_interval_seconds": 0.05,
    "event_retry_seconds": 0.05,
}
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})
COGNITO = {"UserPool": "us-east-1_TestPool", "UserGroup": "labelers", "ClientId": "client-id"}
ROLE = "arn:aws:iam::123456789012:role/truthloop-test"
#: a text review template with one free-text answer field
TEMPLATE = '<crowd-form><crowd-input name="label"></crowd-input>{{ task.input.text }}</crowd-form>'
REVIEW_TEMPLATE = """<script src="https://assets.crowd.aws/crowd-html-elements.js"></script>
<crowd-form>
  <crowd-classifier name="sentiment" categories='["POSITIVE", "NEGATIVE", "NEUTRAL", "MIXED"]' header="Sentiment?">
    <classification-target>{{ task.input.text }}</classification-target>
  </crowd-classifier>
</crowd-form>"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def wait_for(predicate: Callable[[], Any], *, timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Worker:
    """A worker using the portal's JSON API with a token (what simulated workers do)."""

    def __init__(self, backend: Any, name: str) -> None:
        self.name = name
        self.token = backend.issue_worker(name)
        self.client = httpx.Client(
            base_url=backend.endpoint_url, headers={"authorization": f"Bearer {self.token}"}, timeout=10
        )

    def claim(self, workteam_arn: str | None = None) -> dict[str, Any] | None:
        body = {} if workteam_arn is None else {"workteamArn": workteam_arn}
        response = self.client.post("/portal/api/tasks/claim", json=body)
        if response.status_code == 204:
            return None
        response.raise_for_status()
        task: dict[str, Any] = response.json()["task"]
        return task

    def answer(self, task_id: str, answer: dict[str, Any]) -> httpx.Response:
        return self.client.post(f"/portal/api/tasks/{task_id}/answer", json={"answer": answer})

    def close(self) -> None:
        self.client.close()


def admin(backend: LocalBackend, method: str, path: str, body: Any = None) -> Any:
    response = httpx.request(
        method,
        f"{backend.endpoint_url}/_truthloop{path}",
        headers={"authorization": f"Bearer {backend.admin_token}", "content-type": "application/json"},
        content=None if body is None else json.dumps(body),
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def s3_json(s3: Any, uri: str) -> Any:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def s3_keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return sorted(keys)


def events(backend: Any, detail_type: str | None = None) -> list[dict[str, Any]]:
    """Status events sent so far: the local backend's outbox records (admin API), or what the service put on
    EventBridge (``ServiceBackend.events``), as ``{"detailType", "event", "delivered", ...}``."""
    if not isinstance(backend, LocalBackend):
        found: list[dict[str, Any]] = backend.events(detail_type)
        return found
    found = admin(backend, "GET", "/events")["events"]
    return [e for e in found if detail_type is None or e["detailType"] == detail_type]


def crowd(backend: Any, **options: Any) -> Crowd:
    """Simulated workers for the backend, issued over HTTP with its admin token: the local backend's admin API, or
    the local-only workers route of ``truthloop service local``."""
    return Crowd(backend.endpoint_url, admin_token=backend.admin_token, **options)


def _sleep() -> None:
    time.sleep(0.05)


def active_flow(
    sm: Any,
    *,
    output: str,
    name: str = "flow",
    team: str | None = None,
    ui: str | None = None,
    template: str = TEMPLATE,
    task_count: int = 1,
    title: str = "Review",
    description: str = "Is the model right?",
    role: str = ROLE,
    tick: Callable[[], object] = _sleep,
    timeout: float = 30.0,
    wait: bool = True,
) -> str:
    """Create a flow definition ``name`` writing to ``output`` and wait until it is Active; returns its ARN.

    Without ``team`` a work team ``<name>-reviewers`` of the ``COGNITO`` group is created, without ``ui`` a task UI
    ``<name>-ui`` from ``template``. ``tick`` runs between status checks: a pause when a service activates the flow
    in the background, or one drain of the engine queue when the test plays the queue itself. ``wait=False``
    returns at once (the flow is then still ``Initializing``).
    """
    if team is None:
        team = sm.create_workteam(
            WorkteamName=f"{name}-reviewers",
            Description="reviewers",
            MemberDefinitions=[{"CognitoMemberDefinition": COGNITO}],
        )["WorkteamArn"]
    if ui is None:
        ui = sm.create_human_task_ui(HumanTaskUiName=f"{name}-ui", UiTemplate={"Content": template})["HumanTaskUiArn"]
    arn: str = sm.create_flow_definition(
        FlowDefinitionName=name,
        HumanLoopConfig={
            "WorkteamArn": team,
            "HumanTaskUiArn": ui,
            "TaskCount": task_count,
            "TaskTitle": title,
            "TaskDescription": description,
        },
        OutputConfig={"S3OutputPath": output},
        RoleArn=role,
    )["FlowDefinitionArn"]
    if not wait:
        return arn
    deadline = time.monotonic() + timeout
    while True:
        status = sm.describe_flow_definition(FlowDefinitionName=name)["FlowDefinitionStatus"]
        if status == "Active":
            return arn
        if status == "Failed" or time.monotonic() > deadline:
            raise AssertionError(f"flow definition {name!r} is {status}, not Active (waited up to {timeout} s)")
        tick()
