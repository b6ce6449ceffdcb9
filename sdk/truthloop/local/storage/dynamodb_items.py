"""Items of the DynamoDB store: keys, attribute encoding, expressions, and large documents kept in S3.

Nothing here sends a DynamoDB request; :mod:`truthloop.local.storage.dynamodb` does. Every record type of
:mod:`truthloop.local.storage.base` has one ``*_item`` encoder and one decoder, and the index keys of an item are
computed in one place per type so that every write keeps them consistent with the item's status.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import time
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from truthloop.local.storage.base import (
    Assignment,
    EventRecord,
    HumanLoop,
    JobObject,
    Resource,
    StorageThrottled,
    StorageUnavailable,
    Task,
    Worker,
)
from truthloop.local.storage.dynamodb_schema import INDEXES, TTL_ATTRIBUTE

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "ACTIVE_LOOP",
    "FINAL_LOOP",
    "FINAL_TASK",
    "LOOP_STATUSES",
    "OFFLOAD_BYTES",
    "Documents",
    "Expr",
    "decode_cursor",
    "encode_cursor",
    "key_of",
    "tkey",
]

Item = dict[str, Any]

#: loop statuses the active-loop quota counts (the SQLite store counts the same ones)
ACTIVE_LOOP = frozenset({"InProgress", "Stopping"})
FINAL_LOOP = frozenset({"Completed", "Failed", "Stopped"})
LOOP_STATUSES = ("InProgress", "Stopping", "Completed", "Failed", "Stopped")
FINAL_TASK = frozenset({"done", "expired", "cancelled"})
#: documents of one item above this many bytes (together) go to S3; see docs/service.md for the choice
OFFLOAD_BYTES = 64 * 1024
#: the sort-key suffix that sorts after every name (UTF-8 bytes compare, and names are ASCII)
HIGH = "\uffff"
#: ``DEADLINE`` (active assignments by when the sweep must look at them) is split over this many ``gsi3``
#: partitions, ``DEADLINE#0`` ... ``DEADLINE#7``, chosen by a hash of the task and worker: every claim and every
#: lease renewal writes it, so one partition would bound the service at about 500 claims/s (docs/service.md)
DEADLINE_SHARDS = 8
#: the one ``DEADLINE`` partition of assignments written before it was split; the sweep still reads it
LEGACY_DEADLINE = "DEADLINE"


# ---------------------------------------------------------------------- values
def av(value: Any) -> dict[str, Any]:
    """A Python scalar as a DynamoDB AttributeValue (strings, numbers, booleans)."""
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": repr(value)}
    if isinstance(value, str):
        return {"S": value}
    raise TypeError(f"cannot store {type(value).__name__} as a DynamoDB attribute")


def s(item: Item, name: str) -> str:
    return str(item[name]["S"])


def s_or_none(item: Item, name: str) -> str | None:
    value = item.get(name)
    return None if value is None else str(value["S"])


def f(item: Item, name: str) -> float:
    return float(item[name]["N"])


def f_or_none(item: Item, name: str) -> float | None:
    value = item.get(name)
    return None if value is None else float(value["N"])


def i(item: Item, name: str) -> int:
    return int(Decimal(item[name]["N"]))


def b(item: Item, name: str) -> bool:
    value = item.get(name)
    return bool(value and value.get("BOOL"))


def tkey(value: float) -> str:
    """A time as a fixed-width string that sorts like the number (sort keys; epoch seconds >= 0)."""
    return f"{max(value, 0.0):020.6f}"


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def key_of(item: Item, index: str | None) -> Item:
    """The key of ``item`` in the table or an index (what ``ExclusiveStartKey`` needs)."""
    names = ["pk", "sk", *(INDEXES[index] if index else ())]
    return {name: item[name] for name in names}


def encode_cursor(key: Item) -> str:
    raw = json.dumps({name: value["S"] for name, value in key.items()}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii")


def decode_cursor(cursor: str) -> Item:
    """The ``ExclusiveStartKey`` inside a cursor from :func:`encode_cursor`; ValueError for anything else."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (ValueError, UnicodeError) as exc:
        raise ValueError(f"not a cursor of the DynamoDB store: {cursor!r}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise ValueError(f"not a cursor of the DynamoDB store: {cursor!r}")
    return {name: {"S": value} for name, value in data.items()}


def purge_time(retention_seconds: float | None) -> float | None:
    """The TTL epoch for an item finished now (wall clock, which is what DynamoDB's TTL compares with)."""
    return None if retention_seconds is None else float(int(time.time() + retention_seconds))


def visible(item: Item, now: float | None = None) -> bool:
    """False for an item past its TTL that DynamoDB has not deleted yet (deletion lags by up to days)."""
    value = item.get(TTL_ATTRIBUTE)
    return value is None or float(value["N"]) > (time.time() if now is None else now)


# ---------------------------------------------------------------------- expressions
class Expr:
    """Builds the expressions of one request; every attribute name goes through a placeholder (reserved words)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}
        self.values: dict[str, Any] = {}
        self.sets: list[str] = []
        self.removes: list[str] = []
        self.adds: list[str] = []
        self.deletes: list[str] = []

    def n(self, attr: str) -> str:
        placeholder = "#" + attr
        self.names[placeholder] = attr
        return placeholder

    def v(self, value: Any) -> str:
        placeholder = f":v{len(self.values)}"
        self.values[placeholder] = av(value)
        return placeholder

    def in_(self, attr: str, options: Iterable[str]) -> str:
        return f"{self.n(attr)} IN ({', '.join(self.v(o) for o in options)})"

    def set(self, attr: str, value: Any) -> Expr:
        """SET the attribute, or REMOVE it for ``None``."""
        if value is None:
            self.removes.append(self.n(attr))
        else:
            self.sets.append(f"{self.n(attr)} = {self.v(value)}")
        return self

    def set_all(self, values: Mapping[str, Any]) -> Expr:
        for attr, value in values.items():
            self.set(attr, value)
        return self

    def add(self, attr: str, amount: int) -> Expr:
        self.adds.append(f"{self.n(attr)} {self.v(amount)}")
        return self

    def add_to_set(self, attr: str, members: Iterable[str]) -> Expr:
        """ADD the members to a string set (the set is made if missing)."""
        return self._set_change(self.adds, attr, members)

    def delete_from_set(self, attr: str, members: Iterable[str]) -> Expr:
        """DELETE the members from a string set (the attribute goes when the set would be empty)."""
        return self._set_change(self.deletes, attr, members)

    def _set_change(self, clauses: list[str], attr: str, members: Iterable[str]) -> Expr:
        values = sorted(set(members))
        if values:
            placeholder = f":v{len(self.values)}"
            self.values[placeholder] = {"SS": values}
            clauses.append(f"{self.n(attr)} {placeholder}")
        return self

    def update_expression(self) -> str:
        parts = []
        if self.sets:
            parts.append("SET " + ", ".join(self.sets))
        if self.removes:
            parts.append("REMOVE " + ", ".join(dict.fromkeys(self.removes)))
        if self.adds:
            parts.append("ADD " + ", ".join(self.adds))
        if self.deletes:
            parts.append("DELETE " + ", ".join(self.deletes))
        return " ".join(parts)

    def params(self, *, condition: str | None = None, update: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if update:
            out["UpdateExpression"] = self.update_expression()
        if condition:
            out["ConditionExpression"] = condition
        if self.names:
            out["ExpressionAttributeNames"] = dict(self.names)
        if self.values:
            out["ExpressionAttributeValues"] = dict(self.values)
        return out


# ---------------------------------------------------------------------- documents
class Documents:
    """JSON documents inline in the item, or in S3 (``<attr>_s3`` holds the key) when the item would be too big.

    Objects are content-addressed (``<prefix>/documents/<sha256>.json``): writing is idempotent, an object never
    changes after it is written, and a reader that follows an old pointer still finds what that pointer meant.
    """

    def __init__(self, s3: S3Client, bucket: str, key_prefix: str, limit_bytes: int) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.prefix = key_prefix.strip("/")
        self.limit = limit_bytes
        self.puts = 0
        self.gets = 0

    def key(self, data: bytes) -> str:
        name = f"documents/{hashlib.sha256(data).hexdigest()}.json"
        return f"{self.prefix}/{name}" if self.prefix else name

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{key}"

    def fields(self, attr: str, text: str, share: int) -> dict[str, str | None]:
        """The attributes that hold ``text``: inline (``attr``) when it fits ``limit / share``, else a pointer."""
        data = text.encode("utf-8")
        if len(data) <= self.limit // share:
            return {attr: text, f"{attr}_s3": None}
        key = self.key(data)
        with self._mapped("PutObject", key):
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/json")
        self.puts += 1
        return {attr: None, f"{attr}_s3": key}

    def text(self, item: Item, attr: str) -> str | None:
        pointer = item.get(f"{attr}_s3")
        if pointer is None:
            value = item.get(attr)
            return None if value is None else str(value["S"])
        self.gets += 1
        key = str(pointer["S"])
        with self._mapped("GetObject", key):
            body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return bytes(body).decode("utf-8")

    @contextlib.contextmanager
    def _mapped(self, operation: str, key: str) -> Iterator[None]:
        """botocore errors of S3 as the store's errors (cause chained), naming the object."""
        try:
            yield
        except ClientError as exc:
            response: dict[str, Any] = dict(exc.response)
            code, message = response.get("Error", {}).get("Code", ""), response.get("Error", {}).get("Message", "")
            detail = f"{code}: {message} ({self.uri(key)})"
            if code in ("SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded"):
                raise StorageThrottled(operation, detail) from exc
            raise StorageUnavailable(operation, detail) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(operation, f"{exc} ({self.uri(key)})") from exc

    def json(self, item: Item, attr: str) -> Any:
        text = self.text(item, attr)
        return None if text is None else json.loads(text)


def put_fields(item: Item, values: Mapping[str, Any]) -> Item:
    """Add the non-``None`` values to a PutItem item."""
    for name, value in values.items():
        if value is not None:
            item[name] = av(value)
    return item


# ---------------------------------------------------------------------- resources
def resource_pk(kind: str) -> str:
    return f"RES#{kind}"


def resource_item(resource: Resource, key: str, docs: Documents) -> Item:
    pk = resource_pk(resource.kind)
    return put_fields(
        {},
        {
            "pk": pk,
            "sk": key,
            "kind": resource.kind,
            "name": resource.name,
            "name_lc": resource.name.lower(),
            "status": resource.status,
            "created": float(resource.created),
            "modified": float(resource.modified),
            **docs.fields("doc", dumps(resource.doc), 1),
            "g1pk": pk,
            "g1sk": f"{tkey(resource.created)}#{key}",
            "g2pk": pk,
            "g2sk": f"{resource.status}#{key}",
        },
    )


def resource_from(item: Item, docs: Documents) -> Resource:
    return Resource(
        kind=s(item, "kind"),
        name=s(item, "name"),
        status=s(item, "status"),
        created=f(item, "created"),
        modified=f(item, "modified"),
        doc=docs.json(item, "doc"),
    )


# ---------------------------------------------------------------------- human loops
def loop_key(name: str) -> Item:
    return {"pk": {"S": f"LOOP#{name}"}, "sk": {"S": "LOOP"}}


def loop_status_fields(name: str, created: float, status: str, purge_at: float | None) -> dict[str, Any]:
    """What changes with a loop's status: its place in ``gsi2`` and, once final, its TTL."""
    return {
        "status": status,
        "g2pk": f"LOOPS#{status}",
        "g2sk": f"{tkey(created)}#{name}",
        TTL_ATTRIBUTE: purge_at if status in FINAL_LOOP else None,
    }


def loop_item(loop: HumanLoop, docs: Documents, purge_at: float | None) -> Item:
    return put_fields(
        {},
        {
            "pk": f"LOOP#{loop.name}",
            "sk": "LOOP",
            "name": loop.name,
            "arn": loop.arn,
            "flow_arn": loop.flow_arn,
            "created": float(loop.created),
            "modified": float(loop.modified or loop.created),
            **docs.fields("input_content", loop.input_content, 1),
            "content_classifiers": dumps(loop.content_classifiers),
            "failure_reason": loop.failure_reason,
            "failure_code": loop.failure_code,
            "output_s3_uri": loop.output_s3_uri,
            "task_id": loop.task_id,
            "g1pk": f"FLOW#{loop.flow_arn}",
            "g1sk": f"{tkey(loop.created)}#{loop.name}",
            **loop_status_fields(loop.name, loop.created, loop.status, purge_at),
        },
    )


def loop_from(item: Item, docs: Documents) -> HumanLoop:
    return HumanLoop(
        name=s(item, "name"),
        arn=s(item, "arn"),
        flow_arn=s(item, "flow_arn"),
        status=s(item, "status"),
        created=f(item, "created"),
        modified=f(item, "modified"),
        input_content=docs.text(item, "input_content") or "",
        content_classifiers=json.loads(s(item, "content_classifiers")),
        failure_reason=s_or_none(item, "failure_reason"),
        failure_code=s_or_none(item, "failure_code"),
        output_s3_uri=s_or_none(item, "output_s3_uri"),
        task_id=s_or_none(item, "task_id"),
    )


# ---------------------------------------------------------------------- tasks
def task_key(task_id: str) -> Item:
    return {"pk": {"S": f"TASK#{task_id}"}, "sk": {"S": "TASK"}}


def task_state_fields(task: Task, order: str, purge_at: float | None) -> dict[str, Any]:
    """Everything that follows from a task's status, counts and settled flag, index keys included.

    ``gsi1``: the owner's tasks by status; ``gsi2``: the claim queue of its workteam while open; ``gsi3``: the
    expiry sweep while open or closing, then the settle list once final and not settled yet.
    """
    open_ = task.status == "open"
    live = task.status in ("open", "closing")
    unsettled_final = task.status in FINAL_TASK and not task.settled
    return {
        "status": task.status,
        "answers": task.answers,
        "active": task.active,
        "free": task.required - task.answers - task.active,
        "settled": task.settled,
        "g1sk": f"{task.status}#{order}",
        "g2pk": f"QUEUE#{task.workteam_arn}" if open_ else None,
        "g2sk": order if open_ else None,
        "g3pk": "EXPIRY" if live else ("SETTLE" if unsettled_final else None),
        "g3sk": f"{tkey(task.expires_at)}#{task.id}" if live else (order if unsettled_final else None),
        TTL_ATTRIBUTE: purge_at if task.settled else None,
    }


def task_item(task: Task, order: str, docs: Documents) -> Item:
    return put_fields(
        {},
        {
            "pk": f"TASK#{task.id}",
            "sk": "TASK",
            "id": task.id,
            "kind": task.kind,
            "workteam_arn": task.workteam_arn,
            "owner": task.owner,
            "object_id": task.object_id,
            "ui": task.ui,
            **docs.fields("task_input", dumps(task.task_input), 1),
            "title": task.title,
            "description": task.description,
            "keywords": dumps(task.keywords),
            "required": task.required,
            "time_limit": task.time_limit,
            "created": float(task.created),
            "expires_at": float(task.expires_at),
            "ord": order,
            "ver": 0,
            # its "seen" set (workers with an assignment on it) has been kept since it was created: a task without
            # this flag predates the set, and a claim looks its assignments up instead
            "seen_kept": True,
            "g1pk": f"OWNER#{task.owner}",
            **task_state_fields(task, order, None),
        },
    )


def task_from(item: Item, docs: Documents | None) -> Task:
    """The task in ``item``; without ``docs`` its input is left empty (state changes need no S3 read)."""
    return Task(
        id=s(item, "id"),
        kind=s(item, "kind"),  # type: ignore[arg-type]
        workteam_arn=s(item, "workteam_arn"),
        owner=s(item, "owner"),
        object_id=s_or_none(item, "object_id"),
        ui=s(item, "ui"),
        task_input={} if docs is None else docs.json(item, "task_input"),
        title=s(item, "title"),
        description=s(item, "description"),
        keywords=json.loads(s(item, "keywords")),
        required=i(item, "required"),
        time_limit=i(item, "time_limit"),
        created=f(item, "created"),
        expires_at=f(item, "expires_at"),
        status=s(item, "status"),  # type: ignore[arg-type]
        answers=i(item, "answers"),
        active=i(item, "active"),
        settled=b(item, "settled"),
        settle_attempts=int(f_or_none(item, "settle_attempts") or 0),
        settle_after=f_or_none(item, "settle_after") or 0.0,
        settle_error=s_or_none(item, "settle_error"),
    )


# ---------------------------------------------------------------------- assignments and holds
def assignment_key(task_id: str, worker_id: str) -> Item:
    return {"pk": {"S": f"TASK#{task_id}"}, "sk": {"S": f"ASG#{worker_id}"}}


def hold_key(worker_id: str, workteam_arn: str) -> Item:
    """A worker's active assignment in one workteam (read consistently; at most one per worker and team)."""
    return {"pk": {"S": f"HOLD#{worker_id}"}, "sk": {"S": workteam_arn}}


def done_key(worker_id: str, workteam_arn: str) -> Item:
    """How many answers a worker submitted in one workteam (a counter the submission adds to)."""
    return {"pk": {"S": f"DONE#{worker_id}"}, "sk": {"S": workteam_arn}}


def deadline_partition(task_id: str, worker_id: str) -> str:
    """The ``DEADLINE`` shard of an assignment: fixed for its life (a renewal moves only its sort key)."""
    digest = hashlib.blake2b(f"{task_id}#{worker_id}".encode(), digest_size=4).digest()
    return f"{LEGACY_DEADLINE}#{int.from_bytes(digest, 'big') % DEADLINE_SHARDS}"


def deadline_partitions() -> tuple[str, ...]:
    """Every partition the sweep reads for due assignments: the shards and the legacy unsplit one."""
    return (*(f"{LEGACY_DEADLINE}#{n}" for n in range(DEADLINE_SHARDS)), LEGACY_DEADLINE)


def due_sk(task_id: str, worker_id: str, due: float) -> str:
    """An active assignment's ``gsi3`` sort key under ``DEADLINE``: when the sweep must look at it next."""
    return f"{tkey(due)}#{task_id}#{worker_id}"


def assignment_due(assignment: Assignment) -> float:
    """When an active assignment ends unless something happens: its lease's end, or else its time limit."""
    return assignment.deadline if assignment.lease_until is None else min(assignment.lease_until, assignment.deadline)


def assignment_item(assignment: Assignment, workteam_arn: str) -> Item:
    return put_fields(
        {},
        {
            "pk": f"TASK#{assignment.task_id}",
            "sk": f"ASG#{assignment.worker_id}",
            "task_id": assignment.task_id,
            "worker_id": assignment.worker_id,
            "workteam_arn": workteam_arn,
            "status": assignment.status,
            "accepted_at": float(assignment.accepted_at),
            "deadline": float(assignment.deadline),
            "lease_until": None if assignment.lease_until is None else float(assignment.lease_until),
            "g3pk": deadline_partition(assignment.task_id, assignment.worker_id),
            "g3sk": due_sk(assignment.task_id, assignment.worker_id, assignment_due(assignment)),
        },
    )


def hold_item(assignment: Assignment, workteam_arn: str) -> Item:
    return put_fields(
        dict(hold_key(assignment.worker_id, workteam_arn)),
        {"task_id": assignment.task_id, "accepted_at": float(assignment.accepted_at), "deadline": assignment.deadline},
    )


def assignment_from(item: Item, docs: Documents | None) -> Assignment:
    return Assignment(
        task_id=s(item, "task_id"),
        worker_id=s(item, "worker_id"),
        status=s(item, "status"),  # type: ignore[arg-type]
        accepted_at=f(item, "accepted_at"),
        deadline=f(item, "deadline"),
        submitted_at=f_or_none(item, "submitted_at"),
        answer=None if docs is None else docs.json(item, "answer"),
        lease_until=f_or_none(item, "lease_until"),
    )


def assignment_live(item: Item, now: float) -> bool:
    """Whether an assignment item is held now: active, within its time limit, and its lease (if any) not lapsed."""
    lease = f_or_none(item, "lease_until")
    return s(item, "status") == "active" and f(item, "deadline") > now and (lease is None or lease > now)


# ---------------------------------------------------------------------- job objects
#: documents of a job object (their inline share of the item's document budget is 1/3 each)
JOB_OBJECT_DOCS = ("data_object", "task_input", "result")


def job_object_item(obj: JobObject, docs: Documents) -> Item:
    share = len(JOB_OBJECT_DOCS)
    return put_fields(
        {},
        {
            "pk": f"JOB#{obj.job}",
            "sk": f"OBJ#{obj.object_id}",
            "job": obj.job,
            "object_id": obj.object_id,
            "seq": obj.seq,
            "status": obj.status,
            **docs.fields("data_object", dumps(obj.data_object), share),
            **({} if obj.task_input is None else docs.fields("task_input", dumps(obj.task_input), share)),
            **({} if obj.result is None else docs.fields("result", dumps(obj.result), share)),
            "task_id": obj.task_id,
            "iteration": obj.iteration,
            "failure": obj.failure,
            "human": obj.human,
        },
    )


def job_object_from(item: Item, docs: Documents) -> JobObject:
    iteration = item.get("iteration")
    return JobObject(
        job=s(item, "job"),
        object_id=s(item, "object_id"),
        seq=i(item, "seq"),
        status=s(item, "status"),
        data_object=docs.json(item, "data_object"),
        task_input=docs.json(item, "task_input"),
        task_id=s_or_none(item, "task_id"),
        iteration=None if iteration is None else int(Decimal(iteration["N"])),
        result=docs.json(item, "result"),
        failure=s_or_none(item, "failure"),
        human=b(item, "human"),
    )


# ---------------------------------------------------------------------- workers
def worker_item(worker: Worker, pk: str, sk: str) -> Item:
    return put_fields(
        {},
        {
            "pk": pk,
            "sk": sk,
            "id": worker.id,
            "name": worker.name,
            "token_hash": worker.token_hash,
            "sub": worker.sub,
            "created": float(worker.created),
            "simulated": worker.simulated,
        },
    )


def worker_from(item: Item) -> Worker:
    return Worker(
        id=s(item, "id"),
        name=s(item, "name"),
        token_hash=s(item, "token_hash"),
        sub=s(item, "sub"),
        created=f(item, "created"),
        simulated=b(item, "simulated"),
    )


# ---------------------------------------------------------------------- events
def event_sk(event_id: int) -> str:
    return f"{event_id:015d}"


def event_due_fields(event_id: int, delivered: bool, next_attempt: float, purge_at: float | None) -> dict[str, Any]:
    """An undelivered event waits in ``gsi3`` (``OUTBOX``, by next attempt); a delivered one gets its TTL."""
    return {
        "delivered": delivered,
        "next_attempt": float(next_attempt),
        "g3pk": None if delivered else "OUTBOX",
        "g3sk": None if delivered else f"{tkey(next_attempt)}#{event_sk(event_id)}",
        TTL_ATTRIBUTE: purge_at if delivered else None,
    }


def event_item(event_id: int, detail_type: str, body: dict[str, Any], copies: int, now: float, docs: Documents) -> Item:
    return put_fields(
        {},
        {
            "pk": "EVENTS",
            "sk": event_sk(event_id),
            "id": event_id,
            "detail_type": detail_type,
            **docs.fields("body", dumps(body), 1),
            "created": float(now),
            "copies": copies,
            "attempts": 0,
            **event_due_fields(event_id, False, now, None),
        },
    )


def event_from(item: Item, docs: Documents) -> EventRecord:
    return EventRecord(
        id=i(item, "id"),
        detail_type=s(item, "detail_type"),
        body=docs.json(item, "body"),
        created=f(item, "created"),
        copies=i(item, "copies"),
        delivered=b(item, "delivered"),
        attempts=i(item, "attempts"),
        next_attempt=f(item, "next_attempt"),
        last_error=s_or_none(item, "last_error"),
    )
