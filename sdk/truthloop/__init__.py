"""truthloop: human-in-the-loop machine learning on AWS.

SageMaker Ground Truth creates labels before training; Amazon Augmented AI reviews a deployed model's
predictions after deployment. truthloop provisions both, runs their Lambdas, routes predictions to review,
turns reviewed predictions back into training data, and emulates both services locally.

Importing ``truthloop`` is cheap: the names below load their modules on first use, so a Lambda that only needs
``truthloop.consolidation`` does not pay for the contracts or review packages.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from truthloop.exceptions import (
    AwsError,
    ConfigurationError,
    ConsolidationError,
    ContractError,
    LabelingError,
    LocalBackendError,
    ManifestError,
    ReviewError,
    TemplateError,
    TruthloopError,
)

if TYPE_CHECKING:
    from truthloop.contracts import load
    from truthloop.naming import human_loop_name

__all__ = [
    "AwsError",
    "ConfigurationError",
    "ConsolidationError",
    "ContractError",
    "LabelingError",
    "LocalBackendError",
    "ManifestError",
    "ReviewError",
    "TemplateError",
    "TruthloopError",
    "__version__",
    "human_loop_name",
    "load",
]

__version__ = "0.1.0"

_LAZY = {"load": "truthloop.contracts", "human_loop_name": "truthloop.naming"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'truthloop' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
