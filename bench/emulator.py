"""Benchmark of the local backend over loopback: StartHumanLoop throughput and DescribeHumanLoop latency.

Starts ``truthloop local up`` in a subprocess (a fresh data directory), creates a workteam, task UI and flow with
boto3, then starts 10,000 human loops from several client processes (threads inside each), and measures
DescribeHumanLoop latency with one client at ~1,000 and at 10,000 stored loops. Prints ONE JSON object:

    {"start_human_loop_per_s": …, "start_human_loop_per_s_early": …, "start_human_loop_per_s_late": …,
     "describe_ms": {"p50": …, "p99": …}, "describe_ms_early": {…}, "loops_stored": 10000, …}

Targets (issue 5): ≥ 1,000 StartHumanLoop/s, Describe p99 ≤ 10 ms, no slowdown at 10,000 loops.
Options: ``--loops N`` (default 10000), ``--clients P`` (processes, default 2), ``--threads T`` (per process, 8),
``--raw-loops N`` (default 3000: started afterwards with a lean SigV4 client, to show the server's own rate when
boto3's client-side CPU is out of the way; ``loops_stored`` counts them too).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"region_name": "us-east-1", "aws_access_key_id": "bench", "aws_secret_access_key": "bench"}


def _client(service: str, endpoint: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.session.Session(**KEYS).client(
        service,
        endpoint_url=endpoint,
        config=Config(max_pool_connections=64, retries={"max_attempts": 1}, tcp_keepalive=True),
    )


def _start_batch(args: tuple[str, str, list[str], int]) -> tuple[int, float, float, int]:
    """One client process: ``threads`` threads start the given loop names; returns (count, t0, t1, errors)."""
    from concurrent.futures import ThreadPoolExecutor

    endpoint, flow_arn, names, threads = args
    clients = [_client("sagemaker-a2i-runtime", endpoint) for _ in range(threads)]
    chunks = [names[i::threads] for i in range(threads)]
    errors = 0

    def run(index: int) -> int:
        failed = 0
        client = clients[index]
        for name in chunks[index]:
            try:
                client.start_human_loop(
                    HumanLoopName=name,
                    FlowDefinitionArn=flow_arn,
                    HumanLoopInput={"InputContent": json.dumps({"text": f"review {name}", "score": 0.42})},
                )
            except Exception:
                failed += 1
        return failed

    # warm the connections before timing
    for client in clients:
        client.list_human_loops(FlowDefinitionArn=flow_arn, MaxResults=1)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        errors = sum(pool.map(run, range(threads)))
    t1 = time.perf_counter()
    return len(names), t0, t1, errors


def _start_batch_raw(args: tuple[str, str, list[str], int]) -> tuple[int, float, float, int]:
    """Like :func:`_start_batch` with a lean client: SigV4-signed POST /human-loops over kept-alive connections.

    Shows what the server sustains when the client is not boto3 (whose own CPU dominates on a 2-core machine).
    """
    import http.client
    from concurrent.futures import ThreadPoolExecutor
    from urllib.parse import urlsplit

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    endpoint, flow_arn, names, threads = args
    parts = urlsplit(endpoint)
    signer = SigV4Auth(Credentials("bench", "bench"), "sagemaker", "us-east-1")
    chunks = [names[i::threads] for i in range(threads)]

    def run(index: int) -> int:
        failed = 0
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
        for name in chunks[index]:
            body = json.dumps(
                {
                    "HumanLoopName": name,
                    "FlowDefinitionArn": flow_arn,
                    "HumanLoopInput": {"InputContent": json.dumps({"text": f"review {name}", "score": 0.42})},
                }
            )
            request = AWSRequest(
                method="POST", url=f"{endpoint}/human-loops", data=body, headers={"Content-Type": "application/json"}
            )
            signer.add_auth(request)
            conn.request("POST", "/human-loops", body=body, headers=dict(request.headers.items()))
            response = conn.getresponse()
            response.read()
            failed += response.status != 200
        conn.close()
        return failed

    t0 = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        errors = sum(pool.map(run, range(threads)))
    return len(names), t0, time.perf_counter(), errors


def _start_loops(
    endpoint: str, flow_arn: str, names: list[str], processes: int, threads: int, *, raw: bool = False
) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    shares = [names[i::processes] for i in range(processes)]
    wall0 = time.perf_counter()
    with ctx.Pool(processes) as pool:
        results = pool.map(
            _start_batch_raw if raw else _start_batch, [(endpoint, flow_arn, share, threads) for share in shares]
        )
    wall = time.perf_counter() - wall0
    count = sum(r[0] for r in results)
    busy = max(r[2] for r in results) - min(r[1] for r in results)
    return {"count": count, "seconds": busy, "wall_seconds": wall, "errors": sum(r[3] for r in results)}


def _describe(endpoint: str, names: list[str], calls: int, seed: int) -> dict[str, float]:
    client = _client("sagemaker-a2i-runtime", endpoint)
    rng = random.Random(seed)
    for name in names[:20]:  # warm up
        client.describe_human_loop(HumanLoopName=name)
    samples = []
    for _ in range(calls):
        name = rng.choice(names)
        t0 = time.perf_counter()
        client.describe_human_loop(HumanLoopName=name)
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return {
        "p50": round(statistics.median(samples), 3),
        "p99": round(samples[int(len(samples) * 0.99) - 1], 3),
        "mean": round(statistics.fmean(samples), 3),
        "calls": calls,
    }


def _server(data_dir: Path) -> tuple[subprocess.Popen[bytes], dict[str, Any]]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "truthloop.cli",
            "local",
            "up",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            "--workers",
            "0",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
        cwd=ROOT,
    )
    state_file = data_dir / "backend.json"
    deadline = time.monotonic() + 60
    while not state_file.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            err = process.stderr.read().decode() if process.stderr else ""
            raise SystemExit(f"the local backend did not start: {err}")
        time.sleep(0.05)
    time.sleep(0.1)
    return process, json.loads(state_file.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loops", type=int, default=10000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--describe-calls", type=int, default=2000)
    parser.add_argument("--raw-loops", type=int, default=3000, help="loops started with the lean (non-boto3) client")
    options = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="truthloop-bench-"))
    process, state = _server(data_dir)
    endpoint = state["endpoint"]
    try:
        sm = _client("sagemaker", endpoint)
        team = sm.create_workteam(
            WorkteamName="bench",
            Description="benchmark",
            MemberDefinitions=[
                {"CognitoMemberDefinition": {"UserPool": "us-east-1_bench", "UserGroup": "g", "ClientId": "c"}}
            ],
        )["WorkteamArn"]
        ui = sm.create_human_task_ui(
            HumanTaskUiName="bench-ui",
            UiTemplate={
                "Content": "<crowd-form><crowd-input name='x' label='{{ task.input.text }}'></crowd-input></crowd-form>"
            },
        )["HumanTaskUiArn"]
        flow = sm.create_flow_definition(
            FlowDefinitionName="bench-flow",
            RoleArn="arn:aws:iam::123456789012:role/bench",
            HumanLoopConfig={
                "WorkteamArn": team,
                "HumanTaskUiArn": ui,
                "TaskCount": 1,
                "TaskTitle": "bench",
                "TaskDescription": "bench",
            },
            OutputConfig={"S3OutputPath": "s3://bench/out"},
        )["FlowDefinitionArn"]
        while sm.describe_flow_definition(FlowDefinitionName="bench-flow")["FlowDefinitionStatus"] != "Active":
            time.sleep(0.1)

        import psutil

        server = psutil.Process(process.pid)

        def cpu() -> float:
            times = server.cpu_times()
            return float(times.user + times.system)

        names = [f"loop-{i:06d}" for i in range(options.loops)]
        half = len(names) // 10
        early_names, late_names = names[:half], names[half:]
        cpu0 = cpu()
        early = _start_loops(endpoint, flow, early_names, options.clients, options.threads)
        cpu1 = cpu()
        describe_early = _describe(endpoint, early_names, options.describe_calls, seed=1)
        cpu2 = cpu()
        late = _start_loops(endpoint, flow, late_names, options.clients, options.threads)
        cpu3 = cpu()
        describe_late = _describe(endpoint, names, options.describe_calls, seed=2)
        a2i = _client("sagemaker-a2i-runtime", endpoint)

        def stored_loops() -> int:
            return sum(
                len(page["HumanLoopSummaries"])
                for page in a2i.get_paginator("list_human_loops").paginate(FlowDefinitionArn=flow)
            )

        stored = stored_loops()  # what DescribeHumanLoop was measured against
        raw_names = [f"raw-{i:06d}" for i in range(options.raw_loops)]
        raw = _start_loops(endpoint, flow, raw_names, options.clients, options.threads, raw=True) if raw_names else None
        stored_final = stored_loops()
        total_seconds = early["seconds"] + late["seconds"]
        result = {
            "start_human_loop_per_s": round((early["count"] + late["count"]) / total_seconds, 1),
            "start_human_loop_per_s_early": round(early["count"] / early["seconds"], 1),
            "start_human_loop_per_s_late": round(late["count"] / late["seconds"], 1),
            "describe_ms": {"p50": describe_late["p50"], "p99": describe_late["p99"]},
            "describe_ms_early": {"p50": describe_early["p50"], "p99": describe_early["p99"]},
            "describe_loops_stored_early": len(early_names),
            "start_human_loop_per_s_lean_client": None if raw is None else round(raw["count"] / raw["seconds"], 1),
            "loops_stored": stored,
            "loops_stored_final": stored_final,
            "start_errors": early["errors"] + late["errors"],
            # load-independent: server CPU per call (the machine is shared with the boto3 clients)
            "server_cpu_ms_per_start": round(
                1000 * ((cpu1 - cpu0) + (cpu3 - cpu2)) / (early["count"] + late["count"]), 3
            ),
            "server_capacity_start_per_s_one_core": round(
                (early["count"] + late["count"]) / max((cpu1 - cpu0) + (cpu3 - cpu2), 1e-9), 1
            ),
            "load_average_1m": round(os.getloadavg()[0], 2),
            "client_processes": options.clients,
            "threads_per_process": options.threads,
            "cpu_count": os.cpu_count(),
            "targets": {"start_human_loop_per_s": ">= 1000", "describe_p99_ms": "<= 10"},
        }
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(data_dir, ignore_errors=True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
