"""One storage suite, two stores: every test without ``sqlite_only`` in its name runs on SQLite and on DynamoDB.

SQLite-only tests (named ``test_sqlite_only_*``) cover what only that store has: named migrations and group commit.
The DynamoDB-only parts (S3 offload, TTL, request counts, error mapping) are in ``test_storage_dynamodb.py``.
"""

from __future__ import annotations

import functools
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Literal, Protocol

import pytest

from tests.functional.local.stores import STORES, open_store
from truthloop.local.storage import (
    Assignment,
    AssignmentError,
    ClaimConflict,
    HumanLoop,
    JobObject,
    ListQuery,
    LoopConflict,
    LoopQuotaExceeded,
    Resource,
    SQLiteStorage,
    Storage,
    SupportsClaimLeases,
    Task,
    Worker,
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


class LeasingStorage(SupportsClaimLeases, Storage, Protocol):
    """A store with the optional short claims, declines and done counts (both stores have them)."""


@pytest.fixture
def leasing(storage: Storage) -> LeasingStorage:
    assert isinstance(storage, SupportsClaimLeases), f"{type(storage).__name__} lacks SupportsClaimLeases"
    return storage


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


def test_a_declined_task_goes_to_others_and_the_decliner_gets_another(leasing: LeasingStorage) -> None:
    storage = leasing
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
    # AND the declined assignment stays, declined, and cannot be answered or declined again
    assert {a.worker_id: a.status for a in storage.assignments("t1")} == {"w1": "declined", "w2": "active"}
    with pytest.raises(AssignmentError, match="declined"):
        storage.submit_answer("t1", "w1", {}, 1004.0)
    assert not storage.release_assignment("t1", "w1", 1004.0, decline=True)


def test_declining_the_only_task_leaves_nothing_for_the_decliner(leasing: LeasingStorage) -> None:
    storage = leasing
    # GIVEN one task, claimed for one named task id and declined
    storage.put_tasks([_task("t1")])
    assert storage.claim_task(["team-a"], "w1", 1000.0, task_id="t1", lease_seconds=30) is not None
    assert storage.release_assignment("t1", "w1", 1001.0, decline=True)
    # THEN neither a claim of the queue nor of that task gives it back to them; the task has its slot free
    assert storage.claim_task(["team-a"], "w1", 1002.0) is None
    assert storage.claim_task(["team-a"], "w1", 1002.0, task_id="t1") is None
    assert storage.queue_counts(["team-a"], "w1") == {"team-a": 0}
    assert storage.queue_counts(["team-a"], "w2") == {"team-a": 1}
    task = storage.get_task("t1")
    assert task is not None and (task.status, task.active) == ("open", 0)


def test_a_plain_release_lets_the_same_worker_claim_the_task_again(leasing: LeasingStorage) -> None:
    storage = leasing
    # GIVEN a claimed task released without declining
    storage.put_tasks([_task("t1")])
    storage.claim_task(["team-a"], "w1", 1000.0, lease_seconds=30)
    assert storage.release_assignment("t1", "w1", 1001.0, decline=False)
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
    leasing: LeasingStorage, renew_at: float | None, sweep_at: float, released: bool
) -> None:
    storage = leasing
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
        assert [a.worker_id for a in storage.assignments("t1")] == ["w2"]


def test_a_lease_never_outlives_the_time_limit(leasing: LeasingStorage) -> None:
    storage = leasing
    # GIVEN a claim with a lease longer than the 60 s time limit
    storage.put_tasks([_task("t1")])
    claimed = storage.claim_task(["team-a"], "w1", 1000.0, lease_seconds=600)
    # WHEN it is renewed near its deadline, and claimed again (which renews the held claim)
    renewed = storage.renew_lease("t1", "w1", 1050.0, 600)
    again = storage.claim_task(["team-a"], "w1", 1055.0, lease_seconds=600)
    # THEN all stop at the deadline
    assert claimed is not None and claimed[1].lease_until == 1060.0
    assert renewed is not None and renewed.lease_until == 1060.0
    assert again is not None and again[1].lease_until == 1060.0
    # AND the sweep times it out (not a lapsed lease: it is not handed back as if never held)
    storage.sweep_tasks(1060.0)
    assert [a.status for a in storage.assignments("t1")] == ["timedout"]
    assert storage.renew_lease("t1", "w1", 1060.0, 600) is None


