"""Ground Truth payloads (aws-contracts.md §1–§4)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from truthloop.contracts._base import Contract, arn_resource_name
from truthloop.contracts._reader import Obj, as_int, as_list, as_mapping, as_str, child_path, iso, parse_json_text
from truthloop.exceptions import ContractError

__all__ = [
    "BUILTIN_TYPES",
    "CUSTOM_TYPE",
    "MODELLED_TYPES",
    "ConsolidatedObject",
    "ConsolidationEvent",
    "ConsolidationPayload",
    "ConsolidationResponse",
    "DataObject",
    "DatasetObject",
    "IdentityData",
    "InputManifestLine",
    "LabelAttribute",
    "LabelCategoryConfig",
    "LabelMetadata",
    "OutputManifestLine",
    "PreAnnotationEvent",
    "PreAnnotationResponse",
    "WorkerAnnotation",
    "WorkerAnswer",
    "WorkerResponse",
    "job_name_from_arn",
]

DEFAULT_VERSION = "2018-10-16"

#: ``type`` strings of built-in task types (§3), lower-case after ``groundtruth/``.
BUILTIN_TYPES = frozenset(
    {
        "image-classification",
        "image-classification-multilabel",
        "text-classification",
        "text-classification-multilabel",
        "object-detection",
        "text-span",
        "semantic-segmentation",
        "label-verification",
    }
)
CUSTOM_TYPE = "groundTruth/custom"
#: metadata ``type`` values whose label and metadata truthloop interprets; a label of any other type (3D point
#: cloud, video, keypoint, adjustment jobs, …) is kept as opaque data (:attr:`LabelAttribute.opaque`). The empty
#: type is a failed object's metadata (``failure-reason`` and no ``type``).
MODELLED_TYPES = frozenset({f"groundtruth/{t}" for t in BUILTIN_TYPES} | {CUSTOM_TYPE, ""})


def job_name_from_arn(arn: str) -> str:
    """The job name part of a labeling-job ARN. AWS lower-cases it, so compare case-insensitively."""
    return arn_resource_name(arn, "labeling-job")


def _strip_job_prefix(name: str) -> str:
    return name[len("labeling-job/") :] if name.startswith("labeling-job/") else name


# ============================================================================================ §1 pre-annotation


@dataclass(frozen=True)
class PreAnnotationEvent(Contract):
    """The event GT sends the pre-annotation Lambda, once per data object."""

    kind: ClassVar[str] = "gt.pre_annotation_event"
    labeling_job_arn: str
    data_object: dict[str, Any]
    version: str = DEFAULT_VERSION

    @classmethod
    def parse(cls, obj: Any, path: str = "$") -> PreAnnotationEvent:
        o = Obj(obj, path)
        return cls(
            labeling_job_arn=o.string("labelingJobArn"),
            data_object=o.mapping("dataObject"),
            version=o.text("version") or DEFAULT_VERSION,
        )

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "labelingJobArn": self.labeling_job_arn, "dataObject": self.data_object}

    @property
    def job_name(self) -> str:
        return job_name_from_arn(self.labeling_job_arn)

    @property
    def source(self) -> str | None:
        value = self.data_object.get("source")
        return value if isinstance(value, str) else None

    @property
    def source_ref(self) -> str | None:
        value = self.data_object.get("source-ref")
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class PreAnnotationResponse(Contract):
    """What the pre-annotation Lambda returns. Accepts the DG sample's ``humanAnnotationRequired: "true"``."""

    kind: ClassVar[str] = "gt.pre_annotation_response"
    task_input: dict[str, Any]
    is_human_annotation_required: bool = True

    @classmethod
    def parse(cls, obj: Any, path: str = "$") -> PreAnnotationResponse:
        o = Obj(obj, path)
        required = o.opt_bool("isHumanAnnotationRequired", "humanAnnotationRequired")
        return cls(
            task_input=o.mapping("taskInput"), is_human_annotation_required=True if required is None else required
        )

    def to_dict(self) -> dict[str, Any]:
        return {"taskInput": self.task_input, "isHumanAnnotationRequired": self.is_human_annotation_required}


