"""Lambda's ``Invoke`` API as the service's way to call pre- and post-annotation and user Lambdas.

The local backend maps ARNs to in-process handlers (:class:`~truthloop.local.lambdas.LambdaRegistry`); the service
gives the same registry a ``remote`` resolver: an ARN that is not one of AWS's built-in task-type functions is invoked
with ``lambda:Invoke`` (synchronously, ``RequestResponse``), and a function error becomes
:class:`~truthloop.local.lambdas.LambdaError` naming the function, exactly as a local handler's exception does.
"""

from __future__ import annotations

import json
from typing import Any

from truthloop.local.lambdas import LambdaFunction

__all__ = ["LambdaInvokeError", "LambdaInvoker"]


class LambdaInvokeError(Exception):
    """Raised when an invoked function reported an error (``FunctionError``) or returned something that is not JSON."""


class LambdaInvoker:
    """Resolves an ARN to a :class:`LambdaFunction` whose call is a ``lambda:Invoke`` request."""

    def __init__(self, client: Any) -> None:
        self._client = client
        #: invocations made (the benchmark counts them)
        self.invocations = 0

    def __call__(self, arn: str) -> LambdaFunction:
        def call(event: Any, context: Any = None) -> Any:
            return self.invoke(arn, event)

        return LambdaFunction(arn, call, {})

    def invoke(self, arn: str, event: Any) -> Any:
        self.invocations += 1
        response = self._client.invoke(
            FunctionName=arn, InvocationType="RequestResponse", Payload=json.dumps(event).encode("utf-8")
        )
        raw = response["Payload"].read()
        if response.get("FunctionError"):
            detail = raw.decode("utf-8", errors="replace")[:1000]
            raise LambdaInvokeError(f"{response['FunctionError']} error: {detail}")
        try:
            return json.loads(raw) if raw else None
        except ValueError as exc:
            raise LambdaInvokeError(f"the function returned something that is not JSON: {exc}") from exc
