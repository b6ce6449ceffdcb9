"""The SQLite storage: named migrations, group commit, isolation of failing writes, concurrency, claims."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from truthloop.local.storage import (
    AssignmentError,
    HumanLoop,
    LoopConflict,
    LoopQuotaExceeded,
    SQLiteStorage,
    Task,
)
from truthloop.local.storage.migrations import MIGRATIONS, Migrations


def _loop(name: str, content: str = "{}", created: float = 1000.0) -> HumanLoop:
    return HumanLoop(
        name=name,
        arn=f"arn:{name}",
        flow_arn="arn:flow",
        status="InProgress",
        created=created,
        input_content=content,
        task_id=f"task-{name}",
    )


def _task(task_id: str, *, required: int = 1, team: str = "team-a", expires: float = 10_000.0) -> Task:
    return Task(
        id=task_id,
        kind="a2i",
        workteam_arn=team,
        owner=f"human-loop:{task_id}",
        ui="human-task-ui:x",
        task_input={"n": task_id},
        title="t",
        description="d",
        required=required,
        time_limit=60,
        created=1000.0,
        expires_at=expires,
    )


@pytest.fixture
def storage(tmp_path: Path) -> SQLiteStorage:
    store = SQLiteStorage(tmp_path / "db" / "truthloop.db")
    yield store  # type: ignore[misc]
    store.close()


def test_migrations_are_named_recorded_and_applied_once(tmp_path: Path) -> None:
    # GIVEN a database opened twice
    path = tmp_path / "m.db"
    SQLiteStorage(path).close()
    store = SQLiteStorage(path)
    # THEN each named migration was applied exactly once
    assert store.applied_migrations() == MIGRATIONS.names
    store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # AND a registry refuses a duplicate name
    registry = Migrations("x")
    registry("0001")(lambda conn: None)
    with pytest.raises(ValueError, match="registered twice"):
        registry("0001")(lambda conn: None)


def test_concurrent_starts_are_group_committed_and_all_stored(storage: SQLiteStorage) -> None:
    # WHEN 32 threads start 50 loops each at the same time
    errors: list[BaseException] = []

    def start(worker: int) -> None:
        try:
            for i in range(50):
                storage.start_human_loop(_loop(f"l-{worker}-{i}"), _task(f"l-{worker}-{i}"), max_active=None)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(w,)) for w in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN every loop is stored, with fewer commits than writes (batched)
    assert not errors
    assert storage.count_human_loops() == 1600
    assert storage.stats["writes"] >= 1600
    assert storage.stats["commits"] < storage.stats["writes"]


def test_a_failing_write_rolls_back_alone(storage: SQLiteStorage) -> None:
    # GIVEN an existing loop
    storage.start_human_loop(_loop("same", '{"a": 1}'), _task("same"), max_active=None)
    # WHEN a conflicting start and a good one are written in the same batch
    results: dict[str, object] = {}

    def conflicting() -> None:
        try:
            storage.start_human_loop(_loop("same", '{"a": 2}'), _task("other-task"), max_active=None)
        except LoopConflict as exc:
            results["conflict"] = exc

    def good() -> None:
        results["good"] = storage.start_human_loop(_loop("fresh"), _task("fresh"), max_active=None)

    threads = [threading.Thread(target=conflicting), threading.Thread(target=good)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # THEN only the conflicting write is refused; its task was not inserted
    assert isinstance(results["conflict"], LoopConflict)
    assert storage.get_human_loop("fresh") is not None
    assert storage.get_task("other-task") is None
    # AND an identical retry returns the existing loop
    loop, created = storage.start_human_loop(_loop("same", '{"a": 1}'), _task("x"), max_active=None)
    assert (loop.name, created) == ("same", False)


def test_quota_counts_active_loops(storage: SQLiteStorage) -> None:
    storage.start_human_loop(_loop("a"), _task("a"), max_active=1)
    with pytest.raises(LoopQuotaExceeded):
        storage.start_human_loop(_loop("b"), _task("b"), max_active=1)
    storage.transition_human_loop("a", ("InProgress",), "Completed", now=2000.0)
    storage.start_human_loop(_loop("b"), _task("b"), max_active=1)


def test_claims_give_each_worker_a_task_at_most_once(storage: SQLiteStorage) -> None:
    # GIVEN one task needing two answers
    storage.put_tasks([_task("t1", required=2)])
    # WHEN three workers claim
    first = storage.claim_task(["team-a"], "w1", 1100.0)
    again = storage.claim_task(["team-a"], "w1", 1101.0)
    second = storage.claim_task(["team-a"], "w2", 1102.0)
    third = storage.claim_task(["team-a"], "w3", 1103.0)
    # THEN w1 keeps its assignment, w2 gets the second slot, w3 nothing; other teams see nothing
    assert first is not None and again is not None and first[0].id == again[0].id == "t1"
    assert second is not None and third is None
    assert storage.claim_task(["team-b"], "w4", 1104.0) is None
    storage.submit_answer("t1", "w1", {"x": 1}, 1110.0)
    with pytest.raises(AssignmentError, match="already submitted"):
        storage.submit_answer("t1", "w1", {"x": 1}, 1111.0)
    with pytest.raises(AssignmentError, match="not assigned"):
        storage.submit_answer("t1", "w3", {"x": 1}, 1111.0)
    task = storage.submit_answer("t1", "w2", {"x": 2}, 1112.0)
    assert task.status == "done" and task.answers == 2
    assert [t.id for t in storage.tasks_to_settle(10)] == ["t1"]


def test_sweep_times_out_assignments_and_expires_tasks(storage: SQLiteStorage) -> None:
    storage.put_tasks([_task("slow", expires=5000.0)])
    storage.claim_task(["team-a"], "w1", 1000.0)
    # the 60 s time limit passes: the slot is free again, the late answer is refused
    storage.sweep_tasks(1061.0)
    with pytest.raises(AssignmentError, match="timedout"):
        storage.submit_answer("slow", "w1", {}, 1062.0)
    assert storage.claim_task(["team-a"], "w2", 1063.0) is not None
    # the task's availability ends: it expires with its holder's assignment
    storage.sweep_tasks(5001.0)
    task = storage.get_task("slow")
    assert task is not None and task.status == "expired" and task.active == 0


def test_a_declined_task_goes_to_others_and_the_decliner_gets_another(storage: SQLiteStorage) -> None:
    # GIVEN two open tasks, the first claimed by w1
    storage.put_tasks([_task("t1"), _task("t2")])
    first = storage.claim_task(["team-a"], "w1", 1000.0)
    assert first is not None and first[0].id == "t1"
    # WHEN w1 declines it and asks again
    assert storage.release_assignment("t1", "w1", 1001.0, decline=True)
    again = storage.claim_task(["team-a"], "w1", 1002.0)
    # THEN w1 gets the other task, and the declined one is in the queue for w2
    assert again is not None and again[0].id == "t2"
    other = storage.claim_task(["team-a"], "w2", 1003.0)
    assert other is not None and other[0].id == "t1"
    assert storage.queue_counts(["team-a"], "w1") == {"team-a": 1}  # only the one w1 holds


def test_a_plain_release_lets_the_same_worker_claim_the_task_again(storage: SQLiteStorage) -> None:
    # GIVEN a claimed task released without declining
    storage.put_tasks([_task("t1")])
    storage.claim_task(["team-a"], "w1", 1000.0)
    storage.release_assignment("t1", "w1", 1001.0)
    # WHEN the same worker claims again
    claimed = storage.claim_task(["team-a"], "w1", 1002.0)
    # THEN it is the same task
    assert claimed is not None and claimed[0].id == "t1"


@pytest.mark.parametrize(
    ("renew_at", "sweep_at", "released"),
    [
        (None, 1029.9, False),  # the lease has not lapsed yet
        (None, 1030.0, True),  # exactly at the lease's end: lapsed
        (1020.0, 1030.0, False),  # renewed at 1020: now held until 1050
        (1020.0, 1050.0, True),
    ],
)
def test_an_unrenewed_lease_returns_the_task_to_the_queue(
    storage: SQLiteStorage, renew_at: float | None, sweep_at: float, released: bool
) -> None:
    # GIVEN a claim with a 30 s lease (time limit 60 s)
    storage.put_tasks([_task("t1")])
    claimed = storage.claim_task(["team-a"], "w1", 1000.0, lease_seconds=30)
    assert claimed is not None and claimed[1].lease_until == 1030.0
    if renew_at is not None:
        renewed = storage.renew_lease("t1", "w1", renew_at, 30)
        assert renewed is not None and renewed.lease_until == renew_at + 30
    # WHEN the sweep runs
    storage.sweep_tasks(sweep_at)
    # THEN a lapsed claim is gone and the task is open for anyone again; a live one is still held
    other = storage.claim_task(["team-a"], "w2", sweep_at)
    assert (other is not None) is released
    task = storage.get_task("t1")
    assert task is not None and task.active == 1
    if released:
        assert storage.renew_lease("t1", "w1", sweep_at, 30) is None


def test_a_lease_never_outlives_the_time_limit(storage: SQLiteStorage) -> None:
    # GIVEN a claim with a lease longer than the 60 s time limit
    storage.put_tasks([_task("t1")])
    claimed = storage.claim_task(["team-a"], "w1", 1000.0, lease_seconds=600)
    # WHEN it is renewed near its deadline
    renewed = storage.renew_lease("t1", "w1", 1050.0, 600)
    # THEN both stop at the deadline
    assert claimed is not None and claimed[1].lease_until == 1060.0
    assert renewed is not None and renewed.lease_until == 1060.0


def test_done_counts_count_the_workers_submitted_answers(storage: SQLiteStorage) -> None:
    # GIVEN three tasks of which w1 answered two
    storage.put_tasks([_task("t1"), _task("t2"), _task("t3", team="team-b")])
    for _ in range(2):
        claimed = storage.claim_task(["team-a"], "w1", 1000.0)
        assert claimed is not None
        storage.submit_answer(claimed[0].id, "w1", {}, 1001.0)
    # WHEN the portal asks for the counts
    done = storage.queue_done_counts(["team-a", "team-b"], "w1")
    # THEN they are per team
    assert done == {"team-a": 2, "team-b": 0}
    assert storage.queue_done_counts(["team-a"], "w2") == {"team-a": 0}


def test_readers_never_block_on_the_writer(storage: SQLiteStorage) -> None:
    for i in range(200):
        storage.start_human_loop(_loop(f"r{i}", created=float(i)), _task(f"r{i}"), max_active=None)
    started = time.perf_counter()
    pages = []
    cursor = None
    while True:
        page, cursor = storage.list_human_loops(
            "arn:flow", created_after=None, created_before=None, ascending=True, cursor=cursor, limit=50
        )
        pages.append(page)
        if cursor is None:
            break
    assert [loop.name for page in pages for loop in page] == [f"r{i}" for i in range(200)]
    assert time.perf_counter() - started < 2
