"""Review budgets: at most N human loops per time window, counted in a :class:`BudgetStore` (in memory, or shared).

The :class:`~truthloop.review.client.ReviewClient` asks the budget before starting a loop; a refused loop is
deferred. The policy (:class:`~truthloop.review.policy.ReviewPolicy`) carries the budget and serialises it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from truthloop.review._policy_errors import _error

__all__ = ["Budget", "BudgetStore", "InMemoryBudgetStore", "budget_from_dict"]


class BudgetStore(Protocol):
    """Where budget counters live: in memory for one process, or a shared store (e.g. DynamoDB) for a fleet."""

    def acquire(self, counter: str, limit: int, expires_at: float) -> bool:
        """Add one to ``counter`` if it is below ``limit``; True when added."""

    def release(self, counter: str) -> None:
        """Give back one unit taken by :meth:`acquire` (the loop was not started after all)."""


class InMemoryBudgetStore:
    """A thread-safe in-process :class:`BudgetStore`; counters are forgotten once ``clock()`` passes their expiry."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._counts: dict[str, int] = {}
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def acquire(self, counter: str, limit: int, expires_at: float) -> bool:
        with self._lock:
            now = self._clock()
            for name in [n for n, at in self._expiry.items() if at < now]:
                self._counts.pop(name, None)
                self._expiry.pop(name, None)
            count = self._counts.get(counter, 0)
            if count >= limit:
                return False
            self._counts[counter] = count + 1
            self._expiry[counter] = expires_at
            return True

    def release(self, counter: str) -> None:
        with self._lock:
            if self._counts.get(counter, 0) > 0:
                self._counts[counter] -= 1

    def count(self, counter: str) -> int:
        with self._lock:
            return self._counts.get(counter, 0)


@dataclass(frozen=True)
class Budget:
    """At most ``max_loops`` human loops per fixed window of ``window_seconds`` (per ``scope``).

    The client asks the budget before starting a loop; a refused loop is *deferred*: its outcome says so and why,
    and carries the InputContent so it can be started later. ``scope`` defaults to the flow definition name.
    """

    max_loops: int
    window_seconds: int = 3600
    scope: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.max_loops, bool) or not isinstance(self.max_loops, int) or self.max_loops < 0:
            raise _error(f"max_loops must be a non-negative integer, got {self.max_loops!r}", "$.budget.max_loops")
        if isinstance(self.window_seconds, bool) or not isinstance(self.window_seconds, int) or self.window_seconds < 1:
            raise _error(
                f"window_seconds must be a positive integer, got {self.window_seconds!r}", "$.budget.window_seconds"
            )

    def window(self, now: float) -> tuple[int, float]:
        """The window index containing ``now`` and the time it ends."""
        index = int(now // self.window_seconds)
        return index, float((index + 1) * self.window_seconds)

    def counter(self, scope: str, now: float) -> tuple[str, float]:
        index, ends = self.window(now)
        return f"{self.scope or scope}#{self.window_seconds}#{index}", ends

    def describe(self) -> str:
        return f"{self.max_loops} loops per {self.window_seconds} s window"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"max_loops": self.max_loops, "window_seconds": self.window_seconds}
        if self.scope is not None:
            out["scope"] = self.scope
        return out


def budget_from_dict(data: Any, path: str) -> Budget:
    if not isinstance(data, Mapping):
        raise _error("budget must be an object", path)
    unknown = sorted(set(data) - {"max_loops", "window_seconds", "scope"})
    if unknown:
        raise _error(f"unknown budget keys {unknown}; expected max_loops, window_seconds, scope", path)
    scope = data.get("scope")
    if scope is not None and not isinstance(scope, str):
        raise _error("scope must be a string", f"{path}.scope")
    return Budget(
        max_loops=data.get("max_loops"),  # type: ignore[arg-type]
        window_seconds=data.get("window_seconds", 3600),
        scope=scope,
    )