def test_a_held_claim_is_renewed_by_claiming_again_and_a_plain_claim_keeps_its_lease(leasing: LeasingStorage) -> None:
    storage = leasing
    # GIVEN a claim with a 30 s lease
    storage.put_tasks([_task("t1"), _task("t2")])
    storage.claim_task(["team-a"], "w1", 1000.0, lease_seconds=30)
    # WHEN the worker claims again with a lease (another tab), then without one (the JSON API)
    renewed = storage.claim_task(["team-a"], "w1", 1020.0, lease_seconds=30)
    plain = storage.claim_task(["team-a"], "w1", 1025.0)
    # THEN both return the held task; the first moved the lease, the second left it
    assert renewed is not None and (renewed[0].id, renewed[1].lease_until) == ("t1", 1050.0)
    assert plain is not None and (plain[0].id, plain[1].lease_until) == ("t1", 1050.0)
    # AND the sweep at 1030 leaves the claim alone
    storage.sweep_tasks(1030.0)
    assert [a.status for a in storage.assignments("t1")] == ["active"]


def test_a_lapsed_claim_refuses_its_answer_and_its_worker_gets_another_task(leasing: LeasingStorage) -> None:
    storage = leasing
    # GIVEN w1's 30 s claim on t1 lapsed (the page closed) and the sweep has not run yet
    storage.put_tasks([_task("t1"), _task("t2")])
    storage.claim_task(["team-a"], "w1", 1000.0, lease_seconds=30)
    # WHEN w1 answers it late, and then asks for a task
    with pytest.raises(AssignmentError, match="lapsed"):
        storage.submit_answer("t1", "w1", {}, 1031.0)
    claimed = storage.claim_task(["team-a"], "w1", 1032.0, lease_seconds=30)
    # THEN they get the other task, which they can answer; the lapsed one cannot be renewed
    assert claimed is not None and claimed[0].id == "t2"
    assert storage.renew_lease("t1", "w1", 1033.0, 30) is None
    storage.submit_answer("t2", "w1", {}, 1034.0)
    # AND the sweep hands t1 back to the queue, where w1 may take it again
    storage.sweep_tasks(1035.0)
    again = storage.claim_task(["team-a"], "w1", 1036.0)
    assert again is not None and again[0].id == "t1"


def test_done_counts_count_the_workers_submitted_answers(leasing: LeasingStorage) -> None:
    storage = leasing
    # GIVEN three tasks of which w1 answered two, plus a loop's task w1 answered and that loop then deleted
    storage.put_tasks([_task("t1"), _task("t2"), _task("t3", team="team-b")])
    for _ in range(2):
        claimed = storage.claim_task(["team-a"], "w1", 1000.0)
        assert claimed is not None
        storage.submit_answer(claimed[0].id, "w1", {}, 1001.0)
    storage.start_human_loop(_loop("gone"), _task("task-gone", team="team-b"), max_active=None)
    assert storage.claim_task(["team-b"], "w1", 1002.0, task_id="task-gone") is not None
    storage.submit_answer("task-gone", "w1", {}, 1003.0)
    assert storage.queue_done_counts(["team-b"], "w1") == {"team-b": 1}
    storage.transition_human_loop("gone", ("InProgress",), "Completed", now=1004.0)
    assert storage.delete_human_loop("gone", ("Completed",)) is not None
    # WHEN the portal asks for the counts
    done = storage.queue_done_counts(["team-a", "team-b"], "w1")
    # THEN they are per team, without the deleted loop's answer; declines and releases count nothing
    assert done == {"team-a": 2, "team-b": 0}
    claimed = storage.claim_task(["team-b"], "w1", 1005.0)
    assert claimed is not None and storage.release_assignment(claimed[0].id, "w1", 1006.0, decline=True)
    assert storage.queue_done_counts(["team-a", "team-b"], "w1") == {"team-a": 2, "team-b": 0}
    assert storage.queue_done_counts(["team-a"], "w2") == {"team-a": 0}
    assert storage.queue_done_counts([], "w1") == {}


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


