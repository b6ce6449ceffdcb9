"""kill -9 the local backend right after its loops complete, restart it, and count the output.json files lost.

Also times S3 PutObject (1 KiB, sequential, one client) against the backend's durable S3 and against moto's own
in-memory server, the price of writing every acknowledged object through to disk. Prints ONE JSON object:

    PYTHONPATH=sdk .venv/bin/python bench/local_crash.py --loops 400

``s3_endpoint`` is read from ``backend.json``, so the same script measures older versions (S3 on its own port).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import httpx

ROOT = Path(__file__).resolve().parents[1]
COGNITO = {"UserPool": "us-east-1_Bench", "UserGroup": "labelers", "ClientId": "client-id"}
TEMPLATE = (
    '<crowd-form><crowd-classifier name="s" categories=\'["A","B"]\' header="?">x</crowd-classifier></crowd-form>'
)


def _up(data_dir: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    state_file = data_dir / "backend.json"
    state_file.unlink(missing_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-m", "truthloop.cli", "local", "up", "--port", "0", "--data-dir", str(data_dir)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the backend did not start")
        time.sleep(0.05)
    time.sleep(0.1)
    return process, json.loads(state_file.read_text(encoding="utf-8"))


def _clients(state: dict[str, Any]) -> tuple[Any, Any, Any]:
    kw: dict[str, Any] = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
    return (
        boto3.client("sagemaker", endpoint_url=state["endpoint"], **kw),
        boto3.client("sagemaker-a2i-runtime", endpoint_url=state["endpoint"], **kw),
        boto3.client("s3", endpoint_url=state["s3_endpoint"], **kw),
    )


def crash(loops: int, data_dir: Path) -> dict[str, Any]:
    process, state = _up(data_dir)
    sm, a2i, s3 = _clients(state)
    s3.create_bucket(Bucket="bench-output")
    team = sm.create_workteam(
        WorkteamName="bench", Description="d", MemberDefinitions=[{"CognitoMemberDefinition": COGNITO}]
    )
    ui = sm.create_human_task_ui(HumanTaskUiName="bench-ui", UiTemplate={"Content": TEMPLATE})
    flow = sm.create_flow_definition(
        FlowDefinitionName="bench-flow",
        HumanLoopConfig={
            "WorkteamArn": team["WorkteamArn"],
            "HumanTaskUiArn": ui["HumanTaskUiArn"],
            "TaskCount": 1,
            "TaskTitle": "t",
            "TaskDescription": "d",
        },
        OutputConfig={"S3OutputPath": "s3://bench-output/a2i"},
        RoleArn="arn:aws:iam::123456789012:role/bench",
    )["FlowDefinitionArn"]
    while sm.describe_flow_definition(FlowDefinitionName="bench-flow")["FlowDefinitionStatus"] != "Active":
        time.sleep(0.05)
    names = [f"loop-{index}" for index in range(loops)]
    for name in names:
        a2i.start_human_loop(HumanLoopName=name, FlowDefinitionArn=flow, HumanLoopInput={"InputContent": "{}"})
    token = httpx.post(
        f"{state['endpoint']}/_truthloop/workers",
        json={"name": "bench-worker"},
        headers={"authorization": f"Bearer {state['admin_token']}"},
    ).json()["token"]
    with httpx.Client(base_url=state["endpoint"], headers={"authorization": f"Bearer {token}"}) as worker:
        for _ in names:
            task = worker.post("/portal/api/tasks/claim", json={}).json()["task"]
            worker.post(f"/portal/api/tasks/{task['id']}/answer", json={"answer": {"s": {"label": "A"}}})
    deadline = time.monotonic() + 120
    while True:
        done = sum(
            1
            for page in a2i.get_paginator("list_human_loops").paginate(FlowDefinitionArn=flow)
            for loop in page["HumanLoopSummaries"]
            if loop["HumanLoopStatus"] == "Completed"
        )
        if done == loops or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    s3.create_bucket(Bucket="bench-late-bucket")
    s3.put_object(Bucket="bench-late-bucket", Key="last", Body=b"acknowledged")
    process.send_signal(signal.SIGKILL)
    process.wait()
    process, state = _up(data_dir)
    try:
        _, a2i, s3 = _clients(state)
        completed = lost = 0
        for name in names:
            loop = a2i.describe_human_loop(HumanLoopName=name)
            if loop["HumanLoopStatus"] != "Completed":
                continue
            completed += 1
            bucket, _, key = loop["HumanLoopOutput"]["OutputS3Uri"][5:].partition("/")
            try:
                s3.head_object(Bucket=bucket, Key=key)
            except s3.exceptions.ClientError:
                lost += 1
        try:
            late = s3.get_object(Bucket="bench-late-bucket", Key="last")["Body"].read() == b"acknowledged"
        except s3.exceptions.ClientError:
            late = False
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    return {
        "loops": loops,
        "completed_after_restart": completed,
        "outputs_lost": lost,
        "late_bucket_survived": late,
    }


def put_latency(count: int, data_dir: Path) -> dict[str, Any]:
    """Median and p95 of sequential 1 KiB PutObject calls: durable local S3 vs moto's in-memory server."""
    from moto.server import ThreadedMotoServer

    def timed(client: Any) -> list[float]:
        client.create_bucket(Bucket="latency")
        times = []
        for index in range(count):
            start = time.perf_counter()
            client.put_object(Bucket="latency", Key=f"k/{index}", Body=os.urandom(1024))
            times.append((time.perf_counter() - start) * 1000)
        return times

    def summary(times: list[float]) -> dict[str, float]:
        ordered = sorted(times)
        return {"p50_ms": round(statistics.median(ordered), 2), "p95_ms": round(ordered[int(len(ordered) * 0.95)], 2)}

    process, state = _up(data_dir)
    try:
        durable = timed(_clients(state)[2])
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    memory_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    memory_server.start()
    host, port = memory_server.get_host_and_port()
    try:
        kw: dict[str, Any] = {"region_name": "us-east-1", "aws_access_key_id": "x", "aws_secret_access_key": "x"}
        memory = timed(boto3.client("s3", endpoint_url=f"http://{host}:{port}", **kw))
    finally:
        memory_server.stop()
    return {"puts": count, "durable_local_s3": summary(durable), "moto_in_memory": summary(memory)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--loops", type=int, default=400)
    parser.add_argument("--puts", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = {"kill_9": crash(args.loops, Path(tmp) / "crash")}
        if args.puts:
            result["put_latency"] = put_latency(args.puts, Path(tmp) / "latency")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
