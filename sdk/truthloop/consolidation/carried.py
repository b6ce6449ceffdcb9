"""Worker skills across the batches of one labeling job.

Ground Truth calls the post-annotation Lambda with small batches, too small to estimate worker skills on their
own: under 30 tasks the default falls back to majority vote, so a real job would never use a skill model.
:class:`SkillState` is what a job's skills are estimated from — every answer of the batches consolidated so far
(task, worker, class), compactly — and :func:`consolidate_with_skills` consolidates a batch with the default
method fitted on the job so far (the earlier batches and this one), keeping this batch's labels. The last batch
is labelled exactly as one fit over the whole job would label it; earlier ones with what was known then.

Carrying the answers rather than fitted skills (confusion counts used as a prior) is deliberate: counts frozen
from early batches, labelled with what little was known then, kept their mistakes; on the 14 bench datasets
that variant trailed the whole-job fit by 0.016 on average and fell below majority vote on three, against 0.003
for this one (docs/labeling.md).

Each batch is added once: the state records the ids of the batches it holds, so a retried batch changes nothing.
:class:`S3SkillStore` keeps the state as one JSON object next to the job's output and writes it with S3
conditional writes (``If-None-Match: *`` to create, ``If-Match: <ETag>`` to update), re-reading and re-applying
the batch when another invocation wrote first. The state keeps the most recent :data:`MAX_ANSWERS` answers.

>>> from truthloop.consolidation import Answers
>>> batch = Answers.from_records([(f"t{i}", w, "a" if (i + j) % 4 else "b") for i in range(8)
...                               for j, w in enumerate(["w1", "w2", "w3"])])
>>> model, state = consolidate_with_skills(batch, SkillState(), batch_id="batch-1")
>>> len(state.answers), state.batches, sorted(model.labels_) == sorted(batch.tasks)
(24, ['batch-1'], True)
>>> consolidate_with_skills(batch, state, batch_id="batch-1")[1] == state  # a retry
True
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from truthloop.consolidation._answers import Answers, sort_key
from truthloop.consolidation._base import CategoricalAggregator
from truthloop.consolidation.methods import make_aggregator
from truthloop.exceptions import AwsError, ConsolidationError, ContractError

__all__ = ["MAX_ANSWERS", "S3SkillStore", "SkillState", "consolidate_with_skills", "skill_state_uri"]

log = logging.getLogger(__name__)

STATE_VERSION = 1
#: Answers the state keeps (the most recent): bounds the state object (about 15 bytes an answer) and the fit.
MAX_ANSWERS = 200_000
#: Batch ids remembered for retries (the oldest are forgotten first; a retry comes soon after its batch).
MAX_BATCH_IDS = 5000
#: The state's key under the job's ``outputConfig``.
STATE_KEY = "truthloop/worker-skills.json"


@dataclass
class SkillState:
    """The job's answers so far as ``[task, worker, class]`` indices into ``tasks``, ``workers`` and ``classes``,
    and the ids of the batches they came from."""

    tasks: list[str] = field(default_factory=list)
    workers: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    answers: list[list[int]] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "tasks": self.tasks,
            "workers": self.workers,
            "classes": self.classes,
            "answers": self.answers,
            "batches": self.batches,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "$") -> SkillState:
        """Parse the stored JSON; raises :class:`ContractError` naming what is wrong."""
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ContractError(f"not a version-{STATE_VERSION} worker-skill state", where)
        lists = {}
        for key in ("tasks", "workers", "classes", "batches"):
            value = data.get(key)
            if not isinstance(value, list) or not all(isinstance(x, str) for x in value):
                raise ContractError(f"{key} must be a list of strings", f"{where}.{key}")
            lists[key] = value
        answers = data.get("answers")
        sizes = (len(lists["tasks"]), len(lists["workers"]), len(lists["classes"]))
        if not isinstance(answers, list):
            raise ContractError("answers must be a list of [task, worker, class] indices", f"{where}.answers")
        for number, row in enumerate(answers):
            if (
                not isinstance(row, list)
                or len(row) != 3
                or not all(type(i) is int and 0 <= i < n for i, n in zip(row, sizes, strict=True))
            ):
                raise ContractError("expected [task, worker, class] indices in range", f"{where}.answers[{number}]")
        return cls(lists["tasks"], lists["workers"], lists["classes"], answers, lists["batches"])

    def to_answers(self) -> Answers:
        """The answers as a table, classes sorted as :class:`Answers` sorts them (so ties break as in one fit
        over the whole job)."""
        rows = np.asarray(self.answers, dtype=np.int64).reshape(-1, 3)
        order = sorted(range(len(self.classes)), key=lambda i: sort_key(self.classes[i]))
        remap = np.empty(len(order), dtype=np.int64)
        remap[order] = np.arange(len(order), dtype=np.int64)
        return Answers(
            rows[:, 0],
            rows[:, 1],
            remap[rows[:, 2]] if len(order) else rows[:, 2],
            tasks=self.tasks,
            workers=self.workers,
            classes=[self.classes[i] for i in order],
        )

    def added(self, batch_id: str, batch: Answers) -> SkillState:
        """A new state with ``batch``'s answers appended (the oldest dropped beyond :data:`MAX_ANSWERS`);
        unchanged for a batch it already holds."""
        if batch_id in self.batches:
            return self
        tasks, workers, classes = list(self.tasks), list(self.workers), list(self.classes)
        maps = [{v: i for i, v in enumerate(x)} for x in (tasks, workers, classes)]

        def code(index: int, value: Hashable) -> int:
            key = str(value)
            found = maps[index].get(key)
            if found is None:
                found = maps[index][key] = len(maps[index])
                (tasks, workers, classes)[index].append(key)
            return found

        new = [
            [code(0, batch.tasks[t]), code(1, batch.workers[w]), code(2, batch.classes[c])]
            for t, w, c in zip(
                batch.task_index.tolist(), batch.worker_index.tolist(), batch.label_index.tolist(), strict=True
            )
        ]
        answers = [*self.answers, *new]
        state = SkillState(tasks, workers, classes, answers, [*self.batches, batch_id][-MAX_BATCH_IDS:])
        return state._trimmed() if len(answers) > MAX_ANSWERS else state

    def _trimmed(self) -> SkillState:
        """Only the most recent :data:`MAX_ANSWERS` answers, with the tasks and workers they name."""
        kept = self.answers[-MAX_ANSWERS:]
        rows = np.asarray(kept, dtype=np.int64)
        used_tasks, task_codes = np.unique(rows[:, 0], return_inverse=True)
        used_workers, worker_codes = np.unique(rows[:, 1], return_inverse=True)
        answers = np.column_stack([task_codes, worker_codes, rows[:, 2]]).tolist()
        return SkillState(
            [self.tasks[i] for i in used_tasks.tolist()],
            [self.workers[i] for i in used_workers.tolist()],
            list(self.classes),
            answers,
            list(self.batches),
        )


def consolidate_with_skills(
    answers: Answers, state: SkillState, *, batch_id: str, method: str | None = None
) -> tuple[CategoricalAggregator, SkillState]:
    """Consolidate one batch with what the job's earlier batches say about its workers.

    The default method (``method``, default ``auto``) is fitted on the job so far — the state's answers and this
    batch's — and the returned model's labels are restricted to this batch's tasks. Returns the model and the
    state with this batch added (the same state for a batch it already holds).
    """
    new_state = state.added(batch_id, answers)
    job = new_state.to_answers()
    fitted = make_aggregator(method).fit(job)
    mine = {str(t) for t in answers.tasks}
    keep = np.array([str(t) in mine for t in job.tasks], dtype=bool)
    return _Restricted(fitted, keep), new_state


class _Restricted(CategoricalAggregator):
    """A fitted model seen through a subset of its tasks (``labels_``, ``probas_`` … of this batch only)."""

    def __init__(self, fitted: CategoricalAggregator, keep: Any) -> None:
        self.model_ = fitted
        self.tasks_ = [t for t, k in zip(fitted.tasks_, keep.tolist(), strict=True) if k]
        self.workers_ = list(fitted.workers_)
        self.classes_ = list(fitted.classes_)
        self.proba_matrix_ = fitted.proba_matrix_[keep]
        self.skill_array_ = fitted.skill_array_
        self.label_indices_ = fitted.label_indices_[keep]
        self.loss_history_ = list(fitted.loss_history_)
        self._cache: dict[str, Any] = {}

    def _fit(self, design: Any, gold_tasks: Any, gold_classes: Any) -> Any:  # pragma: no cover - never refitted
        raise ConsolidationError("a restricted view is not refitted")


def skill_state_uri(output_config: str) -> str:
    """Where a job's state lives: ``<outputConfig>/truthloop/worker-skills.json``."""
    return f"{output_config.rstrip('/')}/{STATE_KEY}"