@pytest.mark.parametrize("lease_seconds", [None, 30.0])
def test_a_claim_naming_a_task_is_refused_while_the_worker_holds_another_in_that_team(
    storage: Storage, lease_seconds: float | None
) -> None:
    # GIVEN w1 holding t1 in team-a, and open tasks t2 (team-a) and t3 (team-b)
    storage.put_tasks([_task("t1"), _task("t2"), _task("t3", team="team-b")])
    held = _claim(storage, ["team-a"], "w1", 1000.0, lease_seconds=lease_seconds)
    assert held is not None and held[0].id == "t1"
    # WHEN w1 claims t2 by its id
    with pytest.raises(ClaimConflict, match="already holds task t1 in workteam team-a") as refused:
        _claim(storage, ["team-a", "team-b"], "w1", 1001.0, task_id="t2", lease_seconds=lease_seconds)
    # THEN the refusal names the held claim, t2 stays free, and w1 still holds only t1
    assert (refused.value.held_task_id, refused.value.workteam_arn) == ("t1", "team-a")
    t2 = storage.get_task("t2")
    assert t2 is not None and (t2.active, storage.assignments("t2")) == (0, [])
    # AND naming the held task gives it back, a task of another team may be claimed, and t2 once t1 is answered
    again = _claim(storage, ["team-a"], "w1", 1002.0, task_id="t1", lease_seconds=lease_seconds)
    assert again is not None and again[0].id == "t1"
    other = _claim(storage, ["team-a", "team-b"], "w1", 1003.0, task_id="t3", lease_seconds=lease_seconds)
    assert other is not None and other[0].id == "t3"
    storage.submit_answer("t1", "w1", {}, 1004.0)
    after = _claim(storage, ["team-a"], "w1", 1005.0, task_id="t2", lease_seconds=lease_seconds)
    assert after is not None and after[0].id == "t2"


def test_a_claim_naming_a_task_replaces_a_lapsed_claim_in_that_team(leasing: LeasingStorage) -> None:
    storage = leasing
    # GIVEN w1's claim on t1 whose 30 s lease lapsed (not swept yet)
    storage.put_tasks([_task("t1"), _task("t2")])
    assert storage.claim_task(["team-a"], "w1", 1000.0, lease_seconds=30) is not None
    # WHEN w1 claims t2 by its id after the lease's end
    claimed = storage.claim_task(["team-a"], "w1", 1040.0, task_id="t2", lease_seconds=30)
    # THEN they get it: the lapsed claim does not count as held
    assert claimed is not None and claimed[0].id == "t2"


def test_racing_claims_of_one_worker_naming_different_tasks_give_one_assignment(storage: Storage) -> None:
    for round_ in range(3):
        # GIVEN four open tasks of one team
        team = f"race-{round_}"
        ids = [f"{team}-{n}" for n in range(4)]
        storage.put_tasks([_task(task_id, team=team) for task_id in ids])
        # WHEN one worker claims each of them by id from four tabs at once
        results = _race(4, lambda n: storage.claim_task([team], "w1", 1100.0, task_id=ids[n]))  # noqa: B023
        # THEN one tab got its task, the others were refused naming that task, and the worker holds one
        won = [r for r in results if isinstance(r, tuple)]
        refused = [r for r in results if isinstance(r, ClaimConflict)]
        assert len(won) == 1 and len(refused) == 3, results
        assert {r.held_task_id for r in refused} == {won[0][0].id}
        active = [a for task_id in ids for a in storage.assignments(task_id) if a.status == "active"]
        assert [a.task_id for a in active] == [won[0][0].id]


