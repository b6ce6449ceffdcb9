"""The truthloop error tree.

Every error truthloop raises derives from :class:`TruthloopError`. Each area has one family base
(``ContractError``, ``ConfigurationError``, ``AwsError``, ``ReviewError``, ``LabelingError``,
``TemplateError``, ``ConsolidationError``, ``ManifestError``, ``LocalBackendError``) so callers can catch a
whole area at once. Leaves carry their context as attributes and have a one-line "raised when" docstring.

botocore's ``ClientError`` never leaves truthloop: :func:`truthloop.aws.map_client_errors` turns it into an
:class:`AwsError` leaf at the boundary.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AccessDeniedError",
    "AdapterError",
    "AwsError",
    "AwsServiceError",
    "AwsValidationError",
    "BudgetExceededError",
    "ConfigurationError",
    "ConflictError",
    "ConsolidationError",
    "ContractError",
    "ExportError",
    "HumanLoopConflictError",
    "InputTooLargeError",
    "InvalidNameError",
    "LabelingError",
    "LabelingSpecError",
    "LocalBackendError",
    "ManifestError",
    "ManifestLineError",
    "NotFoundError",
    "PolicyError",
    "QuotaExceededError",
    "ReviewError",
    "ServiceConfigurationError",
    "ServiceEndpointError",
    "SignatureRejectedError",
    "TemplateError",
    "TemplateLintError",
    "TemplateRenderError",
    "ThrottledError",
    "TruthloopError",
    "UnknownKindError",
    "UnsupportedRegionError",
    "UnsupportedTaskTypeError",
]


class TruthloopError(Exception):
    """Root of every error truthloop raises."""


# --------------------------------------------------------------------------------------------- contracts


class ContractError(TruthloopError, ValueError):
    """Raised when a payload does not match the documented AWS shape; ``path`` is the JSON path of the problem."""

    def __init__(self, message: str, path: str = "$") -> None:
        self.message = message
        self.path = path
        super().__init__(f"{path}: {message}")


class UnknownKindError(ContractError):
    """Raised when ``contracts.load`` cannot tell which documented payload an object is."""


# --------------------------------------------------------------------------------------------- configuration


class ConfigurationError(TruthloopError, ValueError):
    """Raised when truthloop is configured with values AWS (or truthloop) would reject."""


class InvalidNameError(ConfigurationError):
    """Raised when a resource name breaks the AWS naming rules for its kind."""

    def __init__(self, kind: str, name: str, reason: str) -> None:
        self.kind = kind
        self.name = name
        self.reason = reason
        super().__init__(f"invalid {kind} {name!r}: {reason}")


class UnsupportedRegionError(ConfigurationError):
    """Raised when a region has no built-in Ground Truth Lambdas or task UIs."""

    def __init__(self, region: str, supported: Sequence[str]) -> None:
        self.region = region
        self.supported = tuple(supported)
        super().__init__(f"region {region!r} is not supported; supported regions: {', '.join(self.supported)}")


class UnsupportedTaskTypeError(ConfigurationError):
    """Raised when a task type has no built-in Lambda or task UI."""

    def __init__(self, task_type: str, supported: Sequence[str]) -> None:
        self.task_type = task_type
        self.supported = tuple(supported)
        super().__init__(f"task type {task_type!r} is not supported; supported task types: {', '.join(self.supported)}")


class ServiceEndpointError(ConfigurationError):
    """Raised when the truthloop service's endpoint cannot be found (no variable, no stack, no output)."""


# --------------------------------------------------------------------------------------------- AWS boundary


class AwsError(TruthloopError):
    """Raised when an AWS (or emulated AWS) call fails; carries the service error code and operation."""

    def __init__(
        self,
        message: str,
        *,
        code: str = "",
        operation: str = "",
        status_code: int | None = None,
        request_id: str | None = None,
    ) -> None:
        self.message = message
        self.code = code
        self.operation = operation
        self.status_code = status_code
        self.request_id = request_id
        where = f"{operation}: " if operation else ""
        what = f"{code}: " if code else ""
        super().__init__(f"{where}{what}{message}")


class ThrottledError(AwsError):
    """Raised when AWS throttles a call (``ThrottlingException``) and retries are exhausted."""


