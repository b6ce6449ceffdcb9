"""botocore ClientError is mapped to truthloop errors at the boundary."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from truthloop import exceptions as exc
from truthloop.aws import is_retryable, map_client_errors, split_s3_uri
from truthloop.exceptions import ContractError


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


@pytest.mark.parametrize(
    ("uri", "key_required", "expected"),
    [
        ("s3://bucket/key", True, ("bucket", "key")),
        ("s3://bucket/a/b/c.json", True, ("bucket", "a/b/c.json")),
        ("s3://bucket", False, ("bucket", "")),
        ("s3://bucket/prefix", False, ("bucket", "prefix")),
    ],
)
def test_split_s3_uri_accepts(uri: str, key_required: bool, expected: tuple[str, str]) -> None:
    # GIVEN an s3:// URI WHEN it is split THEN bucket and key come back
    assert split_s3_uri(uri, key_required=key_required) == expected


@pytest.mark.parametrize(
    ("uri", "key_required"),
    [
        ("https://bucket/key", True),
        ("s3://", False),
        ("s3:///key", True),
        ("s3://bucket", True),
        ("s3://bucket/", True),
    ],
)
def test_split_s3_uri_names_what_and_where(uri: str, key_required: bool) -> None:
    # GIVEN a URI that is not s3://bucket/key WHEN it is split THEN the error names the field and its JSON path
    with pytest.raises(ContractError) as raised:
        split_s3_uri(uri, "S3OutputPath", "$.OutputConfig.S3OutputPath", key_required=key_required)
    assert raised.value.path == "$.OutputConfig.S3OutputPath"
    assert "S3OutputPath" in raised.value.message and repr(uri) in raised.value.message
    assert isinstance(raised.value, ValueError)
