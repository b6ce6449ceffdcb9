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

One retry policy: botocore's ``standard`` retry mode retries throttling, 5xx errors and dropped connections on the
clients truthloop creates (``max_attempts`` calls at most, with botocore's own jittered backoff); for a client you
pass in, configure it the same way (``Config(retries={"mode": "standard"})``). ``ReviewClient`` adds only what
botocore cannot know: resolving a ``ConflictException`` on the deterministic name, reporting a start that needed
retries as ``already_started``, and, on a client whose botocore retries are switched off, retrying connection
errors itself (safe because the name is deterministic) with full-jitter backoff. The 402
``ServiceQuotaExceededException`` is never retried and surfaces as :class:`~truthloop.exceptions.QuotaExceededError`.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from truthloop.aws import map_client_errors
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

__all__ = ["CONTENT_CLASSIFIERS", "ReviewClient", "ReviewOutcome", "check_flow_arn"]

#: ``DataAttributes.ContentClassifiers`` values StartHumanLoop accepts.
CONTENT_CLASSIFIERS = ("FreeOfPersonallyIdentifiableInformation", "FreeOfAdultContent")
_FLOW_ARN = re.compile(r"arn:aws[a-z\-]*:sagemaker:[a-z0-9\-]*:[0-9]{12}:flow-definition/.+")

Status = Literal["not_routed", "started", "already_started", "deferred"]


@dataclass(frozen=True)
class ReviewOutcome:
    """What :meth:`ReviewClient.review` did with one prediction.

    ``status`` is ``not_routed`` (the policy kept the model's answer), ``started`` (a new human loop),
    ``already_started`` (a retry found the loop it started before) or ``deferred`` (the budget refused the loop;
    ``deferred_reason`` says why, ``retry_at`` when the budget window reopens (epoch seconds) and
    ``input_content`` holds what would have been sent, to start it later).
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
    retry_at: float | None = None

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
            ("retryAt", self.retry_at),
        ):
            if value is not None:
                out[key] = value
        if self.attempts:
            out["attempts"] = self.attempts
        return out


#: Where human loops go: Amazon A2I, or the truthloop service deployed in the account.
Backend = Literal["a2i", "service"]


def _retry_config(max_attempts: int) -> Any:
    from botocore.config import Config

    # botocore's standard mode retries throttling, 5xx and connection errors, never the 402 quota error
    return Config(retries={"mode": "standard", "total_max_attempts": max_attempts})


def default_a2i_client(backend: Backend = "a2i", *, max_attempts: int = 5, endpoint_url: str | None = None) -> Any:
    """The ``sagemaker-a2i-runtime`` client a :class:`ReviewClient` makes (``max_attempts`` calls per operation).

    ``backend="service"`` gives :func:`truthloop.service.client`'s client for the truthloop service (endpoint:
    ``endpoint_url``, else ``TRUTHLOOP_SERVICE_ENDPOINT``, else the stack's output).
    """
    if backend == "service":
        from truthloop.service import client

        return client("sagemaker-a2i-runtime", endpoint_url=endpoint_url, config=_retry_config(max_attempts))
    import boto3

    return boto3.client("sagemaker-a2i-runtime", config=_retry_config(max_attempts))


def _default_s3_client(max_attempts: int) -> Any:
    import boto3

    return boto3.client("s3", config=_retry_config(max_attempts))


def _botocore_retries(client: Any) -> bool:
    """Whether botocore retries for ``client`` (any mode with more than one attempt)."""
    retries = getattr(getattr(getattr(client, "meta", None), "config", None), "retries", None) or {}
    if "total_max_attempts" in retries:
        return int(retries["total_max_attempts"]) > 1
    if "max_attempts" in retries:
        return int(retries["max_attempts"]) > 0
    return True  # botocore's defaults retry (legacy: 5 attempts; standard: 3)


def _is_connection_error(exc: BaseException) -> bool:
    from botocore.exceptions import ConnectionError as BotoConnectionError
    from botocore.exceptions import HTTPClientError

    return isinstance(exc, (BotoConnectionError, HTTPClientError))


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
    max_attempts:
        Calls per AWS operation at most: botocore's ``total_max_attempts`` on the clients truthloop creates.
    base_delay_seconds, max_delay_seconds:
        Full-jitter exponential backoff between the connection-error retries ``ReviewClient`` makes itself (only on
        a client whose botocore retries are off): attempt ``n`` waits ``uniform(0, min(max, base * 2**(n-1)))``.
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
        self._attempts = threading.local()
        self._watched: set[int] = set()

    # -------------------------------------------------------------------------------------------- clients

    @property
    def a2i(self) -> Any:
        if self._a2i is None:
            self._a2i = default_a2i_client(self.backend, max_attempts=self.max_attempts)
        return self._a2i

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = _default_s3_client(self.max_attempts)
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
        check_flow_arn(flow_definition_arn)
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
        check_flow_arn(flow_definition_arn)
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
                    retry_at=ends,
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
        status, arn, loop_status, attempts, existed = outcome
        if existed and counter is not None:  # the loop was counted when it was first started
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
        """Call an AWS operation once through botocore (which retries); returns (response, HTTP attempts).

        Only a connection error on a client without botocore retries is retried here (the loop name is
        deterministic, so sending the same start again is safe)."""
        own_retries = not _botocore_retries(getattr(method, "__self__", None))
        attempt = 0
        while True:
            attempt += 1
            try:
                with map_client_errors(operation):
                    response = method(**params)
            except AwsError as exc:
                cause = exc.__cause__
                if own_retries and cause is not None and _is_connection_error(cause) and attempt < self.max_attempts:
                    self._sleep(self._delay(attempt))
                    continue
                exc.attempts = attempt  # type: ignore[attr-defined]
                raise
            metadata = response.get("ResponseMetadata", {}) if isinstance(response, Mapping) else {}
            return response, attempt + int(metadata.get("RetryAttempts", 0) or 0)

    def _start(
        self, name: str, flow_arn: str, text: str, content: Mapping[str, Any], classifiers: tuple[str, ...]
    ) -> tuple[Status, str | None, str | None, int, bool]:
        """Start the loop: (status, arn, loop status, HTTP attempts, whether A2I said the name was taken)."""
        params: dict[str, Any] = {
            "HumanLoopName": name,
            "FlowDefinitionArn": flow_arn,
            "HumanLoopInput": {"InputContent": text},
        }
        if classifiers:
            params["DataAttributes"] = {"ContentClassifiers": list(classifiers)}
        self._watch(self.a2i)
        self._attempts.ambiguous = False
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
        # an earlier attempt whose reply was lost (5xx, dropped connection) may have created the loop already
        status: Status = "already_started" if getattr(self._attempts, "ambiguous", False) else "started"
        return status, arn, "InProgress", attempts, False

    def _watch(self, client: Any) -> None:
        """Note, per StartHumanLoop attempt botocore makes, whether the request may have reached A2I unanswered."""
        events = getattr(getattr(client, "meta", None), "events", None)
        if events is None or id(client) in self._watched:
            return
        self._watched.add(id(client))
        events.register(
            "response-received.sagemaker-a2i-runtime.StartHumanLoop",
            self._note_attempt,
            unique_id=f"truthloop-review-client-{id(self)}",
        )

    def _note_attempt(self, exception: BaseException | None = None, response_dict: Any = None, **_: Any) -> None:
        from botocore.exceptions import HTTPClientError

        status = response_dict.get("status_code", 0) if isinstance(response_dict, Mapping) else 0
        if isinstance(exception, HTTPClientError) or status >= 500:
            self._attempts.ambiguous = True

    def _already_started(
        self, name: str, flow_arn: str, content: Mapping[str, Any], attempts: int, conflict: str
    ) -> tuple[Status, str | None, str | None, int, bool]:
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
        return "already_started", described.human_loop_arn, described.human_loop_status, attempts, True

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


def check_flow_arn(arn: str) -> None:
    """Raise :class:`ConfigurationError` naming ``arn`` unless it is a flow definition ARN."""
    if not isinstance(arn, str) or len(arn) > 1024 or not _FLOW_ARN.fullmatch(arn):
        raise ConfigurationError(
            f"invalid flow definition ARN {arn!r}: expected arn:aws:sagemaker:<region>:<account>:flow-definition/<name>"
        )
