"""SQLite implementation of :class:`~truthloop.local.storage.base.Storage`.

* WAL mode: readers never block the writer; each thread reads through its own connection.
* One writer thread owns the only write connection. Callers hand it a function and wait for the result; the
  writer runs every queued function in ONE transaction (group commit), each inside its own savepoint so one
  failing function rolls back alone. Hundreds of concurrent ``StartHumanLoop`` calls cost one fsync-free commit.
* Schema changes are named migrations (:mod:`truthloop.local.storage.migrations`).
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from truthloop.local.storage.base import (
    Assignment,
    AssignmentError,
    ClaimConflict,
    EventRecord,
    HumanLoop,
    JobObject,
    ListQuery,
    LoopConflict,
    LoopQuotaExceeded,
    Resource,
    Task,
    Worker,
    resource_key,
)
from truthloop.local.storage.migrations import MIGRATIONS

__all__ = ["SQLiteStorage"]

T = TypeVar("T")
WriteFn = Callable[[sqlite3.Connection], Any]

_STOP = object()
_BATCH_MAX = 512
_LOOP_COLUMNS = (
    "name, arn, flow_arn, status, created, modified, input_content, content_classifiers, failure_reason, "
    "failure_code, output_s3_uri, task_id"
)
_TASK_COLUMNS = (
    "id, kind, workteam_arn, owner, object_id, ui, task_input, title, description, keywords, required, time_limit, "
    "created, expires_at, status, answers, active, settled, settle_attempts, settle_after, settle_error"
)
_TASK_WIDTH = len(_TASK_COLUMNS.split(","))


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _loop(row: sqlite3.Row | tuple[Any, ...]) -> HumanLoop:
    return HumanLoop(
        name=row[0],
        arn=row[1],
        flow_arn=row[2],
        status=row[3],
        created=row[4],
        modified=row[5],
        input_content=row[6],
        content_classifiers=json.loads(row[7]),
        failure_reason=row[8],
        failure_code=row[9],
        output_s3_uri=row[10],
        task_id=row[11],
    )


def _task(row: Sequence[Any]) -> Task:
    return Task(
        id=row[0],
        kind=row[1],
        workteam_arn=row[2],
        owner=row[3],
        object_id=row[4],
        ui=row[5],
        task_input=json.loads(row[6]),
        title=row[7],
        description=row[8],
        keywords=json.loads(row[9]),
        required=row[10],
        time_limit=row[11],
        created=row[12],
        expires_at=row[13],
        status=row[14],
        answers=row[15],
        active=row[16],
        settled=bool(row[17]),
        settle_attempts=row[18],
        settle_after=row[19],
        settle_error=row[20],
    )


def _assignment(row: Sequence[Any]) -> Assignment:
    return Assignment(
        task_id=row[0],
        worker_id=row[1],
        status=row[2],
        accepted_at=row[3],
        deadline=row[4],
        submitted_at=row[5],
        answer=None if row[6] is None else json.loads(row[6]),
        lease_until=row[7] if len(row) > 7 else None,
    )


_ASSIGNMENT_COLUMNS = "task_id, worker_id, status, accepted_at, deadline, submitted_at, answer, lease_until"


def _resource(row: Sequence[Any]) -> Resource:
    return Resource(kind=row[0], name=row[1], status=row[2], created=row[3], modified=row[4], doc=json.loads(row[5]))


def _job_object(row: Sequence[Any]) -> JobObject:
    return JobObject(
        job=row[0],
        object_id=row[1],
        seq=row[2],
        status=row[3],
        data_object=json.loads(row[4]),
        task_input=None if row[5] is None else json.loads(row[5]),
        task_id=row[6],
        iteration=row[7],
        result=None if row[8] is None else json.loads(row[8]),
        failure=row[9],
        human=bool(row[10]),
    )


def _event(row: Sequence[Any]) -> EventRecord:
    return EventRecord(
        id=row[0],
        detail_type=row[1],
        body=json.loads(row[2]),
        created=row[3],
        copies=row[4],
        delivered=bool(row[5]),
        attempts=row[6],
        next_attempt=row[7],
        last_error=row[8],
    )


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA cache_size = -65536")  # 64 MiB: 10,000s of loops and tasks stay in memory
    conn.execute("PRAGMA temp_store = MEMORY")
    return conn


class _Writer(threading.Thread):
    """The single thread that writes; batches queued writes into one transaction (group commit)."""

    def __init__(self, path: str) -> None:
        super().__init__(name="truthloop-sqlite-writer", daemon=True)
        self._path = path
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.commits = 0
        self.writes = 0

    def start_and_migrate(self) -> None:
        self.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error

    def submit(self, fn: WriteFn) -> Future[Any]:
        future: Future[Any] = Future()
        self._queue.put((fn, future))
        return future

    def stop(self) -> None:
        self._queue.put(_STOP)
        self.join(timeout=10)

    def run(self) -> None:
        try:
            conn = _connect(self._path)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            MIGRATIONS.apply(conn)
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is _STOP:
                break
            batch = [item]
            while len(batch) < _BATCH_MAX:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True
                    break
                batch.append(nxt)
            self._run_batch(conn, batch)
        conn.close()

    def _run_batch(self, conn: sqlite3.Connection, batch: list[tuple[WriteFn, Future[Any]]]) -> None:
        outcomes: list[tuple[Future[Any], Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            for _, future in batch:
                future.set_exception(exc)
            return
        if len(batch) == 1:  # no savepoint needed: the transaction is this one write
            fn, future = batch[0]
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(conn)
                except BaseException as exc:
                    conn.execute("ROLLBACK")
                    future.set_exception(exc)
                    return
                outcomes.append((future, result, None))
            batch = []
        for fn, future in batch:
            if not future.set_running_or_notify_cancel():
                continue
            conn.execute("SAVEPOINT w")
            try:
                result = fn(conn)
            except BaseException as exc:
                conn.execute("ROLLBACK TO w")
                conn.execute("RELEASE w")
                outcomes.append((future, None, exc))
            else:
                conn.execute("RELEASE w")
                outcomes.append((future, result, None))
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            for future, _, _ in outcomes:
                future.set_exception(exc)
            return
        self.commits += 1
        self.writes += len(outcomes)
        for future, result, error in outcomes:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(result)


class SQLiteStorage:
    """The local backend's storage: one SQLite file (WAL) under the data directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._writer = _Writer(self.path)
        self._writer.start_and_migrate()
        self._closed = False

    # ------------------------------------------------------------------ plumbing
    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path)
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return self._reader().execute(sql, params).fetchall()

    def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise RuntimeError("storage is closed")
        result: T = self._writer.submit(fn).result()
        return result

    @property
    def stats(self) -> dict[str, int]:
        return {"commits": self._writer.commits, "writes": self._writer.writes}

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.stop()
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()

    def applied_migrations(self) -> list[str]:
        return [row[0] for row in self._read("SELECT name FROM _migrations ORDER BY applied_at, rowid")]

    # ------------------------------------------------------------------ meta
    def get_meta(self, key: str) -> str | None:
        rows = self._read("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self._write(
            lambda c: c.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
        )

    # ------------------------------------------------------------------ resources
    def create_resource(self, resource: Resource) -> bool:
        def fn(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "INSERT OR IGNORE INTO resources (kind, key, name, status, created, modified, doc) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    resource.kind,
                    resource_key(resource.kind, resource.name),
                    resource.name,
                    resource.status,
                    resource.created,
                    resource.modified,
                    _dumps(resource.doc),
                ),
            )
            return cur.rowcount == 1

        return self._write(fn)

    def get_resource(self, kind: str, name: str) -> Resource | None:
        rows = self._read(
            "SELECT kind, name, status, created, modified, doc FROM resources WHERE kind = ? AND key = ?",
            (kind, resource_key(kind, name)),
        )
        return _resource(rows[0]) if rows else None

    def update_resource(
        self,
        kind: str,
        name: str,
        *,
        now: float,
        status: str | None = None,
        doc: dict[str, Any] | None = None,
        expect_status: Sequence[str] | None = None,
    ) -> Resource | None:
        key = resource_key(kind, name)

        def fn(c: sqlite3.Connection) -> Resource | None:
            row = c.execute(
                "SELECT kind, name, status, created, modified, doc FROM resources WHERE kind = ? AND key = ?",
                (kind, key),
            ).fetchone()
            if row is None:
                return None
            current = _resource(row)
            if expect_status is not None and current.status not in expect_status:
                return None
            if status is not None:
                current.status = status
            if doc is not None:
                current.doc = doc
            current.modified = now
            c.execute(
                "UPDATE resources SET status = ?, doc = ?, modified = ? WHERE kind = ? AND key = ?",
                (current.status, _dumps(current.doc), now, kind, key),
            )
            return current

        return self._write(fn)

    def delete_resource(self, kind: str, name: str) -> bool:
        key = resource_key(kind, name)
        return self._write(
            lambda c: c.execute("DELETE FROM resources WHERE kind = ? AND key = ?", (kind, key)).rowcount == 1
        )

    def list_resources(self, kind: str, query: ListQuery) -> tuple[list[Resource], str | None]:
        where = ["kind = ?"]
        params: list[Any] = [kind]
        for column, op, value in (
            ("created", ">", query.created_after),
            ("created", "<", query.created_before),
            ("modified", ">", query.modified_after),
            ("modified", "<", query.modified_before),
        ):
            if value is not None:
                where.append(f"{column} {op} ?")
                params.append(value)
        if query.name_contains:
            where.append("instr(lower(name), ?) > 0")
            params.append(query.name_contains.lower())
        if query.status_equals:
            where.append("status = ?")
            params.append(query.status_equals)
        column = {"CreationTime": "created", "Name": "name", "Status": "status"}[query.sort_by]
        direction = "ASC" if query.ascending else "DESC"
        offset = int(query.cursor) if query.cursor else 0
        rows = self._read(
            f"SELECT kind, name, status, created, modified, doc FROM resources WHERE {' AND '.join(where)} "
            f"ORDER BY {column} {direction}, name {direction} LIMIT ? OFFSET ?",
            [*params, query.limit + 1, offset],
        )
        items = [_resource(r) for r in rows[: query.limit]]
        cursor = str(offset + query.limit) if len(rows) > query.limit else None
        return items, cursor

    def resources_in_status(self, kind: str, statuses: Sequence[str]) -> list[Resource]:
        marks = ",".join("?" * len(statuses))
        rows = self._read(
            f"SELECT kind, name, status, created, modified, doc FROM resources WHERE kind = ? AND status IN ({marks}) "
            "ORDER BY created",
            [kind, *statuses],
        )
        return [_resource(r) for r in rows]

    # ------------------------------------------------------------------ human loops
    def start_human_loop(self, loop: HumanLoop, task: Task | None, *, max_active: int | None) -> tuple[HumanLoop, bool]:
        result: tuple[HumanLoop, bool] = self.start_human_loop_future(loop, task, max_active=max_active).result()
        return result

    def start_human_loop_future(
        self, loop: HumanLoop, task: Task | None, *, max_active: int | None
    ) -> Future[tuple[HumanLoop, bool]]:
        """:meth:`start_human_loop` without waiting: the HTTP layer awaits it instead of blocking a thread."""

        def fn(c: sqlite3.Connection) -> tuple[HumanLoop, bool]:
            row = c.execute(f"SELECT {_LOOP_COLUMNS} FROM human_loops WHERE name = ?", (loop.name,)).fetchone()
            if row is not None:
                existing = _loop(row)
                if existing.input_content == loop.input_content and existing.flow_arn == loop.flow_arn:
                    return existing, False
                raise LoopConflict(existing)
            if max_active is not None:
                active = c.execute(
                    "SELECT count(*) FROM human_loops WHERE status IN ('InProgress', 'Stopping')"
                ).fetchone()[0]
                if active >= max_active:
                    raise LoopQuotaExceeded(active, max_active)
            c.execute(
                f"INSERT INTO human_loops ({_LOOP_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    loop.name,
                    loop.arn,
                    loop.flow_arn,
                    loop.status,
                    loop.created,
                    loop.modified or loop.created,
                    loop.input_content,
                    _dumps(loop.content_classifiers),
                    loop.failure_reason,
                    loop.failure_code,
                    loop.output_s3_uri,
                    loop.task_id,
                ),
            )
            if task is not None:
                self._insert_task(c, task)
            return loop, True

        if self._closed:
            raise RuntimeError("storage is closed")
        return self._writer.submit(fn)

    def get_human_loop(self, name: str) -> HumanLoop | None:
        rows = self._read(f"SELECT {_LOOP_COLUMNS} FROM human_loops WHERE name = ?", (name,))
        return _loop(rows[0]) if rows else None

    def list_human_loops(
        self,
        flow_arn: str,
        *,
        created_after: float | None,
        created_before: float | None,
        ascending: bool,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[HumanLoop], str | None]:
        where = ["flow_arn = ?"]
        params: list[Any] = [flow_arn]
        if created_after is not None:
            where.append("created > ?")
            params.append(created_after)
        if created_before is not None:
            where.append("created < ?")
            params.append(created_before)
        if cursor:
            created_text, _, name = cursor.partition("|")
            op = ">" if ascending else "<"
            where.append(f"(created, name) {op} (?, ?)")
            params.extend([float(created_text), name])
        direction = "ASC" if ascending else "DESC"
        rows = self._read(
            f"SELECT {_LOOP_COLUMNS} FROM human_loops WHERE {' AND '.join(where)} "
            f"ORDER BY created {direction}, name {direction} LIMIT ?",
            [*params, limit + 1],
        )
        loops = [_loop(r) for r in rows[:limit]]
        next_cursor = None
        if len(rows) > limit:
            last = loops[-1]
            next_cursor = f"{last.created!r}|{last.name}"
        return loops, next_cursor

    def transition_human_loop(
        self, name: str, expect: Sequence[str], status: str, *, now: float, **fields: Any
    ) -> HumanLoop | None:
        allowed = {"failure_reason", "failure_code", "output_s3_uri"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update human loop fields {sorted(unknown)}")

        def fn(c: sqlite3.Connection) -> HumanLoop | None:
            row = c.execute(f"SELECT {_LOOP_COLUMNS} FROM human_loops WHERE name = ?", (name,)).fetchone()
            if row is None:
                return None
            loop = _loop(row)
            if loop.status not in expect:
                return None
            sets = ["status = ?", "modified = ?"]
            params: list[Any] = [status, now]
            for key, value in fields.items():
                sets.append(f"{key} = ?")
                params.append(value)
                setattr(loop, key, value)
            c.execute(f"UPDATE human_loops SET {', '.join(sets)} WHERE name = ?", [*params, name])
            loop.status = status
            loop.modified = now
            return loop

        return self._write(fn)

    def delete_human_loop(self, name: str, allowed: Sequence[str]) -> HumanLoop | None:
        def fn(c: sqlite3.Connection) -> HumanLoop | None:
            row = c.execute(f"SELECT {_LOOP_COLUMNS} FROM human_loops WHERE name = ?", (name,)).fetchone()
            if row is None:
                return None
            loop = _loop(row)
            if loop.status in allowed:
                c.execute("DELETE FROM human_loops WHERE name = ?", (name,))
                if loop.task_id is not None:
                    c.execute("DELETE FROM assignments WHERE task_id = ?", (loop.task_id,))
                    c.execute("DELETE FROM tasks WHERE id = ?", (loop.task_id,))
            return loop

        return self._write(fn)

    def human_loops_in_status(self, status: str, limit: int) -> list[HumanLoop]:
        rows = self._read(
            f"SELECT {_LOOP_COLUMNS} FROM human_loops WHERE status = ? ORDER BY created LIMIT ?", (status, limit)
        )
        return [_loop(r) for r in rows]

    def count_human_loops(self, status: str | None = None) -> int:
        if status is None:
            return int(self._read("SELECT count(*) FROM human_loops")[0][0])
        return int(self._read("SELECT count(*) FROM human_loops WHERE status = ?", (status,))[0][0])

    # ------------------------------------------------------------------ tasks
    @staticmethod
    def _insert_task(c: sqlite3.Connection, task: Task) -> None:
        c.execute(
            f"INSERT INTO tasks ({_TASK_COLUMNS}) VALUES ({', '.join('?' * _TASK_WIDTH)})",
            (
                task.id,
                task.kind,
                task.workteam_arn,
                task.owner,
                task.object_id,
                task.ui,
                _dumps(task.task_input),
                task.title,
                task.description,
                _dumps(task.keywords),
                task.required,
                task.time_limit,
                task.created,
                task.expires_at,
                task.status,
                task.answers,
                task.active,
                int(task.settled),
                task.settle_attempts,
                task.settle_after,
                task.settle_error,
            ),
        )

    def put_tasks(self, tasks: Sequence[Task]) -> None:
        def fn(c: sqlite3.Connection) -> None:
            for task in tasks:
                self._insert_task(c, task)

        self._write(fn)

    def get_task(self, task_id: str) -> Task | None:
        rows = self._read(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,))
        return _task(rows[0]) if rows else None

    def claim_task(
        self,
        workteam_arns: Sequence[str],
        worker_id: str,
        now: float,
        *,
        task_id: str | None = None,
        lease_seconds: float | None = None,
    ) -> tuple[Task, Assignment] | None:
        if not workteam_arns:
            return None
        marks = ",".join("?" * len(workteam_arns))
        columns = ", ".join(f"t.{c.strip()}" for c in _TASK_COLUMNS.split(","))
        held_columns = ", ".join(f"a.{c.strip()}" for c in _ASSIGNMENT_COLUMNS.split(","))

        def fn(c: sqlite3.Connection) -> tuple[Task, Assignment] | None:
            # the worker's live claims in those teams (at most one per team), oldest first
            holds = c.execute(
                f"SELECT {columns}, {held_columns} FROM assignments a JOIN tasks t ON t.id = a.task_id "
                f"WHERE a.worker_id = ? AND a.status = 'active' AND a.deadline > ? "
                f"AND (a.lease_until IS NULL OR a.lease_until > ?) AND t.workteam_arn IN ({marks}) "
                "ORDER BY a.accepted_at",
                [worker_id, now, now, *workteam_arns],
            ).fetchall()
            held = holds[0] if holds else None
            if task_id:
                held = next((h for h in holds if h[0] == task_id), None)
                if held is None:
                    named = c.execute("SELECT workteam_arn FROM tasks WHERE id = ?", (task_id,)).fetchone()
                    other = next((h for h in holds if named is not None and h[2] == named[0]), None)
                    if other is not None:
                        raise ClaimConflict(worker_id, other[2], other[0])
            if held is not None:
                task, assignment = _task(held[:_TASK_WIDTH]), _assignment(held[_TASK_WIDTH:])
                if lease_seconds is not None:
                    assignment.lease_until = min(now + lease_seconds, assignment.deadline)
                    c.execute(
                        "UPDATE assignments SET lease_until = ? WHERE task_id = ? AND worker_id = ?",
                        (assignment.lease_until, task.id, worker_id),
                    )
                return task, assignment
            row = c.execute(
                f"SELECT {columns} FROM tasks t WHERE t.workteam_arn IN ({marks}) AND t.status = 'open' "
                "AND t.answers + t.active < t.required AND t.expires_at > ? "
                + ("AND t.id = ? " if task_id else "")
                + "AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task_id = t.id AND a.worker_id = ?) "
                "ORDER BY t.seq LIMIT 1",
                [*workteam_arns, now, *([task_id] if task_id else []), worker_id],
            ).fetchone()
            if row is None:
                return None
            task = _task(row)
            deadline = min(now + task.time_limit, task.expires_at) if task.time_limit > 0 else task.expires_at
            lease = None if lease_seconds is None else min(now + lease_seconds, deadline)
            assignment = Assignment(task.id, worker_id, "active", now, deadline, lease_until=lease)
            c.execute(
                "INSERT INTO assignments (task_id, worker_id, status, accepted_at, deadline, lease_until) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (task.id, worker_id, "active", now, deadline, lease),
            )
            c.execute("UPDATE tasks SET active = active + 1 WHERE id = ?", (task.id,))
            task.active += 1
            return task, assignment

        return self._write(fn)

    def renew_lease(self, task_id: str, worker_id: str, now: float, lease_seconds: float) -> Assignment | None:
        def fn(c: sqlite3.Connection) -> Assignment | None:
            row = c.execute(
                f"SELECT {_ASSIGNMENT_COLUMNS} FROM assignments WHERE task_id = ? AND worker_id = ? "
                "AND status = 'active' AND deadline > ? AND (lease_until IS NULL OR lease_until > ?)",
                (task_id, worker_id, now, now),
            ).fetchone()
            if row is None:
                return None
            assignment = _assignment(row)
            assignment.lease_until = min(now + lease_seconds, assignment.deadline)
            c.execute(
                "UPDATE assignments SET lease_until = ? WHERE task_id = ? AND worker_id = ?",
                (assignment.lease_until, task_id, worker_id),
            )
            return assignment

        return self._write(fn)

    def submit_answer(self, task_id: str, worker_id: str, answer: dict[str, Any], now: float) -> Task:
        def fn(c: sqlite3.Connection) -> Task:
            row = c.execute(f"SELECT {_TASK_COLUMNS} FROM tasks WHERE id = ?", (task_id,)).fetchone()
            if row is None:
                raise AssignmentError(f"task {task_id} does not exist")
            task = _task(row)
            held = c.execute(
                f"SELECT {_ASSIGNMENT_COLUMNS} FROM assignments WHERE task_id = ? AND worker_id = ?",
                (task_id, worker_id),
            ).fetchone()
            if held is None:
                raise AssignmentError(f"task {task_id} is not assigned to this worker")
            assignment = _assignment(held)
            if assignment.status == "submitted":
                raise AssignmentError(f"task {task_id} was already submitted by this worker")
            if assignment.status != "active":
                raise AssignmentError(f"the assignment of task {task_id} is {assignment.status}")
            if task.status not in ("open", "closing"):
                raise AssignmentError(f"task {task_id} is {task.status}")
            if assignment.deadline <= now:
                raise AssignmentError(f"the time limit of task {task_id} has passed")
            if assignment.lease_until is not None and assignment.lease_until <= now:
                raise AssignmentError(f"the claim on task {task_id} lapsed (its page stopped renewing it)")
            c.execute(
                "UPDATE assignments SET status = 'submitted', submitted_at = ?, answer = ? "
                "WHERE task_id = ? AND worker_id = ?",
                (now, _dumps(answer), task_id, worker_id),
            )
            task.answers += 1
            task.active -= 1
            if task.answers >= task.required:
                task.status = "done"
            elif task.status == "closing" and task.active == 0:
                task.status = "cancelled"
            c.execute(
                "UPDATE tasks SET answers = ?, active = ?, status = ? WHERE id = ?",
                (task.answers, task.active, task.status, task_id),
            )
            return task

        return self._write(fn)

    def release_assignment(self, task_id: str, worker_id: str, now: float, *, decline: bool = False) -> bool:
        def fn(c: sqlite3.Connection) -> bool:
            if decline:  # kept as 'declined' so this worker is not offered the task again
                cur = c.execute(
                    "UPDATE assignments SET status = 'declined', lease_until = NULL "
                    "WHERE task_id = ? AND worker_id = ? AND status = 'active'",
                    (task_id, worker_id),
                )
            else:
                cur = c.execute(
                    "DELETE FROM assignments WHERE task_id = ? AND worker_id = ? AND status = 'active'",
                    (task_id, worker_id),
                )
            if cur.rowcount != 1:
                return False
            c.execute("UPDATE tasks SET active = active - 1 WHERE id = ?", (task_id,))
            c.execute(
                "UPDATE tasks SET status = 'cancelled' WHERE id = ? AND status = 'closing' AND active = 0", (task_id,)
            )
            return True

        return self._write(fn)

    def assignments(self, task_id: str) -> list[Assignment]:
        rows = self._read(
            f"SELECT {_ASSIGNMENT_COLUMNS} FROM assignments WHERE task_id = ? ORDER BY accepted_at, worker_id",
            (task_id,),
        )
        return [_assignment(r) for r in rows]

    def close_tasks(self, owner: str, now: float) -> int:
        def fn(c: sqlite3.Connection) -> int:
            cancelled = c.execute(
                "UPDATE tasks SET status = 'cancelled' WHERE owner = ? AND status = 'open' AND active = 0", (owner,)
            ).rowcount
            closing = c.execute(
                "UPDATE tasks SET status = 'closing' WHERE owner = ? AND status = 'open' AND active > 0", (owner,)
            ).rowcount
            return int(cancelled + closing)

        return self._write(fn)

    def sweep_tasks(self, now: float) -> int:
        def fn(c: sqlite3.Connection) -> int:
            changed = 0
            lapsed = c.execute(
                "SELECT task_id, count(*) FROM assignments WHERE status = 'active' AND lease_until <= ? "
                "AND deadline > ? GROUP BY task_id",
                (now, now),
            ).fetchall()
            if lapsed:  # an unrenewed claim goes back to the queue (for its worker too: nobody declined it)
                c.execute(
                    "DELETE FROM assignments WHERE status = 'active' AND lease_until <= ? AND deadline > ?", (now, now)
                )
                for task_id, count in lapsed:
                    c.execute("UPDATE tasks SET active = max(active - ?, 0) WHERE id = ?", (count, task_id))
                    c.execute(
                        "UPDATE tasks SET status = 'cancelled' WHERE id = ? AND status = 'closing' AND active = 0",
                        (task_id,),
                    )
                changed += len(lapsed)
            timed_out = c.execute(
                "SELECT task_id, count(*) FROM assignments WHERE status = 'active' AND deadline <= ? GROUP BY task_id",
                (now,),
            ).fetchall()
            if timed_out:
                c.execute(
                    "UPDATE assignments SET status = 'timedout' WHERE status = 'active' AND deadline <= ?", (now,)
                )
                for task_id, count in timed_out:
                    c.execute("UPDATE tasks SET active = max(active - ?, 0) WHERE id = ?", (count, task_id))
                    c.execute(
                        "UPDATE tasks SET status = 'cancelled' WHERE id = ? AND status = 'closing' AND active = 0",
                        (task_id,),
                    )
                changed += len(timed_out)
            expired = c.execute(
                "SELECT id FROM tasks WHERE status IN ('open', 'closing') AND expires_at <= ?", (now,)
            ).fetchall()
            for (task_id,) in expired:
                c.execute(
                    "UPDATE assignments SET status = 'timedout' WHERE task_id = ? AND status = 'active'", (task_id,)
                )
                c.execute(
                    "UPDATE tasks SET status = CASE status WHEN 'open' THEN 'expired' ELSE 'cancelled' END, "
                    "active = 0 WHERE id = ?",
                    (task_id,),
                )
            return changed + len(expired)

        return self._write(fn)

    def tasks_to_settle(self, limit: int, now: float | None = None) -> list[Task]:
        due = float("inf") if now is None else now
        rows = self._read(
            f"SELECT {_TASK_COLUMNS} FROM tasks WHERE settled = 0 AND status IN ('done', 'expired', 'cancelled') "
            "AND settle_after <= ? ORDER BY seq LIMIT ?",
            (due, limit),
        )
        return [_task(r) for r in rows]

    def mark_settled(self, task_id: str) -> None:
        self._write(lambda c: c.execute("UPDATE tasks SET settled = 1 WHERE id = ?", (task_id,)))

    def defer_settlement(self, task_id: str, *, attempts: int, next_attempt: float, error: str) -> None:
        self._write(
            lambda c: c.execute(
                "UPDATE tasks SET settle_attempts = ?, settle_after = ?, settle_error = ? WHERE id = ? AND settled = 0",
                (attempts, next_attempt, error, task_id),
            )
        )

    def queue_counts(self, workteam_arns: Sequence[str], worker_id: str) -> dict[str, int]:
        if not workteam_arns:
            return {}
        marks = ",".join("?" * len(workteam_arns))
        rows = self._read(
            f"SELECT t.workteam_arn, count(*) FROM tasks t WHERE t.workteam_arn IN ({marks}) AND ("
            "(t.status = 'open' AND t.answers + t.active < t.required AND NOT EXISTS (SELECT 1 FROM assignments a "
            "WHERE a.task_id = t.id AND a.worker_id = ?)) OR EXISTS (SELECT 1 FROM assignments a WHERE "
            "a.task_id = t.id AND a.worker_id = ? AND a.status = 'active')) GROUP BY t.workteam_arn",
            [*workteam_arns, worker_id, worker_id],
        )
        counts = dict.fromkeys(workteam_arns, 0)
        counts.update({arn: int(n) for arn, n in rows})
        return counts

    def queue_done_counts(self, workteam_arns: Sequence[str], worker_id: str) -> dict[str, int]:
        if not workteam_arns:
            return {}
        marks = ",".join("?" * len(workteam_arns))
        rows = self._read(
            f"SELECT t.workteam_arn, count(*) FROM assignments a JOIN tasks t ON t.id = a.task_id "
            f"WHERE a.worker_id = ? AND a.status = 'submitted' AND t.workteam_arn IN ({marks}) GROUP BY t.workteam_arn",
            [worker_id, *workteam_arns],
        )
        counts = dict.fromkeys(workteam_arns, 0)
        counts.update({arn: int(n) for arn, n in rows})
        return counts

    def open_task_count(self, owner: str) -> int:
        rows = self._read("SELECT count(*) FROM tasks WHERE owner = ? AND status IN ('open', 'closing')", (owner,))
        return int(rows[0][0])

    # ------------------------------------------------------------------ job objects
    def put_job_objects(self, objects: Sequence[JobObject]) -> None:
        def fn(c: sqlite3.Connection) -> None:
            c.executemany(
                "INSERT OR REPLACE INTO job_objects (job, object_id, seq, status, data_object, task_input, task_id, "
                "iteration, result, failure, human) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        o.job,
                        o.object_id,
                        o.seq,
                        o.status,
                        _dumps(o.data_object),
                        None if o.task_input is None else _dumps(o.task_input),
                        o.task_id,
                        o.iteration,
                        None if o.result is None else _dumps(o.result),
                        o.failure,
                        int(o.human),
                    )
                    for o in objects
                ],
            )

        self._write(fn)

    def job_objects(self, job: str, statuses: Sequence[str] | None = None) -> list[JobObject]:
        sql = (
            "SELECT job, object_id, seq, status, data_object, task_input, task_id, iteration, result, failure, human "
            "FROM job_objects WHERE job = ?"
        )
        params: list[Any] = [job]
        if statuses is not None:
            sql += f" AND status IN ({','.join('?' * len(statuses))})"
            params.extend(statuses)
        return [_job_object(r) for r in self._read(sql + " ORDER BY seq", params)]

    def update_job_objects(self, job: str, object_ids: Sequence[str], **fields: Any) -> None:
        allowed = {"status", "task_input", "task_id", "iteration", "result", "failure", "human"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update job object fields {sorted(unknown)}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        values = [
            _dumps(v) if k in ("task_input", "result") and v is not None else (int(v) if k == "human" else v)
            for k, v in fields.items()
        ]

        def fn(c: sqlite3.Connection) -> None:
            c.executemany(
                f"UPDATE job_objects SET {sets} WHERE job = ? AND object_id = ?",
                [(*values, job, object_id) for object_id in object_ids],
            )

        self._write(fn)

    # ------------------------------------------------------------------ workers
    def put_worker(self, worker: Worker) -> None:
        self._write(
            lambda c: c.execute(
                "INSERT INTO workers (id, name, token_hash, sub, created, simulated) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET token_hash = excluded.token_hash, name = excluded.name",
                (worker.id, worker.name, worker.token_hash, worker.sub, worker.created, int(worker.simulated)),
            )
        )

    def _workers(self, where: str, params: Sequence[Any]) -> list[Worker]:
        rows = self._read(f"SELECT id, name, token_hash, sub, created, simulated FROM workers {where}", params)
        return [Worker(r[0], r[1], r[2], r[3], r[4], bool(r[5])) for r in rows]

    def worker_by_token_hash(self, token_hash: str) -> Worker | None:
        found = self._workers("WHERE token_hash = ?", (token_hash,))
        return found[0] if found else None

    def get_worker(self, worker_id: str) -> Worker | None:
        found = self._workers("WHERE id = ?", (worker_id,))
        return found[0] if found else None

    def list_workers(self) -> list[Worker]:
        return self._workers("ORDER BY created, name", ())

    # ------------------------------------------------------------------ events
    def add_event(self, detail_type: str, body: dict[str, Any], *, copies: int, now: float) -> int:
        def fn(c: sqlite3.Connection) -> int:
            cur = c.execute(
                "INSERT INTO events (detail_type, body, created, copies, next_attempt) VALUES (?, ?, ?, ?, ?)",
                (detail_type, _dumps(body), now, copies, now),
            )
            return int(cur.lastrowid or 0)

        return self._write(fn)

    def due_events(self, now: float, limit: int) -> list[EventRecord]:
        rows = self._read(
            "SELECT id, detail_type, body, created, copies, delivered, attempts, next_attempt, last_error FROM events "
            "WHERE delivered = 0 AND next_attempt <= ? ORDER BY id LIMIT ?",
            (now, limit),
        )
        return [_event(r) for r in rows]

    def record_delivery(
        self, event_id: int, *, delivered: bool, attempts: int, next_attempt: float, error: str | None
    ) -> None:
        self._write(
            lambda c: c.execute(
                "UPDATE events SET delivered = ?, attempts = ?, next_attempt = ?, last_error = ? WHERE id = ?",
                (int(delivered), attempts, next_attempt, error, event_id),
            )
        )

    def list_events(self, *, after_id: int = 0, limit: int = 1000) -> list[EventRecord]:
        rows = self._read(
            "SELECT id, detail_type, body, created, copies, delivered, attempts, next_attempt, last_error FROM events "
            "WHERE id > ? ORDER BY id LIMIT ?",
            (after_id, limit),
        )
        return [_event(r) for r in rows]