# ============================================================================================ §2 consolidation


def _label_names(o: Obj) -> tuple[str, ...]:
    """``labelCategories`` as names: strings, or objects with a ``label`` key (as in label-category files)."""
    names = []
    for item, path in o.items("labelCategories"):
        names.append(Obj(item, path).string("label") if isinstance(item, dict) else as_str(item, path))
    return tuple(names)


@dataclass(frozen=True)
class ConsolidationEvent(Contract):
    """The event GT sends the post-annotation (consolidation) Lambda, once per batch of objects."""

    kind: ClassVar[str] = "gt.consolidation_event"
    labeling_job_arn: str
    label_attribute_name: str
    payload_s3_uri: str
    label_categories: tuple[str, ...] | None = None
    role_arn: str | None = None
    output_config: str | None = None
    kms_key_id: str | None = None
    max_human_workers_per_data_object: int | None = None
    vpc_enabled: bool | None = None
    version: str = DEFAULT_VERSION

    @classmethod
    def parse(cls, obj: Any, path: str = "$") -> ConsolidationEvent:
        o = Obj(obj, path)
        payload = o.obj("payload")
        categories = o.opt_list("labelCategories")
        return cls(
            labeling_job_arn=o.string("labelingJobArn"),
            label_attribute_name=o.string("labelAttributeName"),
            payload_s3_uri=payload.string("s3Uri", "s3uri"),
            label_categories=None if categories is None else _label_names(o),
            role_arn=o.opt_str("roleArn"),
            output_config=o.opt_str("outputConfig"),
            kms_key_id=o.opt_str("kmsKeyId"),
            max_human_workers_per_data_object=o.opt_int("maxHumanWorkersPerDataObject"),
            vpc_enabled=o.opt_bool("vpcEnabled"),
            version=o.text("version") or DEFAULT_VERSION,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "version": self.version,
            "labelingJobArn": self.labeling_job_arn,
            "labelCategories": None if self.label_categories is None else list(self.label_categories),
            "labelAttributeName": self.label_attribute_name,
            "roleArn": self.role_arn,
            "payload": {"s3Uri": self.payload_s3_uri},
        }
        if self.output_config is not None:
            out["outputConfig"] = self.output_config
        if self.kms_key_id is not None:
            out["kmsKeyId"] = self.kms_key_id
        if self.max_human_workers_per_data_object is not None:
            out["maxHumanWorkersPerDataObject"] = self.max_human_workers_per_data_object
        if self.vpc_enabled is not None:
            out["vpcEnabled"] = self.vpc_enabled
        return out

    @property
    def job_name(self) -> str:
        return job_name_from_arn(self.labeling_job_arn)


@dataclass(frozen=True)
class IdentityData:
    """``workerMetadata.identityData``: who the worker is (private workforces only)."""

    identity_provider_type: str | None = None
    issuer: str | None = None
    sub: str | None = None

    @classmethod
    def parse_metadata(cls, o: Obj | None) -> IdentityData | None:
        if o is None:
            return None
        identity = o.opt_obj("identityData")
        if identity is None:
            return None
        return cls(
            identity_provider_type=identity.opt_str("identityProviderType"),
            issuer=identity.opt_str("issuer"),
            sub=identity.opt_str("sub"),
        )

    def to_metadata(self) -> dict[str, Any]:
        data = {"identityProviderType": self.identity_provider_type, "issuer": self.issuer, "sub": self.sub}
        return {"identityData": {k: v for k, v in data.items() if v is not None}}