def _claim(
    storage: Storage,
    teams: list[str],
    worker_id: str,
    now: float,
    *,
    task_id: str | None = None,
    lease_seconds: float | None = None,
) -> tuple[Task, Assignment] | None:
    """A claim with a lease when ``lease_seconds`` is given (the store must then support leases)."""
    if lease_seconds is None:
        return storage.claim_task(teams, worker_id, now, task_id=task_id)
    assert isinstance(storage, SupportsClaimLeases)
    return storage.claim_task(teams, worker_id, now, task_id=task_id, lease_seconds=lease_seconds)


def _claim_leased(storage: LeasingStorage, team: str, n: int) -> object:
    return storage.claim_task([team], f"w{n}", 1100.0, lease_seconds=30)


def _renew_or_sweep(storage: LeasingStorage, task_id: str, n: int) -> object:
    return storage.renew_lease(task_id, "w1", 1029.99, 30) if n == 0 else storage.sweep_tasks(1030.0)


def test_racing_leased_claims_of_two_workers_give_one_task_one_holder(leasing: LeasingStorage) -> None:
    storage = leasing
    for round_ in range(3):
        # GIVEN one task needing one answer
        task_id = f"one-{round_}"
        storage.put_tasks([replace(_task(task_id), workteam_arn=f"team-{round_}")])
        # WHEN two workers claim it with leases at the same moment
        results = _race(2, functools.partial(_claim_leased, storage, f"team-{round_}"))
        # THEN exactly one holds it, and the task counts one holder
        assert not [r for r in results if isinstance(r, Exception)]
        assert sum(r is not None for r in results) == 1
        task = storage.get_task(task_id)
        assert task is not None and task.active == 1
        assert [a.status for a in storage.assignments(task_id)] == ["active"]


def test_racing_decline_and_claims_never_exceed_the_required_holders(leasing: LeasingStorage) -> None:
    storage = leasing
    # GIVEN a task needing one answer, held by w0
    storage.put_tasks([_task("hot")])
    assert storage.claim_task(["team-a"], "w0", 1100.0, lease_seconds=30) is not None

    # WHEN w0 declines it while w1..w4 claim it (twice each) at the same moment
    def act(n: int) -> object:
        if n == 0:
            return storage.release_assignment("hot", "w0", 1101.0, decline=True)
        return [storage.claim_task(["team-a"], f"w{n}", 1101.0 + k / 10, lease_seconds=30) for k in range(2)]

    results = _race(5, act)
    # THEN the decline went through, at most one other worker holds it, and never the decliner
    assert results[0] is True and not [r for r in results if isinstance(r, Exception)]
    holders = [a for a in storage.assignments("hot") if a.status == "active"]
    assert len(holders) <= 1 and all(a.worker_id != "w0" for a in holders)
    task = storage.get_task("hot")
    assert task is not None and task.active == len(holders)
    assert storage.claim_task(["team-a"], "w0", 1102.0) is None


def test_racing_tabs_of_a_worker_with_a_lapsed_claim_give_one_new_assignment(leasing: LeasingStorage) -> None:
    storage = leasing
    # GIVEN w1's lapsed (unswept) claim on q0 and two more open tasks
    storage.put_tasks([_task(f"q{n}") for n in range(3)])
    assert storage.claim_task(["team-a"], "w1", 1000.0, lease_seconds=30) is not None
    # WHEN w1 claims from four tabs at once after the lease's end
    results = _race(4, lambda n: storage.claim_task(["team-a"], "w1", 1040.0, lease_seconds=30))
    # THEN every tab shows the same new task, and only it is held
    assert not [r for r in results if isinstance(r, Exception)]
    claimed = {r[0].id for r in results if isinstance(r, tuple)}
    assert len(claimed) == 1 and claimed != {"q0"}
    live = [
        a
        for n in range(3)
        for a in storage.assignments(f"q{n}")
        if a.status == "active" and (a.lease_until is None or a.lease_until > 1040.0)
    ]
    assert [a.task_id for a in live] == list(claimed)


