"""DynamoDB + S3 implementation of :class:`~truthloop.local.storage.base.Storage` (the service's store).

* One table (:mod:`~truthloop.local.storage.dynamodb_schema`), items and index keys in
  :mod:`~truthloop.local.storage.dynamodb_items`, requests (error mapping, retries, paging, counters) in
  :mod:`~truthloop.local.storage.dynamodb_requests`. ``docs/service.md`` ("Storage: table layout") is the reference.
* Every decision that two writers could race on is a condition in the write itself: a loop name
  (``attribute_not_exists``), the active-loop quota (a counter item updated in the same transaction, ``active <
  max``), a claim (the task's ``free > 0``, one assignment per worker and task, one active hold per worker and
  workteam), a submission (the assignment is active and the task's version is the one read). A write that loses a
  race is re-read and retried; a refusal becomes the protocol's error (``LoopConflict``, ``LoopQuotaExceeded``,
  ``AssignmentError``).
* Lists are Queries on the table or an index, paged with an opaque cursor (the last returned item's key); there is
  no Scan anywhere.
* Documents (loop input, task input, answers, resource documents, job object payloads, event bodies) above
  :data:`~truthloop.local.storage.dynamodb_items.OFFLOAD_BYTES` go to S3; the item keeps a pointer.
* Finished work (final loops, settled tasks, submitted or timed-out assignments, delivered events) gets the TTL
  attribute ``purge_at``; until DynamoDB deletes such an item, reads treat it as gone.
* ``ClientError`` never leaves: throttling still failing after botocore's standard retries raises
  :class:`~truthloop.local.storage.base.StorageThrottled`, anything else
  :class:`~truthloop.local.storage.base.StorageUnavailable` (cause chained).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import boto3

from truthloop.local.storage import dynamodb_items as it
from truthloop.local.storage.base import (
    ANSWERABLE,
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
    StorageError,
    StorageThrottled,
    StorageUnavailable,
    Task,
    Worker,
    resource_key,
)
from truthloop.local.storage.dynamodb_items import HIGH, Expr, Item
from truthloop.local.storage.dynamodb_requests import (
    ATTEMPTS,
    CLIENT_CONFIG,
    Cancelled,
    ConditionFailed,
    TableRequests,
    backoff,
    unwrap,
)
from truthloop.local.storage.dynamodb_schema import TTL_ATTRIBUTE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_s3 import S3Client

__all__ = ["DEFAULT_RETENTION_SECONDS", "DynamoDBStorage"]

#: how long finished work stays readable before DynamoDB's TTL deletes it (30 days)
DEFAULT_RETENTION_SECONDS = 30 * 86400
_TRANSACTION_MAX_ITEMS = 100
_TRANSACTION_MAX_BYTES = 3_500_000  # TransactWriteItems takes 4 MB; the estimate below is JSON, not the wire size
_COUNTER = {"pk": {"S": "COUNTER"}, "sk": {"S": "active-loops"}}
_EVENT_IDS = {"pk": {"S": "COUNTER"}, "sk": {"S": "event-id"}}
_CLAIM_BATCH = 25
#: statuses a resource does not leave (queried last: see resources_in_status)
_FINAL_STATUSES = frozenset({"Completed", "Failed", "Stopped"})


class DynamoDBStorage(TableRequests):
    """The store of the service: one DynamoDB table plus an S3 bucket for large documents.

    ``dynamodb`` and ``s3`` are boto3 clients (or resources) so moto and AWS both work; without them, clients are
    made with botocore's standard retry mode. ``serialize_requests`` sends one request at a time: moto does not
    apply a request atomically (it copies and restores the whole table around a transaction), so local runs on
    moto set it; DynamoDB itself applies each request atomically and needs no lock.
    """

    def __init__(
        self,
        table_name: str,
        *,
        bucket: str,
        dynamodb: DynamoDBClient | None = None,
        s3: S3Client | None = None,
        key_prefix: str = "",
        retention_seconds: float | None = DEFAULT_RETENTION_SECONDS,
        offload_bytes: int = it.OFFLOAD_BYTES,
        serialize_requests: bool = False,
    ) -> None:
        client: DynamoDBClient = (
            unwrap(dynamodb) if dynamodb is not None else boto3.client("dynamodb", config=CLIENT_CONFIG)
        )
        super().__init__(table_name, client, serialize_requests=serialize_requests)
        s3_client: S3Client = unwrap(s3) if s3 is not None else boto3.client("s3", config=CLIENT_CONFIG)
        self.docs = it.Documents(s3_client, bucket, key_prefix, offload_bytes)
        self.retention_seconds = retention_seconds

    @property
    def stats(self) -> dict[str, dict[str, float]]:
        """DynamoDB requests and capacity per operation (see the base), plus S3 document puts and gets."""
        stats = super().stats
        stats["S3"] = {"puts": float(self.docs.puts), "gets": float(self.docs.gets)}
        return stats

    def reset_stats(self) -> None:
        super().reset_stats()
        self.docs.puts = self.docs.gets = 0

    # ------------------------------------------------------------------ plumbing
    def _transact_releasing_holds(self, items: list[dict[str, Any]], holds: list[dict[str, Any]]) -> None:
        """Run ``items`` plus optional writes: the deletes of workers' holds (a hold that points elsewhere by now is
        left alone) and done-count decrements (a count that is 0 already stays 0); a failed optional write is
        dropped and the rest retried."""
        while True:
            try:
                self._transact(items + holds)
                return
            except Cancelled as exc:
                failed_holds = [h for n, h in enumerate(holds) if exc.failed(len(items) + n)]
                if not failed_holds or any(exc.failed(n) for n in range(len(items))):
                    raise
                holds = [h for h in holds if h not in failed_holds]

    @staticmethod
    def _visible_filter(e: Expr) -> str:
        return f"(attribute_not_exists({e.n(TTL_ATTRIBUTE)}) OR {e.n(TTL_ATTRIBUTE)} > {e.v(time.time())})"

    def _purge_at(self) -> float | None:
        return it.purge_time(self.retention_seconds)

    def close(self) -> None:
        """Nothing to release: the clients hold no state that needs closing."""

    # ------------------------------------------------------------------ meta
    def get_meta(self, key: str) -> str | None:
        item = self._get({"pk": {"S": "META"}, "sk": {"S": key}})
        return None if item is None else it.s(item, "value")

    def set_meta(self, key: str, value: str) -> None:
        self._call("put_item", Item={"pk": {"S": "META"}, "sk": {"S": key}, "value": {"S": value}})

    # ------------------------------------------------------------------ resources
    def create_resource(self, resource: Resource) -> bool:
        e = Expr()
        item = it.resource_item(resource, resource_key(resource.kind, resource.name), self.docs)
        try:
            self._call("put_item", Item=item, **e.params(condition=f"attribute_not_exists({e.n('pk')})"))
        except ConditionFailed:
            return False
        return True

    def get_resource(self, kind: str, name: str) -> Resource | None:
        item = self._get({"pk": {"S": it.resource_pk(kind)}, "sk": {"S": resource_key(kind, name)}})
        return None if item is None else it.resource_from(item, self.docs)

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
        e = Expr().set("modified", float(now))
        if status is not None:
            e.set("status", status).set("g2sk", f"{status}#{key}")
        if doc is not None:
            e.set_all(self.docs.fields("doc", it.dumps(doc), 1))
        condition = f"attribute_exists({e.n('pk')})"
        if expect_status is not None:
            if not expect_status:
                return None
            condition += f" AND {e.in_('status', expect_status)}"
        try:
            response = self._call(
                "update_item",
                Key={"pk": {"S": it.resource_pk(kind)}, "sk": {"S": key}},
                ReturnValues="ALL_NEW",
                **e.params(condition=condition, update=True),
            )
        except ConditionFailed:
            return None
        return it.resource_from(response["Attributes"], self.docs)

    def delete_resource(self, kind: str, name: str) -> bool:
        e = Expr()
        try:
            self._call(
                "delete_item",
                Key={"pk": {"S": it.resource_pk(kind)}, "sk": {"S": resource_key(kind, name)}},
                **e.params(condition=f"attribute_exists({e.n('pk')})"),
            )
        except ConditionFailed:
            return False
        return True

    def list_resources(self, kind: str, query: ListQuery) -> tuple[list[Resource], str | None]:
        e = Expr()
        pk = e.v(it.resource_pk(kind))
        filters: list[str] = []
        if query.sort_by == "CreationTime":  # gsi1: <created>#<key>; the exact bounds are filters
            index: str | None = "gsi1"
            key_condition = f"{e.n('g1pk')} = {pk}"
            low = None if query.created_after is None else it.tkey(query.created_after)
            high = None if query.created_before is None else it.tkey(query.created_before) + "#" + HIGH
            if low is not None and high is not None:
                key_condition += f" AND {e.n('g1sk')} BETWEEN {e.v(low)} AND {e.v(high)}"
            elif low is not None:
                key_condition += f" AND {e.n('g1sk')} >= {e.v(low)}"
            elif high is not None:
                key_condition += f" AND {e.n('g1sk')} <= {e.v(high)}"
        elif query.sort_by == "Name":  # the table: sk is the name (lower-cased for case-insensitive kinds)
            index = None
            key_condition = f"{e.n('pk')} = {pk}"
        else:  # gsi2: <status>#<key>
            index = "gsi2"
            key_condition = f"{e.n('g2pk')} = {pk}"
            if query.status_equals:
                key_condition += f" AND begins_with({e.n('g2sk')}, {e.v(query.status_equals + '#')})"
        for attr, op, value in (
            ("created", ">", query.created_after),
            ("created", "<", query.created_before),
            ("modified", ">", query.modified_after),
            ("modified", "<", query.modified_before),
        ):
            if value is not None:
                filters.append(f"{e.n(attr)} {op} {e.v(float(value))}")
        if query.name_contains:
            filters.append(f"contains({e.n('name_lc')}, {e.v(query.name_contains.lower())})")
        if query.status_equals:
            filters.append(f"{e.n('status')} = {e.v(query.status_equals)}")
        items, cursor = self._page(
            key_condition,
            e,
            index=index,
            filter_expression=" AND ".join(filters) or None,
            ascending=query.ascending,
            cursor=query.cursor,
            limit=query.limit,
        )
        return [it.resource_from(item, self.docs) for item in items], cursor

    def resources_in_status(self, kind: str, statuses: Sequence[str]) -> list[Resource]:
        """One query per status, so a resource whose status changes between two of them is read twice or not at
        all. Statuses are queried in the order a resource moves through them (final ones last): a forward move is
        then read twice, never missed, and the later read (its newer status) is the one kept."""
        found: dict[str, Resource] = {}
        for status in sorted(dict.fromkeys(statuses), key=lambda s: s in _FINAL_STATUSES):
            e = Expr()
            condition = (
                f"{e.n('g2pk')} = {e.v(it.resource_pk(kind))} AND begins_with({e.n('g2sk')}, {e.v(status + '#')})"
            )
            for item in self._query(condition, e, index="gsi2"):
                resource = it.resource_from(item, self.docs)
                found[resource.name] = resource
        return sorted(found.values(), key=lambda r: (r.created, r.name))

    # ------------------------------------------------------------------ human loops
    def _counter_update(self, delta: int, max_active: int | None = None) -> dict[str, Any]:
        e = Expr().add("active", delta)
        condition = None
        if max_active is not None:
            below = f"{e.n('active')} < {e.v(max_active)}"
            condition = below if max_active <= 0 else f"attribute_not_exists({e.n('active')}) OR {below}"
        update = self._update(dict(_COUNTER), e, condition)
        update["Update"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return update

    def start_human_loop(self, loop: HumanLoop, task: Task | None, *, max_active: int | None) -> tuple[HumanLoop, bool]:
        e = Expr()
        not_live = f"attribute_not_exists({e.n('pk')}) OR {e.n(TTL_ATTRIBUTE)} < {e.v(time.time())}"
        put_loop = self._put(it.loop_item(loop, self.docs, self._purge_at()), not_live, e)
        put_loop["Put"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        items = [put_loop]
        if task is not None:
            t = Expr()
            items.append(
                self._put(it.task_item(task, self._order(task, 0), self.docs), f"attribute_not_exists({t.n('pk')})", t)
            )
        counted = loop.status in it.ACTIVE_LOOP
        if counted:
            items.append(self._counter_update(1, max_active))
        for _ in range(ATTEMPTS):
            try:
                self._transact(items)
            except Cancelled as exc:
                if exc.failed(0):
                    existing_item = exc.item(0) or self._get(it.loop_key(loop.name))
                    if existing_item is None or not it.visible(existing_item):
                        continue  # deleted or purged in the meantime: try again
                    existing = it.loop_from(existing_item, self.docs)
                    if existing.input_content == loop.input_content and existing.flow_arn == loop.flow_arn:
                        return existing, False
                    raise LoopConflict(existing) from exc
                if counted and max_active is not None and exc.failed(len(items) - 1):
                    counter = exc.item(len(items) - 1) or self._get(dict(_COUNTER)) or {}
                    active = it.i(counter, "active") if "active" in counter else 0
                    raise LoopQuotaExceeded(active, max_active) from exc
                if task is not None and exc.failed(1):
                    raise StorageError(f"task {task.id} of human loop {loop.name} already exists") from exc
                raise StorageUnavailable("StartHumanLoop", str(exc)) from exc
            return loop, True
        raise StorageThrottled("StartHumanLoop", f"human loop {loop.name} kept changing")

    def get_human_loop(self, name: str) -> HumanLoop | None:
        item = self._get(it.loop_key(name))
        return None if item is None or not it.visible(item) else it.loop_from(item, self.docs)

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
        e = Expr()
        key_condition = f"{e.n('g1pk')} = {e.v('FLOW#' + flow_arn)}"
        filters = [self._visible_filter(e)]
        low = None if created_after is None else it.tkey(created_after)
        high = None if created_before is None else it.tkey(created_before) + "#" + HIGH
        if low is not None and high is not None:
            key_condition += f" AND {e.n('g1sk')} BETWEEN {e.v(low)} AND {e.v(high)}"
        elif low is not None:
            key_condition += f" AND {e.n('g1sk')} >= {e.v(low)}"
        elif high is not None:
            key_condition += f" AND {e.n('g1sk')} <= {e.v(high)}"
        if created_after is not None:
            filters.append(f"{e.n('created')} > {e.v(float(created_after))}")
        if created_before is not None:
            filters.append(f"{e.n('created')} < {e.v(float(created_before))}")
        items, next_cursor = self._page(
            key_condition,
            e,
            index="gsi1",
            filter_expression=" AND ".join(filters),
            ascending=ascending,
            cursor=cursor,
            limit=limit,
        )
        return [it.loop_from(item, self.docs) for item in items], next_cursor

    def transition_human_loop(
        self, name: str, expect: Sequence[str], status: str, *, now: float, **fields: Any
    ) -> HumanLoop | None:
        allowed = {"failure_reason", "failure_code", "output_s3_uri"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update human loop fields {sorted(unknown)}")
        for _ in range(ATTEMPTS):
            item = self._get(it.loop_key(name))
            if item is None or not it.visible(item):
                return None
            loop = it.loop_from(item, self.docs)
            if loop.status not in expect:
                return None
            e = Expr().set_all(it.loop_status_fields(name, loop.created, status, self._purge_at()))
            e.set("modified", float(now)).set_all(fields)
            items = [self._update(it.loop_key(name), e, f"{e.n('status')} = {e.v(loop.status)}")]
            delta = int(status in it.ACTIVE_LOOP) - int(loop.status in it.ACTIVE_LOOP)
            if delta:
                items.append(self._counter_update(delta))
            try:
                self._transact(items)
            except Cancelled as exc:
                if exc.failed(0):
                    continue  # the status changed since the read: look again
                raise StorageUnavailable("TransitionHumanLoop", str(exc)) from exc
            for key, value in fields.items():
                setattr(loop, key, value)
            loop.status = status
            loop.modified = now
            return loop
        raise StorageThrottled("TransitionHumanLoop", f"human loop {name} kept changing")

    def delete_human_loop(self, name: str, allowed: Sequence[str]) -> HumanLoop | None:
        for _ in range(ATTEMPTS):
            item = self._get(it.loop_key(name))
            if item is None or not it.visible(item):
                return None
            loop = it.loop_from(item, self.docs)
            if loop.status not in allowed:
                return loop
            e = Expr()
            items = [self._delete(it.loop_key(name), f"{e.n('status')} = {e.v(loop.status)}", e)]
            holds: list[dict[str, Any]] = []
            if loop.task_id is not None:
                for member in self._partition(loop.task_id):
                    items.append(self._delete({"pk": member["pk"], "sk": member["sk"]}))
                    if not it.s(member, "sk").startswith("ASG#"):
                        continue
                    if it.s(member, "status") == "active":
                        holds.append(
                            self._hold_delete(it.assignment_from(member, self.docs), it.s(member, "workteam_arn"))
                        )
                    elif it.s(member, "status") == "submitted":  # the worker's done count forgets the answer
                        holds.append(self._done_update(it.s(member, "worker_id"), it.s(member, "workteam_arn"), -1))
            if loop.status in it.ACTIVE_LOOP:
                items.append(self._counter_update(-1))
            if len(items) + len(holds) > _TRANSACTION_MAX_ITEMS:
                raise StorageUnavailable("DeleteHumanLoop", f"human loop {name} has too many assignments to delete")
            try:
                self._transact_releasing_holds(items, holds)
            except Cancelled as exc:
                if exc.condition_failed:
                    continue
                raise StorageUnavailable("DeleteHumanLoop", str(exc)) from exc
            return loop
        raise StorageThrottled("DeleteHumanLoop", f"human loop {name} kept changing")

    def human_loops_in_status(self, status: str, limit: int) -> list[HumanLoop]:
        e = Expr()
        items = self._query(
            f"{e.n('g2pk')} = {e.v('LOOPS#' + status)}",
            e,
            index="gsi2",
            filter_expression=self._visible_filter(e),
            page=max(1, limit),
        )
        return [it.loop_from(item, self.docs) for item in itertools.islice(items, max(0, limit))]

    def count_human_loops(self, status: str | None = None) -> int:
        total = 0
        for one in it.LOOP_STATUSES if status is None else (status,):
            e = Expr()
            condition = f"{e.n('g2pk')} = {e.v('LOOPS#' + one)}"
            total += sum(
                1
                for _ in self._query(condition, e, index="gsi2", filter_expression=self._visible_filter(e), count=True)
            )
        return total

    # ------------------------------------------------------------------ tasks
    @staticmethod
    def _order(task: Task, position: int) -> str:
        """The queue position of a task: creation time, then its place in the batch that created it."""
        return f"{it.tkey(task.created)}#{position:06d}#{task.id}"

    def _partition(self, task_id: str) -> list[Item]:
        """The task item and its assignments: one consistent Query."""
        e = Expr()
        return list(self._query(f"{e.n('pk')} = {e.v('TASK#' + task_id)}", e))

    def _task_write(self, item: Item, task: Task, *, unseen: Sequence[str] = ()) -> dict[str, Any]:
        """Update the task's state to ``task``'s, only if nobody wrote it since ``item`` was read; ``unseen``: the
        workers whose assignment on it the same transaction deletes (they leave its ``seen`` set)."""
        e = Expr().set_all(it.task_state_fields(task, it.s(item, "ord"), self._purge_at())).add("ver", 1)
        e.delete_from_set("seen", unseen)
        return self._update(it.task_key(task.id), e, f"{e.n('ver')} = {e.v(it.i(item, 'ver'))}")

    def _hold_delete(self, assignment: Assignment, workteam_arn: str) -> dict[str, Any]:
        e = Expr()
        return self._delete(
            it.hold_key(assignment.worker_id, workteam_arn), f"{e.n('task_id')} = {e.v(assignment.task_id)}", e
        )

    def put_tasks(self, tasks: Sequence[Task]) -> None:
        chunk: list[dict[str, Any]] = []
        size = 0
        for position, task in enumerate(tasks):
            e = Expr()
            item = it.task_item(task, self._order(task, position), self.docs)
            item_size = len(it.dumps(item))
            if chunk and (len(chunk) >= _TRANSACTION_MAX_ITEMS or size + item_size > _TRANSACTION_MAX_BYTES):
                self._put_tasks_atomically(chunk)
                chunk, size = [], 0
            chunk.append(self._put(item, f"attribute_not_exists({e.n('pk')})", e))
            size += item_size
        if chunk:
            self._put_tasks_atomically(chunk)

    def _put_tasks_atomically(self, puts: list[dict[str, Any]]) -> None:
        try:
            self._transact(puts)
        except Cancelled as exc:
            taken = [it.s(p["Put"]["Item"], "id") for n, p in enumerate(puts) if exc.failed(n)]
            raise StorageError(f"tasks already exist: {', '.join(taken)}") from exc

    def get_task(self, task_id: str) -> Task | None:
        item = self._get(it.task_key(task_id))
        return None if item is None else it.task_from(item, self.docs)

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
        teams = list(dict.fromkeys(workteam_arns))
        for _ in range(ATTEMPTS):
            held, stale, live = self._held(teams, worker_id, now, task_id)
            if held is not None:
                task, assignment = held
                if lease_seconds is None:
                    return held
                lease = min(now + lease_seconds, assignment.deadline)
                try:
                    self._set_lease(task.id, worker_id, now, lease)
                except ConditionFailed:
                    continue  # submitted, released or lapsed since the read: look again
                assignment.lease_until = lease
                return task, assignment
            claimed = self._claim_new(teams, worker_id, now, task_id, lease_seconds, stale, live)
            if claimed != "retry":
                return claimed if isinstance(claimed, tuple) else None
        raise StorageThrottled("ClaimTask", f"the holds of worker {worker_id} kept changing")

    def _set_lease(self, task_id: str, worker_id: str, now: float, lease: float) -> Item:
        """Move a held assignment's lease to ``lease`` (and its place in the sweep's ``DEADLINE`` list): one
        conditional update, refused (:class:`ConditionFailed` with the item as it was) unless the assignment is
        active, its lease has not lapsed and ``lease`` does not pass its time limit."""
        e = Expr().set_all({"lease_until": float(lease), "g3sk": it.due_sk(task_id, worker_id, lease)})
        condition = (
            f"{e.n('status')} = {e.v('active')} AND {e.n('deadline')} > {e.v(float(now))} AND "
            f"{e.n('deadline')} >= {e.v(float(lease))} AND "
            f"(attribute_not_exists({e.n('lease_until')}) OR {e.n('lease_until')} > {e.v(float(now))})"
        )
        response = self._call(
            "update_item",
            Key=it.assignment_key(task_id, worker_id),
            ReturnValues="ALL_NEW",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
            **e.params(condition=condition, update=True),
        )
        item: Item = response["Attributes"]
        return item

    def renew_lease(self, task_id: str, worker_id: str, now: float, lease_seconds: float) -> Assignment | None:
        lease = now + lease_seconds
        for _ in range(2):  # the second try caps the lease at the time limit the first one found
            try:
                item = self._set_lease(task_id, worker_id, now, lease)
            except ConditionFailed as exc:
                old = exc.item
                if old is None or not it.assignment_live(old, now) or it.f(old, "deadline") >= lease:
                    return None
                lease = it.f(old, "deadline")
                continue
            return it.assignment_from(item, None)
        return None

    def _holds(self, worker_id: str) -> list[Item]:
        e = Expr()
        return list(self._query(f"{e.n('pk')} = {e.v('HOLD#' + worker_id)}", e))

    def _held(
        self, teams: list[str], worker_id: str, now: float, task_id: str | None
    ) -> tuple[tuple[Task, Assignment] | None, dict[str, str], dict[str, str]]:
        """The worker's held assignment in those teams (``task_id``'s, if given); per team the task of a hold
        within its time limit whose assignment is not held any more (its lease lapsed): a claim may replace such a
        hold (see :meth:`_try_claim`); and per team the task of each live hold seen (a claim naming another task
        of that team is refused)."""
        holds = [h for h in self._holds(worker_id) if it.s(h, "sk") in teams and it.f(h, "deadline") > now]
        stale: dict[str, str] = {}
        live: dict[str, str] = {}
        for hold in sorted(holds, key=lambda h: it.f(h, "accepted_at")):
            members = {it.s(m, "sk"): m for m in self._partition(it.s(hold, "task_id"))}
            task_item, assignment_item = members.get("TASK"), members.get("ASG#" + worker_id)
            if task_item is None or assignment_item is None or not it.assignment_live(assignment_item, now):
                stale[it.s(hold, "sk")] = it.s(hold, "task_id")
                continue
            if task_id is None or it.s(hold, "task_id") == task_id:
                held = (it.task_from(task_item, self.docs), it.assignment_from(assignment_item, self.docs))
                return held, stale, live
            live[it.s(hold, "sk")] = it.s(hold, "task_id")
        return None, stale, live

    def _queue(self, team: str, now: float | None, worker_id: str | None = None) -> Iterator[Item]:
        """Open tasks of a workteam with a free slot, oldest first (gsi2; eventually consistent, so a candidate);
        with ``worker_id``, without the tasks whose ``seen`` set names that worker (it has an assignment there)."""
        e = Expr()
        filters = [f"{e.n('free')} > {e.v(0)}", f"{e.n('status')} = {e.v('open')}"]
        if now is not None:
            filters.append(f"{e.n('expires_at')} > {e.v(float(now))}")
        if worker_id is not None:
            filters.append(f"(attribute_not_exists({e.n('seen')}) OR NOT contains({e.n('seen')}, {e.v(worker_id)}))")
        return self._query(
            f"{e.n('g2pk')} = {e.v('QUEUE#' + team)}",
            e,
            index="gsi2",
            filter_expression=" AND ".join(filters),
            page=_CLAIM_BATCH,
        )

    def _touched(self, task_ids: Sequence[str], worker_id: str) -> set[str]:
        """Which of these tasks ``worker_id`` already has an assignment on (BatchGetItem, consistent)."""
        found: set[str] = set()
        for start in range(0, len(task_ids), 100):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [it.assignment_key(t, worker_id) for t in task_ids[start : start + 100]],
                    "ConsistentRead": True,
                    "ProjectionExpression": "task_id",
                }
            }
            for attempt in range(ATTEMPTS):
                response = self._call("batch_get_item", RequestItems=request)
                found.update(it.s(item, "task_id") for item in response.get("Responses", {}).get(self.table, []))
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                backoff(attempt)
            else:
                raise StorageThrottled("BatchGetItem", "keys stayed unprocessed after retries")
        return found

    def _claim_new(
        self,
        teams: list[str],
        worker_id: str,
        now: float,
        task_id: str | None,
        lease_seconds: float | None,
        stale: dict[str, str],
        live: dict[str, str],
    ) -> tuple[Task, Assignment] | str | None:
        if task_id is not None:
            item = self._get(it.task_key(task_id))
            team = None if item is None else it.s(item, "workteam_arn")
            if team is not None and team in live:
                raise ClaimConflict(worker_id, team, live[team])
            ok = (
                item is not None
                and it.s(item, "workteam_arn") in teams
                and it.s(item, "status") == "open"
                and it.i(item, "free") > 0
                and it.f(item, "expires_at") > now
            )
            candidates: Iterator[Item] = iter([item] if ok and item is not None else [])
        else:
            candidates = heapq.merge(
                *(self._queue(team, now, worker_id) for team in teams), key=lambda c: it.s(c, "ord")
            )
        while True:
            batch = list(itertools.islice(candidates, _CLAIM_BATCH))
            if not batch:
                return None
            # the queue left out the tasks whose seen set names this worker; a task written before that set was
            # kept is looked up (the claim's condition on the assignment is the guard either way)
            legacy = [it.s(c, "id") for c in batch if "seen_kept" not in c]
            touched = self._touched(legacy, worker_id) if legacy else set()
            for candidate in batch:
                if it.s(candidate, "id") in touched:
                    continue
                team = it.s(candidate, "workteam_arn")
                outcome = self._try_claim(candidate, worker_id, now, lease_seconds, stale.get(team))
                if outcome == "hold-taken":  # a claim of another tab: read the holds again (and refuse, or return it)
                    return "retry"
                if isinstance(outcome, tuple):
                    return outcome

    def _try_claim(
        self, candidate: Item, worker_id: str, now: float, lease_seconds: float | None, stale_task: str | None
    ) -> tuple[Task, Assignment] | str:
        """One claim transaction. ``stale_task``: the task of the worker's hold in this team whose assignment was
        seen not held any more; the hold may be replaced while that assignment is still not held (a condition
        check on it in the same transaction), as it may once its time limit passed."""
        task_id, team = it.s(candidate, "id"), it.s(candidate, "workteam_arn")
        time_limit, expires_at = it.i(candidate, "time_limit"), it.f(candidate, "expires_at")
        deadline = min(now + time_limit, expires_at) if time_limit > 0 else expires_at
        lease = None if lease_seconds is None else min(now + lease_seconds, deadline)
        assignment = Assignment(task_id, worker_id, "active", now, deadline, lease_until=lease)
        a, h, t = Expr(), Expr(), Expr()
        t.add("active", 1).add("free", -1).add("ver", 1).add_to_set("seen", [worker_id])
        hold_free = f"attribute_not_exists({h.n('pk')}) OR {h.n('deadline')} <= {h.v(float(now))}"
        if stale_task is not None:
            hold_free += f" OR {h.n('task_id')} = {h.v(stale_task)}"
        items = [
            self._put(it.assignment_item(assignment, team), f"attribute_not_exists({a.n('pk')})", a),
            self._put(it.hold_item(assignment, team), hold_free, h),
            self._update(
                it.task_key(task_id),
                t,
                f"{t.n('status')} = {t.v('open')} AND {t.n('free')} > {t.v(0)} AND "
                f"{t.n('expires_at')} > {t.v(float(now))}",
            ),
        ]
        if stale_task is not None and stale_task != task_id:  # (the same task: the put's condition checks it)
            c = Expr()
            items.append(
                self._check(
                    it.assignment_key(stale_task, worker_id),
                    f"attribute_not_exists({c.n('pk')}) OR {c.n('status')} <> {c.v('active')} OR "
                    f"{c.n('lease_until')} <= {c.v(float(now))}",
                    c,
                )
            )
        try:
            self._transact(items)
        except Cancelled as exc:
            if exc.failed(1) or exc.failed(3):
                return "hold-taken"
            if exc.condition_failed:
                return "skip"
            raise StorageUnavailable("ClaimTask", str(exc)) from exc
        task = it.task_from(candidate, self.docs)
        task.active += 1
        return task, assignment

    def submit_answer(self, task_id: str, worker_id: str, answer: dict[str, Any], now: float) -> Task:
        for _ in range(ATTEMPTS):
            members = {it.s(m, "sk"): m for m in self._partition(task_id)}
            task_item = members.get("TASK")
            if task_item is None:
                raise AssignmentError(f"task {task_id} does not exist")
            held = members.get("ASG#" + worker_id)
            if held is None:
                raise AssignmentError(f"task {task_id} is not assigned to this worker")
            assignment = it.assignment_from(held, self.docs)
            task = it.task_from(task_item, self.docs)
            if assignment.status == "submitted":
                raise AssignmentError(f"task {task_id} was already submitted by this worker")
            if assignment.status != "active":
                raise AssignmentError(f"the assignment of task {task_id} is {assignment.status}")
            if task.status not in ANSWERABLE:
                raise AssignmentError(f"task {task_id} is {task.status}")
            if assignment.deadline <= now:
                raise AssignmentError(f"the time limit of task {task_id} has passed")
            if assignment.lease_until is not None and assignment.lease_until <= now:
                raise AssignmentError(f"the claim on task {task_id} lapsed (its page stopped renewing it)")
            task.answers += 1
            task.active -= 1
            if task.answers >= task.required:
                task.status = "done"
            elif task.status == "closing" and task.active == 0:
                task.status = "cancelled"
            a = Expr().set("status", "submitted").set("submitted_at", float(now))
            a.set_all(self.docs.fields("answer", it.dumps(answer), 1))
            a.set_all({"g3pk": None, "g3sk": None, TTL_ATTRIBUTE: self._purge_at()})
            held_now = (
                f"{a.n('status')} = {a.v('active')} AND "
                f"(attribute_not_exists({a.n('lease_until')}) OR {a.n('lease_until')} > {a.v(float(now))})"
            )
            items = [
                self._update(it.assignment_key(task_id, worker_id), a, held_now),
                self._task_write(task_item, task),
                self._done_update(worker_id, task.workteam_arn, 1),
            ]
            try:
                self._transact_releasing_holds(items, [self._hold_delete(assignment, task.workteam_arn)])
            except Cancelled as exc:
                if exc.condition_failed:
                    continue  # a claim, a sweep or another answer wrote the task: read it again
                raise StorageUnavailable("SubmitAnswer", str(exc)) from exc
            return task
        raise StorageThrottled("SubmitAnswer", f"task {task_id} kept changing")

    def _done_update(self, worker_id: str, workteam_arn: str, delta: int) -> dict[str, Any]:
        """Add ``delta`` to the worker's done count in a workteam (a decrement only while the count is above 0)."""
        e = Expr().add("done", delta)
        condition = None if delta >= 0 else f"{e.n('done')} >= {e.v(-delta)}"
        return self._update(it.done_key(worker_id, workteam_arn), e, condition)

    def release_assignment(self, task_id: str, worker_id: str, now: float, *, decline: bool = False) -> bool:
        for _ in range(ATTEMPTS):
            members = {it.s(m, "sk"): m for m in self._partition(task_id)}
            task_item, held = members.get("TASK"), members.get("ASG#" + worker_id)
            if task_item is None or held is None or it.s(held, "status") != "active":
                return False
            task = it.task_from(task_item, None)
            task.active = max(task.active - 1, 0)
            if task.status == "closing" and task.active == 0:
                task.status = "cancelled"
            a = Expr()
            key = it.assignment_key(task_id, worker_id)
            if decline:  # kept, as 'declined', so that this worker is not offered the task again
                a.set_all({"status": "declined", "lease_until": None, "g3pk": None, "g3sk": None})
                purge_at = self._purge_at()  # the retention counts from the task's end: it may outlive the retention
                a.set(TTL_ATTRIBUTE, None if purge_at is None else purge_at + max(0.0, task.expires_at - now))
                hand_back = self._update(key, a, f"{a.n('status')} = {a.v('active')}")
            else:
                hand_back = self._delete(key, f"{a.n('status')} = {a.v('active')}", a)
            items = [hand_back, self._task_write(task_item, task, unseen=() if decline else [worker_id])]
            assignment = it.assignment_from(held, None)
            try:
                self._transact_releasing_holds(items, [self._hold_delete(assignment, task.workteam_arn)])
            except Cancelled as exc:
                if exc.condition_failed:
                    continue
                raise StorageUnavailable("ReleaseAssignment", str(exc)) from exc
            return True
        raise StorageThrottled("ReleaseAssignment", f"task {task_id} kept changing")

    def assignments(self, task_id: str) -> list[Assignment]:
        found = [it.assignment_from(m, self.docs) for m in self._partition(task_id) if it.s(m, "sk").startswith("ASG#")]
        return sorted(found, key=lambda a: (a.accepted_at, a.worker_id))

    def close_tasks(self, owner: str, now: float) -> int:
        e = Expr()
        condition = f"{e.n('g1pk')} = {e.v('OWNER#' + owner)} AND begins_with({e.n('g1sk')}, {e.v('open#')})"
        changed = 0
        for found in list(self._query(condition, e, index="gsi1")):
            item: Item | None = found
            for _ in range(ATTEMPTS):
                if item is None or it.s(item, "status") != "open":
                    break
                task = it.task_from(item, None)
                task.status = "cancelled" if task.active == 0 else "closing"
                try:
                    self._transact([self._task_write(item, task)])
                except Cancelled:
                    item = self._get(it.task_key(task.id))
                    continue
                changed += 1
                break
        return changed

    def sweep_tasks(self, now: float) -> int:
        changed = 0
        overdue: dict[str, list[str]] = {}
        for partition in it.deadline_partitions():
            e = Expr()
            for item in self._query(
                f"{e.n('g3pk')} = {e.v(partition)} AND {e.n('g3sk')} <= {e.v(it.tkey(now) + '#' + HIGH)}",
                e,
                index="gsi3",
                filter_expression=(
                    f"{e.n('status')} = {e.v('active')} AND "
                    f"({e.n('deadline')} <= {e.v(float(now))} OR {e.n('lease_until')} <= {e.v(float(now))})"
                ),
            ):
                overdue.setdefault(it.s(item, "task_id"), []).append(it.s(item, "worker_id"))
        for task_id in overdue:
            changed += self._finish_assignments(task_id, now, expire=False)
        e = Expr()
        for item in list(
            self._query(
                f"{e.n('g3pk')} = {e.v('EXPIRY')} AND {e.n('g3sk')} <= {e.v(it.tkey(now) + '#' + HIGH)}",
                e,
                index="gsi3",
                filter_expression=f"{e.n('expires_at')} <= {e.v(float(now))}",
            )
        ):
            changed += self._finish_assignments(it.s(item, "id"), now, expire=True)
        return changed

    def _finish_assignments(self, task_id: str, now: float, *, expire: bool) -> int:
        """Time out the task's overdue active assignments and hand back lapsed claims (deleted: the worker may claim
        the task again), or (``expire``) expire the task with all of them."""
        for _ in range(ATTEMPTS):
            members = self._partition(task_id)
            task_item = next((m for m in members if it.s(m, "sk") == "TASK"), None)
            if task_item is None:
                return 0
            task = it.task_from(task_item, None)
            active = [
                it.assignment_from(m, None)
                for m in members
                if it.s(m, "sk").startswith("ASG#") and it.s(m, "status") == "active"
            ]
            lapsed: list[Assignment] = []
            if expire:
                if task.status not in ANSWERABLE or task.expires_at > now:
                    return 0
                task.status = "expired" if task.status == "open" else "cancelled"
                task.active = 0
                ending = active
            else:
                ending = [a for a in active if a.deadline <= now]
                lapsed = [a for a in active if a.deadline > now and a.lease_until is not None and a.lease_until <= now]
                if not ending and not lapsed:
                    return 0
                task.active = max(task.active - len(ending) - len(lapsed), 0)
                if task.status == "closing" and task.active == 0:
                    task.status = "cancelled"
            items = []
            for assignment in lapsed:  # only while still lapsed: a renewal in between wins
                d = Expr()
                items.append(
                    self._delete(
                        it.assignment_key(task_id, assignment.worker_id),
                        f"{d.n('status')} = {d.v('active')} AND {d.n('lease_until')} <= {d.v(float(now))}",
                        d,
                    )
                )
            for assignment in ending:
                a = Expr().set_all({"status": "timedout", "g3pk": None, "g3sk": None, TTL_ATTRIBUTE: self._purge_at()})
                items.append(
                    self._update(
                        it.assignment_key(task_id, assignment.worker_id), a, f"{a.n('status')} = {a.v('active')}"
                    )
                )
            items.append(self._task_write(task_item, task, unseen=[a.worker_id for a in lapsed]))
            holds = [self._hold_delete(a, task.workteam_arn) for a in (*lapsed, *ending)]
            try:
                self._transact_releasing_holds(items, holds)
            except Cancelled as exc:
                if exc.condition_failed:
                    continue
                raise StorageUnavailable("SweepTasks", str(exc)) from exc
            return 1
        raise StorageThrottled("SweepTasks", f"task {task_id} kept changing")

    def tasks_to_settle(self, limit: int, now: float | None = None) -> list[Task]:
        e = Expr()
        due = f"{e.n('settled')} = {e.v(False)}"
        if now is not None:  # a deferred settlement waits for its time (engine retries with backoff)
            due += f" AND (attribute_not_exists({e.n('settle_after')}) OR {e.n('settle_after')} <= {e.v(now)})"
        items = self._query(
            f"{e.n('g3pk')} = {e.v('SETTLE')}",
            e,
            index="gsi3",
            filter_expression=due,
            page=max(1, limit),
        )
        return [it.task_from(item, self.docs) for item in itertools.islice(items, max(0, limit))]

    def defer_settlement(self, task_id: str, *, attempts: int, next_attempt: float, error: str) -> None:
        e = Expr().set_all({"settle_attempts": attempts, "settle_after": next_attempt, "settle_error": error})
        with contextlib.suppress(ConditionFailed):  # settled meanwhile (or deleted): nothing to defer
            self._call(
                "update_item",
                Key=it.task_key(task_id),
                **e.params(condition=f"{e.n('settled')} = {e.v(False)}", update=True),
            )

    def mark_settled(self, task_id: str) -> None:
        e = Expr().set_all({"settled": True, "g3pk": None, "g3sk": None, TTL_ATTRIBUTE: self._purge_at()}).add("ver", 1)
        try:
            self._call(
                "update_item",
                Key=it.task_key(task_id),
                **e.params(condition=f"{e.in_('status', sorted(it.FINAL_TASK))}", update=True),
            )
        except ConditionFailed:  # not final (or gone): only the flag, as the SQLite store does
            flag = Expr().set("settled", True).add("ver", 1)
            with contextlib.suppress(ConditionFailed):
                self._call(
                    "update_item",
                    Key=it.task_key(task_id),
                    **flag.params(condition=f"attribute_exists({flag.n('pk')})", update=True),
                )

    def queue_counts(self, workteam_arns: Sequence[str], worker_id: str) -> dict[str, int]:
        if not workteam_arns:
            return {}
        counts = dict.fromkeys(workteam_arns, 0)
        for hold in self._holds(worker_id):
            team = it.s(hold, "sk")
            if team in counts:
                counts[team] += 1
        for team in dict.fromkeys(workteam_arns):
            # one Select=COUNT Query per team (a page per MB of its queue): a task's ``seen`` set names the workers
            # with an assignment on it (added by the claim, dropped when a release or the sweep deletes it)
            e = Expr()
            unseen = (
                f"{e.n('free')} > {e.v(0)} AND {e.n('status')} = {e.v('open')} AND "
                f"(attribute_not_exists({e.n('seen')}) OR NOT contains({e.n('seen')}, {e.v(worker_id)}))"
            )
            counts[team] += sum(
                1
                for _ in self._query(
                    f"{e.n('g2pk')} = {e.v('QUEUE#' + team)}", e, index="gsi2", filter_expression=unseen, count=True
                )
            )
        return counts

    def queue_done_counts(self, workteam_arns: Sequence[str], worker_id: str) -> dict[str, int]:
        if not workteam_arns:
            return {}
        counts = dict.fromkeys(workteam_arns, 0)
        e = Expr()
        for item in self._query(f"{e.n('pk')} = {e.v('DONE#' + worker_id)}", e):
            team = it.s(item, "sk")
            if team in counts:
                counts[team] = max(it.i(item, "done"), 0)
        return counts

    def open_task_count(self, owner: str) -> int:
        total = 0
        for status in ("open", "closing"):
            e = Expr()
            condition = f"{e.n('g1pk')} = {e.v('OWNER#' + owner)} AND begins_with({e.n('g1sk')}, {e.v(status + '#')})"
            total += sum(1 for _ in self._query(condition, e, index="gsi1", count=True))
        return total

    # ------------------------------------------------------------------ job objects
    def put_job_objects(self, objects: Sequence[JobObject]) -> None:
        latest = {(o.job, o.object_id): o for o in objects}  # a batch may not name one key twice
        requests = [{"PutRequest": {"Item": it.job_object_item(o, self.docs)}} for o in latest.values()]
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self.table: requests[start : start + 25]}
            for attempt in range(ATTEMPTS):
                pending = self._call("batch_write_item", RequestItems=pending).get("UnprocessedItems") or {}
                if not pending:
                    break
                backoff(attempt)
            else:
                raise StorageThrottled("BatchWriteItem", "job objects stayed unprocessed after retries")

    def job_objects(self, job: str, statuses: Sequence[str] | None = None) -> list[JobObject]:
        if statuses is not None and not statuses:
            return []
        e = Expr()
        condition = f"{e.n('pk')} = {e.v('JOB#' + job)} AND begins_with({e.n('sk')}, {e.v('OBJ#')})"
        filter_expression = None if statuses is None else e.in_("status", list(dict.fromkeys(statuses)))
        found = [
            it.job_object_from(item, self.docs)
            for item in self._query(condition, e, filter_expression=filter_expression)
        ]
        return sorted(found, key=lambda o: o.seq)

    def update_job_objects(self, job: str, object_ids: Sequence[str], **fields: Any) -> None:
        allowed = {"status", "task_input", "task_id", "iteration", "result", "failure", "human"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update job object fields {sorted(unknown)}")
        share = len(it.JOB_OBJECT_DOCS)
        values: dict[str, Any] = {}
        for name, value in fields.items():
            if name in ("task_input", "result"):
                values.update(
                    {name: None, f"{name}_s3": None}
                    if value is None
                    else self.docs.fields(name, it.dumps(value), share)
                )
            elif name == "human":
                values[name] = bool(value)
            else:
                values[name] = value
        for object_id in object_ids:
            e = Expr().set_all(values)
            with contextlib.suppress(ConditionFailed):  # an unknown object: nothing to update, as in SQL
                self._call(
                    "update_item",
                    Key={"pk": {"S": f"JOB#{job}"}, "sk": {"S": f"OBJ#{object_id}"}},
                    **e.params(condition=f"attribute_exists({e.n('pk')})", update=True),
                )

    # ------------------------------------------------------------------ workers
    def put_worker(self, worker: Worker) -> None:
        existing_item = self._get({"pk": {"S": "WORKERS"}, "sk": {"S": worker.id}})
        stored = worker
        items = []
        if existing_item is not None:
            existing = it.worker_from(existing_item)
            stored = Worker(
                existing.id, worker.name, worker.token_hash, existing.sub, existing.created, existing.simulated
            )
            if existing.token_hash != worker.token_hash:
                items.append(self._delete({"pk": {"S": f"TOKEN#{existing.token_hash}"}, "sk": {"S": "TOKEN"}}))
        items.append(self._put(it.worker_item(stored, "WORKERS", stored.id)))
        items.append(self._put(it.worker_item(stored, f"TOKEN#{stored.token_hash}", "TOKEN")))
        try:
            self._transact(items)
        except Cancelled as exc:
            raise StorageUnavailable("PutWorker", str(exc)) from exc

    def worker_by_token_hash(self, token_hash: str) -> Worker | None:
        item = self._get({"pk": {"S": f"TOKEN#{token_hash}"}, "sk": {"S": "TOKEN"}})
        return None if item is None else it.worker_from(item)

    def get_worker(self, worker_id: str) -> Worker | None:
        item = self._get({"pk": {"S": "WORKERS"}, "sk": {"S": worker_id}})
        return None if item is None else it.worker_from(item)

    def list_workers(self) -> list[Worker]:
        e = Expr()
        found = [it.worker_from(item) for item in self._query(f"{e.n('pk')} = {e.v('WORKERS')}", e)]
        return sorted(found, key=lambda w: (w.created, w.name))

    # ------------------------------------------------------------------ events
    def add_event(self, detail_type: str, body: dict[str, Any], *, copies: int, now: float) -> int:
        e = Expr().add("next", 1)
        response = self._call("update_item", Key=dict(_EVENT_IDS), ReturnValues="UPDATED_NEW", **e.params(update=True))
        event_id = it.i(response["Attributes"], "next")
        self._call("put_item", Item=it.event_item(event_id, detail_type, body, copies, now, self.docs))
        return event_id

    def due_events(self, now: float, limit: int) -> list[EventRecord]:
        e = Expr()
        items = self._query(
            f"{e.n('g3pk')} = {e.v('OUTBOX')} AND {e.n('g3sk')} <= {e.v(it.tkey(now) + '#' + HIGH)}",
            e,
            index="gsi3",
            filter_expression=f"{e.n('next_attempt')} <= {e.v(float(now))} AND {e.n('delivered')} = {e.v(False)}",
            page=max(1, limit),
        )
        found = [it.event_from(item, self.docs) for item in itertools.islice(items, max(0, limit))]
        return sorted(found, key=lambda r: r.id)

    def record_delivery(
        self, event_id: int, *, delivered: bool, attempts: int, next_attempt: float, error: str | None
    ) -> None:
        e = Expr().set_all(it.event_due_fields(event_id, delivered, next_attempt, self._purge_at()))
        e.set("attempts", attempts).set("last_error", error)
        with contextlib.suppress(ConditionFailed):
            self._call(
                "update_item",
                Key={"pk": {"S": "EVENTS"}, "sk": {"S": it.event_sk(event_id)}},
                **e.params(condition=f"attribute_exists({e.n('pk')})", update=True),
            )

    def list_events(self, *, after_id: int = 0, limit: int = 1000) -> list[EventRecord]:
        e = Expr()
        items = self._query(
            f"{e.n('pk')} = {e.v('EVENTS')} AND {e.n('sk')} > {e.v(it.event_sk(after_id))}",
            e,
            filter_expression=self._visible_filter(e),
            page=max(1, limit),
        )
        return [it.event_from(item, self.docs) for item in itertools.islice(items, max(0, limit))]