@dataclass(frozen=True)
class DataObject:
    """``dataObject`` in the consolidation payload: an S3 object or inline content."""

    s3_uri: str | None = None
    content: str | None = None

    @classmethod
    def parse(cls, o: Obj) -> DataObject:
        s3_uri = o.opt_str("s3Uri", "s3uri")
        content = o.raw("content", default=None)
        if content is not None and not isinstance(content, str):
            content = json.dumps(content, ensure_ascii=False)
        if s3_uri is None and content is None:
            raise ContractError("dataObject needs s3Uri or content", o.path)
        return cls(s3_uri=s3_uri, content=content)

    def to_dict(self) -> dict[str, Any]:
        return {"s3Uri": self.s3_uri} if self.s3_uri is not None else {"content": self.content}


@dataclass(frozen=True)
class WorkerAnnotation:
    """One worker's answer inside the consolidation payload. ``content`` is the JSON *string* GT stores."""

    worker_id: str
    content: str | None = None
    s3_uri: str | None = None
    identity: IdentityData | None = None
    path: str = field(default="$", compare=False, repr=False)

    @classmethod
    def parse(cls, o: Obj) -> WorkerAnnotation:
        data = o.obj("annotationData")
        content = data.raw("content", default=None)
        if content is not None and not isinstance(content, str):
            content = json.dumps(content, ensure_ascii=False)
        s3_uri = data.opt_str("s3Uri", "s3uri")
        if content is None and s3_uri is None:
            raise ContractError("annotationData needs content or s3Uri", data.path)
        return cls(
            worker_id=o.string("workerId"),
            content=content,
            s3_uri=s3_uri,
            identity=IdentityData.parse_metadata(o.opt_obj("workerMetadata")),
            path=data.path,
        )

    def answer(self) -> dict[str, Any]:
        """The parsed crowd-form answer; raises ContractError when the content is not a JSON object."""
        if self.content is None:
            raise ContractError("annotation is stored in S3; fetch it with answer_from_s3()", f"{self.path}.s3Uri")
        path = f"{self.path}.content"
        return as_mapping(parse_json_text(self.content, path), path)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"content": self.content} if self.content is not None else {"s3Uri": self.s3_uri}
        out: dict[str, Any] = {"workerId": self.worker_id, "annotationData": data}
        if self.identity is not None:
            out["workerMetadata"] = self.identity.to_metadata()
        return out


@dataclass(frozen=True)
class DatasetObject:
    """One object of the consolidation payload with all its worker annotations."""

    dataset_object_id: str
    data_object: DataObject
    annotations: tuple[WorkerAnnotation, ...]

    @classmethod
    def parse(cls, o: Obj) -> DatasetObject:
        raw_id = o.raw("datasetObjectId")
        if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
            raise ContractError("datasetObjectId must be a string", o.key_path("datasetObjectId"))
        return cls(
            dataset_object_id=str(raw_id),
            data_object=DataObject.parse(o.obj("dataObject")),
            annotations=tuple(WorkerAnnotation.parse(a) for a in o.objs("annotations", required=True)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "datasetObjectId": self.dataset_object_id,
            "dataObject": self.data_object.to_dict(),
            "annotations": [a.to_dict() for a in self.annotations],
        }


@dataclass(frozen=True)
class ConsolidationPayload(Contract):
    """The JSON array at ``payload.s3Uri``: objects to consolidate."""

    kind: ClassVar[str] = "gt.consolidation_payload"
    objects: tuple[DatasetObject, ...]

    @classmethod
    def parse(cls, obj: Any, path: str = "$") -> ConsolidationPayload:
        items = as_list(obj, path)
        return cls(objects=tuple(DatasetObject.parse(Obj(item, child_path(path, i))) for i, item in enumerate(items)))

    def to_dict(self) -> list[dict[str, Any]]:
        return [o.to_dict() for o in self.objects]


@dataclass(frozen=True)
class ConsolidatedObject:
    """One entry of the consolidation Lambda's response."""

    dataset_object_id: str
    content: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"datasetObjectId": self.dataset_object_id, "consolidatedAnnotation": {"content": self.content}}


