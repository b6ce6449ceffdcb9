"""truthloop's Ground Truth task types (docs/interfaces.md, "Task types")."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from truthloop.exceptions import UnsupportedTaskTypeError

__all__ = ["TASK_TYPES", "AnswerKind", "TaskType", "get_task_type", "task_type_for_builtin", "task_type_of_job"]

AnswerKind = Literal[
    "class", "multilabel", "boxes", "verification", "entities", "segmentation", "free-text", "ranking", "pairwise"
]


@dataclass(frozen=True)
class TaskType:
    """One task type: its id, the built-in ``PRE-``/``ACS-`` suffix (``None`` for custom) and output shape."""

    id: str
    builtin: str | None
    template: str | None
    answer: AnswerKind
    output_type: str
    #: modality of ``taskObject``: text is inline (``source``), image is an S3 object (``source-ref``)
    modality: Literal["text", "image"]
    #: the AWS-owned HumanTaskUi to use instead of a template, when there is one
    human_task_ui: str | None = None

    @property
    def is_custom(self) -> bool:
        return self.builtin is None

    @property
    def is_classification(self) -> bool:
        return self.answer in ("class", "multilabel")


def _t(
    id: str,
    builtin: str | None,
    template: str | None,
    answer: AnswerKind,
    output_type: str,
    modality: Literal["text", "image"],
    ui: str | None = None,
) -> TaskType:
    return TaskType(id, builtin, template, answer, output_type, modality, ui)


#: Task type id → :class:`TaskType`, in the order of docs/interfaces.md.
TASK_TYPES: dict[str, TaskType] = {
    t.id: t
    for t in (
        _t("text-classification", "TextMultiClass", "gt/text-classification", "class",
           "groundtruth/text-classification", "text"),
        _t("text-multilabel", "TextMultiClassMultiLabel", "gt/text-multilabel", "multilabel",
           "groundtruth/text-classification-multilabel", "text"),
        _t("image-classification", "ImageMultiClass", "gt/image-classification", "class",
           "groundtruth/image-classification", "image"),
        _t("image-multilabel", "ImageMultiClassMultiLabel", "gt/image-multilabel", "multilabel",
           "groundtruth/image-classification-multilabel", "image"),
        _t("bounding-box", "BoundingBox", "gt/bounding-box", "boxes", "groundtruth/object-detection", "image"),
        _t("bounding-box-verification", "VerificationBoundingBox", "gt/bounding-box-verification", "verification",
           "groundtruth/label-verification", "image"),
        _t("bounding-box-adjustment", "AdjustmentBoundingBox", "gt/bounding-box", "boxes",
           "groundtruth/object-detection", "image"),
        _t("ner", "NamedEntityRecognition", "gt/ner", "entities", "groundtruth/text-span", "text",
           "NamedEntityRecognition"),
        _t("semantic-segmentation", "SemanticSegmentation", None, "segmentation",
           "groundtruth/semantic-segmentation", "image"),
        _t("free-text", None, "gt/free-text", "free-text", "groundTruth/custom", "text"),
        _t("text-ranking", None, "gt/text-ranking", "ranking", "groundTruth/custom", "text"),
        _t("pairwise-preference", None, "gt/pairwise-preference", "pairwise", "groundTruth/custom", "text"),
    )
}  # fmt: skip

_BY_BUILTIN = {t.builtin: t.id for t in TASK_TYPES.values() if t.builtin is not None}


def get_task_type(task_type: str | TaskType) -> TaskType:
    """The :class:`TaskType` for an id (or a built-in suffix); raises listing the supported ids."""
    if isinstance(task_type, TaskType):
        return task_type
    if task_type in TASK_TYPES:
        return TASK_TYPES[task_type]
    if task_type in _BY_BUILTIN:
        return TASK_TYPES[_BY_BUILTIN[task_type]]
    raise UnsupportedTaskTypeError(task_type, list(TASK_TYPES))


def task_type_for_builtin(builtin: str) -> str:
    """The truthloop id for a built-in task-type suffix, ``PRE-``/``ACS-`` function name, or built-in Lambda ARN.

    >>> task_type_for_builtin("BoundingBox")
    'bounding-box'
    >>> task_type_for_builtin("arn:aws:lambda:us-east-1:432418664414:function:ACS-NamedEntityRecognition")
    'ner'
    """
    suffix = builtin.rsplit(":", 1)[-1]
    for prefix in ("PRE-", "ACS-"):
        if suffix.startswith(prefix):
            suffix = suffix[len(prefix) :]
    if suffix not in _BY_BUILTIN:
        raise UnsupportedTaskTypeError(builtin, sorted(_BY_BUILTIN))
    return _BY_BUILTIN[suffix]


def task_type_of_job(human_task_config: Mapping[str, Any], template: str) -> str | None:
    """The truthloop task type of a labeling job, from what the job itself says; ``None`` when it does not say.

    The CreateLabelingJob API has no task-type field (docs/aws-contracts.md, "Built-in Lambda ARNs"): the type
    follows from, in this order, a built-in ``PRE-``/``ACS-`` Lambda ARN; an AWS-owned ``HumanTaskUiArn``
    (``…:human-task-ui/NamedEntityRecognition``); or a worker template that is one of truthloop's catalogue templates
    unchanged (``gt/free-text`` → ``free-text``). A job with the user's own Lambdas and own template has no
    derivable type. The user's functions are not asked (the service cannot read a remote function's environment),
    so the local backend and the service give the same answer.

    >>> builtin = "arn:aws:lambda:us-east-1:432418664414:function:PRE-BoundingBox"
    >>> task_type_of_job({"PreHumanTaskLambdaArn": builtin}, "")
    'bounding-box'
    >>> own = "arn:aws:lambda:us-east-1:123456789012:function:mine"
    >>> task_type_of_job({"PreHumanTaskLambdaArn": own}, "<p/>")
    """
    from truthloop.arns import HUMAN_TASK_UI_ACCOUNT, parse_builtin_lambda_arn

    consolidation = human_task_config.get("AnnotationConsolidationConfig") or {}
    for arn in (human_task_config.get("PreHumanTaskLambdaArn"), consolidation.get("AnnotationConsolidationLambdaArn")):
        builtin = parse_builtin_lambda_arn(arn) if isinstance(arn, str) else None
        if builtin is not None and builtin.task_type in _BY_BUILTIN:
            return _BY_BUILTIN[builtin.task_type]
    ui_arn = (human_task_config.get("UiConfig") or {}).get("HumanTaskUiArn")
    if isinstance(ui_arn, str):
        ui_name = ui_arn.rsplit("/", 1)[-1]
        found = next((t.id for t in TASK_TYPES.values() if t.human_task_ui and t.human_task_ui == ui_name), None)
        if found is not None and ui_arn.split(":")[4:5] == [HUMAN_TASK_UI_ACCOUNT]:
            return found
    return _catalogue_task_types().get(template.strip()) if template.strip() else None


@functools.cache
def _catalogue_task_types() -> dict[str, str]:
    """Catalogue template text (stripped) -> the task type it is first meant for."""
    from truthloop.templates import catalogue

    return {
        entry.text().strip(): entry.task_type
        for entry in catalogue.all_templates("gt")
        if entry.task_type is not None
    }