def test_racing_renewal_and_sweep_agree_on_who_holds_the_task(leasing: LeasingStorage) -> None:
    storage = leasing
    for round_ in range(4):
        # GIVEN a claim whose 30 s lease ends at 1030
        task_id = f"edge-{round_}"
        storage.put_tasks([replace(_task(task_id), workteam_arn=f"team-{round_}")])
        assert storage.claim_task([f"team-{round_}"], "w1", 1000.0, lease_seconds=30) is not None
        # WHEN the page renews it just before its end while a sweep (with a clock just past it) runs
        results = _race(2, functools.partial(_renew_or_sweep, storage, task_id))
        # THEN a renewal that succeeded kept the claim; one that failed found it handed back
        assert not [r for r in results if isinstance(r, Exception)]
        held = [a for a in storage.assignments(task_id) if a.status == "active"]
        task = storage.get_task(task_id)
        assert task is not None
        if results[0] is None:
            assert held == [] and task.active == 0
        else:
            assert [a.lease_until for a in held] == [1059.99] and task.active == 1


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


def _team(n: int) -> Resource:
    name = f"team-{n:02d}" + ("-x" if n % 3 == 0 else "")
    status = "Active" if n % 2 else "Updating"
    return Resource("workteam", name, status, float(1000 + n), float(2000 + n), {"n": n})


@pytest.mark.parametrize("sort_by", ["CreationTime", "Name", "Status"])
@pytest.mark.parametrize("ascending", [True, False])
def test_resource_lists_page_through_filters_in_every_order(
    storage: Storage, sort_by: Literal["CreationTime", "Name", "Status"], ascending: bool
) -> None:
    # GIVEN 14 workteams, every third named "...-x", half Active
    teams = [_team(n) for n in range(14)]
    for team in teams:
        assert storage.create_resource(team)
    # WHEN the ones named like "X" created after t=1001 are listed 2 at a time
    query = ListQuery(name_contains="X", created_after=1001.0, sort_by=sort_by, ascending=ascending, limit=2)
    names: list[str] = []
    pages = 0
    cursor = None
    while True:
        page, cursor = storage.list_resources("workteam", replace(query, cursor=cursor))
        names.extend(r.name for r in page)
        pages += 1
        if cursor is None:
            break
    # THEN every match comes once, in the requested order, on full pages but the last
    matches = [t for t in teams if "x" in t.name and t.created > 1001.0]
    key = {
        "CreationTime": lambda r: (r.created, r.name),
        "Name": lambda r: r.name,
        "Status": lambda r: (r.status, r.name),
    }
    assert names == [t.name for t in sorted(matches, key=key[sort_by], reverse=not ascending)]
    assert pages == math.ceil(len(matches) / 2)
    # AND a status filter narrows the same list
    active, _ = storage.list_resources("workteam", ListQuery(status_equals="Active", sort_by=sort_by, limit=100))
    assert sorted(r.name for r in active) == sorted(t.name for t in teams if t.status == "Active")