@dataclass(frozen=True)
class ConsolidationResponse(Contract):
    """What the post-annotation Lambda returns: one entry per object it consolidated."""

    kind: ClassVar[str] = "gt.consolidation_response"
    objects: tuple[ConsolidatedObject, ...]

    @classmethod
    def parse(cls, obj: Any, path: str = "$") -> ConsolidationResponse:
        out = []
        for i, item in enumerate(as_list(obj, path)):
            o = Obj(item, child_path(path, i))
            raw_id = o.raw("datasetObjectId")
            if isinstance(raw_id, bool) or not isinstance(raw_id, (str, int)):
                raise ContractError("datasetObjectId must be a string", o.key_path("datasetObjectId"))
            content = o.obj("consolidatedAnnotation").mapping("content")
            out.append(ConsolidatedObject(dataset_object_id=str(raw_id), content=content))
        return cls(objects=tuple(out))

    def to_dict(self) -> list[dict[str, Any]]:
        return [o.to_dict() for o in self.objects]


# ============================================================================================ §4 worker response


@dataclass(frozen=True)
class WorkerAnswer:
    """One human answer: GT ``worker-response`` files and A2I ``humanAnswers`` share this shape."""

    answer_content: dict[str, Any]
    worker_id: str
    submission_time: datetime | None = None
    acceptance_time: datetime | None = None
    time_spent_in_seconds: float | None = None
    identity: IdentityData | None = None

    @classmethod
    def parse(cls, o: Obj) -> WorkerAnswer:
        content = o.raw("answerContent")
        if isinstance(content, str):
            content = parse_json_text(content, o.key_path("answerContent"))
        return cls(
            answer_content=as_mapping(content, o.key_path("answerContent")),
            worker_id=o.string("workerId"),
            submission_time=o.opt_datetime("submissionTime"),
            acceptance_time=o.opt_datetime("acceptanceTime"),
            time_spent_in_seconds=o.opt_number("timeSpentInSeconds"),
            identity=IdentityData.parse_metadata(o.opt_obj("workerMetadata")),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.acceptance_time is not None:
            out["acceptanceTime"] = iso(self.acceptance_time)
        if self.submission_time is not None:
            out["submissionTime"] = iso(self.submission_time)
        if self.time_spent_in_seconds is not None:
            out["timeSpentInSeconds"] = self.time_spent_in_seconds
        out["workerId"] = self.worker_id
        out["answerContent"] = self.answer_content
        if self.identity is not None:
            out["workerMetadata"] = self.identity.to_metadata()
        return out


@dataclass(frozen=True)
class WorkerResponse(Contract):
    """``annotations/worker-response/iteration-N/<id>/<ts>.json``: the raw answers for one object."""

    kind: ClassVar[str] = "gt.worker_response"
    answers: tuple[WorkerAnswer, ...]

    @classmethod
    def parse(cls, obj: Any, path: str = "$") -> WorkerResponse:
        o = Obj(obj, path)
        return cls(answers=tuple(WorkerAnswer.parse(a) for a in o.objs("answers", required=True)))

    def to_dict(self) -> dict[str, Any]:
        return {"answers": [a.to_dict() for a in self.answers]}


# ============================================================================================ §3 manifests

_META_KEYS_BUILTIN = {
    "type": "type",
    "job_name": "job-name",
    "human_annotated": "human-annotated",
    "creation_date": "creation-date",
}
_META_KEYS_CUSTOM = {
    "type": "type",
    "job_name": "job_name",
    "human_annotated": "human-annotated",
    "creation_date": "creation_date",
}
_KNOWN_META = {
    "type",
    "job-name",
    "job_name",
    "human-annotated",
    "human_annotated",
    "creation-date",
    "creation_date",
    "confidence",
    "class-name",
    "class-map",
    "confidence-map",
    "objects",
    "entities",
    "internal-color-map",
    "worker-feedback",
    "adjustment-status",
    "worker-response-ref",
}


def _normalise_type(raw: str) -> str:
    lowered = raw.strip()
    if lowered.lower() == CUSTOM_TYPE.lower():
        return CUSTOM_TYPE
    if lowered.lower().startswith("groundtruth/"):
        return "groundtruth/" + lowered.split("/", 1)[1].lower()
    return lowered


@dataclass(frozen=True)
class LabelMetadata:
    """``<attr>-metadata`` for any built-in task type or a custom job (§3)."""

    type: str
    job_name: str | None = None
    human_annotated: bool | None = None
    creation_date: str | None = None
    confidence: float | None = None
    class_name: str | None = None
    class_map: dict[str, str] | None = None
    confidence_map: dict[str, float] | None = None
    objects: tuple[float, ...] | None = None
    entities: tuple[float, ...] | None = None
    internal_color_map: dict[str, dict[str, Any]] | None = None
    worker_feedback: tuple[str, ...] | None = None
    adjustment_status: str | None = None
    worker_response_ref: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_custom(self) -> bool:
        return self.type == CUSTOM_TYPE

    @property
    def task_type(self) -> str:
        """``object-detection``, ``text-span``, … or ``custom``."""
        if self.is_custom:
            return "custom"
        return self.type.split("/", 1)[-1] if self.type else "unknown"

    @classmethod
    def parse(cls, o: Obj) -> LabelMetadata:
        data = o.data
        # Failed objects carry metadata such as ``failure-reason`` without a ``type``; keep them parseable.
        raw_type = o.opt_str("type") or ""
        job = o.opt_str("job-name", "job_name")
        human = o.opt_bool("human-annotated", "human_annotated")
        created = o.raw("creation-date", "creation_date", default=None)
        if created is not None and not isinstance(created, str):
            raise ContractError("creation date must be a string", o.key_path("creation-date", "creation_date"))

        def confidences(key: str) -> tuple[float, ...] | None:
            if key not in data or data[key] is None:
                return None
            return tuple(item.number("confidence") for item in o.objs(key))

        class_map = o.opt_mapping("class-map")
        confidence_map = o.opt_mapping("confidence-map")
        color_map = o.opt_mapping("internal-color-map")
        feedback = None
        if data.get("worker-feedback") is not None:
            feedback = tuple(item.opt_str("comment") or "" for item in o.objs("worker-feedback"))
        return cls(
            type=_normalise_type(raw_type),
            job_name=None if job is None else _strip_job_prefix(job),
            human_annotated=human,
            creation_date=created,
            confidence=o.opt_number("confidence"),
            class_name=o.text("class-name"),
            class_map=None
            if class_map is None
            else {str(k): as_str(v, child_path(o.key_path("class-map"), k)) for k, v in class_map.items()},
            confidence_map=None
            if confidence_map is None
            else {
                str(k): Obj({"v": v}, child_path(o.key_path("confidence-map"), k)).number("v")
                for k, v in confidence_map.items()
            },
            objects=confidences("objects"),
            entities=confidences("entities"),
            internal_color_map=None
            if color_map is None
            else {str(k): as_mapping(v, child_path(o.key_path("internal-color-map"), k)) for k, v in color_map.items()},
            worker_feedback=feedback,
            adjustment_status=o.opt_str("adjustment-status"),
            worker_response_ref=o.opt_str("worker-response-ref"),
            extra={k: v for k, v in data.items() if k not in _KNOWN_META},
        )

    @classmethod
    def parse_opaque(cls, o: Obj) -> LabelMetadata:
        """The metadata of a type truthloop does not model: the common keys when they have their usual types,
        every other key (or a common key of another type) kept as it came in :attr:`extra`."""
        data = o.data
        raw_type = data.get("type")
        job = data.get("job-name", data.get("job_name"))
        human = data.get("human-annotated", data.get("human_annotated"))
        created = data.get("creation-date", data.get("creation_date"))
        common = {
            "type": isinstance(raw_type, str),
            "job-name": isinstance(job, str),
            "job_name": isinstance(job, str),
            "human-annotated": human in ("yes", "no"),
            "human_annotated": human in ("yes", "no"),
            "creation-date": isinstance(created, str),
            "creation_date": isinstance(created, str),
        }
        return cls(
            type=_normalise_type(raw_type) if isinstance(raw_type, str) else "",
            job_name=_strip_job_prefix(job) if isinstance(job, str) else None,
            human_annotated=None if human not in ("yes", "no") else human == "yes",
            creation_date=created if isinstance(created, str) else None,
            extra={k: v for k, v in data.items() if not common.get(k, False)},
        )

    def to_dict(self) -> dict[str, Any]:
        keys = _META_KEYS_CUSTOM if self.is_custom else _META_KEYS_BUILTIN
        out: dict[str, Any] = {}
        if self.class_name is not None:
            out["class-name"] = self.class_name
        if self.confidence is not None:
            out["confidence"] = self.confidence
        if self.class_map is not None:
            out["class-map"] = dict(self.class_map)
        if self.confidence_map is not None:
            out["confidence-map"] = dict(self.confidence_map)
        if self.objects is not None:
            out["objects"] = [{"confidence": c} for c in self.objects]
        if self.entities is not None:
            out["entities"] = [{"confidence": c} for c in self.entities]
        if self.internal_color_map is not None:
            out["internal-color-map"] = dict(self.internal_color_map)
        if self.worker_feedback is not None:
            out["worker-feedback"] = [{"comment": c} for c in self.worker_feedback]
        if self.adjustment_status is not None:
            out["adjustment-status"] = self.adjustment_status
        if self.type:
            out[keys["type"]] = self.type
        if self.job_name is not None:
            out[keys["job_name"]] = self.job_name
        if self.human_annotated is not None:
            out[keys["human_annotated"]] = "yes" if self.human_annotated else "no"
        if self.creation_date is not None:
            out[keys["creation_date"]] = self.creation_date
        if self.worker_response_ref is not None:
            out["worker-response-ref"] = self.worker_response_ref
        out.update(self.extra)
        return out


_SINGLE_CLASS = {"groundtruth/image-classification", "groundtruth/text-classification"}
_MULTI_CLASS = {"groundtruth/image-classification-multilabel", "groundtruth/text-classification-multilabel"}


@dataclass(frozen=True)
class LabelAttribute:
    """One ``<attr>`` / ``<attr>-metadata`` pair of an output manifest line."""

    name: str
    value: Any
    metadata: LabelMetadata | None
    #: the label is of a task type truthloop does not model: value and metadata are kept as they came, unchecked
    opaque: bool = False

    @classmethod
    def parse(cls, name: str, value: Any, meta: Any, path: str) -> LabelAttribute:
        meta_obj = None if meta is None else Obj(meta, child_path(path, f"{name}-metadata"))
        raw_type = None if meta_obj is None else meta_obj.data.get("type", "")
        if meta_obj is not None and (not isinstance(raw_type, str) or _normalise_type(raw_type) not in MODELLED_TYPES):
            return cls(name=name, value=value, metadata=LabelMetadata.parse_opaque(meta_obj), opaque=True)
        metadata = None if meta_obj is None else LabelMetadata.parse(meta_obj)
        value_path = child_path(path, name)
        if metadata is not None and metadata.type in _SINGLE_CLASS and value is not None:
            value = as_int(value, value_path)
        elif metadata is not None and metadata.type in _MULTI_CLASS and value is not None:
            value = [as_int(v, child_path(value_path, i)) for i, v in enumerate(as_list(value, value_path))]
        elif metadata is not None and metadata.type == "groundtruth/object-detection" and value is not None:
            boxes = Obj(value, value_path)
            for box in boxes.objs("annotations", required=True):
                for key in ("left", "top", "width", "height"):
                    box.number(key)
                box.integer("class_id")
        elif metadata is not None and metadata.type == "groundtruth/text-span" and value is not None:
            ann = Obj(value, value_path).obj("annotations")
            for ent in ann.objs("entities"):
                ent.integer("startOffset")
                ent.integer("endOffset")
                ent.string("label")
        return cls(name=name, value=value, metadata=metadata)

    def class_ids(self) -> list[int]:
        """The class ids of a classification label (single → one id, multi-label → all)."""
        if isinstance(self.value, list):
            return [as_int(v, self.name) for v in self.value]
        return [as_int(self.value, self.name)]


@dataclass(frozen=True)
class OutputManifestLine(Contract):
    """One line of an augmented (output) manifest: the input line plus label attribute pairs."""

    kind: ClassVar[str] = "gt.output_manifest_line"
    labels: tuple[LabelAttribute, ...]
    source: str | None = None
    source_ref: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, obj: Any, path: str = "$") -> OutputManifestLine:
        o = Obj(obj, path)
        data = o.data
        source = o.raw("source", default=None)
        if source is not None and not isinstance(source, str):
            source = json.dumps(source, ensure_ascii=False)
        source_ref = data.get("source-ref")
        if source_ref is not None:
            source_ref = as_str(source_ref, child_path(path, "source-ref"))
        if source is None and source_ref is None:
            raise ContractError("a manifest line needs source or source-ref", path)
        attrs = [k[: -len("-metadata")] for k in data if k.endswith("-metadata") and len(k) > len("-metadata")]
        if not attrs:
            raise ContractError("an output manifest line needs at least one <attr>-metadata key", path)
        labels = tuple(LabelAttribute.parse(a, data.get(a), data[f"{a}-metadata"], path) for a in attrs)
        used = {"source", "source-ref"} | set(attrs) | {f"{a}-metadata" for a in attrs}
        return cls(
            labels=labels,
            source=source,
            source_ref=source_ref,
            extra={k: v for k, v in data.items() if k not in used},
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.source is not None:
            out["source"] = self.source
        if self.source_ref is not None:
            out["source-ref"] = self.source_ref
        out.update(self.extra)
        for label in self.labels:
            out[label.name] = label.value
            if label.metadata is not None:
                out[f"{label.name}-metadata"] = label.metadata.to_dict()
        return out

    @property
    def opaque_labels(self) -> tuple[LabelAttribute, ...]:
        """The labels of task types truthloop does not model (kept as opaque data: :attr:`LabelAttribute.opaque`)."""
        return tuple(label for label in self.labels if label.opaque)

    def label(self, name: str) -> LabelAttribute:
        for label in self.labels:
            if label.name == name:
                return label
        raise KeyError(name)


@dataclass(frozen=True)
class InputManifestLine(Contract):
    """One line of an input manifest: ``source`` or ``source-ref`` plus any pass-through keys."""

    kind: ClassVar[str] = "gt.input_manifest_line"
    data: dict[str, Any]

    @classmethod
    def parse(cls, obj: Any, path: str = "$") -> InputManifestLine:
        o = Obj(obj, path)
        if "source" not in o.data and "source-ref" not in o.data:
            raise ContractError("a manifest line needs source or source-ref", path)
        if "source-ref" in o.data:
            as_str(o.data["source-ref"], child_path(path, "source-ref"))
        return cls(data=o.data)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.data)


@dataclass(frozen=True)
class LabelCategoryConfig(Contract):
    """The ``LabelCategoryConfigS3Uri`` file (§4)."""

    kind: ClassVar[str] = "gt.label_category_config"
    labels: tuple[dict[str, Any], ...]
    document_version: str = "2018-11-28"
    instructions: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, obj: Any, path: str = "$") -> LabelCategoryConfig:
        o = Obj(obj, path)
        labels = []
        for item in o.objs("labels", required=True):
            item.string("label")
            labels.append(item.data)
        known = {"document-version", "labels", "instructions"}
        return cls(
            labels=tuple(labels),
            document_version=o.text("document-version") or "2018-11-28",
            instructions=o.opt_mapping("instructions"),
            extra={k: v for k, v in o.data.items() if k not in known},
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"document-version": self.document_version, "labels": [dict(x) for x in self.labels]}
        if self.instructions is not None:
            out["instructions"] = self.instructions
        out.update(self.extra)
        return out

    @property
    def label_names(self) -> list[str]:
        return [str(x["label"]) for x in self.labels]
