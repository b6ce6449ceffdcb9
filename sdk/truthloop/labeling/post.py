"""Post-annotation (annotation consolidation): payload in S3 → built-in-shaped ``<attr>`` + ``<attr>-metadata``.

One bad object never fails the batch: it is left out of the response with its reason logged and reported in
:class:`BatchReport.failures`. A bad *answer* is dropped (reported in ``BatchReport.dropped``) and the object is
consolidated from the remaining answers; an object with no usable answer is a failure.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections import Counter
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from truthloop.aws import map_client_errors, split_s3_uri
from truthloop.consolidation import Answers
from truthloop.consolidation._base import CategoricalAggregator
from truthloop.consolidation.boxes import BoxAggregator, WorkerBox
from truthloop.consolidation.carried import S3SkillStore, SkillState, consolidate_with_skills, skill_state_uri
from truthloop.consolidation.methods import DEFAULT_METHOD, make_aggregator
from truthloop.consolidation.multilabel import MultiLabelAggregator
from truthloop.consolidation.ranking import RankingAggregator
from truthloop.consolidation.spans import SpanAggregator, WorkerSpan
from truthloop.consolidation.text import TextMedoid
from truthloop.contracts import ConsolidationEvent, LabelMetadata
from truthloop.contracts._reader import Obj, as_list, child_path
from truthloop.contracts.gt import CUSTOM_TYPE, DatasetObject
from truthloop.exceptions import AwsError, ConsolidationError, ContractError
from truthloop.labeling.answers import (
    Answer,
    BoxesAnswer,
    ClassAnswer,
    EntitiesAnswer,
    FreeTextAnswer,
    MultiLabelAnswer,
    PairwiseAnswer,
    RankingAnswer,
    SegmentationAnswer,
    parse_answer,
)
from truthloop.labeling.order import display_order_of
from truthloop.labeling.task_types import TaskType, get_task_type

__all__ = [
    "ENV_CARRY_SKILLS",
    "BatchReport",
    "ObjectFailure",
    "consolidate_batch",
    "consolidate_report",
    "split_s3_uri",
]

#: Environment variable of the post-annotation Lambda: ``false`` stops carrying the job's state between batches
#: (the Lambda carries it by default; the library function only when asked).
ENV_CARRY_SKILLS = "TRUTHLOOP_CARRY_SKILLS"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ObjectFailure:
    """Why an object (or one worker's answer to it) was left out."""

    dataset_object_id: str | None
    reason: str
    worker_id: str | None = None


@dataclass
class BatchReport:
    """The Lambda response (``responses``) plus what was left out and why."""

    responses: list[dict[str, Any]] = field(default_factory=list)
    failures: list[ObjectFailure] = field(default_factory=list)
    dropped: list[ObjectFailure] = field(default_factory=list)


@dataclass
class _Item:
    object_id: str
    data: DatasetObject
    answers: list[tuple[str, Answer]]


def _read_s3(s3: Any, uri: str) -> bytes:
    bucket, key = split_s3_uri(uri)
    with map_client_errors("GetObject"):
        body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def _read_json(s3: Any, uri: str, what: str) -> Any:
    raw = _read_s3(s3, uri)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ContractError(f"{what} at {uri} is not valid JSON: {exc}"[:400]) from None


def _now_iso(now: datetime | None) -> str:
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="microseconds")


class _Context:
    def __init__(
        self, event: ConsolidationEvent, task: TaskType, method: str | None, s3: Any, now: str, carry_skills: bool
    ) -> None:
        self.event = event
        self.task = task
        self.method = method
        self.s3 = s3
        self.now = now
        self.carry_skills = carry_skills
        self.attr = event.label_attribute_name
        self.report = BatchReport()

    # ---------------------------------------------------------------- output helpers
    def metadata(self, **extra: Any) -> dict[str, Any]:
        if self.task.is_custom:
            meta = LabelMetadata(
                type=CUSTOM_TYPE, job_name=self.event.job_name, human_annotated=True, creation_date=self.now
            )
            return meta.to_dict()
        meta = LabelMetadata(
            type=self.task.output_type,
            job_name=self.event.job_name,
            human_annotated=True,
            creation_date=self.now,
            **extra,
        )
        return meta.to_dict()

    def emit(self, object_id: str, value: Any, metadata: dict[str, Any]) -> None:
        self.report.responses.append(
            {
                "datasetObjectId": object_id,
                "consolidatedAnnotation": {"content": {self.attr: value, f"{self.attr}-metadata": metadata}},
            }
        )

    def fail(self, object_id: str | None, reason: str) -> None:
        log.warning("object left out of consolidation", extra={"datasetObjectId": object_id, "reason": reason})
        self.report.failures.append(ObjectFailure(object_id, reason))

    def drop(self, object_id: str, worker: str, reason: str) -> None:
        log.warning("answer dropped", extra={"datasetObjectId": object_id, "workerId": worker, "reason": reason})
        self.report.dropped.append(ObjectFailure(object_id, reason, worker))

    def categories(self, seen: list[str]) -> list[str]:
        """Label categories from the event, else the labels seen in this batch (sorted)."""
        if self.event.label_categories:
            return list(self.event.label_categories)
        return sorted(set(seen))