def test_resource_writes_are_conditional(storage: Storage) -> None:
    # GIVEN a resource
    assert storage.create_resource(Resource("labeling-job", "Job-A", "InProgress", 1.0, 1.0, {"a": 1}))
    # THEN a second create (names of jobs ignore case) changes nothing
    assert not storage.create_resource(Resource("labeling-job", "job-a", "Completed", 2.0, 2.0, {}))
    found = storage.get_resource("labeling-job", "JOB-A")
    assert found is not None and (found.name, found.status, found.doc) == ("Job-A", "InProgress", {"a": 1})
    # AND an update expecting another status is refused, a matching one applies
    assert storage.update_resource("labeling-job", "job-a", now=5.0, status="Stopped", expect_status=["Failed"]) is None
    updated = storage.update_resource("labeling-job", "job-a", now=5.0, status="Stopping", doc={"b": 2})
    assert updated is not None and (updated.status, updated.modified, updated.doc) == ("Stopping", 5.0, {"b": 2})
    assert [r.name for r in storage.resources_in_status("labeling-job", ["Stopping", "Failed"])] == ["Job-A"]
    assert storage.resources_in_status("labeling-job", ["InProgress"]) == []
    # AND a delete happens once
    assert storage.delete_resource("labeling-job", "Job-A")
    assert not storage.delete_resource("labeling-job", "Job-A")
    assert storage.update_resource("labeling-job", "Job-A", now=6.0, status="Failed") is None


def test_transitions_deletes_and_the_quota_counter(storage: Storage) -> None:
    # GIVEN a quota of one and an active loop
    storage.start_human_loop(_loop("a"), _task("task-a"), max_active=1)
    with pytest.raises(ValueError, match="cannot update human loop fields"):
        storage.transition_human_loop("a", ("InProgress",), "Completed", now=2.0, task_id="x")
    # WHEN it is stopped (still active), then stopped for good with an output
    assert storage.transition_human_loop("a", ("Completed",), "Stopped", now=2.0) is None
    stopping = storage.transition_human_loop("a", ("InProgress",), "Stopping", now=2.0)
    assert stopping is not None and stopping.status == "Stopping"
    assert storage.close_tasks("human-loop:task-a", 2.0) == 1
    with pytest.raises(LoopQuotaExceeded):
        storage.start_human_loop(_loop("b"), _task("task-b"), max_active=1)
    stopped = storage.transition_human_loop("a", ("Stopping",), "Stopped", now=3.0, output_s3_uri="s3://b/k")
    assert stopped is not None and (stopped.status, stopped.modified, stopped.output_s3_uri) == (
        "Stopped",
        3.0,
        "s3://b/k",
    )
    # THEN the slot is free again, and deleting a loop removes its task and assignments
    storage.start_human_loop(_loop("b"), _task("task-b"), max_active=1)
    claimed = storage.claim_task(["team-a"], "w1", 1100.0)
    assert claimed is not None and claimed[0].id == "task-b"
    assert storage.delete_human_loop("b", ["Completed"]) is not None
    assert storage.get_human_loop("b") is not None
    deleted = storage.delete_human_loop("b", ["InProgress"])
    assert deleted is not None and deleted.status == "InProgress"
    assert storage.get_human_loop("b") is None and storage.get_task("task-b") is None
    assert storage.assignments("task-b") == []
    assert storage.claim_task(["team-a"], "w1", 1101.0) is None
    # AND deleting an active loop gave its quota slot back
    storage.start_human_loop(_loop("c"), _task("task-c"), max_active=1)
    assert storage.delete_human_loop("missing", ["Stopped"]) is None
    assert [loop.name for loop in storage.human_loops_in_status("Stopped", 10)] == ["a"]
    assert storage.count_human_loops() == 2


