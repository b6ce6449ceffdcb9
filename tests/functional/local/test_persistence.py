"""``truthloop local up`` as a real process: state survives a restart (loops, answers, jobs, S3), and the CLI's
``status`` and ``workers`` commands drive it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from click.testing import CliRunner

from tests.functional.local.helpers import COGNITO, REVIEW_TEMPLATE, ROLE, wait_for
from tests.functional.local.stores import STORES
from truthloop.cli import main
from truthloop.local import read_state

ROOT = Path(__file__).resolve().parents[3]


class Server:
    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None
        self.state: dict[str, Any] = {}
        #: the store `local up` runs on ("dynamodb": moto's table, journaled to <data-dir>/dynamodb)
        self.storage = "sqlite"

    def up(self) -> dict[str, Any]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        config = self.data_dir.parent / "config.json"
        config.write_text(json.dumps({"storage": self.storage}))
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "truthloop.cli",
                "local",
                "up",
                "--port",
                "0",
                "--data-dir",
                str(self.data_dir),
                "--workers",
                "1",
                "--config",
                str(config),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        state_file = self.data_dir / "backend.json"
        deadline = time.monotonic() + 60
        # (a crashed run's backend.json is still there: wait for this process's own)
        while not (state_file.exists() and read_state(self.data_dir).get("pid") == self.process.pid):
            assert self.process.poll() is None, self.process.stdout.read().decode() if self.process.stdout else ""
            assert time.monotonic() < deadline, "backend did not start"
            time.sleep(0.05)
        self.state = read_state(self.data_dir)
        return self.state

    def down(self) -> str:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        out, _ = self.process.communicate(timeout=60)
        self.process = None
        return out.decode()

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (what a crash, an OOM kill or a power cut does to the process)."""
        assert self.process is not None
        self.process.kill()
        self.process.communicate(timeout=30)
        self.process = None
        (self.data_dir / "backend.json").unlink()  # left behind by the killed process; up() waits for a new one

    def clients(self) -> tuple[Any, Any, Any]:
        kw = {"region_name": "us-east-1"}
        return (
            boto3.client("sagemaker", endpoint_url=self.state["endpoint"], **kw),
            boto3.client("sagemaker-a2i-runtime", endpoint_url=self.state["endpoint"], **kw),
            boto3.client("s3", endpoint_url=self.state["endpoint"], **kw),
        )

    def worker(self, name: str) -> httpx.Client:
        token = httpx.post(
            f"{self.state['endpoint']}/_truthloop/workers",
            json={"name": name},
            headers={"authorization": f"Bearer {self.state['admin_token']}"},
        ).json()["token"]
        return httpx.Client(base_url=self.state["endpoint"], headers={"authorization": f"Bearer {token}"})


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = Server(tmp_path / "state")
    yield running
    if running.process is not None:
        running.process.kill()
        running.process.communicate(timeout=30)  # reaps it and closes its stdout pipe


def _answer(client: httpx.Client, answer: dict[str, Any]) -> str:
    task = client.post("/portal/api/tasks/claim", json={}).json()["task"]
    assert client.post(f"/portal/api/tasks/{task['id']}/answer", json={"answer": answer}).status_code == 200
    return str(task["id"])