def _confidence(value: float, n_answers: int) -> float:
    """AWS's convention: confidence 0.0 when a single worker labelled the object (aws-contracts.md §3)."""
    return 0.0 if n_answers <= 1 else round(float(value), 2)


# -------------------------------------------------------------------- per task kind


def _classes(ctx: _Context, items: list[_Item]) -> None:
    seen = [a.label for it in items for _, a in it.answers if isinstance(a, ClassAnswer)]
    categories = ctx.categories(seen)
    allowed = set(categories)
    records = []
    usable: list[_Item] = []
    for it in items:
        kept = []
        for worker, answer in it.answers:
            assert isinstance(answer, ClassAnswer)
            if answer.label not in allowed:
                ctx.drop(
                    it.object_id, worker, f"label {answer.label!r} is not one of the label categories {categories}"
                )
                continue
            kept.append((worker, answer))
            records.append((it.object_id, worker, answer.label))
        if kept:
            usable.append(_Item(it.object_id, it.data, list(kept)))
        else:
            ctx.fail(it.object_id, "no usable answers")
    if not usable:
        return
    model = _fit_classes(ctx, records, categories)
    labels, confidences = model.labels_, dict(zip(model.tasks_, model.confidences_.tolist(), strict=True))
    for it in usable:
        label = str(labels[it.object_id])
        index = categories.index(label)
        confidence = _confidence(confidences[it.object_id], len(it.answers))
        if ctx.task.answer == "verification":
            comments = [a.comment for _, a in it.answers if isinstance(a, ClassAnswer) and a.comment]
            meta = ctx.metadata(class_name=label, confidence=confidence, worker_feedback=tuple(comments))
            ctx.emit(it.object_id, str(index), meta)
        else:
            ctx.emit(it.object_id, index, ctx.metadata(class_name=label, confidence=confidence))


def _fit_classes(ctx: _Context, records: list[tuple[str, str, str]], categories: list[str]) -> CategoricalAggregator:
    """The batch's categorical model: fitted on the job so far (the carried state and this batch) when the
    default method runs with ``carry_skills`` and the event says where the job's output goes; otherwise the
    method on this batch alone."""
    batch = Answers.from_records(records)
    if not ctx.carry_skills or (ctx.method or DEFAULT_METHOD) != "auto" or not ctx.event.output_config:
        return make_aggregator(ctx.method).fit(batch)
    store = S3SkillStore(ctx.s3, skill_state_uri(ctx.event.output_config))
    fitted: list[CategoricalAggregator] = []

    def apply(state: SkillState) -> SkillState:
        model, new_state = consolidate_with_skills(batch, state, batch_id=ctx.event.payload_s3_uri)
        fitted[:] = [model]
        return new_state

    try:
        store.update(apply)
    except (AwsError, ContractError, ConsolidationError) as exc:
        # the state is an optimisation: without it the batch is consolidated on its own, never lost
        log.warning("worker-skill state unavailable; consolidating the batch alone", extra={"reason": str(exc)})
        return make_aggregator(ctx.method).fit(batch)
    return fitted[0]


def _multilabel(ctx: _Context, items: list[_Item]) -> None:
    seen = [label for it in items for _, a in it.answers if isinstance(a, MultiLabelAnswer) for label in a.labels]
    categories = ctx.categories(seen)
    allowed = set(categories)
    records: list[tuple[Hashable, Hashable, tuple[str, ...]]] = []
    usable = []
    for it in items:
        count = 0
        for worker, answer in it.answers:
            assert isinstance(answer, MultiLabelAnswer)
            unknown = [label for label in answer.labels if label not in allowed]
            if unknown:
                ctx.drop(it.object_id, worker, f"labels {unknown} are not among the label categories {categories}")
                continue
            records.append((it.object_id, worker, answer.labels))
            count += 1
        if count:
            usable.append((it, count))
        else:
            ctx.fail(it.object_id, "no usable answers")
    if not usable:
        return
    model = MultiLabelAggregator(vocabulary=categories).fit(records)
    probas = model.probas_
    chosen = model.labels_
    for it, count in usable:
        ids = [categories.index(str(label)) for label in chosen[it.object_id]]
        class_map = {str(i): categories[i] for i in ids}
        confidence_map = {str(i): _confidence(probas[it.object_id][categories[i]], count) for i in ids}
        ctx.emit(it.object_id, ids, ctx.metadata(class_map=class_map, confidence_map=confidence_map))