def test_queue_counts_follow_every_way_a_worker_touches_a_task(leasing: LeasingStorage) -> None:
    storage = leasing
    # GIVEN team-a's tasks: q0..q5 need one answer, pair needs two; team-b has one
    storage.put_tasks([_task(f"q{n}") for n in range(6)] + [_task("pair", required=2), _task("b0", team="team-b")])
    assert storage.queue_counts(["team-a", "team-b"], "w1") == {"team-a": 7, "team-b": 1}

    def claim(worker: str, task_id: str, now: float, lease: float | None = None) -> None:
        claimed = storage.claim_task(["team-a"], worker, now, task_id=task_id, lease_seconds=lease)
        assert claimed is not None and claimed[0].id == task_id

    # WHEN w1 answers pair, declines q0, claims and plainly releases q1, lets a leased claim on q2 lapse (swept),
    # lets its claim on q3 time out (swept, with w2's claim on q5), then holds q4
    claim("w1", "pair", 1000.0)
    storage.submit_answer("pair", "w1", {}, 1001.0)
    claim("w1", "q0", 1002.0)
    assert storage.release_assignment("q0", "w1", 1003.0, decline=True)
    claim("w1", "q1", 1004.0)
    assert storage.release_assignment("q1", "w1", 1005.0)
    claim("w1", "q2", 1006.0, lease=10.0)
    claim("w2", "q5", 1007.0)
    storage.sweep_tasks(1020.0)  # q2's lease lapsed: handed back (the assignment goes), w1 may claim it again
    claim("w1", "q3", 1021.0)
    storage.sweep_tasks(1090.0)  # the 60 s time limits of w1's claim on q3 and w2's on q5 passed
    claim("w1", "q4", 1091.0)
    # THEN w1 counts q1, q2, q5 and the q4 it holds, not pair, q0 or q3 (answered, declined, timed out);
    # w2 counts pair, q0..q3, not q4 (no free slot) or q5 (timed out); w3 of team-b its one task
    assert storage.queue_counts(["team-a", "team-b"], "w1") == {"team-a": 4, "team-b": 1}
    assert storage.queue_counts(["team-a"], "w2") == {"team-a": 5}
    assert storage.queue_counts(["team-b"], "w3") == {"team-b": 1}
    # AND a task closed by its owner, or answered by its last worker, leaves every count
    assert storage.close_tasks("human-loop:q1", 1100.0) == 1
    claim("w2", "pair", 1101.0)
    storage.submit_answer("pair", "w2", {}, 1102.0)
    assert storage.queue_counts(["team-a"], "w1") == {"team-a": 3}
    assert storage.queue_counts(["team-a"], "w2") == {"team-a": 3}
    assert storage.queue_counts([], "w1") == {}


def test_closing_releasing_and_counting_tasks(storage: Storage) -> None:
    # GIVEN two open tasks of one owner; w1 holds the first
    tasks = [replace(_task(f"c{n}"), owner="job:j") for n in range(2)]
    storage.put_tasks(tasks)
    held = storage.claim_task(["team-a"], "w1", 1100.0)
    assert held is not None and held[0].id == "c0"
    assert storage.queue_counts(["team-a", "team-b"], "w1") == {"team-a": 2, "team-b": 0}
    assert storage.queue_counts(["team-a"], "w2") == {"team-a": 1}  # c0 has no free slot
    assert storage.open_task_count("job:j") == 2
    # WHEN the owner closes its tasks
    assert storage.close_tasks("job:j", 1200.0) == 2
    # THEN the held one waits for its worker, the other is cancelled at once; no new claims
    statuses = {t: storage.get_task(t).status for t in ("c0", "c1")}  # type: ignore[union-attr]
    assert statuses == {"c0": "closing", "c1": "cancelled"}
    assert storage.claim_task(["team-a"], "w2", 1201.0) is None
    assert storage.open_task_count("job:j") == 1
    # AND releasing the held one cancels it (a second release does nothing)
    assert storage.release_assignment("c0", "w1", 1202.0)
    assert not storage.release_assignment("c0", "w1", 1203.0)
    task = storage.get_task("c0")
    assert task is not None and (task.status, task.active) == ("cancelled", 0)
    assert sorted(t.id for t in storage.tasks_to_settle(10)) == ["c0", "c1"]
    storage.mark_settled("c0")
    assert [t.id for t in storage.tasks_to_settle(10)] == ["c1"]


