"""``truthloop service local`` keeps its state across restarts on the same data directory: the table is journaled
(``<data-dir>/dynamodb``), S3 written through (``<data-dir>/s3``), and what the lost SQS messages would have done is
re-derived by the sweep. Checked across a clean stop, a ``kill -9`` right after acknowledged writes, and a ``kill -9``
of a process whose engine never ran (its settle and activate messages lost with the queue)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest

from tests.functional.local.helpers import active_flow
from truthloop.service.local import LocalService

ROOT = Path(__file__).resolve().parents[3]
#: a service without its engine (nothing consumes the queue, no sweep): a crash before the engine ran
_NO_ENGINE = """
import json, sys, threading
from pathlib import Path
from truthloop.service.local import LocalService
service = LocalService(port=0, data_dir=Path(sys.argv[1]), workers=1, run_engine=False).start()
print(json.dumps({"endpoint": service.endpoint_url, "token": service.worker_tokens["worker-1"]}), flush=True)
threading.Event().wait()
"""


class Endpoint:
    """Where a running service answers, and its worker's portal token."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token

    def client(self, name: str) -> Any:
        session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
        return session.client(name, endpoint_url=self.url)

    def portal(self, path: str, body: Any) -> Any:
        response = httpx.post(
            f"{self.url}/portal/api{path}", json=body, headers={"authorization": f"Bearer {self.token}"}, timeout=30
        )
        assert response.status_code in (200, 204), response.text
        return response.json() if response.status_code == 200 else {}

    def answer_next(self, label: str) -> str:
        """Claim the next task and answer it; returns its human loop's name."""
        task = _until(lambda: self.portal("/tasks/claim", {}).get("task"))
        assert task, "no task to claim"
        self.portal(f"/tasks/{task['id']}/answer", {"answer": {"label": label}})
        return str(task["humanLoopName"])

    def status(self, loop: str) -> str:
        return str(self.client("sagemaker-a2i-runtime").describe_human_loop(HumanLoopName=loop)["HumanLoopStatus"])


class Process:
    """A service in its own process (so it can be killed with SIGKILL)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.process: subprocess.Popen[str] | None = None

    def cli(self) -> Endpoint:
        """``truthloop service local`` as a user runs it; endpoint and token read from what it prints."""
        command = ["-m", "truthloop.cli", "service", "local", "--port", "0", "--data-dir", str(self.data_dir)]
        self._spawn([*command, "--workers", "1", "--sweep-seconds", "1"])
        url = token = ""
        for line in self._lines():
            if line.startswith("truthloop service on "):
                url = line.split()[3]
            elif line.strip().startswith("worker-1: "):
                token = line.split(": ", 1)[1].strip()
            elif "Ctrl+C stops" in line:
                break
        assert url and token
        return Endpoint(url, token)

    def without_engine(self) -> Endpoint:
        self._spawn(["-c", _NO_ENGINE, str(self.data_dir)])
        started = json.loads(next(self._lines()))
        return Endpoint(started["endpoint"], started["token"])

    def _spawn(self, args: list[str]) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
        self.process = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )

    def _lines(self) -> Iterator[str]:
        assert self.process is not None and self.process.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise AssertionError(f"the service exited ({self.process.poll()}) before it started")
            yield line

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        assert self.process is not None
        self.process.kill()
        self.process.communicate(timeout=30)
        self.process = None


def _until(check: Any, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


@pytest.fixture
def process(tmp_path: Path) -> Iterator[Process]:
    running = Process(tmp_path / "state")
    yield running
    if running.process is not None:
        running.process.kill()
        running.process.wait()


def _in_process(data_dir: Path) -> tuple[LocalService, Endpoint]:
    service = LocalService(port=0, data_dir=data_dir, workers=1, sweep_seconds=1.0).start()
    return service, Endpoint(service.endpoint_url, service.worker_tokens["worker-1"])


def _deploy(at: Endpoint, flow_name: str = "flow") -> str:
    """A workteam, task UI and flow (Active); returns the flow's ARN."""
    sm, s3 = at.client("sagemaker"), at.client("s3")
    s3.create_bucket(Bucket="review-output")
    return active_flow(sm, output="s3://review-output/a2i", name=flow_name, tick=lambda: time.sleep(0.1))


def _start(at: Endpoint, flow: str, name: str) -> None:
    at.client("sagemaker-a2i-runtime").start_human_loop(
        HumanLoopName=name, FlowDefinitionArn=flow, HumanLoopInput={"InputContent": json.dumps({"text": name})}
    )


def _output(at: Endpoint, loop: str) -> dict[str, Any]:
    uri = at.client("sagemaker-a2i-runtime").describe_human_loop(HumanLoopName=loop)["HumanLoopOutput"]["OutputS3Uri"]
    body = at.client("s3").get_object(Bucket="review-output", Key=uri.split("/", 3)[3])["Body"].read()
    output: dict[str, Any] = json.loads(body)
    return output


