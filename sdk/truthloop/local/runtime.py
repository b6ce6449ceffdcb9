"""The shared state every part of the local backend uses: configuration, storage, S3, clock, ARNs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from truthloop.arns import arn
from truthloop.local.config import BackendConfig, FaultConfig
from truthloop.local.errors import validation
from truthloop.local.events import EventBus
from truthloop.local.lambdas import LambdaRegistry
from truthloop.local.steps import StepRunner
from truthloop.local.storage import Storage

__all__ = ["Runtime", "decode_token", "encode_token", "to_datetime"]


def to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def encode_token(cursor: str, fingerprint: str) -> str:
    """An opaque NextToken bound to the query it continues."""
    raw = json.dumps({"c": cursor, "f": fingerprint}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_token(token: str | None, fingerprint: str) -> str | None:
    """The storage cursor inside ``token``; ValidationException for a token from elsewhere (as AWS)."""
    if token is None:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode("ascii")))
        cursor, expected = data["c"], data["f"]
    except (ValueError, KeyError, TypeError, UnicodeEncodeError):
        raise validation("The pagination token is invalid.") from None
    if expected != fingerprint or not isinstance(cursor, str):
        raise validation("The pagination token does not belong to this request; repeat the request without it.")
    return cursor


def fingerprint(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, default=str, sort_keys=True).encode()).hexdigest()[:16]


class _NoRunner:
    """Until a runner is attached, steps are only found by the next sweep."""

    def enqueue(self, step: str, item_id: str = "", *, delay_seconds: float = 0.0) -> None:
        return None


_NO_RUNNER = _NoRunner()


@dataclass
class Runtime:
    """What the services, the engine and the portal share."""

    config: BackendConfig
    storage: Storage
    s3_url: str
    s3_client_factory: Callable[[], Any]
    lambdas: LambdaRegistry
    events: EventBus
    base_url: str
    secret: bytes
    faults: FaultConfig = field(default_factory=FaultConfig)
    max_active_human_loops: int | None = None
    clock_offset: float = 0.0
    #: triggers engine steps after an API write (the local engine thread, or SQS messages in the service)
    steps: StepRunner = field(default_factory=lambda: _NO_RUNNER)
    #: Active flow definitions by ARN (StartHumanLoop's hot path); DeleteFlowDefinition clears an entry
    active_flows: dict[str, dict[str, Any]] = field(default_factory=dict)
    _s3_local: threading.local = field(default_factory=threading.local)

    def now(self) -> float:
        """Current time (epoch seconds); tests move it forward with the admin clock endpoint."""
        return time.time() + self.clock_offset

    @property
    def s3(self) -> Any:
        """A per-thread boto3 S3 client for the local S3 endpoint (boto3 clients are not shared across threads)."""
        client = getattr(self._s3_local, "client", None)
        if client is None:
            client = self.s3_client_factory()
            self._s3_local.client = client
        return client

    def arn(self, resource: str, name: str) -> str:
        return arn("sagemaker", self.config.region, self.config.account_id, f"{resource}/{name}")

    def sign(self, value: str) -> str:
        return hmac.new(self.secret, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    def verify(self, value: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(value), signature)

    @property
    def portal_url(self) -> str:
        return f"{self.base_url}/portal"

    @property
    def sub_domain(self) -> str:
        """What ``Workteam.SubDomain`` holds: the portal's address without the scheme, as on AWS."""
        return self.portal_url.split("://", 1)[1]