def _boxes(ctx: _Context, items: list[_Item]) -> None:
    seen = [b.label for it in items for _, a in it.answers if isinstance(a, BoxesAnswer) for b in a.boxes]
    categories = ctx.categories(seen)
    for it in items:
        boxes: list[WorkerBox] = []
        workers = []
        width = height = None
        adjusted = False
        for worker, answer in it.answers:
            assert isinstance(answer, BoxesAnswer)
            unknown = sorted({b.label for b in answer.boxes} - set(categories))
            if unknown:
                ctx.drop(it.object_id, worker, f"box labels {unknown} are not among the label categories {categories}")
                continue
            workers.append(worker)
            adjusted = adjusted or bool(answer.initial_value_modified)
            if width is None and answer.image_width is not None:
                width, height = answer.image_width, answer.image_height
            boxes.extend(WorkerBox.from_ltwh(worker, b.label, b.left, b.top, b.width, b.height) for b in answer.boxes)
        if not workers:
            ctx.fail(it.object_id, "no usable answers")
            continue
        fused = BoxAggregator().aggregate(boxes, workers)
        annotations = []
        for box in fused:
            left, top, w, h = box.ltwh
            annotations.append(
                {
                    "class_id": categories.index(str(box.label)),
                    "left": round(left),
                    "top": round(top),
                    "width": round(w),
                    "height": round(h),
                }
            )
        value: dict[str, Any] = {"annotations": annotations}
        if width is not None and height is not None:
            value = {"image_size": [{"width": round(width), "height": round(height), "depth": 3}], **value}
        extra: dict[str, Any] = {
            "objects": tuple(_confidence(b.confidence, len(workers)) for b in fused),
            "class_map": {str(i): name for i, name in enumerate(categories)},
        }
        if ctx.task.id == "bounding-box-adjustment":
            extra["adjustment_status"] = "adjusted" if adjusted else "unadjusted"
        ctx.emit(it.object_id, value, ctx.metadata(**extra))


def _entities(ctx: _Context, items: list[_Item]) -> None:
    seen = [s.label for it in items for _, a in it.answers if isinstance(a, EntitiesAnswer) for s in a.entities]
    categories = ctx.categories(seen)
    for it in items:
        spans: list[WorkerSpan] = []
        workers = []
        for worker, answer in it.answers:
            assert isinstance(answer, EntitiesAnswer)
            unknown = sorted({s.label for s in answer.entities} - set(categories))
            if unknown:
                ctx.drop(
                    it.object_id, worker, f"entity labels {unknown} are not among the label categories {categories}"
                )
                continue
            workers.append(worker)
            spans.extend(WorkerSpan(worker, s.label, s.start, s.end) for s in answer.entities)
        if not workers:
            ctx.fail(it.object_id, "no usable answers")
            continue
        voted = SpanAggregator().aggregate(spans, workers)
        value = {
            "annotations": {
                "labels": [{"label": name} for name in categories],
                "entities": [{"label": str(s.label), "startOffset": s.start, "endOffset": s.end} for s in voted],
            }
        }
        entities = tuple(_confidence(s.confidence, len(workers)) for s in voted)
        ctx.emit(it.object_id, value, ctx.metadata(entities=entities))


