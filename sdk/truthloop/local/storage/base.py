"""The storage interface of the local backend: records and the :class:`Storage` protocol.

Everything the emulator keeps goes through this protocol, so the same service code could run on another store
(DynamoDB for records plus S3 for large documents): each method is a single conditional read or write, the kind
a key-value store with conditional updates and transactions offers. :class:`~truthloop.local.storage.sqlite.
SQLiteStorage` is the implementation used locally.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = [
    "ANSWERABLE",
    "Assignment",
    "AssignmentError",
    "ClaimConflict",
    "EventRecord",
    "HumanLoop",
    "JobObject",
    "ListQuery",
    "LoopConflict",
    "LoopQuotaExceeded",
    "Resource",
    "Storage",
    "StorageError",
    "StorageThrottled",
    "StorageUnavailable",
    "SupportsClaimLeases",
    "SupportsFutureStart",
    "Task",
    "Worker",
    "resource_key",
]

TaskStatus = Literal["open", "closing", "done", "expired", "cancelled"]
#: task statuses in which a worker may still submit an answer to an assignment they hold
ANSWERABLE: frozenset[str] = frozenset({"open", "closing"})
#: resource kinds whose names are case-insensitive (stored under the lower-cased name)
_CASE_INSENSITIVE_KINDS = frozenset({"labeling-job"})


def resource_key(kind: str, name: str) -> str:
    """The key a resource is stored under: its name, lower-cased for kinds whose names ignore case."""
    return name.lower() if kind in _CASE_INSENSITIVE_KINDS else name


class StorageError(Exception):
    """Base of the errors the storage layer raises for conditional operations that fail."""


class LoopConflict(StorageError):
    """Raised when a human loop name exists with different input."""

    def __init__(self, existing: HumanLoop) -> None:
        self.existing = existing
        super().__init__(f"human loop {existing.name!r} already exists with different input")


class LoopQuotaExceeded(StorageError):
    """Raised when starting a loop would exceed the configured number of active loops."""

    def __init__(self, active: int, limit: int) -> None:
        self.active = active
        self.limit = limit
        super().__init__(f"{active} human loops are active; the configured quota is {limit}")


class AssignmentError(StorageError):
    """Raised when a worker submits to a task they do not hold (expired, released, already submitted)."""


class ClaimConflict(StorageError):
    """Raised when a claim names a task while the worker holds another live claim in that task's workteam.

    A worker holds at most one live claim per workteam (both stores keep that: SQLite in its write transaction,
    DynamoDB with the worker's hold item per workteam); ``held_task_id`` is the claim to finish or hand back first.
    """

    def __init__(self, worker_id: str, workteam_arn: str, held_task_id: str) -> None:
        self.worker_id = worker_id
        self.workteam_arn = workteam_arn
        self.held_task_id = held_task_id
        super().__init__(
            f"worker {worker_id} already holds task {held_task_id} in workteam {workteam_arn}: "
            "submit or release it before claiming another task of that workteam"
        )


class StorageThrottled(StorageError):
    """Raised when the store still throttles after its retries (DynamoDB throughput or transaction conflicts)."""

    def __init__(self, operation: str, detail: str) -> None:
        self.operation = operation
        super().__init__(f"the store throttled {operation} after retries: {detail}")


class StorageUnavailable(StorageError):
    """Raised when the store fails a request for a reason other than a condition or throttling (cause chained)."""

    def __init__(self, operation: str, detail: str) -> None:
        self.operation = operation
        super().__init__(f"the store failed {operation}: {detail}")


@dataclass
class Resource:
    """A control-plane resource (workforce, workteam, task UI, flow definition, labeling job) as a document."""

    kind: str
    name: str
    status: str
    created: float
    modified: float
    doc: dict[str, Any]


@dataclass
class HumanLoop:
    """An A2I human loop. Times are epoch seconds (UTC)."""

    name: str
    arn: str
    flow_arn: str
    status: str
    created: float
    input_content: str
    content_classifiers: list[str] = field(default_factory=list)
    failure_reason: str | None = None
    failure_code: str | None = None
    output_s3_uri: str | None = None
    task_id: str | None = None
    modified: float = 0.0


@dataclass
class Task:
    """A unit of work shown to workers: one A2I loop or one GT data object, answered by ``required`` workers."""

    id: str
    kind: Literal["a2i", "gt"]
    workteam_arn: str
    owner: str
    ui: str
    task_input: dict[str, Any]
    title: str
    description: str
    required: int
    time_limit: int
    created: float
    expires_at: float
    object_id: str | None = None
    keywords: list[str] = field(default_factory=list)
    status: TaskStatus = "open"
    answers: int = 0
    active: int = 0
    settled: bool = False
    #: failed settlement attempts so far, when the next one is due and why the last one failed (engine retries)
    settle_attempts: int = 0
    settle_after: float = 0.0
    settle_error: str | None = None


@dataclass
class Assignment:
    """One worker's hold on a task: accepted, then submitted, released, declined, or timed out.

    ``lease_until`` (when set) is when an unrenewed claim lapses: the task goes back to the queue before its time
    limit if the worker's page stopped renewing it. A ``declined`` assignment stays so that the task is not offered
    to that worker again; it is back in the queue for the others.
    """

    task_id: str
    worker_id: str
    status: Literal["active", "submitted", "released", "declined", "timedout"]
    accepted_at: float
    deadline: float
    submitted_at: float | None = None
    answer: dict[str, Any] | None = None
    lease_until: float | None = None


@dataclass
class JobObject:
    """One data object (manifest line) of a labeling job and where it is in the pipeline."""

    job: str
    object_id: str
    seq: int
    status: str
    data_object: dict[str, Any]
    task_input: dict[str, Any] | None = None
    task_id: str | None = None
    iteration: int | None = None
    result: dict[str, Any] | None = None
    failure: str | None = None
    human: bool = True


@dataclass
class Worker:
    """A local worker who signs in to the portal with a token (only its SHA-256 is stored)."""

    id: str
    name: str
    token_hash: str
    sub: str
    created: float
    simulated: bool = False


@dataclass
class EventRecord:
    """An EventBridge-shaped event waiting in the outbox, or delivered."""

    id: int
    detail_type: str
    body: dict[str, Any]
    created: float
    copies: int
    delivered: bool
    attempts: int
    next_attempt: float
    last_error: str | None = None


@dataclass(frozen=True)
class ListQuery:
    """Filters, order and page of a List* call. ``cursor`` is the storage's own opaque position."""

    created_after: float | None = None
    created_before: float | None = None
    modified_after: float | None = None
    modified_before: float | None = None
    name_contains: str | None = None
    status_equals: str | None = None
    sort_by: Literal["CreationTime", "Name", "Status"] = "CreationTime"
    ascending: bool = False
    cursor: str | None = None
    limit: int = 10


class Storage(Protocol):
    """Everything the emulator persists. Implementations must be safe to call from many threads."""

    # ------------------------------------------------------------------ lifecycle / meta
    def close(self) -> None: ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...

    # ------------------------------------------------------------------ control-plane resources
    def create_resource(self, resource: Resource) -> bool:
        """Insert ``resource``; ``False`` (and no change) when one of that kind and name exists."""
        ...

    def get_resource(self, kind: str, name: str) -> Resource | None: ...

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
        """Update status and/or doc (only when the current status is in ``expect_status``, if given)."""
        ...

    def delete_resource(self, kind: str, name: str) -> bool: ...

    def list_resources(self, kind: str, query: ListQuery) -> tuple[list[Resource], str | None]: ...

    def resources_in_status(self, kind: str, statuses: Sequence[str]) -> list[Resource]: ...

    # ------------------------------------------------------------------ human loops
    def start_human_loop(self, loop: HumanLoop, task: Task | None, *, max_active: int | None) -> tuple[HumanLoop, bool]:
        """Create ``loop`` (and its task) atomically; return ``(existing, False)`` for an identical retry.

        Raises :class:`LoopConflict` for the same name with different input and :class:`LoopQuotaExceeded` when
        ``max_active`` loops are already in progress.
        """
        ...

    def get_human_loop(self, name: str) -> HumanLoop | None: ...

    def list_human_loops(
        self,
        flow_arn: str,
        *,
        created_after: float | None,
        created_before: float | None,
        ascending: bool,
        cursor: str | None,
        limit: int,
    ) -> tuple[list[HumanLoop], str | None]: ...

    def transition_human_loop(
        self, name: str, expect: Sequence[str], status: str, *, now: float, **fields: Any
    ) -> HumanLoop | None:
        """Set ``status`` (and other fields) if the loop's status is in ``expect``; ``None`` otherwise."""
        ...

    def delete_human_loop(self, name: str, allowed: Sequence[str]) -> HumanLoop | None:
        """Delete the loop when its status is in ``allowed``; returns the loop as it was (or as it is)."""
        ...

    def human_loops_in_status(self, status: str, limit: int) -> list[HumanLoop]: ...

    def count_human_loops(self, status: str | None = None) -> int: ...

    # ------------------------------------------------------------------ tasks and assignments
    def put_tasks(self, tasks: Sequence[Task]) -> None: ...

    def get_task(self, task_id: str) -> Task | None: ...

    def claim_task(
        self, workteam_arns: Sequence[str], worker_id: str, now: float, *, task_id: str | None = None
    ) -> tuple[Task, Assignment] | None:
        """Give ``worker_id`` their active assignment in those teams, or a new one on the oldest open task.

        A worker holds at most one live claim per workteam. With ``task_id`` the claim is of that task only: the
        worker's assignment on it if they hold it, else a new one on it (``None`` when it is not open to them); it
        raises :class:`ClaimConflict` when they hold a live claim on another task of its workteam (a claim whose
        lease lapsed does not count).
        """
        ...

    def submit_answer(self, task_id: str, worker_id: str, answer: dict[str, Any], now: float) -> Task:
        """Record the answer of the worker's active assignment; the task is ``done`` once ``required`` answered."""
        ...

    def release_assignment(self, task_id: str, worker_id: str, now: float) -> bool: ...

    def assignments(self, task_id: str) -> list[Assignment]: ...

    def close_tasks(self, owner: str, now: float) -> int:
        """No new assignments for the owner's open tasks; tasks nobody holds are cancelled at once."""
        ...

    def sweep_tasks(self, now: float) -> int:
        """Expire tasks past their lifetime, time out assignments past their time limit, release lapsed leases."""
        ...

    def tasks_to_settle(self, limit: int, now: float | None = None) -> list[Task]:
        """Tasks that reached a final status and were not processed by the engine yet (oldest first).

        With ``now``, only those whose :meth:`defer_settlement` time has come (``settle_after <= now``).
        """
        ...

    def mark_settled(self, task_id: str) -> None: ...

    def defer_settlement(self, task_id: str, *, attempts: int, next_attempt: float, error: str) -> None:
        """Record a failed settlement of an unsettled task: its attempt count, next due time and the reason."""
        ...

    def queue_counts(self, workteam_arns: Sequence[str], worker_id: str) -> dict[str, int]:
        """Per workteam, how many tasks ``worker_id`` could claim now."""
        ...

    def open_task_count(self, owner: str) -> int: ...

    # ------------------------------------------------------------------ labeling job objects
    def put_job_objects(self, objects: Sequence[JobObject]) -> None: ...

    def job_objects(self, job: str, statuses: Sequence[str] | None = None) -> list[JobObject]: ...

    def update_job_objects(self, job: str, object_ids: Sequence[str], **fields: Any) -> None: ...

    # ------------------------------------------------------------------ workers
    def put_worker(self, worker: Worker) -> None: ...

    def worker_by_token_hash(self, token_hash: str) -> Worker | None: ...

    def get_worker(self, worker_id: str) -> Worker | None: ...

    def list_workers(self) -> list[Worker]: ...

    # ------------------------------------------------------------------ events (outbox)
    def add_event(self, detail_type: str, body: dict[str, Any], *, copies: int, now: float) -> int: ...

    def due_events(self, now: float, limit: int) -> list[EventRecord]: ...

    def record_delivery(
        self, event_id: int, *, delivered: bool, attempts: int, next_attempt: float, error: str | None
    ) -> None: ...

    def list_events(self, *, after_id: int = 0, limit: int = 1000) -> list[EventRecord]: ...


@runtime_checkable
class SupportsClaimLeases(Protocol):
    """Optional: short claims for the portal's browser pages, declines, and per-worker done counts.

    A store with these (SQLite and DynamoDB both have them) lets the portal hand an idle claim back quickly
    (``lease_seconds``, renewed by the open task page with :meth:`renew_lease`; :meth:`Storage.sweep_tasks` releases
    lapsed ones), keep a declined task from the worker who declined it (``decline=True``), and count each worker's
    answers per queue.
    """

    def claim_task(
        self,
        workteam_arns: Sequence[str],
        worker_id: str,
        now: float,
        *,
        task_id: str | None = None,
        lease_seconds: float | None = None,
    ) -> tuple[Task, Assignment] | None:
        """As :meth:`Storage.claim_task`; with ``lease_seconds`` the claim lapses at ``now + lease_seconds`` (never
        after its deadline) unless renewed, and a returned held assignment has its lease renewed the same way."""
        ...

    def renew_lease(self, task_id: str, worker_id: str, now: float, lease_seconds: float) -> Assignment | None:
        """Extend the worker's active claim to ``now + lease_seconds`` (capped at its deadline); None if not held."""
        ...

    def release_assignment(self, task_id: str, worker_id: str, now: float, *, decline: bool = False) -> bool:
        """Hand the worker's active claim back to the queue; ``decline`` also keeps it from that worker later."""
        ...

    def queue_done_counts(self, workteam_arns: Sequence[str], worker_id: str) -> dict[str, int]:
        """Per workteam, how many tasks ``worker_id`` has submitted answers to."""
        ...


@runtime_checkable
class SupportsFutureStart(Protocol):
    """Optional: a storage that can start a loop without blocking a thread (the HTTP layer awaits the future)."""

    def start_human_loop_future(
        self, loop: HumanLoop, task: Task | None, *, max_active: int | None
    ) -> Future[tuple[HumanLoop, bool]]: ...
