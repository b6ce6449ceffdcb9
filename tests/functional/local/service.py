"""`truthloop service local` (LocalService: the service's real Lambda handlers on one loopback port, over moto)
offered to the functional suite as what its tests use of a LocalBackend.

The service has no admin API: the clock is moved and the engine waited for in-process (the handlers run in this
process, and ``current_service()`` is the very service they use); status events are read from the SQS queue an
EventBridge rule of the emulated deployment sends them to. Simulated workers are issued over HTTP by service local's
local-only ``/_truthloop/workers`` route (``crowd()`` in helpers), other workers in-process.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.functional.local.stores import STORES
from truthloop.exceptions import LocalBackendError
from truthloop.local.config import LambdaConfig
from truthloop.local.runtime import Runtime
from truthloop.local.sagemaker import SageMakerService
from truthloop.local.storage import Storage
from truthloop.service.entry import current_service
from truthloop.service.local import LocalService

#: what the `backend` fixture runs each test on: the local backend on its two stores, and the service
BACKENDS = (*STORES, "service")

#: set for the handlers while the service runs (powertools would log every invocation at INFO otherwise)
_HANDLER_ENV = {"POWERTOOLS_LOG_LEVEL": "WARNING", "POWERTOOLS_SERVICE_NAME": "truthloop-test"}


def local_only(reason: str) -> pytest.MarkDecorator:
    """Run a test (or, as ``pytestmark``, a module) on the local backend's stores only; ``reason`` says why the
    service is not the subject (kept in the code where it opts out)."""
    assert reason, "say why the service does not run this"
    return pytest.mark.parametrize("backend", STORES, indirect=True)


@dataclass(frozen=True)
class ServiceConfig:
    """The part of BackendConfig the tests read."""

    data_dir: Path
    claim_lease_seconds: float
    storage: str = "service"


class ServiceBackend:
    """A running LocalService with LocalBackend's test-facing surface."""

    @property
    def admin_token(self) -> str:
        """Service local's LOCAL-ONLY token: it issues workers (``/_truthloop/workers``), no other admin API."""
        return self.service.admin_token

    def __init__(self, service: LocalService) -> None:
        self.service = service
        self.config = ServiceConfig(service.data_dir, self.runtime.config.claim_lease_seconds)
        self._events: list[dict[str, Any]] = []
        self._sqs = boto3.session.Session(
            aws_access_key_id="x", aws_secret_access_key="x", region_name=service.region
        ).client("sqs", endpoint_url=service.endpoint_url)

    @property
    def endpoint_url(self) -> str:
        return self.service.endpoint_url

    @property
    def portal_url(self) -> str:
        return self.service.portal_url

    @property
    def worker_tokens(self) -> dict[str, str]:
        return self.service.worker_tokens

    @property
    def runtime(self) -> Runtime:
        return current_service().runtime

    @property
    def storage(self) -> Storage:
        return current_service().storage

    @property
    def sagemaker(self) -> SageMakerService:
        return current_service().sagemaker

    def client_env(self) -> dict[str, str]:
        return self.service.client_env()

    @contextlib.contextmanager
    def environment(self) -> Iterator[dict[str, str]]:
        env = self.client_env()
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            yield env
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value

    def issue_worker(self, name: str, *, simulated: bool = False) -> str:
        _, token = current_service().workers.issue(name, simulated=simulated)
        return token

    def advance_clock(self, seconds: float) -> None:
        """Move the service's clock (its runtime's, in this process) and run the scheduled sweep at once."""
        self.runtime.clock_offset += seconds
        self.service.driver.sweep()

    def _busy(self) -> int:
        """Engine messages visible or being handled (delayed ones are not due yet, as the local engine's are not)."""
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        queue = self.service.driver.queue_url
        attributes = self._sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=names)["Attributes"]
        return sum(int(attributes.get(name, 0)) for name in names)

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Sweep and let the engine handler drain the queue until a sweep finds nothing to do."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            outcome = self.service.driver.sweep()
            while self._busy() and time.monotonic() < deadline:
                time.sleep(0.05)
            if not outcome["changed"] and not outcome["enqueued"] and not self._busy():
                return
        raise LocalBackendError(f"the service did not become idle within {timeout} s")

    def events(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        """Every status event EventBridge delivered so far, in the shape of the local backend's /events records."""
        deployment = self.service.deployment
        assert deployment is not None and deployment.capture_url
        while True:
            batch = self._sqs.receive_message(QueueUrl=deployment.capture_url, MaxNumberOfMessages=10)
            messages = batch.get("Messages", [])
            if not messages:
                break
            for message in messages:
                event = json.loads(message["Body"])
                self._events.append({"detailType": event["detail-type"], "event": event, "delivered": True})
                self._sqs.delete_message(QueueUrl=deployment.capture_url, ReceiptHandle=message["ReceiptHandle"])
        return [e for e in self._events if detail_type is None or e["detailType"] == detail_type]


@contextlib.contextmanager
def running_service(data_dir: Path, *, lambdas: Mapping[str, LambdaConfig] | None = None) -> Iterator[ServiceBackend]:
    """One LocalService for a test module (it owns process environment variables: one at a time per process)."""
    saved = {k: os.environ.get(k) for k in _HANDLER_ENV}
    os.environ.update(_HANDLER_ENV)
    try:
        with LocalService(port=0, data_dir=data_dir, workers=2, sweep_seconds=1.0, lambdas=lambdas) as service:
            yield ServiceBackend(service)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
