"""The engine's unit of work: one step on one item, and how steps are triggered.

A step is ``{"step": NAME, "id": ITEM}``. Every step reads its item from storage and does at most one conditional
transition, so a step delivered twice (SQS is at-least-once) changes nothing the second time, and a failing item
never holds another back:

* ``sweep`` (id: ignored): expire tasks and time out assignments, then name the follow-up steps that are due;
* ``activate_flow`` (id: flow definition name): ``Initializing`` → ``Active`` once its activation time passed;
* ``settle_task`` (id: task id): an A2I loop gets ``output.json`` and one final status with its event; a GT object
  joins the next consolidation batch;
* ``advance_job`` (id: labeling job name): start, dispatch, consolidate, finish or stop a labeling job;
* ``deliver_event`` (id: outbox event id): hand one event to its targets.

How a step is triggered is behind :class:`StepRunner`: the local backend wakes its engine thread; the service sends
an SQS message (see :mod:`truthloop.service`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from truthloop.exceptions import LocalBackendError

__all__ = [
    "STEPS",
    "RetryPolicy",
    "StepMessage",
    "StepMessageError",
    "StepRunner",
]

#: every step name, in the order the local engine runs them in one round
STEPS = ("sweep", "activate_flow", "settle_task", "advance_job", "deliver_event")


class StepMessageError(LocalBackendError):
    """Raised when an engine message is not ``{"step": <one of STEPS>, "id": <string>}``; names what is wrong."""


@dataclass(frozen=True)
class StepMessage:
    """One engine step on one item."""

    step: str
    id: str = ""

    def to_json(self) -> str:
        return json.dumps({"step": self.step, "id": self.id}, separators=(",", ":"))

    @classmethod
    def parse(cls, body: str | bytes) -> StepMessage:
        """Read a message body; :class:`StepMessageError` names the field that is wrong."""
        try:
            value: Any = json.loads(body)
        except ValueError as exc:
            raise StepMessageError(f"engine message is not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise StepMessageError(f"engine message must be a JSON object, got {type(value).__name__}")
        step, item = value.get("step"), value.get("id", "")
        if step not in STEPS:
            raise StepMessageError(f"engine message $.step must be one of {', '.join(STEPS)}; got {step!r}")
        if not isinstance(item, str) or (step != "sweep" and not item):
            raise StepMessageError(f"engine message $.id must be a non-empty string for step {step}; got {item!r}")
        return cls(step, item)


class StepRunner(Protocol):
    """Triggers steps: ``enqueue`` asks for ``step`` on ``item_id``, not before ``delay_seconds`` from now."""

    def enqueue(self, step: str, item_id: str = "", *, delay_seconds: float = 0.0) -> None: ...


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff for failing items: ``base * 2**(attempt-1)`` capped, ``max_attempts`` tries in all."""

    base_seconds: float = 1.0
    cap_seconds: float = 300.0
    max_attempts: int = 8

    def delay(self, attempts: int) -> float:
        """Seconds to wait after the ``attempts``-th failure (1-based)."""
        return float(min(self.cap_seconds, self.base_seconds * 2 ** max(attempts - 1, 0)))

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
