"""What only the DynamoDB store has: documents in S3, TTL, error mapping, no Scan, and what each call costs.

The behaviour both stores share is tested once, for both, in ``test_storage.py``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.functional.local.stores import BUCKET, TABLE, ScanGuard, dynamodb_storage
from truthloop.local.storage import (
    HumanLoop,
    JobObject,
    LoopConflict,
    Resource,
    StorageThrottled,
    StorageUnavailable,
    Task,
)
from truthloop.local.storage.dynamodb import DynamoDBStorage
from truthloop.local.storage.dynamodb_items import (
    DEADLINE_SHARDS,
    LEGACY_DEADLINE,
    OFFLOAD_BYTES,
    assignment_key,
    deadline_partitions,
    due_sk,
    loop_key,
    task_item,
    task_key,
)
from truthloop.local.storage.dynamodb_schema import INDEXES
from truthloop.local.storage.dynamodb_units import ReadUnits


def _loop(name: str, content: str = "{}") -> HumanLoop:
    return HumanLoop(
        name=name,
        arn=f"arn:aws:sagemaker:us-east-1:123456789012:human-loop/{name}",
        flow_arn="arn:aws:sagemaker:us-east-1:123456789012:flow-definition/reviews",
        status="InProgress",
        created=1000.0,
        input_content=content,
        task_id=f"task-{name}",
    )


def _task(task_id: str, task_input: dict[str, Any] | None = None, *, required: int = 1) -> Task:
    return Task(
        id=task_id,
        kind="a2i",
        workteam_arn="arn:aws:sagemaker:us-east-1:123456789012:workteam/private-crowd/reviewers",
        owner=f"human-loop:{task_id}",
        ui="human-task-ui:review",
        task_input=task_input or {},
        title="Review a prediction",
        description="Is the model right?",
        required=required,
        time_limit=3600,
        created=1000.0,
        expires_at=1000.0 + 86400,
    )


def _raw(dynamodb: Any, key: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = dynamodb.get_item(TableName=TABLE, Key=key, ConsistentRead=True)["Item"]
    return item


def _objects(s3: Any) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


@pytest.fixture
def store() -> Iterator[tuple[DynamoDBStorage, Any, Any]]:
    with dynamodb_storage() as made:
        yield made


def test_large_documents_go_to_s3_and_read_back_unchanged(store: tuple[DynamoDBStorage, Any, Any]) -> None:
    storage, dynamodb, s3 = store
    # GIVEN a loop whose input (350 KB) is close to DynamoDB's 400 KB item limit
    task_input = {"text": "é" * 175_000, "taskObject": "s3://bucket/image.png"}
    content = json.dumps(task_input, ensure_ascii=False)
    # WHEN it starts, is claimed and answered with a 100 KB answer
    storage.start_human_loop(_loop("big", content), _task("task-big", task_input), max_active=None)
    claimed = storage.claim_task([_task("x").workteam_arn], "w1", 1100.0)
    assert claimed is not None
    answer = {"notes": "n" * 100_000}
    storage.submit_answer("task-big", "w1", answer, 1200.0)
    # THEN the items hold pointers under the key prefix, not the documents
    loop_item = _raw(dynamodb, loop_key("big"))
    task_item = _raw(dynamodb, task_key("task-big"))
    assert "input_content" not in loop_item and loop_item["input_content_s3"]["S"].startswith("store/documents/")
    assert "task_input" not in task_item and "task_input_s3" in task_item
    assert all(key.startswith("store/documents/") for key in _objects(s3))
    # AND reads follow the pointers transparently
    loop = storage.get_human_loop("big")
    task = storage.get_task("task-big")
    assert loop is not None and loop.input_content == content
    assert task is not None and task.task_input == task_input
    assert storage.assignments("task-big")[0].answer == answer
    assert storage.tasks_to_settle(10)[0].task_input == task_input
    # AND an identical retry still compares the full input (read from S3): no conflict
    assert storage.start_human_loop(_loop("big", content), _task("retry"), max_active=None)[1] is False
    with pytest.raises(LoopConflict):
        storage.start_human_loop(_loop("big", content + " "), _task("retry"), max_active=None)


@pytest.mark.parametrize(("size", "offloaded"), [(1000, False), (1001, True)])
def test_a_document_moves_to_s3_exactly_above_the_threshold(size: int, offloaded: bool) -> None:
    with dynamodb_storage(offload_bytes=1000) as (storage, dynamodb, s3):
        # GIVEN a resource document of exactly ``size`` bytes (UTF-8)
        doc = {"k": "x" * (size - len('{"k":""}'))}
        assert len(json.dumps(doc, separators=(",", ":")).encode()) == size
        # WHEN it is stored
        storage.create_resource(Resource("workteam", "team", "Active", 1.0, 1.0, doc))
        # THEN it is inline up to the threshold and in S3 above it, and reads the same either way
        item = _raw(dynamodb, {"pk": {"S": "RES#workteam"}, "sk": {"S": "team"}})
        assert ("doc_s3" in item) is offloaded and ("doc" in item) is not offloaded
        assert len(_objects(s3)) == int(offloaded)
        found = storage.get_resource("workteam", "team")
        assert found is not None and found.doc == doc


def test_job_objects_share_the_document_budget_and_updates_move_documents() -> None:
    with dynamodb_storage(offload_bytes=3000) as (storage, dynamodb, _):
        # GIVEN a job object whose data object (1.5 KB) is over its third of a 3 KB budget
        data = {"source": "d" * 1500}
        storage.put_job_objects([JobObject("job", "0", 0, "pending", data)])
        # WHEN a large result and then a small one are written
        storage.update_job_objects("job", ["0"], status="done", result={"label": "r" * 2000})
        big = storage.job_objects("job", ["done"])[0]
        item_big = _raw(dynamodb, {"pk": {"S": "JOB#job"}, "sk": {"S": "OBJ#0"}})
        storage.update_job_objects("job", ["0"], result={"label": "small"})
        item_small = _raw(dynamodb, {"pk": {"S": "JOB#job"}, "sk": {"S": "OBJ#0"}})
        # THEN the large ones live in S3, the small one inline, and each reads back as written
        assert "data_object_s3" in item_big and "result_s3" in item_big and "result" not in item_big
        assert big.data_object == data and big.result == {"label": "r" * 2000}
        assert "result" in item_small and "result_s3" not in item_small
        assert storage.job_objects("job")[0].result == {"label": "small"}


def test_finished_loops_get_a_ttl_and_are_gone_for_reads_once_past_it() -> None:
    with dynamodb_storage(retention_seconds=3600) as (storage, dynamodb, _):
        # GIVEN a loop that completes
        storage.start_human_loop(_loop("kept"), _task("task-kept"), max_active=None)
        before = time.time()
        storage.transition_human_loop("kept", ("InProgress",), "Completed", now=2000.0)
        # THEN its item carries purge_at = now + retention (an in-progress loop has none)
        purge_at = float(_raw(dynamodb, loop_key("kept"))["purge_at"]["N"])
        assert before + 3600 - 1 <= purge_at <= time.time() + 3600
    with dynamodb_storage(retention_seconds=-1) as (storage, dynamodb, _):
        # GIVEN a retention already over: DynamoDB has not deleted the item yet (it may take days)
        storage.start_human_loop(_loop("old", '{"a": 1}'), _task("task-old"), max_active=1)
        storage.transition_human_loop("old", ("InProgress",), "Completed", now=2000.0)
        assert "purge_at" in _raw(dynamodb, loop_key("old"))
        # THEN reads, lists and counts treat it as gone, and the name can be used again with other input
        assert storage.get_human_loop("old") is None
        assert storage.list_human_loops(
            _loop("x").flow_arn, created_after=None, created_before=None, ascending=True, cursor=None, limit=10
        ) == ([], None)
        assert storage.count_human_loops() == 0
        loop, created = storage.start_human_loop(_loop("old", '{"a": 2}'), _task("task-new"), max_active=1)
        assert created and loop.input_content == '{"a": 2}'


def test_a_declined_assignment_outlives_its_task_by_the_retention() -> None:
    with dynamodb_storage(retention_seconds=3600) as (storage, dynamodb, _):
        # GIVEN a task open for 30 days more, claimed and declined at t=2000; another declined with retention off
        storage.put_tasks([replace(_task("long"), expires_at=2000.0 + 30 * 86400)])
        storage.claim_task([_task("x").workteam_arn], "w1", 2000.0, lease_seconds=60)
        before = time.time()
        assert storage.release_assignment("long", "w1", 2000.0, decline=True)
        # THEN the declined record is purged only a retention after the task's end (it keeps the task from w1)
        purge_at = float(_raw(dynamodb, assignment_key("long", "w1"))["purge_at"]["N"])
        assert before + 30 * 86400 + 3600 - 1 <= purge_at <= time.time() + 30 * 86400 + 3600
    with dynamodb_storage(retention_seconds=None) as (storage, dynamodb, _):
        storage.put_tasks([_task("kept")])
        storage.claim_task([_task("x").workteam_arn], "w1", 2000.0)
        assert storage.release_assignment("kept", "w1", 2000.0, decline=True)
        assert "purge_at" not in _raw(dynamodb, assignment_key("kept", "w1"))


def test_a_renewal_between_the_sweeps_read_and_write_keeps_the_claim(store: tuple[DynamoDBStorage, Any, Any]) -> None:
    storage, dynamodb, _ = store
    team = _task("x").workteam_arn
    # GIVEN a claim whose 30 s lease ends at 1030, and the page's renewal (another process) landing right after the
    # sweep read the task's partition and before its transaction
    storage.put_tasks([_task("t1")])
    storage.claim_task([team], "w1", 1000.0, lease_seconds=30)
    renewals: list[str] = []

    def renew_in_between(**kwargs: Any) -> None:
        if not renewals:
            renewals.append("renewed")
            dynamodb.update_item(
                TableName=TABLE,
                Key=assignment_key("t1", "w1"),
                UpdateExpression="SET lease_until = :lease, g3sk = :due",
                ExpressionAttributeValues={":lease": {"N": "1059.0"}, ":due": {"S": due_sk("t1", "w1", 1059.0)}},
            )

    dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", renew_in_between)
    # WHEN the sweep runs at 1030
    storage.sweep_tasks(1030.0)
    dynamodb.meta.events.unregister("before-call.dynamodb.TransactWriteItems", renew_in_between)
    # THEN the renewal wins: the claim is still held, by w1 alone, and renews again
    assert renewals == ["renewed"]
    assert [(a.status, a.lease_until) for a in storage.assignments("t1")] == [("active", 1059.0)]
    task = storage.get_task("t1")
    assert task is not None and task.active == 1
    assert storage.claim_task([team], "w2", 1031.0) is None
    renewed = storage.renew_lease("t1", "w1", 1040.0, 30)
    assert renewed is not None and renewed.lease_until == 1070.0


def test_claims_spread_over_the_deadline_shards_and_the_sweep_reads_them_all_and_the_legacy_one(
    store: tuple[DynamoDBStorage, Any, Any],
) -> None:
    storage, dynamodb, _ = store
    team = _task("x").workteam_arn
    # GIVEN 40 claims with 30 s leases, by 40 workers, one of them written before DEADLINE was split
    storage.put_tasks([_task(f"t{n}") for n in range(40)])
    for n in range(40):
        assert storage.claim_task([team], f"w{n}", 1000.0, lease_seconds=30) is not None
    held = {a.worker_id: a.task_id for n in range(40) for a in storage.assignments(f"t{n}")}
    partitions = {w: _raw(dynamodb, assignment_key(t, w))["g3pk"]["S"] for w, t in held.items()}
    dynamodb.update_item(
        TableName=TABLE,
        Key=assignment_key(held["w0"], "w0"),
        UpdateExpression="SET g3pk = :legacy",
        ExpressionAttributeValues={":legacy": {"S": LEGACY_DEADLINE}},
    )
    # WHEN the leases lapse and the sweep runs
    storage.sweep_tasks(1031.0)
    # THEN the claims were spread over the shards (one partition would take every claim and renewal)
    assert set(partitions.values()) <= set(deadline_partitions()) - {LEGACY_DEADLINE}
    assert len(set(partitions.values())) >= DEADLINE_SHARDS // 2
    # AND every lapsed claim was handed back, the legacy one too: no task is held any more
    assert [t for t in held.values() if storage.assignments(t)] == []
    assert all(task.active == 0 for task in (storage.get_task(t) for t in held.values()) if task is not None)


def test_a_hold_is_replaced_only_while_its_claim_is_still_lapsed(store: tuple[DynamoDBStorage, Any, Any]) -> None:
    storage, dynamodb, _ = store
    team = _task("x").workteam_arn
    # GIVEN w1's lapsed claim on q0 (lease to 1030), and, between w1's next claim reading that and its transaction,
    # q0 held by w1 again with a live lease (as after a sweep and a claim from another tab)
    storage.put_tasks([_task("q0"), _task("q1")])
    storage.claim_task([team], "w1", 1000.0, lease_seconds=30)
    injected: list[str] = []

    def claim_again_in_between(**kwargs: Any) -> None:
        if not injected:
            injected.append("q0 held again")
            dynamodb.update_item(
                TableName=TABLE,
                Key=assignment_key("q0", "w1"),
                UpdateExpression="SET lease_until = :lease, accepted_at = :now",
                ExpressionAttributeValues={":lease": {"N": "1100.0"}, ":now": {"N": "1040.0"}},
            )

    dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", claim_again_in_between)
    # WHEN w1 claims at 1040
    claimed = storage.claim_task([team], "w1", 1040.0, lease_seconds=60)
    dynamodb.meta.events.unregister("before-call.dynamodb.TransactWriteItems", claim_again_in_between)
    # THEN the transaction's check on q0 refused to replace the hold: w1 gets q0, and holds nothing else
    assert injected == ["q0 held again"]
    assert claimed is not None and claimed[0].id == "q0"
    assert storage.assignments("q1") == []


def _refuse(code: str, message: str = "slow down", **extra: Any) -> Any:
    """A ``before-call`` handler answering every call with an error response (botocore raises it as ClientError)."""

    class _Http:
        status_code = 400

    def handler(**kwargs: Any) -> tuple[Any, dict[str, Any]]:
        return _Http(), {"Error": {"Code": code, "Message": message}, **extra}

    return handler


def test_persistent_throttling_is_a_storage_throttled_error(store: tuple[DynamoDBStorage, Any, Any]) -> None:
    storage, dynamodb, _ = store
    # GIVEN DynamoDB throttles every PutItem
    dynamodb.meta.events.register("before-call.dynamodb.PutItem", _refuse("ProvisionedThroughputExceededException"))
    # WHEN the store writes
    with pytest.raises(StorageThrottled, match="put_item after retries") as raised:
        storage.set_meta("k", "v")
    # THEN the error says so and chains botocore's error
    assert isinstance(raised.value.__cause__, ClientError)


def test_other_service_errors_are_storage_unavailable_naming_the_table(store: tuple[DynamoDBStorage, Any, Any]) -> None:
    storage, dynamodb, _ = store
    dynamodb.meta.events.register("before-call.dynamodb.GetItem", _refuse("ResourceNotFoundException", "no table"))
    with pytest.raises(StorageUnavailable, match=f"ResourceNotFoundException: no table \\(table {TABLE}\\)"):
        storage.get_human_loop("any")


def test_s3_failures_of_documents_are_storage_errors_naming_the_object(store: tuple[DynamoDBStorage, Any, Any]) -> None:
    storage, _, s3 = store
    # GIVEN a large document in S3 whose object is then lost
    storage.start_human_loop(_loop("big", json.dumps({"t": "x" * OFFLOAD_BYTES})), _task("task-big"), max_active=None)
    (key,) = _objects(s3)
    s3.delete_object(Bucket=BUCKET, Key=key)
    # WHEN the loop is read THEN the error names the object and chains botocore's
    with pytest.raises(StorageUnavailable, match=f"NoSuchKey: .*s3://{BUCKET}/{key}") as raised:
        storage.get_human_loop("big")
    assert isinstance(raised.value.__cause__, ClientError)
    # AND S3 throttling that persists is reported as throttling
    s3.meta.events.register("before-call.s3.PutObject", _refuse("SlowDown", "Please reduce your request rate."))
    with pytest.raises(StorageThrottled, match="PutObject"):
        storage.create_resource(Resource("workteam", "t", "Active", 1.0, 1.0, {"x": "y" * OFFLOAD_BYTES}))


def test_transaction_conflicts_are_retried_until_the_write_goes_through(
    store: tuple[DynamoDBStorage, Any, Any],
) -> None:
    storage, dynamodb, _ = store
    # GIVEN the first two transactions are cancelled by conflicting transactions (no condition failed)
    calls: list[int] = []
    conflict = _refuse(
        "TransactionCanceledException",
        "Transaction cancelled",
        CancellationReasons=[{"Code": "None"}, {"Code": "TransactionConflict"}, {"Code": "None"}],
    )

    def flaky(**kwargs: Any) -> Any:
        calls.append(1)
        return conflict(**kwargs) if len(calls) <= 2 else None

    dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", flaky)
    # WHEN a loop starts
    _, created = storage.start_human_loop(_loop("l"), _task("task-l"), max_active=3)
    # THEN the third attempt wrote it
    assert created and len(calls) == 3
    assert storage.get_human_loop("l") is not None


def test_the_scan_guard_refuses_a_scan(store: tuple[DynamoDBStorage, Any, Any]) -> None:
    # GIVEN another client (on the same moto) watched by the guard the storage suite uses
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    guard = ScanGuard()
    guard.watch(dynamodb)
    # THEN a Scan fails the test that sent it
    with pytest.raises(AssertionError, match="every list must be a Query"):
        dynamodb.scan(TableName=TABLE)
    assert guard.scans == ["before-call.dynamodb.Scan"]


def _size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB bills it (names + values; numbers approximately)."""
    total = 0
    for name, value in item.items():
        total += len(name.encode())
        kind, raw = next(iter(value.items()))
        total += 1 if kind == "BOOL" else (len(raw) // 2 + 1 if kind == "N" else len(str(raw).encode()))
    return total


def _write_units(item: dict[str, Any], *, transactional: bool) -> int:
    """Write units of writing ``item``: the table (x2 in a transaction) plus each index the item is in."""
    units = math.ceil(_size(item) / 1024)
    indexes = sum(1 for hash_key, _ in INDEXES.values() if hash_key in item)
    return units * (2 if transactional else 1) + units * indexes


def test_what_start_claim_submit_and_settle_cost(store: tuple[DynamoDBStorage, Any, Any]) -> None:
    storage, dynamodb, _ = store
    content = json.dumps({"text": "The service was great", "label": "POSITIVE", "confidence": 0.42})
    measured: dict[str, Any] = {}
    # WHEN a loop starts, its task is claimed and answered, and the engine settles it
    for step, call in (
        (
            "StartHumanLoop",
            lambda: storage.start_human_loop(_loop("cost", content), _task("t", json.loads(content)), max_active=1000),
        ),
        ("claim", lambda: storage.claim_task([_task("x").workteam_arn], "w1", 1100.0)),
        ("submit", lambda: storage.submit_answer("t", "w1", {"sentiment": {"label": "POSITIVE"}}, 1200.0)),
        ("settle", lambda: _settle(storage, "cost")),
    ):
        storage.reset_stats()
        call()
        stats = storage.stats
        measured[step] = {
            "writes": sum(v["requests"] for op, v in stats.items() if op in _WRITES),
            "reads": sum(v["requests"] for op, v in stats.items() if op in _READS),
            "requests": {op: int(v["requests"]) for op, v in stats.items() if op != "S3"},
        }
        if step == "StartHumanLoop":  # the items as the start wrote them
            loop_item, task_item = _raw(dynamodb, loop_key("cost")), _raw(dynamodb, task_key("t"))
    measured["StartHumanLoop"]["write_units_estimate"] = (
        _write_units(loop_item, transactional=True) + _write_units(task_item, transactional=True) + 2 * 1
    )
    print(json.dumps(measured, indent=1, sort_keys=True))
    # THEN StartHumanLoop is one transaction and no read (issue target: <= 3 writes, <= 2 reads)
    assert measured["StartHumanLoop"]["writes"] == 1 and measured["StartHumanLoop"]["reads"] == 0
    assert measured["StartHumanLoop"]["requests"] == {"transact_write_items": 1}
    # AND a claim is one transaction after two reads (holds; the queue, which leaves out tasks whose seen set
    # names the worker, so no BatchGetItem of its earlier assignments)
    assert measured["claim"]["requests"] == {"query": 2, "transact_write_items": 1}
    # AND a submission is one transaction after one read (the task with its assignments)
    assert measured["submit"]["requests"] == {"query": 1, "transact_write_items": 1}
    # AND what the engine's storage calls add to settle it leaves a one-worker review at 8 writes (target <= 12)
    assert sum(measured[step]["writes"] for step in ("StartHumanLoop", "claim", "submit", "settle")) == 8
    assert _size(loop_item) < OFFLOAD_BYTES


def _settle(storage: DynamoDBStorage, name: str) -> None:
    """The storage calls the engine makes to settle an answered loop and deliver its event."""
    (task,) = storage.tasks_to_settle(10)
    storage.assignments(task.id)
    loop = storage.get_human_loop(name)
    assert loop is not None
    storage.transition_human_loop(name, (loop.status,), "Completed", now=1300.0, output_s3_uri="s3://b/output.json")
    storage.mark_settled(task.id)
    event_id = storage.add_event("SageMaker A2I HumanLoop Status Change", {"humanLoopName": name}, copies=1, now=1300.0)
    (due,) = storage.due_events(1300.0, 10)
    storage.record_delivery(due.id, delivered=True, attempts=1, next_attempt=1300.0, error=None)
    assert due.id == event_id


_WRITES = frozenset({"put_item", "update_item", "delete_item", "transact_write_items", "batch_write_item"})
_READS = frozenset({"get_item", "query", "batch_get_item"})


def test_what_leases_declines_and_done_counts_cost(store: tuple[DynamoDBStorage, Any, Any]) -> None:
    storage, _, _ = store
    team = _task("x").workteam_arn
    storage.put_tasks([_task("t1"), _task("t2"), replace(_task("t3"), time_limit=80)])
    measured: dict[str, dict[str, int]] = {}
    # WHEN a worker claims with a 60 s lease, claims again, renews, declines, lets a claim lapse, and so on
    for step, call in (
        ("claim, leased", lambda: storage.claim_task([team], "w1", 1100.0, lease_seconds=60)),
        ("claim of a held task (renews its lease)", lambda: storage.claim_task([team], "w1", 1110.0, lease_seconds=60)),
        ("renew_lease", lambda: storage.renew_lease("t1", "w1", 1120.0, 60)),
        ("renew_lease of a claim not held", lambda: storage.renew_lease("t2", "w1", 1120.0, 60)),
        ("decline", lambda: storage.release_assignment("t1", "w1", 1130.0, decline=True)),
        ("claim, leased, then lapsed", lambda: storage.claim_task([team], "w1", 1140.0, lease_seconds=60)),
        ("claim over the lapsed claim", lambda: storage.claim_task([team], "w1", 1300.0, lease_seconds=60)),
        ("renew_lease capped at the time limit", lambda: storage.renew_lease("t3", "w1", 1340.0, 60)),
        ("sweep of the lapsed claim", lambda: storage.sweep_tasks(1341.0)),
        ("submit", lambda: storage.submit_answer("t3", "w1", {"ok": True}, 1342.0)),
        ("queue_done_counts", lambda: storage.queue_done_counts([team], "w1")),
    ):
        storage.reset_stats()
        call()
        measured[step] = {op: int(v["requests"]) for op, v in storage.stats.items() if op != "S3" and v["requests"]}
    print(json.dumps(measured, indent=1))
    # THEN renewing a lease is one conditional update (two when the second caps it at the time limit)
    assert measured["renew_lease"] == measured["renew_lease of a claim not held"] == {"update_item": 1}
    assert measured["renew_lease capped at the time limit"] == {"update_item": 2}
    assert storage.assignments("t3")[0].lease_until == 1380.0  # the deadline
    # AND a leased claim costs what a claim costs; claiming a held task renews it with one update
    assert measured["claim, leased"] == {"query": 2, "transact_write_items": 1}
    assert measured["claim of a held task (renews its lease)"] == {"query": 2, "update_item": 1}
    # AND replacing a lapsed claim's hold reads that claim's task once more; the transaction checks it is lapsed
    assert measured["claim over the lapsed claim"] == {"query": 3, "transact_write_items": 1}
    # AND a decline is a release: one read, one transaction; so is the sweep's hand-back of the lapsed claim
    assert measured["decline"] == {"query": 1, "transact_write_items": 1}
    # (its hold points at the newer claim by now: the hold's delete is dropped and the transaction sent again)
    # (the sweep reads every DEADLINE partition, the task's partition and EXPIRY)
    assert measured["sweep of the lapsed claim"] == {"query": len(deadline_partitions()) + 2, "transact_write_items": 2}
    # AND a submission still costs one transaction (its done count rides in it), and done counts one Query
    assert measured["submit"] == {"query": 1, "transact_write_items": 1}
    assert measured["queue_done_counts"] == {"query": 1}
    assert storage.queue_done_counts([team], "w1") == {team: 1}


@pytest.mark.parametrize(
    ("before", "after"),
    [("Initializing", "InProgress"), ("InProgress", "Stopping"), ("Stopping", "Stopped"), ("InProgress", "Completed")],
)
def test_a_status_change_between_the_per_status_queries_lists_the_resource_once(
    store: tuple[DynamoDBStorage, Any, Any], monkeypatch: pytest.MonkeyPatch, before: str, after: str
) -> None:
    # GIVEN a labeling job whose status the engine changes forward while a list reads status by status
    storage, _, _ = store
    storage.create_resource(Resource("labeling-job", "job-a", before, 1.0, 1.0, {"n": 1}))
    real_query = storage._query
    moved = []

    def query_then_move(*args: Any, **kwargs: Any) -> Any:
        found = list(real_query(*args, **kwargs))
        if found and not moved:  # the engine's write lands right after the query that saw the job
            moved.append(storage.update_resource("labeling-job", "job-a", now=2.0, status=after))
        return found

    monkeypatch.setattr(storage, "_query", query_then_move)
    # WHEN listing every status a job can have (in the order ListLabelingJobsForWorkteam asks for them)
    statuses = ("Initializing", "InProgress", "Completed", "Failed", "Stopping", "Stopped")
    listed = storage.resources_in_status("labeling-job", statuses)
    # THEN the job is there exactly once, as it is now
    assert [(r.name, r.status) for r in listed] == [("job-a", after)]


def test_what_the_queue_counts_of_a_portal_render_cost_with_1000_open_tasks(
    store: tuple[DynamoDBStorage, Any, Any],
) -> None:
    storage, dynamodb, _ = store
    team = _task("x").workteam_arn
    # GIVEN 1,000 open tasks of a workteam (a 200-character input each); w1 answered 3, declined 2 and holds 1
    _put_directly(storage, dynamodb, [_task(f"t{n:04}", {"text": "x" * 200}) for n in range(1000)])
    for n in range(6):
        claimed = storage.claim_task([team], "w1", 1100.0 + n, lease_seconds=600)
        assert claimed is not None
        if n < 3:
            storage.submit_answer(claimed[0].id, "w1", {"label": "ok"}, 1100.5 + n)
        elif n < 5:
            assert storage.release_assignment(claimed[0].id, "w1", 1100.5 + n, decline=True)
    units = ReadUnits()
    units.watch(dynamodb)
    # WHEN a portal page reads the counts it shows (the task page's banner; the queues page, per workteam)
    storage.reset_stats()
    counts = storage.queue_counts([team], "w1")
    done = storage.queue_done_counts([team], "w1")
    requests = {op: int(v["requests"]) for op, v in storage.stats.items() if op != "S3" and v["requests"]}
    print(json.dumps({"requests": requests, "read_units": units.units}))
    # THEN the counts are right: 1,000 less the 3 answered and the 2 declined (the held one counts)
    assert counts == {team: 995} and done == {team: 3}
    # AND they cost three Queries (holds, the queue's Select=COUNT, done counts): no BatchGetItem of the worker's
    # assignments, and read units of one pass over the queue's items (about 0.5 per 4 KB), not a unit per task
    assert requests == {"query": 3}
    assert units.units < 150


def _put_directly(storage: DynamoDBStorage, dynamodb: Any, tasks: list[Task]) -> None:
    """The items ``put_tasks`` writes, with ``BatchWriteItem`` (moto copies the whole table for each transaction,
    which makes 1,000 tasks through ``put_tasks`` take a minute)."""
    items = [task_item(task, DynamoDBStorage._order(task, n), storage.docs) for n, task in enumerate(tasks)]
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        assert not dynamodb.batch_write_item(RequestItems={TABLE: requests}).get("UnprocessedItems")


def test_a_task_written_before_seen_sets_were_kept_is_not_claimed_twice_by_one_worker(
    store: tuple[DynamoDBStorage, Any, Any],
) -> None:
    storage, dynamodb, _ = store
    team = _task("x").workteam_arn
    # GIVEN two tasks of two answers each, w1 declining the first; then the first made to look like a task of an
    # older version: no "seen" set and no "seen_kept" flag (its declined assignment of w1 is still there)
    storage.put_tasks([_task("old", required=2), _task("new", required=2)])
    claimed = storage.claim_task([team], "w1", 1000.0, lease_seconds=60)
    assert claimed is not None and claimed[0].id == "old"
    assert storage.release_assignment("old", "w1", 1000.0, decline=True)
    dynamodb.update_item(TableName=TABLE, Key=task_key("old"), UpdateExpression="REMOVE seen, seen_kept")
    # WHEN w1 claims again
    storage.reset_stats()
    again = storage.claim_task([team], "w1", 1001.0, lease_seconds=60)
    # THEN the old task's assignments are looked up (one BatchGetItem), so w1 gets the new task, not the old again
    assert again is not None and again[0].id == "new"
    assert storage.stats["batch_get_item"]["requests"] == 1
    # AND a worker who never touched the old task gets it, with no lookup for tasks that keep their seen set
    storage.reset_stats()
    other = storage.claim_task([team], "w2", 1002.0, lease_seconds=60)
    assert other is not None and other[0].id == "old"
