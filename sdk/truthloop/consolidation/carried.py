"""Worker skills carried across the batches of one labeling job.

Ground Truth calls the post-annotation Lambda with small batches, too small to estimate worker skills on their
own. :class:`SkillState` keeps, per worker, the expected confusion counts (true class × answered class) of every
batch consolidated so far; :func:`consolidate_with_skills` fits Dawid–Skene on a batch with those counts added
to each worker's own (:class:`~truthloop.consolidation.DawidSkene` ``carried``), so a worker seen in earlier
batches is weighed by everything the job knows about them, and returns the batch's contribution to add.

Each batch is added once: the state records the ids of the batches it holds, so a retried batch changes nothing.
:class:`S3SkillStore` keeps the state as one JSON object next to the job's output and writes it with S3
conditional writes (``If-None-Match: *`` to create, ``If-Match: <ETag>`` to update), re-reading and re-applying
the batch when another invocation wrote first.

>>> from truthloop.consolidation import Answers
>>> state = SkillState()
>>> first = Answers.from_records([(f"t{i}", w, "a" if (i + j) % 4 else "b") for i in range(8)
...                               for j, w in enumerate(["w1", "w2", "w3"])])
>>> model, state = consolidate_with_skills(first, state, batch_id="batch-1", classes=["a", "b"])
>>> sorted(state.counts), state.batches
(['w1', 'w2', 'w3'], ['batch-1'])
>>> consolidate_with_skills(first, state, batch_id="batch-1", classes=["a", "b"])[1] == state  # a retry
True
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from truthloop.consolidation._answers import Answers
from truthloop.consolidation._base import CategoricalAggregator, Design, FloatArray
from truthloop.consolidation.auto import AutoSelect
from truthloop.consolidation.dawid_skene import DawidSkene, OneCoinDawidSkene
from truthloop.consolidation.majority import MajorityVote
from truthloop.exceptions import AwsError, ConsolidationError, ContractError

__all__ = [
    "MIN_CLASS_RATIO",
    "MIN_WORKER_ANSWERS",
    "S3SkillStore",
    "SkillState",
    "consolidate_with_skills",
    "skill_state_uri",
]

log = logging.getLogger(__name__)

STATE_VERSION = 1
#: A skill model is used once the typical answer's worker has this many answers in the job so far (this batch
#: included); below it the batch gets a majority vote. Both constants are AutoSelect's defaults.
MIN_WORKER_ANSWERS = AutoSelect().min_worker_answers
#: The collapse guard (a model giving a class less than this × its answer share of the tasks is not used).
MIN_CLASS_RATIO = AutoSelect().min_class_ratio
#: Batch ids remembered for retries (the oldest are forgotten first; a retry comes soon after its batch).
MAX_BATCH_IDS = 2000
#: The state's key under the job's ``outputConfig``.
STATE_KEY = "truthloop/worker-skills.json"


@dataclass
class SkillState:
    """Per worker, the expected confusion counts of the batches in ``batches``, over ``classes`` (in order)."""

    classes: list[str] = field(default_factory=list)
    counts: dict[str, list[list[float]]] = field(default_factory=dict)
    batches: list[str] = field(default_factory=list)
    #: per candidate model: held-out answers that agreed with its consensus, and held-out answers scored
    agreement: dict[str, list[float]] = field(default_factory=dict)
    #: per candidate model: tasks it gave each class (over ``classes``); and answers per class
    predicted: dict[str, list[float]] = field(default_factory=dict)
    answered: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "classes": self.classes,
            "batches": self.batches,
            "counts": self.counts,
            "agreement": self.agreement,
            "predicted": self.predicted,
            "answered": self.answered,
        }

    @classmethod
    def from_dict(cls, data: Any, where: str = "$") -> SkillState:
        """Parse the stored JSON; raises :class:`ContractError` naming what is wrong."""
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ContractError(f"not a version-{STATE_VERSION} worker-skill state", where)
        classes, batches, counts = data.get("classes"), data.get("batches"), data.get("counts")
        if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
            raise ContractError("classes must be a list of strings", f"{where}.classes")
        if not isinstance(batches, list) or not all(isinstance(b, str) for b in batches):
            raise ContractError("batches must be a list of strings", f"{where}.batches")
        if not isinstance(counts, dict):
            raise ContractError("counts must map workers to confusion counts", f"{where}.counts")
        k = len(classes)
        for worker, matrix in counts.items():
            array = np.asarray(matrix, dtype=np.float64) if isinstance(matrix, list) else None
            if array is None or array.shape != (k, k) or not np.all(np.isfinite(array)) or np.any(array < 0):
                raise ContractError(f"worker {worker!r}: expected {k}×{k} non-negative counts", f"{where}.counts")
        agreement, predicted = data.get("agreement", {}), data.get("predicted", {})
        answered = data.get("answered", [0.0] * k)
        if not isinstance(agreement, dict) or not all(isinstance(v, list) and len(v) == 2 for v in agreement.values()):
            raise ContractError("agreement must map a model to [agreeing, scored]", f"{where}.agreement")
        if not isinstance(predicted, dict) or not all(isinstance(v, list) and len(v) == k for v in predicted.values()):
            raise ContractError(f"predicted must map a model to {k} class counts", f"{where}.predicted")
        if not isinstance(answered, list) or len(answered) != k:
            raise ContractError(f"answered must hold {k} class counts", f"{where}.answered")
        return cls(
            list(classes),
            {str(w): m for w, m in counts.items()},
            list(batches),
            {str(m): [float(x) for x in v] for m, v in agreement.items()},
            {str(m): [float(x) for x in v] for m, v in predicted.items()},
            [float(x) for x in answered],
        )

    def aligned(self, classes: Sequence[str]) -> dict[Hashable, FloatArray]:
        """Each worker's counts in the order of ``classes`` (classes the state lacks get zero counts)."""
        index = np.array([self.classes.index(c) if c in self.classes else -1 for c in classes], dtype=np.int64)
        known = index >= 0
        k = len(classes)
        out: dict[Hashable, FloatArray] = {}
        for worker, matrix in self.counts.items():
            target = np.zeros((k, k))
            target[np.ix_(known, known)] = np.asarray(matrix, dtype=np.float64)[np.ix_(index[known], index[known])]
            out[worker] = target
        return out

    def answers_of(self, worker: str) -> float:
        matrix = self.counts.get(worker)
        return float(np.sum(matrix)) if matrix is not None else 0.0

    def added(
        self,
        batch_id: str,
        classes: Sequence[str],
        contribution: dict[str, FloatArray],
        *,
        agreement: dict[str, tuple[float, float]] | None = None,
        predicted: dict[str, FloatArray] | None = None,
        answered: FloatArray | None = None,
    ) -> SkillState:
        """A new state with this batch's counts (over ``classes``) added; unchanged for a batch it already holds."""
        if batch_id in self.batches:
            return self
        merged = list(self.classes) + [c for c in classes if c not in self.classes]
        old = self.aligned(merged)
        position = [merged.index(c) for c in classes]
        for worker, matrix in contribution.items():
            total = old.get(worker, np.zeros((len(merged), len(merged))))
            total[np.ix_(position, position)] += matrix
            old[worker] = total
        counts = {str(w): np.round(m, 6).tolist() for w, m in old.items()}

        def widen(values: Sequence[float], known: Sequence[str]) -> FloatArray:
            out = np.zeros(len(merged))
            out[[merged.index(c) for c in known]] = values
            return out

        new_answered = widen(self.answered or [0.0] * len(self.classes), self.classes)
        if answered is not None:
            new_answered += widen(answered.tolist(), classes)
        new_predicted = {m: widen(v, self.classes) for m, v in self.predicted.items()}
        for m, v in (predicted or {}).items():
            new_predicted[m] = new_predicted.get(m, np.zeros(len(merged))) + widen(v.tolist(), classes)
        new_agreement = {m: list(v) for m, v in self.agreement.items()}
        for m, (hits, scored) in (agreement or {}).items():
            old_hits, old_scored = new_agreement.get(m, [0.0, 0.0])
            new_agreement[m] = [old_hits + hits, old_scored + scored]
        return SkillState(
            merged,
            counts,
            [*self.batches, batch_id][-MAX_BATCH_IDS:],
            new_agreement,
            {m: np.round(v, 6).tolist() for m, v in new_predicted.items()},
            np.round(new_answered, 6).tolist(),
        )

    def choice(self, candidates: Sequence[str], min_class_ratio: float) -> str:
        """The candidate AutoSelect's rule picks from the job's accumulated figures: not collapsed (every class
        workers use gets at least ``min_class_ratio`` × its answer share of the tasks), then the best held-out
        agreement (ties: the first)."""
        answered = np.asarray(self.answered, dtype=np.float64)
        share = answered / max(float(answered.sum()), 1.0)
        healthy = []
        for name in candidates:
            predicted = np.asarray(self.predicted.get(name, [0.0] * len(answered)), dtype=np.float64)
            given = predicted / max(float(predicted.sum()), 1.0)
            used = share > 0
            if not np.any(given[used] < min_class_ratio * share[used]):
                healthy.append(name)
        if not healthy:
            return candidates[0]

        def score(name: str) -> float:
            hits, scored = self.agreement.get(name, [0.0, 0.0])
            return hits / scored if scored else 0.0

        return max(healthy, key=lambda name: (score(name), -list(candidates).index(name)))


