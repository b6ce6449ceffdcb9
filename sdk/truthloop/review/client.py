"""``ReviewClient``: adapt a prediction, decide, and start an A2I human loop, safely under retries.

    client = ReviewClient()                      # boto3 sagemaker-a2i-runtime client created on first use
    client = ReviewClient(backend="service")     # ... or one for the truthloop service (truthloop.service.client)
    outcome = client.review("comprehend:detect_sentiment", response,
                            flow_definition_arn=FLOW, input={"text": text}, policy=policy)
    outcome.status   # "not_routed" | "started" | "already_started" | "deferred"

Retry safety: the loop name is a hash of the flow definition and the canonical InputContent
(:func:`truthloop.naming.human_loop_name`), and the InputContent is sent as canonical JSON, so a retried review of
the same prediction sends byte-identical input under the same name. A2I's answer to such a retry is undocumented
(aws-contracts.md §5): it may accept it, or raise ``ConflictException``. Both end as one loop: a conflict is
checked with ``DescribeHumanLoop`` (same flow definition; when the loop has finished, its ``output.json`` input is
compared too) and reported as ``already_started``; a loop of another flow or with other input raises
:class:`~truthloop.exceptions.HumanLoopConflictError`.

Throttling and 5xx errors are retried with exponential backoff and full jitter; the 402
``ServiceQuotaExceededException`` is never retried and surfaces as :class:`~truthloop.exceptions.QuotaExceededError`.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from truthloop.aws import is_retryable, map_client_errors
from truthloop.contracts._base import arn_resource_name, canonical_json
from truthloop.contracts.a2i import DescribeHumanLoopResponse
from truthloop.exceptions import (
    AwsError,
    AwsValidationError,
    BudgetExceededError,
    ConfigurationError,
    ConflictError,
    ContractError,
    HumanLoopConflictError,
    InputTooLargeError,
    NotFoundError,
    PolicyError,
)
from truthloop.naming import _slug
from truthloop.review.adapters import adapt, canonical_source
from truthloop.review.content import MAX_INPUT_CONTENT_BYTES, build_input_content, size_of
from truthloop.review.policy import BudgetStore, InMemoryBudgetStore, ReviewPolicy
from truthloop.review.types import ReviewDecision

__all__ = ["CONTENT_CLASSIFIERS", "ReviewClient", "ReviewOutcome"]

#: ``DataAttributes.ContentClassifiers`` values StartHumanLoop accepts.
CONTENT_CLASSIFIERS = ("FreeOfPersonallyIdentifiableInformation", "FreeOfAdultContent")
_FLOW_ARN = re.compile(r"arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:flow-definition/.+")

Status = Literal["not_routed", "started", "already_started", "deferred"]


@dataclass(frozen=True)
class ReviewOutcome:
    """What :meth:`ReviewClient.review` did with one prediction.

    ``status`` is ``not_routed`` (the policy kept the model's answer), ``started`` (a new human loop),
    ``already_started`` (a retry found the loop it started before) or ``deferred`` (the budget refused the loop;
    ``deferred_reason`` says why and ``input_content`` holds what would have been sent, to start it later).
    """

    source: str
    decision: ReviewDecision
    status: Status
    flow_definition_arn: str | None = None
    human_loop_name: str | None = None
    human_loop_arn: str | None = None
    human_loop_status: str | None = None
    input_content: Mapping[str, Any] | None = field(default=None, repr=False)
    input_ref: str | None = None
    attempts: int = 0
    deferred_reason: str | None = None

    @property
    def routed(self) -> bool:
        """True when a human loop exists for this prediction (new or from an earlier try)."""
        return self.status in ("started", "already_started")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": self.source,
            "status": self.status,
            "route": self.decision.route,
            "rules": list(self.decision.rules),
            "reasons": list(self.decision.reasons),
        }
        for key, value in (
            ("flowDefinitionArn", self.flow_definition_arn),
            ("humanLoopName", self.human_loop_name),
            ("humanLoopArn", self.human_loop_arn),
            ("humanLoopStatus", self.human_loop_status),
            ("inputRef", self.input_ref),
            ("deferredReason", self.deferred_reason),
        ):
            if value is not None:
                out[key] = value
        if self.attempts:
            out["attempts"] = self.attempts
        return out


#: Where human loops go: Amazon A2I, or the truthloop service deployed in the account.
Backend = Literal["a2i", "service"]


def default_a2i_client(backend: Backend = "a2i", *, endpoint_url: str | None = None) -> Any:
    """The ``sagemaker-a2i-runtime`` client a :class:`ReviewClient` uses, without botocore retries.

    ``backend="service"`` gives :func:`truthloop.service.client`'s client for the truthloop service (endpoint:
    ``endpoint_url``, else ``TRUTHLOOP_SERVICE_ENDPOINT``, else the stack's output).
    """
    from botocore.config import Config

    # truthloop retries itself (only throttling/5xx, never 402), so botocore must not retry underneath.
    config = Config(retries={"total_max_attempts": 1, "mode": "standard"})
    if backend == "service":
        from truthloop.service import client

        return client("sagemaker-a2i-runtime", endpoint_url=endpoint_url, config=config)
    import boto3

    return boto3.client("sagemaker-a2i-runtime", config=config)


def _default_s3_client() -> Any:
    import boto3

    return boto3.client("s3")


class ReviewClient:
    """Routes predictions to A2I human review (see the module docstring for the retry-safety guarantees).

    Parameters
    ----------
    a2i_client, s3_client:
        boto3 clients (``sagemaker-a2i-runtime``, ``s3``); created on first use when omitted. S3 is needed only
        for offloading large inputs and for checking a conflicting loop's finished input.
    backend:
        ``"a2i"`` (default): the omitted A2I client is boto3's, for Amazon A2I. ``"service"``: it is
        :func:`truthloop.service.client`'s, signed for the truthloop service deployed in the account.
    policy:
        The default :class:`ReviewPolicy` (``review`` may pass another).
    content_classifiers:
        Default ``DataAttributes.ContentClassifiers`` (``FreeOfPersonallyIdentifiableInformation`` is required
        for the public MTurk workforce).
    offload_bucket, offload_prefix:
        When set, an InputContent larger than 3 MiB is written to ``s3://offload_bucket/offload_prefix<sha256>.json``
        and the loop gets a small input with ``inputRef`` pointing there (plus the flagged predictions, reasons and
        rules). Without it such inputs raise :class:`InputTooLargeError`.
    max_attempts, base_delay_seconds, max_delay_seconds:
        Retry schedule for throttling and 5xx errors: full-jitter exponential backoff.
    budget_store:
        Where policy budgets count loops (default: in this process; use a shared store across a fleet).
    on_budget_exceeded:
        ``"defer"`` (default) reports the outcome as deferred; ``"raise"`` raises :class:`BudgetExceededError`.
    """

    def __init__(
        self,
        a2i_client: Any = None,
        s3_client: Any = None,
        *,
        policy: ReviewPolicy | None = None,
        content_classifiers: Iterable[str] = (),
        offload_bucket: str | None = None,
        offload_prefix: str = "truthloop/review-input/",
        max_attempts: int = 5,
        base_delay_seconds: float = 0.05,
        max_delay_seconds: float = 2.0,
        budget_store: BudgetStore | None = None,
        on_budget_exceeded: Literal["defer", "raise"] = "defer",
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        backend: Backend = "a2i",
    ) -> None:
        if backend not in ("a2i", "service"):
            raise ConfigurationError(f"backend must be 'a2i' or 'service', got {backend!r}")
        if max_attempts < 1:
            raise ConfigurationError(f"max_attempts must be at least 1, got {max_attempts}")
        if on_budget_exceeded not in ("defer", "raise"):
            raise ConfigurationError(f"on_budget_exceeded must be 'defer' or 'raise', got {on_budget_exceeded!r}")
        self._a2i = a2i_client
        self._s3 = s3_client
        self.backend: Backend = backend
        self.policy = policy
        self.content_classifiers = _classifiers(content_classifiers)
        self.offload_bucket = offload_bucket
        self.offload_prefix = offload_prefix
        self.max_attempts = max_attempts
        self.base_delay_seconds = base_delay_seconds
        self.max_delay_seconds = max_delay_seconds
        self.budget_store: BudgetStore = budget_store if budget_store is not None else InMemoryBudgetStore(clock)
        self.on_budget_exceeded = on_budget_exceeded
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.Random()

    # -------------------------------------------------------------------------------------------- clients

    @property
    def a2i(self) -> Any:
        if self._a2i is None:
            self._a2i = default_a2i_client(self.backend)
        return self._a2i

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = _default_s3_client()
        return self._s3

    # -------------------------------------------------------------------------------------------- review

    def decide(
        self,
        source: str,
        response: Any,
        *,
        input: Any = None,
        policy: ReviewPolicy | None = None,
        **adapter_options: Any,
    ) -> tuple[ReviewDecision, tuple[str, ...]]:
        """Adapt and decide without starting anything: the decision and the source's candidate labels."""
        chosen = self._policy(policy)
        adapted = adapt(source, response, **adapter_options)
        key = None if input is None else (lambda: canonical_json([adapted.source, input]))
        return chosen.decide(adapted.predictions, key=key), adapted.candidates

    def review(
        self,
        source: str,
        response: Any,
        *,
        flow_definition_arn: str,
        input: Any = None,
        policy: ReviewPolicy | None = None,
        content_classifiers: Iterable[str] | None = None,
        **adapter_options: Any,
    ) -> ReviewOutcome:
        """Adapt ``response`` of ``source``, apply the policy, and start a human loop when it routes.

        ``input`` is what the model saw (``{"text": ...}``, ``{"s3Uri": "s3://…"}``, the request's
        ``{"Document": {"S3Object": …}}``, …): it travels to the reviewer and keys deterministic sampling.
        ``adapter_options`` go to the adapter (e.g. ``class_names=`` for endpoints).
        """
        chosen = self._policy(policy)
        canonical = canonical_source(source)
        _check_flow_arn(flow_definition_arn)
        adapted = adapt(canonical, response, **adapter_options)
        key = None if input is None else canonical_json([canonical, input])
        decision = chosen.decide(adapted.predictions, key=key)
        if not decision.route:
            return ReviewOutcome(canonical, decision, "not_routed", flow_definition_arn=flow_definition_arn)
        content = build_input_content(
            canonical,
            decision,
            input=input,
            candidates=adapted.candidates,
            response=response,
            important_form_keys=chosen.important_form_keys() if canonical == "textract:analyze_document" else (),
        )
        return self.start_loop(
            content,
            flow_definition_arn=flow_definition_arn,
            decision=decision,
            policy=chosen,
            content_classifiers=content_classifiers,
        )

    def start_loop(
        self,
        content: Mapping[str, Any],
        *,
        flow_definition_arn: str,
        decision: ReviewDecision | None = None,
        policy: ReviewPolicy | None = None,
        content_classifiers: Iterable[str] | None = None,
    ) -> ReviewOutcome:
        """Start a loop for an already-built InputContent (budget, size limit, naming and retries apply)."""
        _check_flow_arn(flow_definition_arn)
        source = str(content.get("source", ""))
        decision = decision or ReviewDecision(True, ())
        classifiers = self.content_classifiers if content_classifiers is None else _classifiers(content_classifiers)
        text, size = size_of(content)
        sent: Mapping[str, Any] = content
        input_ref = None
        if size > MAX_INPUT_CONTENT_BYTES and self.offload_bucket is None:
            raise InputTooLargeError(size, MAX_INPUT_CONTENT_BYTES)
        flow_name = arn_resource_name(flow_definition_arn, "flow-definition")
        name = loop_name(flow_definition_arn, text)
        budget = policy.budget if policy is not None else None
        counter = None
        if budget is not None:
            counter, ends = budget.counter(flow_name, self._clock())
            if not self.budget_store.acquire(counter, budget.max_loops, ends + budget.window_seconds):
                reason = f"review budget of {budget.describe()} is used up; loop {name} deferred"
                if self.on_budget_exceeded == "raise":
                    raise BudgetExceededError(reason)
                return ReviewOutcome(
                    source,
                    decision,
                    "deferred",
                    flow_definition_arn=flow_definition_arn,
                    human_loop_name=name,
                    input_content=content,
                    deferred_reason=reason,
                )
        try:
            if size > MAX_INPUT_CONTENT_BYTES:
                sent, input_ref = self._offload(content, text, size)
                text, size = size_of(sent)
                if size > MAX_INPUT_CONTENT_BYTES:
                    raise InputTooLargeError(size, MAX_INPUT_CONTENT_BYTES)
            outcome = self._start(name, flow_definition_arn, text, sent, classifiers)
        except BaseException:
            if counter is not None:
                self.budget_store.release(counter)
            raise
        status, arn, loop_status, attempts = outcome
        if status == "already_started" and counter is not None:
            self.budget_store.release(counter)
        return ReviewOutcome(
            source,
            decision,
            status,
            flow_definition_arn=flow_definition_arn,
            human_loop_name=name,
            human_loop_arn=arn,
            human_loop_status=loop_status,
            input_content=sent,
            input_ref=input_ref,
            attempts=attempts,
        )

    # -------------------------------------------------------------------------------------------- internals

    def _policy(self, policy: ReviewPolicy | None) -> ReviewPolicy:
        chosen = policy or self.policy
        if chosen is None:
            raise PolicyError("no review policy: pass policy= to review() or to ReviewClient()")
        return chosen

    def _delay(self, attempt: int) -> float:
        cap = min(self.max_delay_seconds, self.base_delay_seconds * (2 ** (attempt - 1)))
        return self._rng.uniform(0.0, cap)

    def _call(self, operation: str, method: Callable[..., Any], **params: Any) -> tuple[Any, int]:
        """Call an AWS operation, retrying throttling/5xx with backoff; returns (response, attempts)."""
        attempt = 0
        while True:
            attempt += 1
            try:
                with map_client_errors(operation):
                    return method(**params), attempt
            except AwsError as exc:
                if isinstance(exc, ConflictError) or not is_retryable(exc) or attempt >= self.max_attempts:
                    exc.attempts = attempt  # type: ignore[attr-defined]
                    raise
                self._sleep(self._delay(attempt))

    def _start(
        self, name: str, flow_arn: str, text: str, content: Mapping[str, Any], classifiers: tuple[str, ...]
    ) -> tuple[Status, str | None, str | None, int]:
        params: dict[str, Any] = {
            "HumanLoopName": name,
            "FlowDefinitionArn": flow_arn,
            "HumanLoopInput": {"InputContent": text},
        }
        if classifiers:
            params["DataAttributes"] = {"ContentClassifiers": list(classifiers)}
        try:
            response, attempts = self._call("StartHumanLoop", self.a2i.start_human_loop, **params)
        except ConflictError as exc:
            return self._already_started(name, flow_arn, content, getattr(exc, "attempts", 1), str(exc))
        except AwsValidationError as exc:
            # An undocumented variant: some AWS paths report a reused name as a validation error.
            if "already exist" not in exc.message.lower():
                raise
            return self._already_started(name, flow_arn, content, getattr(exc, "attempts", 1), str(exc))
        arn = response.get("HumanLoopArn") if isinstance(response, Mapping) else None
        return "started", arn, "InProgress", attempts

    def _already_started(
        self, name: str, flow_arn: str, content: Mapping[str, Any], attempts: int, conflict: str
    ) -> tuple[Status, str | None, str | None, int]:
        try:
            raw, _ = self._call("DescribeHumanLoop", self.a2i.describe_human_loop, HumanLoopName=name)
        except NotFoundError:
            raise HumanLoopConflictError(
                f"StartHumanLoop reported a conflict for {name!r} ({conflict}) but DescribeHumanLoop finds no such "
                "loop",
                code="ConflictException",
                operation="StartHumanLoop",
            ) from None
        try:
            described = DescribeHumanLoopResponse.parse(raw)
        except ContractError as exc:
            raise HumanLoopConflictError(
                f"cannot read DescribeHumanLoop for {name!r}: {exc}", operation="DescribeHumanLoop"
            ) from None
        if described.flow_definition_arn != flow_arn:
            raise HumanLoopConflictError(
                f"human loop {name!r} already exists for flow definition {described.flow_definition_arn}, "
                f"not {flow_arn}",
                code="ConflictException",
                operation="StartHumanLoop",
            )
        if described.output_s3_uri and not self._same_finished_input(described.output_s3_uri, content):
            raise HumanLoopConflictError(
                f"human loop {name!r} already exists with different input (see {described.output_s3_uri})",
                code="ConflictException",
                operation="StartHumanLoop",
            )
        return "already_started", described.human_loop_arn, described.human_loop_status, attempts

    def _same_finished_input(self, output_uri: str, content: Mapping[str, Any]) -> bool:
        """Compare a finished loop's ``output.json`` input with ours; unreadable output counts as the same
        (the loop name is a hash of the input, so a name match already implies it)."""
        if not output_uri.startswith("s3://") or "/" not in output_uri[5:]:
            return True
        bucket, key = output_uri[5:].split("/", 1)
        try:
            with map_client_errors("GetObject"):
                body = self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            existing = json.loads(body).get("inputContent")
        except (AwsError, ValueError, AttributeError):
            return True
        if isinstance(existing, str):
            try:
                existing = json.loads(existing)
            except ValueError:
                return True
        return bool(canonical_json(existing) == canonical_json(content))

    def _offload(self, content: Mapping[str, Any], text: str, size: int) -> tuple[dict[str, Any], str]:
        body = text.encode("utf-8")
        digest = hashlib.sha256(body).hexdigest()
        key = f"{self.offload_prefix}{digest}.json"
        uri = f"s3://{self.offload_bucket}/{key}"
        self._call(
            "PutObject",
            self.s3.put_object,
            Bucket=self.offload_bucket,
            Key=key,
            Body=body,
            ContentType="application/json",
        )
        flagged = [p for p in content.get("predictions", []) if isinstance(p, Mapping) and p.get("flagged")]
        pointer: dict[str, Any] = {
            k: content[k]
            for k in ("truthloop", "source", "candidates", "reasons", "rules", "aiServiceRequest", "humanLoopContext")
            if k in content
        }
        pointer["predictions"] = flagged
        pointer["inputRef"] = {"s3Uri": uri, "sha256": digest, "bytes": size}
        return pointer, uri


@lru_cache(maxsize=64)
def _name_parts(flow_definition_arn: str) -> tuple[str, str]:
    flow_name = arn_resource_name(flow_definition_arn, "flow-definition")
    prefix = _slug(flow_name, lower=True)[:30].strip("-") or "loop"
    head = f"[{canonical_json(prefix)},{canonical_json(flow_name)},"
    slug = _slug(prefix, lower=True)[: 63 - _DIGEST_CHARS - 1].strip("-")
    return head, slug


_DIGEST_CHARS = 32


def loop_name(flow_definition_arn: str, input_text: str) -> str:
    """:func:`truthloop.naming.human_loop_name` for an InputContent already serialised with ``canonical_json``.

    Identical to ``human_loop_name(flow, content)`` (a test holds them equal) without serialising the content a
    second time: ``canonical_json([prefix, flow, content])`` is ``[<prefix>,<flow>,<text>]``.
    """
    head, slug = _name_parts(flow_definition_arn)
    digest = hashlib.sha256(f"{head}{input_text}]".encode()).hexdigest()[:_DIGEST_CHARS]
    return f"{slug}-{digest}" if slug else digest


def _classifiers(values: Iterable[str]) -> tuple[str, ...]:
    out = tuple(dict.fromkeys(values))
    bad = [v for v in out if v not in CONTENT_CLASSIFIERS]
    if bad:
        raise ConfigurationError(f"unknown content classifiers {bad}; expected some of {list(CONTENT_CLASSIFIERS)}")
    return out


def _check_flow_arn(arn: str) -> None:
    if not isinstance(arn, str) or len(arn) > 1024 or not _FLOW_ARN.fullmatch(arn):
        raise ConfigurationError(
            f"invalid flow definition ARN {arn!r}: expected arn:aws:sagemaker:<region>:<account>:flow-definition/<name>"
        )
