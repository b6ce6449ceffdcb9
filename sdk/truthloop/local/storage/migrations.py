"""Named, recorded schema migrations for the local backend's SQLite database.

Each migration is a function registered under a unique name; applied names are recorded in ``_migrations`` so a
restart applies only what is new. Never edit an applied migration: add a new one.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["MIGRATIONS", "Migrations"]


class MigrationFn(Protocol):
    def __call__(self, conn: sqlite3.Connection) -> None: ...


class Migrations:
    """An ordered registry of named migrations."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._steps: list[tuple[str, MigrationFn]] = []

    def __call__(self, name: str) -> Callable[[MigrationFn], MigrationFn]:
        def register(fn: MigrationFn) -> MigrationFn:
            if any(existing == name for existing, _ in self._steps):
                raise ValueError(f"migration {name!r} is registered twice")
            self._steps.append((name, fn))
            return fn

        return register

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self._steps]

    def applied(self, conn: sqlite3.Connection) -> list[str]:
        conn.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)")
        return [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY applied_at, rowid")]

    def pending(self, conn: sqlite3.Connection) -> list[str]:
        done = set(self.applied(conn))
        return [name for name in self.names if name not in done]

    def apply(self, conn: sqlite3.Connection) -> list[str]:
        """Apply every pending migration, each in its own transaction; returns the names applied."""
        done = set(self.applied(conn))
        applied = []
        for name, fn in self._steps:
            if name in done:
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                fn(conn)
                conn.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, time.time()))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            applied.append(name)
        return applied


MIGRATIONS = Migrations("truthloop-local")


@MIGRATIONS("0001_initial")
def _initial(conn: sqlite3.Connection) -> None:
    statements = [
        """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
        """CREATE TABLE resources (
            kind TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
            created REAL NOT NULL, modified REAL NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (kind, key))""",
        "CREATE INDEX resources_by_created ON resources (kind, created)",
        "CREATE INDEX resources_by_status ON resources (kind, status)",
        """CREATE TABLE human_loops (
            name TEXT PRIMARY KEY, arn TEXT NOT NULL, flow_arn TEXT NOT NULL, status TEXT NOT NULL,
            created REAL NOT NULL, modified REAL NOT NULL, input_content TEXT NOT NULL,
            content_classifiers TEXT NOT NULL, failure_reason TEXT, failure_code TEXT, output_s3_uri TEXT,
            task_id TEXT)""",
        "CREATE INDEX human_loops_by_flow ON human_loops (flow_arn, created, name)",
        "CREATE INDEX human_loops_by_status ON human_loops (status)",
        """CREATE TABLE tasks (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, kind TEXT NOT NULL,
            workteam_arn TEXT NOT NULL, owner TEXT NOT NULL, object_id TEXT, ui TEXT NOT NULL,
            task_input TEXT NOT NULL, title TEXT NOT NULL, description TEXT NOT NULL, keywords TEXT NOT NULL,
            required INTEGER NOT NULL, time_limit INTEGER NOT NULL, created REAL NOT NULL,
            expires_at REAL NOT NULL, status TEXT NOT NULL, answers INTEGER NOT NULL DEFAULT 0,
            active INTEGER NOT NULL DEFAULT 0, settled INTEGER NOT NULL DEFAULT 0)""",
        "CREATE INDEX tasks_queue ON tasks (workteam_arn, status, seq)",
        "CREATE INDEX tasks_by_expiry ON tasks (status, expires_at)",
        "CREATE INDEX tasks_by_owner ON tasks (owner, status)",
        "CREATE INDEX tasks_unsettled ON tasks (settled, status)",
        """CREATE TABLE assignments (
            task_id TEXT NOT NULL, worker_id TEXT NOT NULL, status TEXT NOT NULL, accepted_at REAL NOT NULL,
            deadline REAL NOT NULL, submitted_at REAL, answer TEXT, PRIMARY KEY (task_id, worker_id))""",
        "CREATE INDEX assignments_by_deadline ON assignments (status, deadline)",
        "CREATE INDEX assignments_by_worker ON assignments (worker_id, status)",
        """CREATE TABLE job_objects (
            job TEXT NOT NULL, object_id TEXT NOT NULL, seq INTEGER NOT NULL, status TEXT NOT NULL,
            data_object TEXT NOT NULL, task_input TEXT, task_id TEXT, iteration INTEGER, result TEXT,
            failure TEXT, human INTEGER NOT NULL DEFAULT 1, PRIMARY KEY (job, object_id))""",
        "CREATE INDEX job_objects_by_status ON job_objects (job, status, seq)",
        """CREATE TABLE workers (
            id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, token_hash TEXT NOT NULL UNIQUE, sub TEXT NOT NULL,
            created REAL NOT NULL, simulated INTEGER NOT NULL DEFAULT 0)""",
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT, detail_type TEXT NOT NULL, body TEXT NOT NULL,
            created REAL NOT NULL, copies INTEGER NOT NULL, delivered INTEGER NOT NULL DEFAULT 0,
            attempts INTEGER NOT NULL DEFAULT 0, next_attempt REAL NOT NULL, last_error TEXT)""",
        "CREATE INDEX events_due ON events (delivered, next_attempt)",
    ]
    for statement in statements:
        conn.execute(statement)


@MIGRATIONS("0002_settle_retries")
def _settle_retries(conn: sqlite3.Connection) -> None:
    """A task whose settlement failed waits until ``settle_after``; ``settle_attempts`` bounds its retries."""
    conn.execute("ALTER TABLE tasks ADD COLUMN settle_attempts INTEGER NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE tasks ADD COLUMN settle_after REAL NOT NULL DEFAULT 0")
    conn.execute("ALTER TABLE tasks ADD COLUMN settle_error TEXT")


@MIGRATIONS("0003_assignment_lease")
def _assignment_lease(conn: sqlite3.Connection) -> None:
    """A claim's lease (epoch seconds; NULL: held until the time limit), renewed while the worker's page is open."""
    conn.execute("ALTER TABLE assignments ADD COLUMN lease_until REAL")
    conn.execute("CREATE INDEX assignments_by_lease ON assignments (status, lease_until)")
