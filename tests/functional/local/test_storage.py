"""One storage suite, two stores: every test without ``sqlite_only`` in its name runs on SQLite and on DynamoDB.

SQLite-only tests (named ``test_sqlite_only_*``) cover what only that store has: named migrations and group commit.
The DynamoDB-only parts (S3 offload, TTL, request counts, error mapping) are in ``test_storage_dynamodb.py``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.functional.local.stores import STORES, open_store
from truthloop.local.storage import (
    AssignmentError,
    HumanLoop,
    LoopConflict,
    LoopQuotaExceeded,
    SQLiteStorage,
    Storage,
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


@pytest.fixture(params=STORES)
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    with open_store(request.param, tmp_path) as store:
        yield store


@pytest.fixture
def sqlite_storage(tmp_path: Path) -> Iterator[SQLiteStorage]:
    store = SQLiteStorage(tmp_path / "db" / "truthloop.db")
    yield store
    store.close()


def test_sqlite_only_migrations_are_named_recorded_and_applied_once(tmp_path: Path) -> None:
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


def test_sqlite_only_concurrent_starts_are_group_committed_and_all_stored(sqlite_storage: SQLiteStorage) -> None:
    storage = sqlite_storage
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


def test_a_failing_write_rolls_back_alone(storage: Storage) -> None:
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


def test_quota_counts_active_loops(storage: Storage) -> None:
    storage.start_human_loop(_loop("a"), _task("a"), max_active=1)
    with pytest.raises(LoopQuotaExceeded):
        storage.start_human_loop(_loop("b"), _task("b"), max_active=1)
    storage.transition_human_loop("a", ("InProgress",), "Completed", now=2000.0)
    storage.start_human_loop(_loop("b"), _task("b"), max_active=1)


def test_claims_give_each_worker_a_task_at_most_once(storage: Storage) -> None:
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


def test_a_deferred_settlement_waits_for_its_time_and_keeps_its_attempts(storage: Storage) -> None:
    # GIVEN two finished tasks, the first one's settlement failed once and is deferred to t=2000
    storage.put_tasks([_task("late", expires=1500.0), _task("next", expires=1500.0)])
    storage.sweep_tasks(1600.0)
    storage.defer_settlement("late", attempts=1, next_attempt=2000.0, error="NoSuchBucket: out")
    # WHEN the engine asks what to settle before and after that time
    before = [t.id for t in storage.tasks_to_settle(10, 1900.0)]
    after = storage.tasks_to_settle(10, 2000.0)
    # THEN only the other task is due before it; then both, the deferred one with its attempts and reason
    assert before == ["next"]
    assert [t.id for t in after] == ["late", "next"]
    assert (after[0].settle_attempts, after[0].settle_after, after[0].settle_error) == (1, 2000.0, "NoSuchBucket: out")
    # AND once settled, a late deferral changes nothing
    storage.mark_settled("late")
    storage.defer_settlement("late", attempts=2, next_attempt=3000.0, error="late")
    task = storage.get_task("late")
    assert task is not None and task.settled and task.settle_attempts == 1


def test_sweep_times_out_assignments_and_expires_tasks(storage: Storage) -> None:
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


def test_readers_never_block_on_the_writer(storage: Storage) -> None:
    # GIVEN 80 loops (moto copies its whole table for every transaction, so DynamoDB's run stays small)
    for i in range(80):
        storage.start_human_loop(_loop(f"r{i}", created=float(i)), _task(f"r{i}"), max_active=None)
    # WHEN they are listed 25 at a time
    started = time.perf_counter()
    pages = []
    cursor = None
    while True:
        page, cursor = storage.list_human_loops(
            "arn:flow", created_after=None, created_before=None, ascending=True, cursor=cursor, limit=25
        )
        pages.append(page)
        if cursor is None:
            break
    # THEN every loop comes once, in order, on 4 pages, quickly
    assert [loop.name for page in pages for loop in page] == [f"r{i}" for i in range(80)]
    assert [len(page) for page in pages] == [25, 25, 25, 5]
    assert time.perf_counter() - started < 2


def _race(count: int, fn: Callable[[int], object]) -> list[object]:
    """Run ``fn(0..count-1)`` on ``count`` threads released together; results (or exceptions) in order."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = fn(index)
        except Exception as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_racing_workers_never_claim_a_task_beyond_its_required_answers(storage: Storage) -> None:
    # GIVEN one task that needs two answers
    storage.put_tasks([_task("contended", required=2)])
    # WHEN eight workers claim at the same moment
    results = _race(8, lambda n: storage.claim_task(["team-a"], f"w{n}", 1100.0))
    # THEN exactly two got it, nobody failed, and the task counts two active assignments
    assert not [r for r in results if isinstance(r, Exception)]
    assert sum(r is not None for r in results) == 2
    task = storage.get_task("contended")
    assert task is not None and task.active == 2
    assert sorted(a.status for a in storage.assignments("contended")) == ["active", "active"]


def test_racing_claims_of_one_worker_give_one_assignment(storage: Storage) -> None:
    # GIVEN three open tasks
    storage.put_tasks([_task(f"q{n}") for n in range(3)])
    # WHEN one worker claims from six browser tabs at once
    results = _race(6, lambda n: storage.claim_task(["team-a"], "w1", 1100.0 + n / 100))
    # THEN every tab shows the same task and the worker holds exactly one assignment
    claimed = {r[0].id for r in results if isinstance(r, tuple)}
    assert not [r for r in results if isinstance(r, Exception)]
    assert len(claimed) == 1
    held = [a for n in range(3) for a in storage.assignments(f"q{n}") if a.status == "active"]
    assert len(held) == 1


def test_racing_starts_never_exceed_the_quota(storage: Storage) -> None:
    # WHEN twelve loops start at once with room for five
    results = _race(12, lambda n: storage.start_human_loop(_loop(f"quota-{n}"), _task(f"quota-{n}"), max_active=5))
    # THEN five started, seven were refused with the quota's numbers, and five are active
    refused = [r for r in results if isinstance(r, LoopQuotaExceeded)]
    assert sum(isinstance(r, tuple) and r[1] for r in results) == 5
    assert len(refused) == 7
    assert all(r.active == 5 and r.limit == 5 for r in refused)
    assert storage.count_human_loops("InProgress") == 5


def test_racing_identical_starts_create_one_loop(storage: Storage) -> None:
    # WHEN the same StartHumanLoop is retried six times at once (each with its own new task id)
    results = _race(6, lambda n: storage.start_human_loop(_loop("same"), _task(f"try-{n}"), max_active=10))
    # THEN one call created it, the others got the existing loop, and only one task exists
    assert sorted(r[1] for r in results if isinstance(r, tuple)) == [False] * 5 + [True]
    assert sum(storage.get_task(f"try-{n}") is not None for n in range(6)) == 1
    assert storage.count_human_loops() == 1