class QuotaExceededError(AwsError):
    """Raised on ``ServiceQuotaExceededException`` (HTTP 402 on StartHumanLoop); never retried."""


class NotFoundError(AwsError):
    """Raised when the named AWS resource does not exist."""


class ConflictError(AwsError):
    """Raised when AWS reports a conflicting resource (same name, different definition)."""


class AwsValidationError(AwsError):
    """Raised when AWS rejects a request as invalid (``ValidationException``)."""


class AccessDeniedError(AwsError):
    """Raised when the caller lacks permission for the AWS call."""


class AwsServiceError(AwsError):
    """Raised for any other AWS service failure (5xx or an unmapped error code)."""


class SignatureRejectedError(AccessDeniedError):
    """Raised when a request's SigV4 signature is missing, malformed, stale, for another scope, or does not match."""

    def __init__(self, message: str, *, code: str = "InvalidSignatureException") -> None:
        super().__init__(message, code=code, status_code=403)


# --------------------------------------------------------------------------------------------- review (A2I)


class ReviewError(TruthloopError):
    """Base of errors on the A2I review path."""


class AdapterError(ReviewError, ContractError):
    """Raised when a service response cannot be adapted into predictions; ``path`` names the bad field."""


class PolicyError(ReviewError, ValueError):
    """Raised when a review policy is invalid or cannot be expressed as A2I activation conditions."""


class InputTooLargeError(ReviewError, ValueError):
    """Raised when a human loop's InputContent exceeds the 3 MiB limit and no S3 offload is configured."""

    def __init__(self, size: int, limit: int) -> None:
        self.size = size
        self.limit = limit
        super().__init__(f"human loop input is {size} bytes; the limit is {limit} bytes")


class HumanLoopConflictError(ReviewError, ConflictError):
    """Raised when a human loop with the same name but different input already exists."""


class BudgetExceededError(ReviewError):
    """Raised when a review budget refuses a loop and the caller asked for an error instead of deferral."""


# --------------------------------------------------------------------------------------------- labeling (GT)


class LabelingError(TruthloopError):
    """Base of errors on the Ground Truth labeling path."""


class LabelingSpecError(LabelingError, ConfigurationError):
    """Raised when a labeling job spec breaks one or more documented limits; ``problems`` lists all of them."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in labeling job spec:\n{lines}")


# --------------------------------------------------------------------------------------------- templates


class TemplateError(TruthloopError):
    """Base of worker task template errors."""


class TemplateRenderError(TemplateError):
    """Raised when a template fails to render; ``line`` is the template line when known."""

    def __init__(self, message: str, line: int | None = None, template: str | None = None) -> None:
        self.message = message
        self.line = line
        self.template = template
        where = f"{template or '<template>'}:{line}: " if line is not None else ""
        super().__init__(f"{where}{message}")


class TemplateLintError(TemplateError):
    """Raised when a template has lint errors and the caller asked for failure (e.g. at CDK synth)."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("template lint failed:\n" + "\n".join(f"  {p}" for p in self.problems))


# --------------------------------------------------------------------------------------------- consolidation


class ConsolidationError(TruthloopError, ValueError):
    """Raised when answers cannot be consolidated (bad table, unknown method, unfitted model)."""


# --------------------------------------------------------------------------------------------- manifests / export


class ManifestError(TruthloopError):
    """Base of manifest reading, merging and exporting errors."""


class ManifestLineError(ManifestError, ValueError):
    """Raised when a manifest line is malformed; ``line_number`` is 1-based."""

    def __init__(self, line_number: int, reason: str, source: str | None = None) -> None:
        self.line_number = line_number
        self.reason = reason
        self.source = source
        super().__init__(f"{source or '<manifest>'}:{line_number}: {reason}")


class ExportError(ManifestError):
    """Raised when an export cannot be written (unknown format, strict mode skip, unwritable output)."""


# --------------------------------------------------------------------------------------------- local backend


class LocalBackendError(TruthloopError):
    """Raised when the local emulator cannot start or is misconfigured."""


class ServiceConfigurationError(ConfigurationError):
    """Raised when the truthloop service's environment (table, bucket, queue, region) is incomplete or wrong."""