def test_a_released_task_can_be_claimed_again_by_anyone(storage: Storage) -> None:
    storage.put_tasks([_task("r")])
    assert storage.claim_task(["team-a"], "w1", 1100.0) is not None
    assert storage.claim_task(["team-a"], "w2", 1101.0) is None
    assert storage.release_assignment("r", "w1", 1102.0)
    again = storage.claim_task(["team-a"], "w1", 1103.0)
    assert again is not None and again[1].accepted_at == 1103.0
    with pytest.raises(AssignmentError, match="does not exist"):
        storage.submit_answer("missing", "w1", {}, 1104.0)


def test_job_objects_filter_order_and_update(storage: Storage) -> None:
    # GIVEN five objects of a job, put out of order
    storage.put_job_objects([JobObject("job", f"o{n}", n, "pending", {"source": n}) for n in (3, 1, 4, 0, 2)])
    # WHEN some are queued with a task input and one fails
    storage.update_job_objects("job", ["o1", "o3"], status="queued", task_input={"x": 1}, iteration=1)
    storage.update_job_objects("job", ["o4", "missing"], status="failed", failure="bad", human=False)
    with pytest.raises(ValueError, match="cannot update job object fields"):
        storage.update_job_objects("job", ["o0"], seq=9)
    # THEN filters and order by position hold, and updates read back
    assert [o.object_id for o in storage.job_objects("job")] == ["o0", "o1", "o2", "o3", "o4"]
    queued = storage.job_objects("job", ["queued", "failed"])
    assert [(o.object_id, o.status) for o in queued] == [("o1", "queued"), ("o3", "queued"), ("o4", "failed")]
    assert (queued[0].task_input, queued[0].iteration, queued[2].failure, queued[2].human) == (
        {"x": 1},
        1,
        "bad",
        False,
    )
    assert storage.job_objects("job", []) == [] and storage.job_objects("other") == []


def test_workers_and_their_tokens(storage: Storage) -> None:
    storage.put_worker(Worker("w2", "bob", "hash-b", "sub-b", 2.0))
    storage.put_worker(Worker("w1", "alice", "hash-a", "sub-a", 1.0, simulated=True))
    # WHEN alice's token is rotated
    storage.put_worker(Worker("w1", "alice", "hash-a2", "ignored", 9.0))
    # THEN only the new token signs her in, and her first registration is kept
    assert storage.worker_by_token_hash("hash-a") is None
    alice = storage.worker_by_token_hash("hash-a2")
    assert alice is not None and (alice.id, alice.sub, alice.created, alice.simulated) == ("w1", "sub-a", 1.0, True)
    assert storage.get_worker("w2") is not None and storage.get_worker("nobody") is None
    assert [w.name for w in storage.list_workers()] == ["alice", "bob"]


def test_the_event_outbox(storage: Storage) -> None:
    # GIVEN three events
    ids = [storage.add_event("T", {"n": n}, copies=1, now=100.0 + n) for n in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3
    # WHEN the first is delivered and the second failed and waits until t=200
    storage.record_delivery(ids[0], delivered=True, attempts=1, next_attempt=100.0, error=None)
    storage.record_delivery(ids[1], delivered=False, attempts=1, next_attempt=200.0, error="boom")
    # THEN only the third is due now, both undelivered ones later; all are listed in order
    assert [e.id for e in storage.due_events(150.0, 10)] == [ids[2]]
    assert [e.id for e in storage.due_events(250.0, 10)] == [ids[1], ids[2]]
    listed = storage.list_events(after_id=ids[0], limit=10)
    assert [(e.id, e.body, e.delivered, e.last_error) for e in listed] == [
        (ids[1], {"n": 1}, False, "boom"),
        (ids[2], {"n": 2}, False, None),
    ]
    assert [e.id for e in storage.list_events(limit=2)] == ids[:2]
    assert storage.get_meta("secret") is None
    storage.set_meta("secret", "s")
    assert storage.get_meta("secret") == "s"