_MODELS: dict[str, Callable[..., CategoricalAggregator]] = {"ds": DawidSkene, "ods": OneCoinDawidSkene}


def _held_out(
    answers: Answers,
    factory: Callable[..., CategoricalAggregator],
    prior: dict[Hashable, FloatArray],
    folds: int,
    seed: int,
) -> tuple[float, float]:
    """Held-out answers agreeing with the consensus of the other folds (AutoSelect's criterion), and scored."""
    fold = np.random.default_rng(seed).integers(0, folds, len(answers))
    hits = scored = 0.0
    for f in range(folds):
        train = fold != f
        subset, kept = answers.select(train)
        if kept.size == 0:
            continue
        consensus = np.full(answers.n_tasks, -1, dtype=np.int64)
        consensus[kept] = factory(carried=prior).fit(subset).label_indices_
        held = ~train
        predicted = consensus[answers.task_index[held]]
        ok = predicted >= 0
        hits += float(np.sum(predicted[ok] == answers.label_index[held][ok]))
        scored += float(np.sum(ok))
    return hits, scored


def consolidate_with_skills(
    answers: Answers,
    state: SkillState,
    *,
    batch_id: str,
    classes: Sequence[str],
    min_worker_answers: float = MIN_WORKER_ANSWERS,
    min_class_ratio: float = MIN_CLASS_RATIO,
    folds: int = 5,
    seed: int = 0,
) -> tuple[CategoricalAggregator, SkillState]:
    """Consolidate one batch with the job's carried skills; the fitted model and the state with this batch added.

    ``answers`` must be built over ``classes`` (the job's label categories, in order). When the typical answer's
    worker (the median over answers) has at least ``min_worker_answers`` answers in the job so far, this batch
    included, Dawid–Skene and one-coin Dawid–Skene are both fitted with the carried counts, and the one
    :class:`~truthloop.consolidation.AutoSelect`'s rule prefers *on the whole job so far* (collapse guard and
    held-out agreement, both accumulated over the batches) consolidates the batch; otherwise a majority vote.
    """
    if [str(c) for c in answers.classes] != [str(c) for c in classes]:
        raise ConsolidationError("the answers must be built over the job's classes, in order")
    if len(answers) == 0:
        return MajorityVote().fit(answers), state
    prior = state.aligned(classes)
    per_worker = np.bincount(answers.worker_index, minlength=answers.n_workers).astype(np.float64)
    carried = np.array([state.answers_of(str(w)) for w in answers.workers])
    typical = float(np.median((per_worker + carried)[answers.worker_index]))
    k = len(classes)
    answered = np.bincount(answers.label_index, minlength=k).astype(np.float64)
    if typical < min_worker_answers:
        model: CategoricalAggregator = MajorityVote().fit(answers)
        fitted: dict[str, CategoricalAggregator] = {}
        agreement: dict[str, tuple[float, float]] = {}
    else:
        fitted = {name: factory(carried=prior).fit(answers) for name, factory in _MODELS.items()}
        agreement = {name: _held_out(answers, factory, prior, folds, seed) for name, factory in _MODELS.items()}
    predicted = {name: np.bincount(m.label_indices_, minlength=k).astype(np.float64) for name, m in fitted.items()}
    new_state = state.added(
        batch_id, [str(c) for c in classes], {}, agreement=agreement, predicted=predicted, answered=answered
    )
    if fitted:
        model = fitted[new_state.choice(list(_MODELS), min_class_ratio)]
    design = Design(answers, k)
    counts = design.confusion_counts(model.proba_matrix_)
    contribution = {str(w): counts[i] for i, w in enumerate(answers.workers)}
    if batch_id in state.batches:
        return model, state
    return model, state.added(
        batch_id, [str(c) for c in classes], contribution, agreement=agreement, predicted=predicted, answered=answered
    )


def skill_state_uri(output_config: str) -> str:
    """Where a job's state lives: ``<outputConfig>/truthloop/worker-skills.json``."""
    return f"{output_config.rstrip('/')}/{STATE_KEY}"


class S3SkillStore:
    """The state of one job as an S3 object, read and written with conditional requests (safe under retries
    and concurrent invocations)."""

    def __init__(self, s3_client: Any, uri: str, *, attempts: int = 5) -> None:
        from truthloop.manifest.io import parse_location

        location = parse_location(uri)
        if location.bucket is None:
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
