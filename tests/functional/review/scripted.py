"""A real botocore A2I client whose HTTP layer answers from a script: botocore's retries run for real.

Each StartHumanLoop/DescribeHumanLoop request pops the next entry: an exception instance (raised as the send would
raise it), or ``(status, body)`` where an error body names its code (``{"__type": "ThrottlingException"}``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.config import Config


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


class ScriptedA2I:
    """``client`` sends nothing: every HTTP attempt is answered from ``script``; ``calls`` lists the operations."""

    def __init__(self, script: list[Any], *, retries: dict[str, Any] | None = None) -> None:
        config = Config(retries=retries) if retries is not None else None
        self.client = boto3.client(
            "sagemaker-a2i-runtime",
            region_name="us-east-1",
            aws_access_key_id="x",
            aws_secret_access_key="x",
            config=config,
        )
        self.script = list(script)
        self.calls: list[str] = []
        self.client.meta.events.register("before-send.sagemaker-a2i-runtime", self._answer)

    def _answer(self, request: Any, **_: Any) -> AWSResponse:
        operation = "StartHumanLoop" if request.method == "POST" else "DescribeHumanLoop"
        self.calls.append(operation)
        entry = self.script.pop(0) if self.script else (500, {"__type": "InternalServerException"})
        if isinstance(entry, BaseException):
            raise entry
        status, body = entry
        headers = {"content-type": "application/json", "x-amzn-requestid": f"req-{len(self.calls)}"}
        if status >= 400:
            headers["x-amzn-errortype"] = body.get("__type", "UnknownError")
            body = {"message": body.get("message", "scripted error")}
        return AWSResponse(request.url, status, headers, _Raw(json.dumps(body).encode()))