def _segmentation(ctx: _Context, items: list[_Item]) -> None:
    for it in items:
        answers = [(w, a) for w, a in it.answers if isinstance(a, SegmentationAnswer)]
        label_sets = Counter(frozenset(a.label_colors) for _, a in answers)
        common, votes = label_sets.most_common(1)[0]
        worker, chosen = next((w, a) for w, a in answers if frozenset(a.label_colors) == common)
        if not ctx.event.output_config:
            ctx.fail(it.object_id, "the event has no outputConfig to write the consolidated mask under")
            continue
        try:
            png = base64.b64decode(chosen.png_base64, validate=True)
        except (binascii.Error, ValueError):
            ctx.fail(it.object_id, f"worker {worker}: pngImageData is not valid base64")
            continue
        base = ctx.event.output_config.rstrip("/")
        bucket, _, prefix = base.removeprefix("s3://").partition("/")
        key = "/".join(p for p in (prefix, "consolidated-annotation/masks", f"{it.object_id}.png") if p)
        try:
            with map_client_errors("PutObject"):
                ctx.s3.put_object(Bucket=bucket, Key=key, Body=png, ContentType="image/png")
        except AwsError as exc:
            ctx.fail(it.object_id, f"cannot write the mask: {exc}")
            continue
        confidence = _confidence(votes / len(answers), len(answers))
        categories = ctx.categories(sorted(chosen.label_colors))
        color_map: dict[str, dict[str, Any]] = {
            "0": {"class-name": "BACKGROUND", "confidence": confidence, "hex-color": "#ffffff"}
        }
        for i, name in enumerate(categories, start=1):
            if name in chosen.label_colors:
                color_map[str(i)] = {
                    "class-name": name,
                    "confidence": confidence,
                    "hex-color": chosen.label_colors[name],
                }
        ctx.emit(it.object_id, f"s3://{bucket}/{key}", ctx.metadata(internal_color_map=color_map))


def _free_text(ctx: _Context, items: list[_Item]) -> None:
    for it in items:
        texts = [(w, a.text) for w, a in it.answers if isinstance(a, FreeTextAnswer)]
        medoid = TextMedoid().choose([t for _, t in texts])
        value = {
            "answer": medoid.text,
            "workerId": texts[medoid.index][0],
            "confidence": round(medoid.confidence, 4),
            "answers": [{"workerId": w, "answer": t} for w, t in texts],
        }
        ctx.emit(it.object_id, value, ctx.metadata())


def _ranking(ctx: _Context, items: list[_Item]) -> None:
    for it in items:
        per_dimension: dict[str, dict[str, tuple[int, ...]]] = {}
        workers = []
        for worker, answer in it.answers:
            assert isinstance(answer, RankingAnswer)
            workers.append({"workerId": worker, "rankings": {d: list(r) for d, r in answer.rankings.items()}})
            for dimension, ranks in answer.rankings.items():
                per_dimension.setdefault(dimension, {})[worker] = ranks
        rankings: dict[str, Any] = {}
        problem = None
        for dimension, by_worker in per_dimension.items():
            lengths = Counter(len(r) for r in by_worker.values())
            size = lengths.most_common(1)[0][0]
            for worker, ranks in list(by_worker.items()):
                if len(ranks) != size:
                    ctx.drop(
                        it.object_id, worker, f"dimension {dimension!r}: ranked {len(ranks)} responses, others {size}"
                    )
                    del by_worker[worker]
            try:
                result = RankingAggregator().aggregate(by_worker)
            except ConsolidationError as exc:
                problem = f"dimension {dimension!r}: {exc}"
                break
            rankings[dimension] = {
                "order": list(result.order),
                "ranks": list(result.ranks),
                "scores": [round(s, 6) for s in result.scores],
                "agreement": round(result.agreement, 4),
                "workers": len(by_worker),
            }
        if problem:
            ctx.fail(it.object_id, problem)
            continue
        ctx.emit(it.object_id, {"rankings": rankings, "workerRankings": workers}, ctx.metadata())


def _pairwise(ctx: _Context, items: list[_Item]) -> None:
    for it in items:
        # the pre-annotation Lambda chose the order from the data object alone, so it is recomputed here exactly
        recomputed = display_order_of(it.data.data_object.to_dict())
        preferences = []
        for worker, answer in it.answers:
            assert isinstance(answer, PairwiseAnswer)
            try:
                preferred = answer.preferred(recomputed) or "tie"
            except ContractError as exc:
                ctx.drop(it.object_id, worker, str(exc))
                continue
            preferences.append(
                {
                    "workerId": worker,
                    "preferred": preferred,
                    "strength": answer.strength,
                    "rationale": answer.rationale,
                    "displayOrder": answer.display_order or recomputed,
                    "displayOrderKnown": True,
                }
            )
        if not preferences:
            ctx.fail(it.object_id, "no usable answers: the display order of every answer is unknown")
            continue
        votes = Counter(p["preferred"] for p in preferences)
        a, b = votes.get("responseA", 0), votes.get("responseB", 0)
        winner = "responseA" if a > b else "responseB" if b > a else "tie"
        agreeing = [p for p in preferences if p["preferred"] == winner]
        strengths = [float(p["strength"]) for p in agreeing if p["strength"] is not None]
        value = {
            "preferred": winner,
            "votes": {"responseA": a, "responseB": b, "tie": votes.get("tie", 0)},
            "agreement": round(len(agreeing) / len(preferences), 4),
            "meanStrength": round(sum(strengths) / len(strengths), 4) if strengths else None,
            "workerPreferences": preferences,
        }
        ctx.emit(it.object_id, value, ctx.metadata())


