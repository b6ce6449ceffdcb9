"""What truthloop knows about each crowd HTML element: does it answer, can it stand without a crowd-form,
which attributes hold JSON, is it a GenAI "V2" element, and does the offline library implement it.

Sources: aws-contracts.md §11 (the SageMaker Developer Guide element reference and AWS's sample templates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "ELEMENTS",
    "REGION_TAGS",
    "V2_COMPATIBLE",
    "ElementSpec",
    "is_known",
]


@dataclass(frozen=True)
class ElementSpec:
    """One crowd element.

    ``answers``: contributes to the submitted answer. ``full_page``: a full-page widget with its own Submit button
    (may stand without a crowd-form). ``answer_key``: a fixed answer key (A2I built-ins) instead of ``name``.
    ``json_attrs``: attributes parsed as JSON / JavaScript literals. ``max_items``: documented list limits.
    ``offline``: implemented by truthloop's offline elements (``templates/static/``).
    """

    name: str
    answers: bool = False
    full_page: bool = False
    v2: bool = False
    offline: bool = True
    documented: bool = True
    answer_key: str | None = None
    json_attrs: tuple[str, ...] = ()
    max_items: dict[str, int] = field(default_factory=dict)


def _specs(*specs: ElementSpec) -> dict[str, ElementSpec]:
    return {s.name: s for s in specs}


_CATEGORIES = ("categories",)
_IMAGE_TOOL = ("labels", "initial-value")

ELEMENTS: Final[dict[str, ElementSpec]] = _specs(
    # layout and feedback
    ElementSpec("crowd-form"),
    ElementSpec("crowd-button"),
    ElementSpec("crowd-alert"),
    ElementSpec("crowd-badge"),
    ElementSpec("crowd-card"),
    ElementSpec("crowd-instructions"),
    ElementSpec("crowd-tabs"),
    ElementSpec("crowd-tab"),
    ElementSpec("crowd-fab", offline=False),
    ElementSpec("crowd-icon-button", offline=False),
    ElementSpec("crowd-modal", offline=False),
    ElementSpec("crowd-toast", offline=False),
    # inputs
    ElementSpec("crowd-input", answers=True),
    ElementSpec("crowd-text-area", answers=True),
    ElementSpec("crowd-checkbox", answers=True),
    ElementSpec("crowd-radio-group"),
    ElementSpec("crowd-radio-button", answers=True),
    ElementSpec("crowd-toggle-button", answers=True),
    ElementSpec("crowd-slider", answers=True),
    # used by AWS's own sample templates inside crowd-slider, absent from the element reference
    ElementSpec("crowd-slider-label", documented=False),
    # classification
    ElementSpec("crowd-classifier", answers=True, full_page=True, json_attrs=_CATEGORIES),
    ElementSpec(
        "crowd-classifier-multi-select",
        answers=True,
        full_page=True,
        json_attrs=("categories", "exclusion-category"),
    ),
    ElementSpec(
        "crowd-image-classifier",
        answers=True,
        full_page=True,
        json_attrs=("categories", "overlay"),
        max_items={"categories": 10},
    ),
    ElementSpec(
        "crowd-image-classifier-multi-select",
        answers=True,
        full_page=True,
        json_attrs=("categories", "exclusion-category"),
        max_items={"categories": 10},
    ),
    # annotation
    ElementSpec("crowd-bounding-box", answers=True, full_page=True, json_attrs=_IMAGE_TOOL, max_items={"labels": 10}),
    ElementSpec("crowd-keypoint", answers=True, full_page=True, json_attrs=_IMAGE_TOOL),
    ElementSpec("crowd-polygon", answers=True, full_page=True, json_attrs=_IMAGE_TOOL),
    ElementSpec("crowd-line", answers=True, full_page=True, json_attrs=_IMAGE_TOOL, offline=False),
    ElementSpec("crowd-polyline", answers=True, full_page=True, json_attrs=_IMAGE_TOOL, offline=False),
    ElementSpec("crowd-semantic-segmentation", answers=True, full_page=True, json_attrs=_IMAGE_TOOL, offline=False),
    ElementSpec("crowd-instance-segmentation", answers=True, full_page=True, json_attrs=("labels",), offline=False),
    ElementSpec("crowd-entity-annotation", answers=True, full_page=True, json_attrs=_IMAGE_TOOL),
    # A2I built-in review elements
    ElementSpec(
        "crowd-textract-analyze-document",
        answers=True,
        full_page=True,
        answer_key="AWS/Textract/AnalyzeDocument/Forms/V1",
        json_attrs=("initial-value", "keys", "block-types"),
    ),
    ElementSpec(
        "crowd-rekognition-detect-moderation-labels",
        answers=True,
        full_page=True,
        answer_key="AWS/Rekognition/DetectModerationLabels/Image/V3",
        json_attrs=("categories",),
    ),
    # GenAI "V2" elements (crowd-html-elements-v2.js)
    ElementSpec(
        "crowd-text-ranking",
        answers=True,
        full_page=True,
        v2=True,
        json_attrs=("responses", "ordinal-ranking-dimensions"),
    ),
    ElementSpec(
        "crowd-question-answer-generation",
        answers=True,
        full_page=True,
        v2=True,
        offline=False,
        json_attrs=("question-tags",),
    ),
)

#: Non-``crowd-`` tags the elements read as regions.
REGION_TAGS: Final = frozenset(
    {
        "short-instructions",
        "full-instructions",
        "classification-target",
        "worker-comment",
        "short-summary",
        "detailed-instructions",
        "positive-example",
        "negative-example",
    }
)

#: What a V2 element may share a template with (besides other V2 elements).
V2_COMPATIBLE: Final = frozenset({"crowd-form", "short-instructions", "crowd-button", "crowd-tabs", "crowd-tab"})


def is_known(tag: str) -> bool:
    """Whether ``tag`` is a crowd element (or region tag) truthloop knows."""
    return tag in ELEMENTS or tag in REGION_TAGS