class S3SkillStore:
    """The state of one job as an S3 object, read and written with conditional requests (safe under retries
    and concurrent invocations)."""

    def __init__(self, s3_client: Any, uri: str, *, attempts: int = 5) -> None:
        from truthloop.manifest.io import parse_location

        location = parse_location(uri)
        if location.bucket is None or location.key is None:
            raise ConsolidationError(f"the worker-skill state needs an s3:// location, got {uri!r}")
        self.s3 = s3_client
        self.uri = uri
        self.bucket, self.key = location.bucket, location.key
        self.attempts = attempts

    def load(self) -> tuple[SkillState, str | None]:
        """The stored state and its ETag (an empty state and ``None`` when there is none yet)."""
        from truthloop.aws import map_client_errors

        try:
            with map_client_errors("GetObject"):
                response = self.s3.get_object(Bucket=self.bucket, Key=self.key)
        except AwsError as exc:
            if exc.code in ("NoSuchKey", "404", "NotFound"):
                return SkillState(), None
            raise
        try:
            data = json.loads(response["Body"].read())
        except ValueError as exc:
            raise ContractError(f"{self.uri}: the worker-skill state is not valid JSON: {exc}") from exc
        return SkillState.from_dict(data, self.uri), str(response["ETag"])

    def update(self, apply: Callable[[SkillState], SkillState]) -> SkillState:
        """Read, ``apply(state) -> new state``, write conditionally; on a lost race, again (``attempts`` times)."""
        from truthloop.aws import map_client_errors

        for attempt in range(self.attempts):
            state, etag = self.load()
            new = apply(state)
            if new == state and etag is not None:
                return state
            condition = {"IfMatch": etag} if etag is not None else {"IfNoneMatch": "*"}
            body = json.dumps(new.to_dict(), separators=(",", ":")).encode("utf-8")
            try:
                with map_client_errors("PutObject"):
                    self.s3.put_object(
                        Bucket=self.bucket, Key=self.key, Body=body, ContentType="application/json", **condition
                    )
                return new
            except AwsError as exc:
                # 412: the object changed (or appeared) since it was read; 409: a concurrent conditional write
                if exc.code not in ("PreconditionFailed", "ConditionalRequestConflict"):
                    raise
                log.info("worker-skill state changed underneath; retrying", extra={"attempt": attempt + 1})
        raise ConsolidationError(f"{self.uri}: the worker-skill state kept changing ({self.attempts} attempts)")