@pytest.mark.parametrize("storage", STORES)
def test_restart_keeps_loops_answers_jobs_and_s3(server: Server, storage: str) -> None:
    # GIVEN a running backend (on each store) with a completed loop, a half-answered loop and a labeling job
    server.storage = storage
    server.up()
    sm, a2i, s3 = server.clients()
    s3.create_bucket(Bucket="persist-bucket")
    s3.put_object(Bucket="persist-bucket", Key="in.manifest", Body=b'{"source": "keep me"}\n')
    team = sm.create_workteam(
        WorkteamName="keepers", Description="d", MemberDefinitions=[{"CognitoMemberDefinition": COGNITO}]
    )
    ui = sm.create_human_task_ui(HumanTaskUiName="keep-ui", UiTemplate={"Content": REVIEW_TEMPLATE})
    flows = {}
    for count in (1, 2):
        flows[count] = sm.create_flow_definition(
            FlowDefinitionName=f"keep-flow-{count}",
            HumanLoopConfig={
                "WorkteamArn": team["WorkteamArn"],
                "HumanTaskUiArn": ui["HumanTaskUiArn"],
                "TaskCount": count,
                "TaskTitle": "t",
                "TaskDescription": "d",
            },
            OutputConfig={"S3OutputPath": "s3://persist-bucket/a2i"},
            RoleArn=ROLE,
        )["FlowDefinitionArn"]
    wait_for(
        lambda: all(
            sm.describe_flow_definition(FlowDefinitionName=f"keep-flow-{c}")["FlowDefinitionStatus"] == "Active"
            for c in (1, 2)
        )
    )
    a2i.start_human_loop(
        HumanLoopName="done-loop", FlowDefinitionArn=flows[1], HumanLoopInput={"InputContent": '{"text": "a"}'}
    )
    alice = server.worker("alice")
    _answer(alice, {"sentiment": {"label": "POSITIVE"}})
    wait_for(lambda: a2i.describe_human_loop(HumanLoopName="done-loop")["HumanLoopStatus"] == "Completed")
    a2i.start_human_loop(
        HumanLoopName="half-loop", FlowDefinitionArn=flows[2], HumanLoopInput={"InputContent": '{"text": "b"}'}
    )
    _answer(alice, {"sentiment": {"label": "NEGATIVE"}})
    sm.create_labeling_job(
        LabelingJobName="keep-job",
        LabelAttributeName="note",
        InputConfig={"DataSource": {"S3DataSource": {"ManifestS3Uri": "s3://persist-bucket/in.manifest"}}},
        OutputConfig={"S3OutputPath": "s3://persist-bucket/gt/"},
        RoleArn=ROLE,
        HumanTaskConfig={
            "WorkteamArn": team["WorkteamArn"],
            "UiConfig": {"HumanTaskUiArn": ui["HumanTaskUiArn"]},
            "TaskTitle": "t",
            "TaskDescription": "d",
            "NumberOfHumanWorkersPerDataObject": 1,
            "TaskTimeLimitInSeconds": 300,
        },
    )
    wait_for(lambda: sm.describe_labeling_job(LabelingJobName="keep-job")["LabelingJobStatus"] == "InProgress")
    alice.close()
    # WHEN the process is stopped (SIGTERM) and started again on new ports
    log = server.down()
    assert not (server.data_dir / "backend.json").exists()
    assert "worker-1:" in log
    server.up()
    sm, a2i, s3 = server.clients()
    # THEN everything is still there: resources, loops, the stored answer, the job, and S3 objects
    assert sm.describe_workteam(WorkteamName="keepers")["Workteam"]["WorkteamArn"] == team["WorkteamArn"]
    done = a2i.describe_human_loop(HumanLoopName="done-loop")
    assert done["HumanLoopStatus"] == "Completed"
    bucket, _, key = done["HumanLoopOutput"]["OutputS3Uri"][5:].partition("/")
    assert json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["humanLoopName"] == "done-loop"
    assert a2i.describe_human_loop(HumanLoopName="half-loop")["HumanLoopStatus"] == "InProgress"
    # AND work continues: a second worker completes the half-answered loop (the first answer was kept)
    bob = server.worker("bob")
    _answer(bob, {"sentiment": {"label": "NEGATIVE"}})
    half = wait_for(
        lambda: (d := a2i.describe_human_loop(HumanLoopName="half-loop"))["HumanLoopStatus"] == "Completed" and d
    )
    bucket, _, key = half["HumanLoopOutput"]["OutputS3Uri"][5:].partition("/")
    assert len(json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["humanAnswers"]) == 2
    # AND the CLI drives it: `local status`, then `local workers` finishes the labeling job
    runner = CliRunner()
    status = runner.invoke(main, ["local", "status", "--data-dir", str(server.data_dir)], catch_exceptions=False)
    assert status.exit_code == 0 and json.loads(status.output)["human_loops"]["Completed"] == 2
    workers = runner.invoke(
        main,
        ["local", "workers", "--data-dir", str(server.data_dir), "--count", "2", "--idle-seconds", "1"],
        catch_exceptions=False,
    )
    assert workers.exit_code == 0, workers.output
    assert "1 answers from 2 simulated workers" in workers.output
    job = wait_for(
        lambda: (d := sm.describe_labeling_job(LabelingJobName="keep-job"))["LabelingJobStatus"] == "Completed" and d
    )
    assert job["LabelCounters"]["HumanLabeled"] == 1
    bob.close()
    server.down()


def test_cli_errors_clearly_without_a_backend(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["local", "status", "--data-dir", str(tmp_path)])
    assert result.exit_code != 0 and "no local backend is running" in result.output


def test_up_refuses_a_port_in_use(server: Server) -> None:
    server.up()
    port = server.state["endpoint"].rsplit(":", 1)[1]
    result = CliRunner().invoke(main, ["local", "up", "--port", port, "--data-dir", str(server.data_dir / "other")])
    assert result.exit_code != 0 and f"cannot listen on 127.0.0.1:{port}" in result.output
    server.down()


