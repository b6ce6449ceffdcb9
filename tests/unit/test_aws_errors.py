"""botocore ClientError is mapped to truthloop errors at the boundary."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from truthloop import exceptions as exc
from truthloop.aws import is_retryable, map_client_errors


def _client_error(code: str, status: int) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} happened"},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "r-1"},
        },
        "StartHumanLoop",
    )


@pytest.mark.parametrize(
    ("code", "status", "expected", "retryable"),
    [
        ("ThrottlingException", 429, exc.ThrottledError, True),
        ("ServiceQuotaExceededException", 402, exc.QuotaExceededError, False),
        ("ConflictException", 409, exc.ConflictError, False),
        ("ResourceNotFoundException", 404, exc.NotFoundError, False),
        ("ValidationException", 400, exc.AwsValidationError, False),
        ("InternalServerException", 500, exc.AwsServiceError, True),
        ("SomethingNew", 503, exc.AwsServiceError, True),
        ("SomethingElse", 402, exc.QuotaExceededError, False),
    ],
)
def test_client_errors_map_to_typed_errors(code: str, status: int, expected: type, retryable: bool) -> None:
    # WHEN
    with pytest.raises(exc.AwsError) as info, map_client_errors("StartHumanLoop"):
        raise _client_error(code, status)
    # THEN
    assert type(info.value) is expected
    assert info.value.code == code
    assert info.value.status_code == status
    assert info.value.operation == "StartHumanLoop"
    assert info.value.request_id == "r-1"
    assert not isinstance(info.value, ClientError)
    assert is_retryable(info.value) is retryable
    assert is_retryable(_client_error(code, status)) is retryable


def test_every_leaf_has_a_raised_when_docstring() -> None:
    for name in exc.__all__:
        cls = getattr(exc, name)
        assert issubclass(cls, exc.TruthloopError)
        assert cls.__doc__ and cls.__doc__.strip(), name