def test_a_stopped_service_starts_again_with_everything_it_had(tmp_path: Path, service_env: pytest.MonkeyPatch) -> None:
    # GIVEN a service with a workteam, UI, flow, a loop completed through the portal and one in progress
    service, at = _in_process(tmp_path)
    try:
        flow = _deploy(at)
        _start(at, flow, "done-1")
        assert at.answer_next("ok") == "done-1"
        assert _until(lambda: at.status("done-1") == "Completed")
        _start(at, flow, "open-1")
    finally:
        service.stop()
    # WHEN it is started again on the same data directory
    service, at = _in_process(tmp_path)
    try:
        sm, a2i = at.client("sagemaker"), at.client("sagemaker-a2i-runtime")
        # THEN the definitions and both loops are there, the completed one with its status and output
        assert [t["WorkteamName"] for t in sm.list_workteams()["Workteams"]] == ["flow-reviewers"]
        assert [u["HumanTaskUiName"] for u in sm.list_human_task_uis()["HumanTaskUiSummaries"]] == ["flow-ui"]
        assert sm.describe_flow_definition(FlowDefinitionName="flow")["FlowDefinitionStatus"] == "Active"
        loops = a2i.list_human_loops(FlowDefinitionArn=flow)["HumanLoopSummaries"]
        assert sorted((loop["HumanLoopName"], loop["HumanLoopStatus"]) for loop in loops) == [
            ("done-1", "Completed"),
            ("open-1", "InProgress"),
        ]
        assert _output(at, "done-1")["humanAnswers"][0]["answerContent"] == {"label": "ok"}
        assert service.restored is not None and service.restored.torn_tail is None
        assert service.restored.replay_failures == 0 and service.restored.journal_entries > 0
        # AND the loop in progress can still be completed (the worker keeps its identity, with a new token)
        assert at.answer_next("later") == "open-1"
        assert _until(lambda: at.status("open-1") == "Completed")
        assert _output(at, "open-1")["humanAnswers"][0]["answerContent"] == {"label": "later"}
    finally:
        service.stop()


def test_acknowledged_work_survives_kill_9_and_lost_engine_messages(
    tmp_path: Path, process: Process, service_env: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "state"
    # GIVEN `truthloop service local` with a flow, a loop completed through the portal and one in progress
    at = process.cli()
    flow = _deploy(at)
    _start(at, flow, "done-1")
    assert at.answer_next("ok") == "done-1"
    assert _until(lambda: at.status("done-1") == "Completed")
    _start(at, flow, "open-1")
    # WHEN a loop is started and the process is killed with SIGKILL as soon as the start is acknowledged
    _start(at, flow, "late-1")
    process.kill()
    # AND a process whose engine never runs answers one loop and creates a flow (their engine messages are lost
    # with the queue when it is killed too)
    at = process.without_engine()
    answered = at.answer_next("before-crash")
    assert answered in ("open-1", "late-1")
    sm = at.client("sagemaker")
    team = sm.describe_workteam(WorkteamName="flow-reviewers")["Workteam"]["WorkteamArn"]
    ui = sm.describe_human_task_ui(HumanTaskUiName="flow-ui")["HumanTaskUiArn"]
    active_flow(sm, output="s3://review-output/a2i", name="flow-2", team=team, ui=ui, wait=False)
    assert sm.describe_flow_definition(FlowDefinitionName="flow-2")["FlowDefinitionStatus"] == "Initializing"
    process.kill()
    # THEN a service started again on the directory has every acknowledged change
    service, at = _in_process(data_dir)
    try:
        assert at.status("done-1") == "Completed"
        assert _output(at, "done-1")["humanAnswers"][0]["answerContent"] == {"label": "ok"}
        assert {at.status("open-1"), at.status("late-1")} <= {"InProgress", "Completed"}
        # AND the sweep does what the lost messages would have: the answered loop settles, the flow activates
        assert _until(lambda: at.status(answered) == "Completed")
        assert _output(at, answered)["humanAnswers"][0]["answerContent"] == {"label": "before-crash"}
        sm = at.client("sagemaker")
        flow_2 = lambda: sm.describe_flow_definition(FlowDefinitionName="flow-2")["FlowDefinitionStatus"]  # noqa: E731
        assert _until(lambda: flow_2() == "Active")
        # AND the loop that is left (possibly the one started just before the first kill) can be completed
        other = ({"open-1", "late-1"} - {answered}).pop()
        assert at.status(other) == "InProgress"
        assert at.answer_next("after") == other
        assert _until(lambda: at.status(other) == "Completed")
    finally:
        service.stop()