def _review_flow(sm: Any, bucket: str) -> str:
    team = sm.create_workteam(
        WorkteamName="crash-team", Description="d", MemberDefinitions=[{"CognitoMemberDefinition": COGNITO}]
    )
    ui = sm.create_human_task_ui(HumanTaskUiName="crash-ui", UiTemplate={"Content": REVIEW_TEMPLATE})
    arn: str = sm.create_flow_definition(
        FlowDefinitionName="crash-flow",
        HumanLoopConfig={
            "WorkteamArn": team["WorkteamArn"],
            "HumanTaskUiArn": ui["HumanTaskUiArn"],
            "TaskCount": 1,
            "TaskTitle": "t",
            "TaskDescription": "d",
        },
        OutputConfig={"S3OutputPath": f"s3://{bucket}/a2i"},
        RoleArn=ROLE,
    )["FlowDefinitionArn"]
    wait_for(lambda: sm.describe_flow_definition(FlowDefinitionName="crash-flow")["FlowDefinitionStatus"] == "Active")
    return arn


@pytest.mark.parametrize("storage", STORES)
def test_kill_9_right_after_completion_loses_no_output_and_no_bucket(server: Server, storage: str) -> None:
    # GIVEN 30 loops answered and Completed (output.json written by the engine) and a bucket created just now
    server.storage = storage
    server.up()
    sm, a2i, s3 = server.clients()
    s3.create_bucket(Bucket="crash-output")
    flow = _review_flow(sm, "crash-output")
    names = [f"crash-loop-{index}" for index in range(30)]
    for name in names:
        a2i.start_human_loop(
            HumanLoopName=name, FlowDefinitionArn=flow, HumanLoopInput={"InputContent": json.dumps({"text": name})}
        )
    worker = server.worker("crash-worker")
    for _ in names:
        _answer(worker, {"sentiment": {"label": "POSITIVE"}})
    worker.close()
    wait_for(
        lambda: all(a2i.describe_human_loop(HumanLoopName=n)["HumanLoopStatus"] == "Completed" for n in names),
        what="every loop Completed",
    )
    s3.create_bucket(Bucket="crash-late-bucket")
    s3.put_object(Bucket="crash-late-bucket", Key="last.json", Body=b'{"acknowledged": true}')
    # WHEN the process is killed with SIGKILL at once, then started again
    server.kill()
    server.up()
    sm, a2i, s3 = server.clients()
    # THEN every Completed loop still has its output.json, and the bucket and object acknowledged last survive
    lost = []
    for name in names:
        loop = a2i.describe_human_loop(HumanLoopName=name)
        assert loop["HumanLoopStatus"] == "Completed"
        bucket, _, key = loop["HumanLoopOutput"]["OutputS3Uri"][5:].partition("/")
        try:
            assert json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())["humanLoopName"] == name
        except s3.exceptions.NoSuchKey:
            lost.append(name)
    assert lost == []
    assert s3.get_object(Bucket="crash-late-bucket", Key="last.json")["Body"].read() == b'{"acknowledged": true}'
    server.down()


def test_deleted_objects_and_buckets_stay_deleted_after_kill_9(server: Server) -> None:
    # GIVEN objects written, overwritten and deleted (one by one and in a batch) and a bucket deleted
    server.up()
    _, _, s3 = server.clients()
    s3.create_bucket(Bucket="churn-bucket")
    s3.create_bucket(Bucket="gone-bucket")
    for index in range(6):
        s3.put_object(Bucket="churn-bucket", Key=f"k/{index}", Body=b"old", ContentType="text/plain")
    s3.put_object(Bucket="churn-bucket", Key="k/0", Body=b"new", ContentType="application/json")
    s3.delete_object(Bucket="churn-bucket", Key="k/1")
    s3.delete_objects(Bucket="churn-bucket", Delete={"Objects": [{"Key": "k/2"}, {"Key": "k/3"}]})
    s3.copy_object(Bucket="churn-bucket", Key="k/copy", CopySource={"Bucket": "churn-bucket", "Key": "k/0"})
    s3.delete_bucket(Bucket="gone-bucket")
    # WHEN the process is killed and started again
    server.kill()
    server.up()
    _, _, s3 = server.clients()
    # THEN S3 holds exactly the acknowledged state
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket="churn-bucket")["Contents"]]
    assert keys == ["k/0", "k/4", "k/5", "k/copy"]
    latest = s3.get_object(Bucket="churn-bucket", Key="k/0")
    assert (latest["Body"].read(), latest["ContentType"]) == (b"new", "application/json")
    assert s3.get_object(Bucket="churn-bucket", Key="k/copy")["Body"].read() == b"new"
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["churn-bucket"]
    server.down()
