"""truthloop's Ground Truth task types (docs/interfaces.md, "Task types")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from truthloop.exceptions import UnsupportedTaskTypeError

__all__ = ["TASK_TYPES", "AnswerKind", "TaskType", "get_task_type", "task_type_for_builtin"]

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
