"""The boundary to botocore: map ``ClientError`` to truthloop's :class:`~truthloop.exceptions.AwsError` tree.

Use :func:`map_client_errors` around every AWS call so callers never see botocore exceptions::

    with map_client_errors("StartHumanLoop"):
        a2i.start_human_loop(...)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from truthloop.exceptions import (
    AccessDeniedError,
    AwsError,
    AwsServiceError,
    AwsValidationError,
    ConflictError,
    ContractError,
    NotFoundError,
    QuotaExceededError,
    ThrottledError,
)

__all__ = ["RETRYABLE_CODES", "error_from_client_error", "is_retryable", "map_client_errors", "split_s3_uri"]

#: Error codes that are safe to retry with backoff (aws-contracts.md Appendix 6). 402 quota errors are not.
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalServerException",
        "InternalServerError",
        "InternalFailure",
        "ServiceUnavailable",
        "ServiceUnavailableException",
    }
)

_BY_CODE: dict[str, type[AwsError]] = {
    "ThrottlingException": ThrottledError,
    "Throttling": ThrottledError,
    "ThrottledException": ThrottledError,
    "TooManyRequestsException": ThrottledError,
    "RequestLimitExceeded": ThrottledError,
    "ServiceQuotaExceededException": QuotaExceededError,
    "HumanLoopQuotaExceededException": QuotaExceededError,
    "ResourceLimitExceeded": QuotaExceededError,
    "ResourceNotFoundException": NotFoundError,
    "ResourceNotFound": NotFoundError,
    "NoSuchKey": NotFoundError,
    "NoSuchBucket": NotFoundError,
    "404": NotFoundError,
    "ConflictException": ConflictError,
    "ResourceInUse": ConflictError,
    "ValidationException": AwsValidationError,
    "ValidationError": AwsValidationError,
    "InvalidParameterException": AwsValidationError,
    "AccessDeniedException": AccessDeniedError,
    "AccessDenied": AccessDeniedError,
    "UnrecognizedClientException": AccessDeniedError,
}


def _client_error_parts(exc: Any) -> tuple[str, str, int | None, str | None, str]:
    response: dict[str, Any] = getattr(exc, "response", {}) or {}
    error = response.get("Error", {}) or {}
    meta = response.get("ResponseMetadata", {}) or {}
    code = str(error.get("Code", "") or "")
    message = str(error.get("Message", "") or str(exc))
    status = meta.get("HTTPStatusCode")
    request_id = meta.get("RequestId")
    operation = str(getattr(exc, "operation_name", "") or "")
    return code, message, status if isinstance(status, int) else None, request_id, operation


def error_from_client_error(exc: BaseException, operation: str = "") -> AwsError:
    """Translate a botocore ``ClientError`` (or any exception with a ``response`` dict) into an AwsError leaf."""
    code, message, status, request_id, op = _client_error_parts(exc)
    cls = _BY_CODE.get(code)
    if cls is None:
        cls = QuotaExceededError if status == 402 else AwsServiceError
    return cls(message, code=code, operation=operation or op, status_code=status, request_id=request_id)


def is_retryable(exc: BaseException) -> bool:
    """True for throttling and 5xx errors (botocore ``ClientError`` or truthloop ``AwsError``)."""
    if isinstance(exc, AwsError):
        code, status = exc.code, exc.status_code
    else:
        code, _, status, _, _ = _client_error_parts(exc)
    if code in RETRYABLE_CODES:
        return True
    return status is not None and 500 <= status < 600


@contextmanager
def map_client_errors(operation: str = "") -> Iterator[None]:
    """Re-raise botocore ``ClientError`` (and boto3's transfer errors such as ``S3UploadFailedError``) inside the
    block as the matching :class:`AwsError` leaf, with the original error chained as ``__cause__``."""
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        yield
    except ClientError as exc:
        raise error_from_client_error(exc, operation) from exc
    except BotoCoreError as exc:
        raise AwsServiceError(str(exc), code=type(exc).__name__, operation=operation) from exc
    except Boto3Error as exc:
        # boto3's managed transfers wrap the ClientError that failed them (NoSuchBucket, AccessDenied, …)
        inner = exc.__cause__ or exc.__context__
        if isinstance(inner, ClientError):
            raise error_from_client_error(inner, operation) from exc
        raise AwsServiceError(str(exc), code=type(exc).__name__, operation=operation) from exc


def split_s3_uri(uri: str, what: str = "S3 URI", path: str = "$", *, key_required: bool = True) -> tuple[str, str]:
    """``s3://bucket/key`` → ``(bucket, key)``, the one S3 URI parser of the package.

    Raises :class:`ContractError` (a ``ValueError``) naming ``what`` (and ``path``, the JSON path it came from) when
    the URI is not ``s3://`` or has no bucket, or no key when ``key_required`` (an output prefix may be the bucket
    alone: ``s3://bucket`` gives ``("bucket", "")``).
    """
    bucket, _, key = uri[5:].partition("/") if uri.startswith("s3://") else ("", "", "")
    if not bucket or (key_required and not key):
        shape = "s3://bucket/key" if key_required else "s3://bucket[/prefix]"
        raise ContractError(f"{what} is not an {shape} URI: {uri!r}"[:300], path)
    return bucket, key
