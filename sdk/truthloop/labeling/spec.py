"""``LabelingJobSpec``: a validated ``CreateLabelingJob`` request and its label-category file (aws-contracts.md §4)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from truthloop.arns import consolidation_lambda_arn, human_task_ui_arn, pre_annotation_lambda_arn
from truthloop.exceptions import ConfigurationError, LabelingSpecError
from truthloop.labeling.task_types import TASK_TYPES, get_task_type
from truthloop.naming import validate_label_attribute_name, validate_labeling_job_name

__all__ = ["LabelingJobSpec"]

_KEYWORD = re.compile(r"[A-Za-z0-9]+( [A-Za-z0-9]+)*")
_ROLE = re.compile(r"arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")
_WORKTEAM = re.compile(r"arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:workteam/.+")
_LAMBDA = re.compile(r"arn:aws[a-z\-]*:lambda:[a-z0-9\-]*:[0-9]{12}:function:[a-zA-Z0-9\-_.]+(:[a-zA-Z0-9$_\-]+)?")
_S3 = re.compile(r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/.*)?")
_MAX_TASK_SECONDS = 28800
_MAX_PRIVATE_LIFETIME = 30 * 24 * 3600
_MAX_PUBLIC_LIFETIME = 43200


@dataclass
class LabelingJobSpec:
    """Everything needed to create one Ground Truth labeling job, validated against the documented limits.

    ``task_type`` is a truthloop id (:data:`truthloop.labeling.TASK_TYPES`). Built-in task types use the region's
    AWS ``PRE-``/``ACS-`` Lambdas unless ``pre_annotation_lambda_arn`` / ``consolidation_lambda_arn`` name the
    project's own; custom types (free-text, text-ranking, pairwise-preference) need both. NER uses AWS's
    ``NamedEntityRecognition`` task UI unless ``ui_template_s3_uri`` is given. :meth:`validate` reports every
    problem at once in one :class:`~truthloop.exceptions.LabelingSpecError`.
    """

    name: str
    task_type: str
    labels: list[Any]
    manifest_s3_uri: str
    output_s3_uri: str
    role_arn: str
    workteam_arn: str
    title: str
    description: str
    label_attribute_name: str | None = None
    region: str = "us-east-1"
    label_category_s3_uri: str | None = None
    ui_template_s3_uri: str | None = None
    human_task_ui_arn: str | None = None
    pre_annotation_lambda_arn: str | None = None
    consolidation_lambda_arn: str | None = None
    keywords: list[str] = field(default_factory=list)
    workers_per_object: int = 3
    task_time_limit_seconds: int = 300
    task_availability_lifetime_seconds: int | None = None
    max_concurrent_task_count: int | None = None
    instructions: dict[str, str] | None = None
    kms_key_id: str | None = None
    max_human_labeled_object_count: int | None = None
    max_percentage_labeled: int | None = None
    content_classifiers: list[str] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelingJobSpec:
        """Build from a mapping with the field names above (``-`` may stand for ``_``); unknown keys are errors."""
        known = {f.name for f in fields(cls)}
        normalised = {str(k).replace("-", "_"): v for k, v in data.items()}
        unknown = sorted(set(normalised) - known)
        missing = [
            f.name
            for f in fields(cls)
            if f.name not in normalised and f.default is MISSING and f.default_factory is MISSING
        ]
        problems = [f"unknown field {k!r}" for k in unknown] + [f"{k}: required" for k in missing]
        if problems:
            raise LabelingSpecError(problems)
        return cls(**{k: v for k, v in normalised.items() if k in known})

    @classmethod
    def from_file(cls, path: str | Path) -> LabelingJobSpec:
        """Load a YAML (``.yaml``/``.yml``, needs PyYAML) or JSON file."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigurationError(f"{p}: cannot read: {exc.strerror or exc}") from None
        if p.suffix.lower() in (".yaml", ".yml"):
            import yaml

            try:
                data = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                raise ConfigurationError(f"{p}: not valid YAML: {exc}") from None
        else:
            try:
                data = json.loads(text)
            except ValueError as exc:
                raise ConfigurationError(f"{p}: not valid JSON: {exc}") from None
        if not isinstance(data, Mapping):
            raise ConfigurationError(f"{p}: expected a mapping of fields at the top level")
        return cls.from_dict(data)

    # ------------------------------------------------------------------ derived values
    @property
    def attribute(self) -> str:
        return self.label_attribute_name or self.name

    def label_names(self) -> list[str]:
        return [str(x.get("label")) if isinstance(x, Mapping) else str(x) for x in self.labels]

    def _lambdas(self) -> tuple[str | None, str | None]:
        task = TASK_TYPES.get(self.task_type)
        pre, post = self.pre_annotation_lambda_arn, self.consolidation_lambda_arn
        if task is not None and task.builtin is not None:
            pre = pre or pre_annotation_lambda_arn(task.builtin, self.region)
            post = post or consolidation_lambda_arn(task.builtin, self.region)
        return pre, post

    def _ui(self) -> dict[str, str]:
        if self.ui_template_s3_uri:
            return {"UiTemplateS3Uri": self.ui_template_s3_uri}
        if self.human_task_ui_arn:
            return {"HumanTaskUiArn": self.human_task_ui_arn}
        task = TASK_TYPES.get(self.task_type)
        if task is not None and task.human_task_ui is not None:
            return {"HumanTaskUiArn": human_task_ui_arn(task.human_task_ui, self.region)}
        return {}

    # ------------------------------------------------------------------ validation
    def problems(self) -> list[str]:
        """Every documented limit this spec breaks (empty when valid)."""
        out: list[str] = []

        def check(condition: bool, message: str) -> None:
            if not condition:
                out.append(message)

        task = TASK_TYPES.get(self.task_type)
        check(task is not None, f"task_type: {self.task_type!r} is not one of {', '.join(TASK_TYPES)}")
        for label, validator in (("name", validate_labeling_job_name),):
            try:
                validator(self.name)
            except ConfigurationError as exc:
                out.append(f"{label}: {exc}")
        try:
            validate_label_attribute_name(self.attribute, task.builtin if task and task.builtin else None)
        except ConfigurationError as exc:
            out.append(f"label_attribute_name: {exc}")
        names = self.label_names()
        minimum = 2 if task is not None and task.is_classification else 1
        check(
            len(set(names)) >= minimum,
            f"labels: {task.id if task else 'this task'} needs at least {minimum} unique label(s), "
            f"got {len(set(names))}",
        )
        duplicates = sorted({n for n in names if names.count(n) > 1})
        check(not duplicates, f"labels: duplicates {duplicates}")
        check(all(n.strip() for n in names), "labels: a label is empty")
        if task is not None and task.id == "ner":
            ins = self.instructions or {}
            check(
                bool(ins.get("shortInstruction")) and bool(ins.get("fullInstruction")),
                "instructions: NER jobs need shortInstruction and fullInstruction",
            )
        for key, value in (
            ("manifest_s3_uri", self.manifest_s3_uri),
            ("output_s3_uri", self.output_s3_uri),
            ("label_category_s3_uri", self.label_category_s3_uri),
            ("ui_template_s3_uri", self.ui_template_s3_uri),
        ):
            if value is not None:
                check(bool(_S3.fullmatch(value)), f"{key}: {value!r} is not an s3://bucket/key URI")
        check(
            bool(_ROLE.fullmatch(self.role_arn)) and 20 <= len(self.role_arn) <= 2048,
            f"role_arn: {self.role_arn!r} is not an IAM role ARN",
        )
        check(
            bool(_WORKTEAM.fullmatch(self.workteam_arn)) and len(self.workteam_arn) <= 256,
            f"workteam_arn: {self.workteam_arn!r} is not a workteam ARN",
        )
        check(1 <= len(self.title) <= 128, f"title: must be 1–128 characters, got {len(self.title)}")
        check(1 <= len(self.description) <= 255, f"description: must be 1–255 characters, got {len(self.description)}")
        if self.keywords:
            check(len(self.keywords) <= 5, f"keywords: at most 5, got {len(self.keywords)}")
            for kw in self.keywords:
                check(
                    1 <= len(kw) <= 30 and bool(_KEYWORD.fullmatch(kw)),
                    f"keywords: {kw!r} must be 1–30 letters/digits, single spaces between words",
                )
        check(
            isinstance(self.workers_per_object, int) and 1 <= self.workers_per_object <= 9,
            f"workers_per_object: must be 1–9, got {self.workers_per_object}",
        )
        check(
            30 <= self.task_time_limit_seconds <= _MAX_TASK_SECONDS,
            f"task_time_limit_seconds: must be 30–{_MAX_TASK_SECONDS} for image/text/custom tasks, "
            f"got {self.task_time_limit_seconds}",
        )
        if self.task_availability_lifetime_seconds is not None:
            public = "public-crowd" in self.workteam_arn
            limit = _MAX_PUBLIC_LIFETIME if public else _MAX_PRIVATE_LIFETIME
            check(
                60 <= self.task_availability_lifetime_seconds <= limit,
                f"task_availability_lifetime_seconds: must be 60–{limit} for this workforce, "
                f"got {self.task_availability_lifetime_seconds}",
            )
        if self.max_concurrent_task_count is not None:
            check(
                1 <= self.max_concurrent_task_count <= 5000,
                f"max_concurrent_task_count: must be 1–5000, got {self.max_concurrent_task_count}",
            )
        if self.max_human_labeled_object_count is not None:
            check(self.max_human_labeled_object_count >= 1, "max_human_labeled_object_count: must be >= 1")
        if self.max_percentage_labeled is not None:
            check(1 <= self.max_percentage_labeled <= 100, "max_percentage_labeled: must be 1–100")
        for classifier in self.content_classifiers:
            check(
                classifier in ("FreeOfPersonallyIdentifiableInformation", "FreeOfAdultContent"),
                f"content_classifiers: unknown classifier {classifier!r}",
            )
        check(len(self.tags) <= 50, f"tags: at most 50, got {len(self.tags)}")
        if task is not None:
            try:
                pre, post = self._lambdas()
                check(
                    pre is not None and post is not None,
                    f"{task.id} is a custom task type: set pre_annotation_lambda_arn and consolidation_lambda_arn",
                )
                for key, arn in (("pre_annotation_lambda_arn", pre), ("consolidation_lambda_arn", post)):
                    if arn is not None:
                        check(bool(_LAMBDA.fullmatch(arn)), f"{key}: {arn!r} is not a Lambda function ARN")
                ui = self._ui()
            except ConfigurationError as exc:
                out.append(f"region: {exc}")
                ui = {"UiTemplateS3Uri": "?"}
            check(len(ui) == 1, "ui: set ui_template_s3_uri (or human_task_ui_arn), exactly one")
            check(
                not (self.ui_template_s3_uri and self.human_task_ui_arn),
                "ui: set ui_template_s3_uri or human_task_ui_arn, not both",
            )
        return out

    def validate(self) -> LabelingJobSpec:
        """Return ``self`` or raise :class:`LabelingSpecError` listing every problem."""
        problems = self.problems()
        if problems:
            raise LabelingSpecError(problems)
        return self

    # ------------------------------------------------------------------ building
    def label_category_config(self) -> dict[str, Any]:
        """The ``LabelCategoryConfigS3Uri`` file: ``{"document-version": "2018-11-28", "labels": [...]}``."""
        labels = [dict(x) if isinstance(x, Mapping) else {"label": str(x)} for x in self.labels]
        out: dict[str, Any] = {"document-version": "2018-11-28", "labels": labels}
        if self.instructions:
            out["instructions"] = dict(self.instructions)
        return out

    def to_request(self) -> dict[str, Any]:
        """The validated ``CreateLabelingJob`` request (boto3 keyword arguments)."""
        self.validate()
        get_task_type(self.task_type)
        pre, post = self._lambdas()
        human: dict[str, Any] = {
            "WorkteamArn": self.workteam_arn,
            "UiConfig": self._ui(),
            "PreHumanTaskLambdaArn": pre,
            "TaskTitle": self.title,
            "TaskDescription": self.description,
            "NumberOfHumanWorkersPerDataObject": self.workers_per_object,
            "TaskTimeLimitInSeconds": self.task_time_limit_seconds,
            "AnnotationConsolidationConfig": {"AnnotationConsolidationLambdaArn": post},
        }
        if self.keywords:
            human["TaskKeywords"] = list(self.keywords)
        if self.task_availability_lifetime_seconds is not None:
            human["TaskAvailabilityLifetimeInSeconds"] = self.task_availability_lifetime_seconds
        if self.max_concurrent_task_count is not None:
            human["MaxConcurrentTaskCount"] = self.max_concurrent_task_count
        input_config: dict[str, Any] = {"DataSource": {"S3DataSource": {"ManifestS3Uri": self.manifest_s3_uri}}}
        if self.content_classifiers:
            input_config["DataAttributes"] = {"ContentClassifiers": list(self.content_classifiers)}
        output: dict[str, Any] = {"S3OutputPath": self.output_s3_uri}
        if self.kms_key_id:
            output["KmsKeyId"] = self.kms_key_id
        request: dict[str, Any] = {
            "LabelingJobName": self.name,
            "LabelAttributeName": self.attribute,
            "InputConfig": input_config,
            "OutputConfig": output,
            "RoleArn": self.role_arn,
            "HumanTaskConfig": human,
        }
        if self.label_category_s3_uri:
            request["LabelCategoryConfigS3Uri"] = self.label_category_s3_uri
        stopping: dict[str, int] = {}
        if self.max_human_labeled_object_count is not None:
            stopping["MaxHumanLabeledObjectCount"] = self.max_human_labeled_object_count
        if self.max_percentage_labeled is not None:
            stopping["MaxPercentageOfInputDatasetLabeled"] = self.max_percentage_labeled
        if stopping:
            request["StoppingConditions"] = stopping
        if self.tags:
            request["Tags"] = [{"Key": k, "Value": v} for k, v in self.tags.items()]
        return request
