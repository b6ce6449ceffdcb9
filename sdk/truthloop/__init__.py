"""truthloop: human-in-the-loop machine learning on AWS.

SageMaker Ground Truth creates labels before training; Amazon Augmented AI reviews a deployed model's
predictions after deployment. truthloop provisions both, runs their Lambdas, routes predictions to review,
turns reviewed predictions back into training data, and emulates both services locally.
"""

from __future__ import annotations

from truthloop.contracts import load
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
