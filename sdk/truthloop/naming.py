"""AWS naming rules for GT/A2I resources, and deterministic names for retry-safe creation.

Patterns and lengths are those of the botocore models (aws-contracts.md §4, §5, §8).

    >>> from truthloop.naming import human_loop_name
    >>> name = human_loop_name("review-fd", {"text": "I love it"})
    >>> name == human_loop_name("review-fd", {"text": "I love it"}), len(name) <= 63
    (True, True)
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterable
from typing import Any

from truthloop.contracts._base import arn_resource_name, canonical_json
from truthloop.exceptions import InvalidNameError

__all__ = [
    "REF_FORBIDDEN_TASK_TYPES",
    "REF_REQUIRED_TASK_TYPES",
    "deterministic_name",
    "human_loop_name",
    "validate_flow_definition_name",
    "validate_human_loop_name",
    "validate_human_task_ui_name",
    "validate_label_attribute_name",
    "validate_labeling_job_name",
    "validate_workteam_name",
]

_MIXED = r"[a-zA-Z0-9](-*[a-zA-Z0-9])*"
_LOWER = r"[a-z0-9](-*[a-z0-9])*"

_RULES: dict[str, tuple[re.Pattern[str], int, str]] = {
    "LabelingJobName": (re.compile(_MIXED), 63, "letters, digits and inner hyphens"),
    "LabelAttributeName": (re.compile(_MIXED), 127, "letters, digits and inner hyphens"),
    "WorkteamName": (re.compile(_MIXED), 63, "letters, digits and inner hyphens"),
    "HumanLoopName": (re.compile(_LOWER), 63, "lower-case letters, digits and inner hyphens"),
    "FlowDefinitionName": (re.compile(_LOWER), 63, "lower-case letters, digits and inner hyphens"),
    "HumanTaskUiName": (re.compile(_LOWER), 63, "lower-case letters, digits and inner hyphens"),
}

#: Task types whose LabelAttributeName must end in ``-ref`` (the value is an S3 URI to an artifact).
REF_REQUIRED_TASK_TYPES = frozenset(
    {
        "SemanticSegmentation",
        "AdjustmentSemanticSegmentation",
        "VideoObjectDetection",
        "VideoObjectTracking",
        "AdjustmentVideoObjectDetection",
        "AdjustmentVideoObjectTracking",
        "VerificationVideoObjectDetection",
        "VerificationVideoObjectTracking",
        "3DPointCloudSemanticSegmentation",
        "3DPointCloudObjectTracking",
        "Adjustment3DPointCloudSemanticSegmentation",
        "Adjustment3DPointCloudObjectTracking",
    }
)
#: Task types documented to forbid the ``-ref`` suffix explicitly (every other type too, per the older DG).
REF_FORBIDDEN_TASK_TYPES = frozenset({"VerificationSemanticSegmentation"})


def _validate(kind: str, name: Any) -> str:
    pattern, max_len, allowed = _RULES[kind]
    if not isinstance(name, str):
        raise InvalidNameError(kind, str(name), f"must be a string, got {type(name).__name__}")
    if not name:
        raise InvalidNameError(kind, name, "must not be empty")
    if len(name) > max_len:
        raise InvalidNameError(kind, name, f"is {len(name)} characters; at most {max_len} allowed")
    if not pattern.fullmatch(name):
        bad = sorted({c for c in name if not (c.isascii() and (c.isalnum() or c == "-"))})
        if bad:
            reason = f"contains {''.join(bad)!r}; only {allowed} are allowed"
        elif name.startswith("-") or name.endswith("-"):
            reason = "must start and end with a letter or digit"
        else:
            reason = f"only {allowed} are allowed"
        raise InvalidNameError(kind, name, reason)
    return name


def validate_labeling_job_name(name: str) -> str:
    """Return ``name`` if it is a valid LabelingJobName (1–63, letters/digits/hyphens); raise otherwise."""
    return _validate("LabelingJobName", name)


def validate_workteam_name(name: str) -> str:
    """Return ``name`` if it is a valid WorkteamName; raise :class:`InvalidNameError` otherwise."""
    return _validate("WorkteamName", name)


def validate_human_loop_name(name: str) -> str:
    """Return ``name`` if it is a valid HumanLoopName (lower-case, 1–63); raise otherwise."""
    return _validate("HumanLoopName", name)


def validate_flow_definition_name(name: str) -> str:
    """Return ``name`` if it is a valid FlowDefinitionName (lower-case, 1–63); raise otherwise."""
    return _validate("FlowDefinitionName", name)


def validate_human_task_ui_name(name: str) -> str:
    """Return ``name`` if it is a valid HumanTaskUiName (lower-case, 1–63); raise otherwise."""
    return _validate("HumanTaskUiName", name)


def validate_label_attribute_name(name: str, task_type: str | None = None) -> str:
    """Validate a LabelAttributeName, including the ``-metadata``/``-ref`` suffix rules for ``task_type``.

    ``task_type`` is a built-in task-type suffix (``BoundingBox``, ``SemanticSegmentation``, …) or ``None``/
    ``"custom"`` for custom jobs.
    """
    _validate("LabelAttributeName", name)
    if name.endswith("-metadata"):
        raise InvalidNameError("LabelAttributeName", name, "must not end with '-metadata'")
    if task_type is None or task_type.lower() == "custom":
        return name
    if task_type in REF_REQUIRED_TASK_TYPES and not name.endswith("-ref"):
        raise InvalidNameError("LabelAttributeName", name, f"must end with '-ref' for {task_type} jobs")
    if task_type not in REF_REQUIRED_TASK_TYPES and name.endswith("-ref"):
        raise InvalidNameError("LabelAttributeName", name, f"must not end with '-ref' for {task_type} jobs")
    return name


def _slug(text: str, *, lower: bool) -> str:
    if lower:
        text = text.lower()
    text = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")
    return re.sub(r"-{2,}", "-", text)


def deterministic_name(
    prefix: str, *parts: Any, max_length: int = 63, lower: bool = True, digest_chars: int = 32
) -> str:
    """A valid AWS resource name made of a readable prefix and a hash of ``parts``.

    The same ``(prefix, parts)`` always give the same name, so a retried create hits the same resource.
    The result matches ``[a-z0-9](-*[a-z0-9])*`` (or the mixed-case form when ``lower=False``).
    """
    digest = hashlib.sha256(canonical_json([prefix, *parts]).encode("utf-8")).hexdigest()[:digest_chars]
    room = max_length - len(digest) - 1
    slug = _slug(prefix, lower=lower)[: max(room, 0)].strip("-")
    return f"{slug}-{digest}" if slug else digest


def human_loop_name(flow_definition: str, input_content: Any) -> str:
    """The deterministic HumanLoopName for ``input_content`` sent to ``flow_definition`` (name or ARN).

    ``input_content`` may be the InputContent object or its JSON string; both give the same name.
    The name is at most 63 characters and matches ``^[a-z0-9](-*[a-z0-9])*$``.
    """
    import json

    flow_name = arn_resource_name(flow_definition, "flow-definition")
    if isinstance(input_content, str):
        with contextlib.suppress(ValueError):
            input_content = json.loads(input_content)
    prefix = _slug(flow_name, lower=True)[:30].strip("-") or "loop"
    return deterministic_name(prefix, flow_name, input_content, max_length=63, lower=True)


def chunked_names(prefix: str, batches: Iterable[Any]) -> list[str]:
    """Deterministic LabelingJobNames for a sequence of batches (used by the labeling launcher)."""
    return [deterministic_name(prefix, batch, lower=False, digest_chars=16) for batch in batches]