_CONSOLIDATORS: dict[str, Callable[[_Context, list[_Item]], None]] = {
    "class": _classes,
    "verification": _classes,
    "multilabel": _multilabel,
    "boxes": _boxes,
    "entities": _entities,
    "segmentation": _segmentation,
    "free-text": _free_text,
    "ranking": _ranking,
    "pairwise": _pairwise,
}


# -------------------------------------------------------------------- entry points


def _load_items(ctx: _Context, payload: Any) -> list[_Item]:
    items = []
    for index, raw in enumerate(as_list(payload, "$payload")):
        path = f"$payload[{index}]"
        object_id = None
        if isinstance(raw, Mapping) and isinstance(raw.get("datasetObjectId"), (str, int)):
            object_id = str(raw["datasetObjectId"])
        try:
            data = DatasetObject.parse(Obj(raw, path))
        except ContractError as exc:
            ctx.fail(object_id, str(exc))
            continue
        answers: list[tuple[str, Answer]] = []
        for number, annotation in enumerate(data.annotations):
            apath = child_path(child_path(path, "annotations"), number)
            try:
                content: Any = annotation.content
                if content is None and annotation.s3_uri is not None:
                    content = _read_json(ctx.s3, annotation.s3_uri, "annotation")
                answers.append((annotation.worker_id, parse_answer(ctx.task, content)))
            except ContractError as exc:
                ctx.drop(data.dataset_object_id, annotation.worker_id, f"{apath}.annotationData: {exc}")
            except AwsError as exc:
                ctx.drop(data.dataset_object_id, annotation.worker_id, f"{apath}.annotationData.s3Uri: {exc}")
        if not answers:
            ctx.fail(data.dataset_object_id, "no usable answers")
            continue
        items.append(_Item(data.dataset_object_id, data, answers))
    return items


def consolidate_report(
    event: Mapping[str, Any],
    *,
    task_type: str | TaskType,
    method: str | None = None,
    s3_client: Any = None,
    now: datetime | None = None,
    carry_skills: bool = False,
) -> BatchReport:
    """Consolidate one GT post-annotation event; returns the response and every left-out object/answer.

    With the default method (``auto``) and ``carry_skills``, classification and verification batches are
    consolidated with the default fitted on the job so far (:mod:`truthloop.consolidation.carried`): the job's
    answers are kept in ``<outputConfig>/truthloop/worker-skills.json``, written with S3 conditional requests;
    when that state cannot be read or written, the batch is consolidated on its own (logged).

    Raises only when the batch as a whole cannot be processed: a malformed event (:class:`ContractError`), a
    payload that cannot be read (:class:`~truthloop.exceptions.AwsError`) or is not a JSON array, or an
    unknown task type or method.
    """
    task = get_task_type(task_type)
    make_aggregator(method)  # validate the name before doing any work
    parsed = ConsolidationEvent.parse(event)
    if s3_client is None:
        import boto3

        s3_client = boto3.client("s3")
    ctx = _Context(parsed, task, method, s3_client, _now_iso(now), carry_skills)
    payload = _read_json(s3_client, parsed.payload_s3_uri, "the consolidation payload")
    items = _load_items(ctx, payload)
    if items:
        _CONSOLIDATORS[task.answer](ctx, items)
    return ctx.report


def consolidate_batch(
    event: Mapping[str, Any], *, task_type: str | TaskType, method: str | None = None, s3_client: Any = None
) -> list[dict[str, Any]]:
    """The post-annotation Lambda's response for ``event``: one entry per consolidated object.

    ``method`` picks the categorical method for classification and verification jobs (``mv``, ``wawa``, ``ds``,
    ``ods``, ``glad``, ``mace``, ``auto``; default :data:`truthloop.consolidation.methods.DEFAULT_METHOD`, which
    is ``auto``: a majority vote on batches too small to estimate worker skills, otherwise the cross-validated
    choice of :class:`truthloop.consolidation.AutoSelect`). See :func:`consolidate_report` for errors and for the
    list of left-out objects.
    """
    return consolidate_report(event, task_type=task_type, method=method, s3_client=s3_client).responses
