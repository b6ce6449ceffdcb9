"""Ground Truth labeling: task types, answer parsing, pre-/post-annotation logic and labeling-job specs.

The Lambda handlers in ``lambdas/pre_annotation`` and ``lambdas/post_annotation`` are thin wrappers around
:func:`pre_annotate` and :func:`consolidate_batch`.
"""

from __future__ import annotations

from truthloop.labeling.answers import parse_answer, parse_pairwise, parse_ranking
from truthloop.labeling.order import display_order, display_order_of
from truthloop.labeling.post import BatchReport, ObjectFailure, consolidate_batch, consolidate_report
from truthloop.labeling.pre import pre_annotate
from truthloop.labeling.task_types import TASK_TYPES, TaskType, get_task_type, task_type_for_builtin

__all__ = [
    "TASK_TYPES",
    "BatchReport",
    "ObjectFailure",
    "TaskType",
    "consolidate_batch",
    "consolidate_report",
    "display_order",
    "display_order_of",
    "get_task_type",
    "parse_answer",
    "parse_pairwise",
    "parse_ranking",
    "pre_annotate",
    "task_type_for_builtin",
]
