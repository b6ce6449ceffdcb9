"""Lambda ARN → in-process callable: how the emulated Ground Truth calls pre- and post-annotation Lambdas.

* AWS's built-in ``PRE-<TaskType>`` / ``ACS-<TaskType>`` ARNs of every region map to truthloop's own
  implementations of those task types (:func:`truthloop.labeling.pre_annotate` / ``consolidate_batch``).
* A user's ARNs map to ``module:function`` handlers through :attr:`BackendConfig.lambdas`.
* Anything else is unmapped: the labeling job fails with a ``FailureReason`` naming the ARN; the service instead
  passes a ``remote`` resolver that calls Lambda's ``Invoke`` API (:class:`truthloop.service.invoker.LambdaInvoker`).
"""

from __future__ import annotations

import importlib
import logging
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from truthloop.arns import parse_builtin_lambda_arn
from truthloop.local.config import LambdaConfig
from truthloop.local.handlers import Handler, LambdaContext, as_lambda_json, environment, load_handler

__all__ = ["LambdaError", "LambdaFunction", "LambdaNotMapped", "LambdaRegistry", "handler_environment"]

log = logging.getLogger("truthloop.local.lambdas")


def handler_environment(client_env: Mapping[str, str]) -> dict[str, str]:
    """What in-process handlers see: the local endpoints and credentials, quiet powertools, no X-Ray."""
    return {
        **client_env,
        "POWERTOOLS_METRICS_NAMESPACE": "truthloop-local",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        "POWERTOOLS_SERVICE_NAME": "truthloop-local",
    }


class LambdaNotMapped(Exception):
    """Raised when an ARN is neither a built-in GT Lambda nor configured for the local backend."""

    def __init__(self, arn: str, reason: str = "") -> None:
        self.arn = arn
        detail = f" ({reason})" if reason else ""
        super().__init__(
            f"Lambda function {arn} is not available in the local backend{detail}; map it to a handler with "
            "'truthloop local up --lambda ARN=module:function' or the 'lambdas' configuration key"
        )


class LambdaError(Exception):
    """Raised when an in-process Lambda handler raised or returned something that is not JSON."""

    def __init__(self, arn: str, error: BaseException) -> None:
        self.arn = arn
        self.error = error
        super().__init__(f"Lambda function {arn} failed: {type(error).__name__}: {error}")


@dataclass(frozen=True)
class LambdaFunction:
    """A resolved Lambda: the callable, its environment, and whether it is one of AWS's built-ins."""

    arn: str
    call: Callable[..., Any]
    environment: Mapping[str, str]
    builtin_task_type: str | None = None
    kind: str | None = None
    timeout_seconds: float = 60.0

    @property
    def name(self) -> str:
        return self.arn.rsplit(":", 1)[-1]


def _labeling() -> Any:
    """The labeling package (issue 9): ``pre_annotate``, ``consolidate_batch``, ``task_type_for_builtin``."""
    try:
        return importlib.import_module("truthloop.labeling")
    except ImportError as exc:  # pragma: no cover - only before the labeling area exists
        raise LambdaNotMapped("", f"truthloop.labeling is not available: {exc}") from None


class LambdaRegistry:
    """Resolves and invokes Lambda ARNs in-process."""

    def __init__(
        self,
        mapping: Mapping[str, LambdaConfig],
        *,
        s3_client_factory: Callable[[], Any],
        search_paths: tuple[Path, ...] = (),
        base_environment: Mapping[str, str] | None = None,
        remote: Callable[[str], LambdaFunction] | None = None,
    ) -> None:
        self._mapping = dict(mapping)
        #: how an ARN that is neither mapped nor built in is reached (the service: Lambda's Invoke API)
        self._remote = remote
        #: variables every handler sees (local endpoints, dummy credentials, powertools defaults)
        self.base_environment = dict(base_environment or {})
        self._s3_client_factory = s3_client_factory
        self._search_paths = search_paths
        self._loaded: dict[str, Handler] = {}

    def register(self, arn: str, config: LambdaConfig) -> None:
        self._mapping[arn] = config
        self._loaded.pop(arn, None)

    def check(self) -> list[str]:
        """Load every configured handler now; one line per ARN whose handler cannot be loaded (empty: all fine)."""
        problems = []
        for arn in self._mapping:
            try:
                self.resolve(arn)
            except LambdaNotMapped as exc:
                problems.append(str(exc))
        return problems

    def resolve(self, arn: str) -> LambdaFunction:
        """The function behind ``arn``; raises :class:`LambdaNotMapped` naming it when there is none."""
        if arn in self._mapping:
            config = self._mapping[arn]
            handler = self._loaded.get(arn)
            if handler is None:
                try:
                    # module-scope clients (boto3.client("s3") in a handler) must be made for the local endpoints
                    with environment({**self.base_environment, **config.environment}):
                        handler = load_handler(config.handler, search_paths=self._search_paths)
                except Exception as exc:
                    raise LambdaNotMapped(arn, str(exc)) from None
                self._loaded[arn] = handler
            return LambdaFunction(arn, handler, config.environment, timeout_seconds=config.timeout_seconds)
        builtin = parse_builtin_lambda_arn(arn)
        if builtin is None:
            if self._remote is not None:
                return self._remote(arn)
            raise LambdaNotMapped(arn)
        labeling = _labeling()
        try:
            task_type = labeling.task_type_for_builtin(builtin.task_type)
        except Exception as exc:
            raise LambdaNotMapped(arn, f"truthloop has no implementation of {builtin.task_type}: {exc}") from None
        if builtin.kind == "PRE":

            def pre(event: Any, context: LambdaContext, labels: Any = None) -> Any:
                return labeling.pre_annotate(event, task_type=task_type, labels=labels)

            return LambdaFunction(arn, pre, {}, builtin_task_type=task_type, kind="PRE")

        def acs(event: Any, context: LambdaContext) -> Any:
            return labeling.consolidate_batch(event, task_type=task_type, s3_client=self._s3_client_factory())

        return LambdaFunction(arn, acs, {}, builtin_task_type=task_type, kind="ACS")

    def invoke(self, arn: str, event: Any, *, label_categories: Any = None) -> Any:
        """Call the function with a JSON copy of ``event``; its JSON-round-tripped result is returned.

        ``label_categories`` (the job's label-category ``labels``) reach AWS's built-in ``PRE-`` functions only:
        on AWS they know the job's categories without them being in the event; user functions get the event alone.
        """
        function = self.resolve(arn)
        context = LambdaContext(
            function_name=function.name, invoked_function_arn=arn, timeout_seconds=function.timeout_seconds
        )
        try:
            with (
                environment({**self.base_environment, **function.environment}),
                warnings.catch_warnings(record=True) as caught,
            ):
                if function.kind == "PRE" and label_categories is not None:
                    result = function.call(as_lambda_json(event), context, as_lambda_json(label_categories))
                else:
                    result = function.call(as_lambda_json(event), context)
            for warning in caught:  # on AWS these land in the function's log, not in the caller
                log.info("%s warned: %s", function.name, warning.message)
            return as_lambda_json(result)
        except LambdaNotMapped:
            raise
        except Exception as exc:
            raise LambdaError(arn, exc) from exc
