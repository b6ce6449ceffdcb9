"""How long ``truthloop service local`` takes to start again with N loops in its DynamoDB journal, and what the
journal costs each write. Prints ONE JSON object:

    PYTHONPATH=sdk .venv/bin/python bench/service_restart.py --loops 1000 --puts 300

* ``restart``: start times (``LocalService.start()``, wall clock) on an empty directory, then with the N loops only
  in the journal (replayed, then compacted), then from the snapshot that compaction wrote (and an empty journal);
  with the journal's size and entries, the snapshot's size and items, and the replay/compaction split;
* ``transactions``: ``StartHumanLoop`` latency (first and last tenth) while seeding ``--transaction-loops`` loops,
  with truthloop's per-item undo log for ``TransactWriteItems`` (:mod:`truthloop.local.moto_transactions`) and
  with moto's own backup (a deep copy of the whole table per transaction), and the ratio;
* ``put_item``: ``PutItem`` (1 KiB item, sequential, one boto3 client through the service's port) latency with the
  journal on and off (moto's memory only), median and p95 in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3

from truthloop.local import moto_transactions
from truthloop.service.local import LocalService

COGNITO = {"UserPool": "us-east-1_Bench", "UserGroup": "labelers", "ClientId": "client-id"}
TEMPLATE = '<crowd-form><crowd-input name="label"></crowd-input>{{ task.input.text }}</crowd-form>'
ROLE = "arn:aws:iam::123456789012:role/bench"


def _client(service: LocalService, name: str) -> Any:
    session = boto3.session.Session(aws_access_key_id="x", aws_secret_access_key="x", region_name="us-east-1")
    return session.client(name, endpoint_url=service.endpoint_url)


def _start(data_dir: Path, *, journal: bool = True) -> tuple[LocalService, float]:
    started = time.perf_counter()
    service = LocalService(port=0, data_dir=data_dir, workers=1, journal=journal).start()
    return service, time.perf_counter() - started


def _sizes(data_dir: Path) -> dict[str, int]:
    root = data_dir / "dynamodb"
    return {
        "journal_bytes": sum(p.stat().st_size for p in root.glob("journal-*.log")),
        "snapshot_bytes": (root / "snapshot.jsonl").stat().st_size if (root / "snapshot.jsonl").exists() else 0,
    }


def _seed(service: LocalService, loops: int) -> list[float]:
    """Create a flow and start ``loops`` human loops; the seconds each ``StartHumanLoop`` took."""
    sm, a2i = _client(service, "sagemaker"), _client(service, "sagemaker-a2i-runtime")
    _client(service, "s3").create_bucket(Bucket="bench-output")
    team = sm.create_workteam(
        WorkteamName="bench", Description="b", MemberDefinitions=[{"CognitoMemberDefinition": COGNITO}]
    )["WorkteamArn"]
    ui = sm.create_human_task_ui(HumanTaskUiName="bench-ui", UiTemplate={"Content": TEMPLATE})["HumanTaskUiArn"]
    flow = sm.create_flow_definition(
        FlowDefinitionName="bench-flow",
        HumanLoopConfig={
            "WorkteamArn": team,
            "HumanTaskUiArn": ui,
            "TaskCount": 1,
            "TaskTitle": "t",
            "TaskDescription": "d",
        },
        OutputConfig={"S3OutputPath": "s3://bench-output/a2i"},
        RoleArn=ROLE,
    )["FlowDefinitionArn"]
    deadline = time.monotonic() + 120
    while sm.describe_flow_definition(FlowDefinitionName="bench-flow")["FlowDefinitionStatus"] != "Active":
        if time.monotonic() > deadline:
            raise SystemExit("the flow did not become Active")
        time.sleep(0.2)
    seconds = []
    for index in range(loops):
        started = time.perf_counter()
        a2i.start_human_loop(
            HumanLoopName=f"loop-{index:05d}",
            FlowDefinitionArn=flow,
            HumanLoopInput={"InputContent": json.dumps({"text": f"item {index}"})},
        )
        seconds.append(time.perf_counter() - started)
    return seconds


def _transactions(base: Path, loops: int, *, undo_log: bool) -> dict[str, Any]:
    """``StartHumanLoop`` (one ``TransactWriteItems``) as the table grows to ``loops`` loops, with truthloop's
    per-item undo log or with moto's own backup (a deep copy of the whole table per transaction)."""
    service, _ = _start(base / f"transactions-{undo_log}")
    try:
        if not undo_log:
            moto_transactions.uninstall()
        started = time.perf_counter()
        seconds = _seed(service, loops)
        total = time.perf_counter() - started
    finally:
        service.stop()
        moto_transactions.install()
    tenth = max(len(seconds) // 10, 1)
    return {
        "loops": loops,
        "seed_seconds": round(total, 2),
        "first_tenth_median_ms": round(statistics.median(seconds[:tenth]) * 1000, 2),
        "last_tenth_median_ms": round(statistics.median(seconds[-tenth:]) * 1000, 2),
    }


def _restart(base: Path, loops: int) -> dict[str, Any]:
    data_dir = base / "restart"
    service, empty = _start(data_dir)
    _seed(service, loops)
    service.stop()
    before = _sizes(data_dir)
    service, replayed = _start(data_dir)
    report = service.restored
    assert report is not None
    count = len(
        _client(service, "sagemaker-a2i-runtime").list_human_loops(
            FlowDefinitionArn="arn:aws:sagemaker:us-east-1:123456789012:flow-definition/bench-flow", MaxResults=100
        )["HumanLoopSummaries"]
    )
    service.stop()
    after = _sizes(data_dir)
    service, from_snapshot = _start(data_dir)
    snapshot = service.restored
    assert snapshot is not None
    service.stop()
    return {
        "loops": loops,
        "start_empty_seconds": round(empty, 3),
        "journal_only": {
            "start_seconds": round(replayed, 3),
            "journal_entries": report.journal_entries,
            "journal_bytes": before["journal_bytes"],
            "replay_seconds": round(report.load_seconds, 3),
            "compact_seconds": round(report.compact_seconds, 3),
            "replay_failures": report.replay_failures,
        },
        "snapshot": {
            "start_seconds": round(from_snapshot, 3),
            "snapshot_items": snapshot.snapshot_items,
            "snapshot_bytes": after["snapshot_bytes"],
            "load_seconds": round(snapshot.load_seconds, 3),
            "compact_seconds": round(snapshot.compact_seconds, 3),
        },
        "first_page_of_loops_after_restart": count,
    }


def _puts(base: Path, count: int, *, journal: bool) -> dict[str, Any]:
    service, _ = _start(base / f"puts-{journal}", journal=journal)
    try:
        dynamodb = _client(service, "dynamodb")
        dynamodb.create_table(
            TableName="bench",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        payload = "x" * 1024
        for index in range(20):  # warm-up: connections, moto's handler
            dynamodb.put_item(TableName="bench", Item={"pk": {"S": f"warm-{index}"}, "v": {"S": payload}})
        samples = []
        for index in range(count):
            started = time.perf_counter()
            dynamodb.put_item(TableName="bench", Item={"pk": {"S": f"item-{index}"}, "v": {"S": payload}})
            samples.append((time.perf_counter() - started) * 1000)
    finally:
        service.stop()
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 2),
        "puts": count,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loops", type=int, default=1000)
    parser.add_argument("--puts", type=int, default=300)
    parser.add_argument(
        "--transaction-loops", type=int, default=300, help="loops seeded to compare transaction backups (0: skip)"
    )
    args = parser.parse_args()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "x")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "x")
    with tempfile.TemporaryDirectory(prefix="truthloop-restart-") as temp:
        base = Path(temp)
        result = {
            "restart": _restart(base, args.loops),
            "put_item": {
                "journal_on": _puts(base, args.puts, journal=True),
                "journal_off": _puts(base, args.puts, journal=False),
            },
        }
        if args.transaction_loops:
            undo = _transactions(base, args.transaction_loops, undo_log=True)
            backup = _transactions(base, args.transaction_loops, undo_log=False)
            result["transactions"] = {
                "undo_log": undo,
                "moto_backup": backup,
                "seed_speedup": round(backup["seed_seconds"] / undo["seed_seconds"], 2),
                "last_tenth_speedup": round(backup["last_tenth_median_ms"] / undo["last_tenth_median_ms"], 2),
            }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
