"""Service errors of the emulator, rendered exactly as AWS renders them on the wire.

An :class:`ApiError` carries the error code botocore will report (``ValidationException``, ``ResourceNotFound``,
…), the message and the HTTP status. :mod:`truthloop.local.protocol` turns it into the response each protocol
uses (REST-JSON: ``x-amzn-ErrorType`` header plus a JSON body; JSON 1.1: a ``__type`` body).
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "conflict",
    "in_use",
    "limit_exceeded",
    "not_found",
    "quota_exceeded",
    "throttled",
    "validation",
]


class ApiError(Exception):
    """An AWS service error: ``code`` as botocore reports it, ``message``, HTTP ``status``."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        self.code = code
        self.message = message
        self.status = status
        super().__init__(f"{code}: {message}")

    def __repr__(self) -> str:
        return f"ApiError({self.code!r}, {self.message!r}, {self.status})"


def validation(message: str) -> ApiError:
    """``ValidationException`` (HTTP 400) for both services."""
    return ApiError("ValidationException", message, 400)


def not_found(message: str, *, a2i: bool) -> ApiError:
    """A2I: ``ResourceNotFoundException`` (404); SageMaker: ``ResourceNotFound`` (400)."""
    return ApiError("ResourceNotFoundException", message, 404) if a2i else ApiError("ResourceNotFound", message, 400)


def conflict(message: str) -> ApiError:
    """A2I ``ConflictException`` (409): same loop name, different input."""
    return ApiError("ConflictException", message, 409)


def quota_exceeded(message: str) -> ApiError:
    """A2I ``ServiceQuotaExceededException`` (HTTP 402, never retried by botocore)."""
    return ApiError("ServiceQuotaExceededException", message, 402)


def throttled(message: str = "Rate exceeded", *, a2i: bool) -> ApiError:
    """``ThrottlingException``: HTTP 429 on A2I, 400 on SageMaker (JSON 1.1 services use 400)."""
    return ApiError("ThrottlingException", message, 429 if a2i else 400)


def in_use(message: str) -> ApiError:
    """SageMaker ``ResourceInUse`` (400)."""
    return ApiError("ResourceInUse", message, 400)


def limit_exceeded(message: str) -> ApiError:
    """SageMaker ``ResourceLimitExceeded`` (400)."""
    return ApiError("ResourceLimitExceeded", message, 400)
