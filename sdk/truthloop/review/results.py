"""What a finished human loop says: :class:`ReviewResult`, built from A2I's ``output.json``.

    result = review_result_from_output(HumanLoopOutput.parse(output_json))
    result.human_label, result.model_label, result.agreement, result.worker_ids
    result.to_manifest_line("sentiment")     # a GT augmented-manifest line, ready for retraining

The reviewer's answer is read by shape (docs/interfaces.md, "Reviewer answers"): truthloop's verdict templates
(``{"verdict": {"label": "correct"|"incorrect"}, "correction": {"label": …}}``), correction lists
(``{"corrections": "<JSON list of predictions>"}``), A2I's built-in Textract and Rekognition elements, and
generic ``{"label"}`` / ``{"labels"}`` answers.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from truthloop.contracts._base import arn_resource_name, canonical_json
from truthloop.contracts.a2i import HumanLoopOutput
from truthloop.contracts.gt import LabelMetadata, WorkerAnswer
from truthloop.exceptions import AdapterError, ReviewError
from truthloop.review.adapters.rekognition import detect_moderation_labels
from truthloop.review.adapters.textract import analyze_document
from truthloop.review.content import s3_object
from truthloop.review.types import Prediction, normalise_key

__all__ = ["HumanAnswer", "ReviewResult", "review_result_from_output"]

TEXTRACT_ELEMENT = "AWS/Textract/AnalyzeDocument/Forms/V1"
REKOGNITION_ELEMENT = "AWS/Rekognition/DetectModerationLabels/Image/V3"
_BUILTIN_SOURCES = {
    TEXTRACT_ELEMENT: "textract:analyze_document",
    REKOGNITION_ELEMENT: "rekognition:detect_moderation_labels",
}
_MULTI_LABEL_SOURCES = frozenset({"rekognition:detect_moderation_labels", "rekognition:detect_labels"})
_FIELD_SOURCES = frozenset({"textract:analyze_document", "comprehend:detect_entities"})


@dataclass(frozen=True)
class HumanAnswer:
    """One reviewer's answer, interpreted.

    ``label`` is the reviewer's single label (verdict templates, classifiers), ``labels`` a label set (moderation,
    multi-select), ``predictions`` a corrected prediction list (entities, form fields, query answers). ``agrees``
    says whether it matches the model (``None`` when the answer cannot be compared).
    """

    worker_id: str
    answer: Mapping[str, Any]
    label: str | None = None
    labels: tuple[str, ...] | None = None
    predictions: tuple[Prediction, ...] | None = None
    verdict: str | None = None
    comment: str | None = None
    agrees: bool | None = None
    submission_time: datetime | None = None
    acceptance_time: datetime | None = None
    time_spent_seconds: float | None = None
    identity_sub: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"workerId": self.worker_id, "answer": dict(self.answer), "agrees": self.agrees}
        if self.label is not None:
            out["label"] = self.label
        if self.labels is not None:
            out["labels"] = list(self.labels)
        if self.predictions is not None:
            out["predictions"] = [p.to_input(False) for p in self.predictions]
        if self.verdict is not None:
            out["verdict"] = self.verdict
        if self.comment is not None:
            out["comment"] = self.comment
        for key, value in (("submissionTime", self.submission_time), ("acceptanceTime", self.acceptance_time)):
            if value is not None:
                out[key] = _iso(value)
        if self.time_spent_seconds is not None:
            out["timeSpentInSeconds"] = self.time_spent_seconds
        if self.identity_sub is not None:
            out["identitySub"] = self.identity_sub
        return out


def _iso(value: datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


@dataclass(frozen=True)
class ReviewResult:
    """A finished human loop: the model's predictions, the reviewers' answers and how far they agree.

    ``status`` is ``Completed``, ``Failed`` or ``Stopped`` (failed and stopped loops carry ``failure_reason`` /
    ``failure_code`` and no answers). ``human_label``/``human_labels``/``human_predictions`` hold the consensus of
    the answers (majority; ties broken by the order answers were submitted); ``agreement`` says whether the
    consensus matches the model and ``agreement_rate`` the share of reviewers who agreed with the model.
    """

    human_loop_name: str
    flow_definition_arn: str
    status: str
    source: str | None = None
    input: Any = None
    predictions: tuple[Prediction, ...] = ()
    flagged: tuple[int, ...] = ()
    candidates: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    answers: tuple[HumanAnswer, ...] = ()
    human_label: str | None = None
    human_labels: tuple[str, ...] | None = None
    human_predictions: tuple[Prediction, ...] | None = None
    agreement: bool | None = None
    agreement_rate: float | None = None
    label_confidence: float | None = None
    failure_reason: str | None = None
    failure_code: str | None = None
    output_s3_uri: str | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    # -------------------------------------------------------------------------------------------- views

    @property
    def worker_ids(self) -> tuple[str, ...]:
        return tuple(a.worker_id for a in self.answers)

    @property
    def model_label(self) -> str | None:
        """The model's label for single-label sources (the first flagged label prediction, else the first)."""
        labels = [self.predictions[i] for i in self.flagged if self.predictions[i].kind == "label"]
        labels = labels or [p for p in self.predictions if p.kind == "label"]
        return labels[0].label if labels else None

    @property
    def model_confidence(self) -> float | None:
        label = self.model_label
        for p in self.predictions:
            if p.kind == "label" and p.label == label:
                return p.confidence
        return None

    @property
    def model_labels(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.label for p in self.predictions if p.kind == "label" and p.label))

    @property
    def time_spent_seconds(self) -> float | None:
        spent = [a.time_spent_seconds for a in self.answers if a.time_spent_seconds is not None]
        return sum(spent) if spent else None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready record (what the completion Lambda stores)."""
        out: dict[str, Any] = {
            "humanLoopName": self.human_loop_name,
            "flowDefinitionArn": self.flow_definition_arn,
            "status": self.status,
            "source": self.source,
            "input": self.input,
            "predictions": [p.to_input(i in set(self.flagged)) for i, p in enumerate(self.predictions)],
            "candidates": list(self.candidates),
            "reasons": list(self.reasons),
            "rules": list(self.rules),
            "answers": [a.to_dict() for a in self.answers],
            "workerIds": list(self.worker_ids),
            "modelLabel": self.model_label,
            "humanLabel": self.human_label,
            "agreement": self.agreement,
            "agreementRate": self.agreement_rate,
        }
        if self.human_labels is not None:
            out["humanLabels"] = list(self.human_labels)
        if self.human_predictions is not None:
            out["humanPredictions"] = [p.to_input(False) for p in self.human_predictions]
        for key, value in (
            ("failureReason", self.failure_reason),
            ("failureCode", self.failure_code),
            ("outputS3Uri", self.output_s3_uri),
            ("timeSpentInSeconds", self.time_spent_seconds),
        ):
            if value is not None:
                out[key] = value
        for key, stamp in (("createdAt", self.created_at), ("completedAt", self.completed_at)):
            if stamp is not None:
                out[key] = _iso(stamp)
        out.update(self.extra)
        return out

    # -------------------------------------------------------------------------------------------- manifest

    def manifest_problem(self) -> str | None:
        """Why this result cannot become a manifest line (``None`` when it can)."""
        if self.status != "Completed":
            return f"the loop ended {self.status}, so there is no human label"
        if not self.answers:
            return "the loop has no human answers"
        if self.human_label is None and self.human_labels is None and self.human_predictions is None:
            return "the reviewers' answers give no usable label (e.g. 'incorrect' without a correction)"
        return None

    def to_manifest_line(self, label_attribute_name: str) -> dict[str, Any]:
        """This result as one GT augmented-manifest line (aws-contracts.md §3).

        Single labels become ``*-classification`` lines, label sets ``*-classification-multilabel``, entities
        ``text-span`` and form fields / query answers a ``groundTruth/custom`` line. The object is ``source-ref``
        when the input names an S3 object, else ``source`` (the input's ``text``, or its JSON). Metadata extras:
        ``human-loop-name``, ``model-label``, ``model-confidence``, ``agreement``, ``worker-ids``.
        """
        problem = self.manifest_problem()
        if problem is not None:
            raise ReviewError(f"human loop {self.human_loop_name!r} has no manifest line: {problem}")
        line: dict[str, Any] = {}
        obj = s3_object(self.input)
        if obj is not None:
            line["source-ref"] = f"s3://{obj['bucket']}/{obj['name']}"
        elif isinstance(self.input, Mapping) and isinstance(self.input.get("text"), str):
            line["source"] = self.input["text"]
        elif isinstance(self.input, str):
            line["source"] = self.input
        else:
            payload = self.input if self.input not in (None, {}) else [p.to_input(False) for p in self.predictions]
            line["source"] = json.dumps(payload, sort_keys=True, ensure_ascii=False)
        media = "image" if obj is not None else "text"
        created = (self.completed_at or self.created_at or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
        extra: dict[str, Any] = {
            "human-loop-name": self.human_loop_name,
            "agreement": self.agreement,
            "worker-ids": list(self.worker_ids),
        }
        if self.model_label is not None:
            extra["model-label"] = self.model_label
            extra["model-confidence"] = self.model_confidence
        common: dict[str, Any] = {
            "job_name": arn_resource_name(self.flow_definition_arn, "flow-definition"),
            "human_annotated": True,
            "creation_date": created.isoformat(timespec="microseconds"),
            "extra": extra,
        }
        confidence = self.label_confidence if self.label_confidence is not None else 0.0
        if self.human_label is not None:
            classes = list(dict.fromkeys([*self.candidates, self.human_label]))
            value: Any = classes.index(self.human_label)
            metadata = LabelMetadata(
                type=f"groundtruth/{media}-classification",
                class_name=self.human_label,
                confidence=confidence,
                **common,
            )
        elif self.human_labels is not None:
            classes = list(dict.fromkeys([*self.candidates, *self.model_labels, *self.human_labels]))
            value = [classes.index(label) for label in self.human_labels]
            metadata = LabelMetadata(
                type=f"groundtruth/{media}-classification-multilabel",
                class_map={str(classes.index(label)): label for label in self.human_labels},
                confidence_map={str(classes.index(label)): confidence for label in self.human_labels},
                **common,
            )
        else:
            corrected = self.human_predictions or ()
            if corrected and all(p.kind == "entity" for p in corrected) and "source" in line:
                labels = list(dict.fromkeys(p.label or "" for p in corrected))
                value = {
                    "annotations": {
                        "labels": [{"label": label} for label in labels],
                        "entities": [
                            {
                                "label": p.label,
                                "startOffset": p.locator.get("beginOffset"),
                                "endOffset": p.locator.get("endOffset"),
                            }
                            for p in corrected
                        ],
                    }
                }
                metadata = LabelMetadata(
                    type="groundtruth/text-span", entities=tuple(confidence for _ in corrected), **common
                )
            else:
                value = {"fields": [p.to_input(False) for p in corrected]}
                metadata = LabelMetadata(type="groundTruth/custom", **common)
        line[label_attribute_name] = value
        line[f"{label_attribute_name}-metadata"] = metadata.to_dict()
        return line


# ============================================================================================ reading answers


def _find(answer: Mapping[str, Any], key: str) -> Any:
    """The first value in ``answer`` (or one level down) that holds ``key``; prefers a top-level name match."""
    if key in answer:
        return answer[key]
    for value in answer.values():
        if isinstance(value, Mapping) and key in value:
            return value[key]
    return None


def _label_of(value: Any) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("label")
    return value if isinstance(value, str) and value else None


def _corrections(raw: Any, predictions: Sequence[Prediction]) -> tuple[Prediction, ...] | None:
    """Apply a correction list to the model's predictions (matched by kind+key, kind+offsets, else position)."""
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else []
        except ValueError:
            return None
    if not isinstance(raw, list):
        return None
    fixed = [p for p in predictions if p.kind != "missing_key"] + [p for p in predictions if p.kind == "missing_key"]
    out = list(fixed)

    def match(item: Mapping[str, Any], position: int) -> int | None:
        kind = item.get("kind")
        for i, p in enumerate(fixed):
            if kind is not None and p.kind != kind:
                continue
            if p.kind in ("form_field", "query_answer", "missing_key") and item.get("key") is not None:
                if normalise_key(str(item["key"])) == p.subject_key:
                    return i
            elif (
                p.kind == "entity"
                and isinstance(item.get("locator"), Mapping)
                and dict(item["locator"]) == dict(p.locator)
            ):
                return i
        return position if position < len(fixed) and item.get("kind") in (None, fixed[position].kind) else None

    for position, item in enumerate(raw):
        if not isinstance(item, Mapping):
            return None
        index = match(item, position)
        base = fixed[index] if index is not None else None
        kind = item.get("kind") or (base.kind if base else "label")
        if kind == "missing_key":
            kind = "form_field"
        corrected = Prediction(
            kind=kind,
            label=item.get("label", base.label if base else None),
            value=item.get("value", base.value if base else None),
            key=item.get("key", base.key if base else None),
            confidence=1.0,
            locator=dict(item.get("locator") or (base.locator if base else {})),
        )
        if index is not None:
            out[index] = corrected
        else:
            out.append(corrected)
    return tuple(out)


def _same_predictions(a: Sequence[Prediction], b: Sequence[Prediction]) -> bool:
    def norm(items: Sequence[Prediction]) -> list[tuple[Any, ...]]:
        return sorted((p.kind, p.label or "", p.subject_key, p.value or "") for p in items if p.kind != "missing_key")

    return norm(a) == norm(b)


def _interpret(
    answer: WorkerAnswer,
    predictions: Sequence[Prediction],
    model_label: str | None,
    model_labels: Sequence[str],
    mode: str,
) -> HumanAnswer:
    content = answer.answer_content
    base: dict[str, Any] = {
        "worker_id": answer.worker_id,
        "answer": content,
        "submission_time": answer.submission_time,
        "acceptance_time": answer.acceptance_time,
        "time_spent_seconds": answer.time_spent_in_seconds,
        "identity_sub": None if answer.identity is None else answer.identity.sub,
    }
    comment = content.get("comment")
    base["comment"] = comment if isinstance(comment, str) else None
    if TEXTRACT_ELEMENT in content:
        element = content[TEXTRACT_ELEMENT]
        blocks = _find(element, "blocks") if isinstance(element, Mapping) else None
        fields = _reviewed_form_fields(blocks if isinstance(blocks, list) else [])
        model_fields = [p for p in predictions if p.kind == "form_field"]
        return HumanAnswer(**base, predictions=fields, agrees=_same_predictions(model_fields, fields))
    if REKOGNITION_ELEMENT in content:
        element = content[REKOGNITION_ELEMENT]
        items = _find(element, "moderationLabels") if isinstance(element, Mapping) else None
        if items is None and isinstance(element, Mapping):
            items = element.get("ModerationLabels")
        names = tuple(
            dict.fromkeys(
                str(x.get("name", x.get("Name")))
                for x in items or []
                if isinstance(x, Mapping) and x.get("name", x.get("Name"))
            )
        )
        return HumanAnswer(**base, labels=names, agrees=set(names) == set(model_labels))
    verdict = _label_of(_find(content, "verdict"))
    if verdict is not None:
        verdict = verdict.lower()
        correction = content.get("correction")
        fixed_labels = correction.get("labels") if isinstance(correction, Mapping) else None
        fixed_list = _find(content, "corrections")
        if verdict == "correct":
            if mode == "multi":
                return HumanAnswer(**base, verdict=verdict, labels=tuple(model_labels), agrees=True)
            if mode == "fields":
                kept = tuple(p for p in predictions if p.kind != "missing_key")
                return HumanAnswer(**base, verdict=verdict, predictions=kept, agrees=True)
            return HumanAnswer(**base, verdict=verdict, label=model_label, agrees=True)
        if isinstance(fixed_labels, list) and all(isinstance(x, str) for x in fixed_labels):
            labels = tuple(fixed_labels)
            return HumanAnswer(**base, verdict=verdict, labels=labels, agrees=set(labels) == set(model_labels))
        if fixed_list is not None:
            fixed = _corrections(fixed_list, predictions)
            if fixed is not None:
                return HumanAnswer(**base, verdict=verdict, predictions=fixed, agrees=False)
        label = _label_of(correction)
        return HumanAnswer(
            **base, verdict=verdict, label=label, agrees=False if label is None else label == model_label
        )
    corrections = _find(content, "corrections")
    if corrections is not None:
        human = _corrections(corrections, predictions)
        if human is not None:
            return HumanAnswer(**base, predictions=human, agrees=_same_predictions(predictions, human))
        return HumanAnswer(**base)
    labels = _find(content, "labels")
    if isinstance(labels, list) and all(isinstance(x, str) for x in labels):
        return HumanAnswer(**base, labels=tuple(labels), agrees=set(labels) == set(model_labels))
    label = _label_of(_find(content, "label"))
    if label is not None:
        return HumanAnswer(**base, label=label, agrees=None if model_label is None else label == model_label)
    return HumanAnswer(**base)


def _consensus(values: Sequence[Any]) -> tuple[Any, float | None]:
    """The most common value (first submitted wins ties) and the share of answers that gave it."""
    present = [v for v in values if v is not None]
    if not present:
        return None, None
    counts = Counter(present)
    best = max(counts.values())
    winner = next(v for v in present if counts[v] == best)
    return winner, best / len(values)


def _get(block: Mapping[str, Any], name: str) -> Any:
    return block.get(name, block.get(name[:1].upper() + name[1:]))


def _reviewed_form_fields(blocks: list[Any]) -> tuple[Prediction, ...]:
    """Form fields from the blocks ``crowd-textract-analyze-document`` submits.

    The element's blocks are camelCase, carry ``text`` on the KEY/VALUE blocks and usually no confidence, and may
    name child words they do not include, so this reader is tolerant where the response adapter is strict.
    """
    by_id = {str(_get(b, "id")): b for b in blocks if isinstance(b, Mapping) and _get(b, "id") is not None}

    def related(block: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
        out: list[Mapping[str, Any]] = []
        for rel in _get(block, "relationships") or []:
            if isinstance(rel, Mapping) and _get(rel, "type") == kind:
                out.extend(by_id[str(i)] for i in _get(rel, "ids") or [] if str(i) in by_id)
        return out

    def text_of(block: Mapping[str, Any]) -> str | None:
        text = _get(block, "text")
        if isinstance(text, str):
            return text
        words = [w for w in related(block, "CHILD") if _get(w, "blockType") in ("WORD", "SELECTION_ELEMENT")]
        parts = [str(_get(w, "text") or _get(w, "selectionStatus") or "") for w in words]
        return " ".join(p for p in parts if p) or None

    fields = []
    for block in by_id.values():
        if _get(block, "blockType") != "KEY_VALUE_SET" or "KEY" not in (_get(block, "entityTypes") or []):
            continue
        values = related(block, "VALUE")
        fields.append(
            Prediction(
                kind="form_field",
                key=text_of(block) or "",
                value=text_of(values[0]) if values else None,
                confidence=1.0,
                locator={
                    "page": _get(block, "page") or 1,
                    "keyBlockId": str(_get(block, "id")),
                    "valueBlockId": str(_get(values[0], "id")) if values else None,
                },
            )
        )
    return tuple(fields)


def _mode(source: str | None, predictions: Sequence[Prediction]) -> str:
    """How answers compare with the model: one label, a label set, or a list of fields/entities."""
    if source in _MULTI_LABEL_SOURCES:
        return "multi"
    if source in _FIELD_SOURCES or any(p.kind != "label" for p in predictions):
        return "fields"
    if sum(1 for p in predictions if p.kind == "label") > 1 and source is not None:
        return "multi"
    return "single"


def _builtin_predictions(source: str, content: Mapping[str, Any]) -> tuple[Prediction, ...]:
    response = content.get("aiServiceResponse")
    if not isinstance(response, Mapping):
        return ()
    try:
        if source == "textract:analyze_document":
            return analyze_document(response).predictions
        return detect_moderation_labels(response).predictions
    except AdapterError:
        return ()


def _strings(content: Mapping[str, Any], name: str) -> tuple[str, ...]:
    """A list-of-strings member of the InputContent (absent or null: empty); anything else is a ContractError."""
    from truthloop.exceptions import ContractError

    value = content.get(name) or []
    if not isinstance(value, list):
        raise ContractError(f"expected a list, got {type(value).__name__}", f"$.inputContent.{name}")
    return tuple(str(item) for item in value)


def review_result_from_output(
    output: HumanLoopOutput,
    *,
    status: str = "Completed",
    output_s3_uri: str | None = None,
    created_at: datetime | None = None,
) -> ReviewResult:
    """Interpret a loop's ``output.json`` (custom truthloop loops and A2I's built-in flows alike)."""
    content = output.input_content if isinstance(output.input_content, Mapping) else {}
    if output.aws_managed_human_loop_request_source in _BUILTIN_SOURCES and "truthloop" not in content:
        source: str | None = _BUILTIN_SOURCES[output.aws_managed_human_loop_request_source]
        predictions = _builtin_predictions(source or "", content)
        request = content.get("aiServiceRequest")
        input_value: Any = request.get("image") or request.get("document") if isinstance(request, Mapping) else None
        flagged: tuple[int, ...] = tuple(range(len(predictions)))
        candidates: tuple[str, ...] = ()
        reasons: tuple[str, ...] = ()
        rules: tuple[str, ...] = ()
    else:
        source = content.get("source") if isinstance(content.get("source"), str) else None
        raw_items = content.get("predictions")
        items: list[Any] = raw_items if isinstance(raw_items, list) else []
        predictions = tuple(
            Prediction.from_input(x, f"$.inputContent.predictions[{i}]")
            for i, x in enumerate(items)
            if isinstance(x, Mapping)
        )
        flagged = tuple(i for i, x in enumerate(items) if isinstance(x, Mapping) and x.get("flagged"))
        input_value = content.get("input")
        candidates = _strings(content, "candidates")
        reasons = _strings(content, "reasons")
        rules = _strings(content, "rules")
    draft = ReviewResult(
        human_loop_name=output.human_loop_name,
        flow_definition_arn=output.flow_definition_arn,
        status=status,
        source=source,
        input=input_value,
        predictions=predictions,
        flagged=flagged,
    )
    mode = _mode(source, predictions)
    model_label = draft.model_label if mode == "single" else None
    model_labels = draft.model_labels
    answers = tuple(_interpret(a, predictions, model_label, model_labels, mode) for a in output.human_answers)
    human_label, share_label = _consensus([a.label for a in answers])
    label_sets = [None if a.labels is None else tuple(sorted(a.labels)) for a in answers]
    human_set, share_set = _consensus(label_sets)
    fixes = [
        None
        if a.predictions is None
        else canonical_json(sorted(canonical_json(p.to_input(False)) for p in a.predictions))
        for a in answers
    ]
    fix_key, share_fix = _consensus(fixes)
    human_predictions = None
    if fix_key is not None:
        human_predictions = next(a.predictions for a, key in zip(answers, fixes) if key == fix_key)
    comparable = [a.agrees for a in answers if a.agrees is not None]
    if human_label is not None:
        agreement = None if model_label is None else human_label == model_label
        confidence = share_label
    elif human_set is not None:
        labels_in_order = next(a.labels for a, key in zip(answers, label_sets) if key == human_set)
        agreement = set(human_set) == set(model_labels)
        confidence = share_set
        human_labels: tuple[str, ...] | None = labels_in_order
    else:
        agreement = None if human_predictions is None else _same_predictions(predictions, human_predictions)
        confidence = share_fix
    if human_label is not None or human_set is None:
        human_labels = None
    submitted = [a.submission_time for a in answers if a.submission_time is not None]
    return ReviewResult(
        human_loop_name=output.human_loop_name,
        flow_definition_arn=output.flow_definition_arn,
        status=status,
        source=source,
        input=input_value,
        predictions=predictions,
        flagged=flagged,
        candidates=candidates,
        reasons=reasons,
        rules=rules,
        answers=answers,
        human_label=human_label,
        human_labels=human_labels,
        human_predictions=human_predictions if human_label is None and human_set is None else None,
        agreement=agreement,
        agreement_rate=(sum(1 for c in comparable if c) / len(comparable)) if comparable else None,
        label_confidence=confidence,
        output_s3_uri=output_s3_uri,
        created_at=created_at,
        completed_at=max(submitted) if submitted else None,
    )
