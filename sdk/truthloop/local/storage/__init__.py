"""Persistence of the local backend: the :class:`Storage` protocol and its SQLite implementation."""

from truthloop.local.storage.base import (
    Assignment,
    AssignmentError,
    EventRecord,
    HumanLoop,
    JobObject,
    ListQuery,
    LoopConflict,
    LoopQuotaExceeded,
    Resource,
    Storage,
    StorageError,
    StorageThrottled,
    StorageUnavailable,
    SupportsClaimLeases,
    SupportsFutureStart,
    Task,
    Worker,
)
from truthloop.local.storage.sqlite import SQLiteStorage

__all__ = [
    "Assignment",
    "AssignmentError",
    "EventRecord",
    "HumanLoop",
    "JobObject",
    "ListQuery",
    "LoopConflict",
    "LoopQuotaExceeded",
    "Resource",
    "SQLiteStorage",
    "Storage",
    "StorageError",
    "StorageThrottled",
    "StorageUnavailable",
    "SupportsClaimLeases",
    "SupportsFutureStart",
    "Task",
    "Worker",
]
