"""Shared pieces of the adapters: the :class:`Adapted` result and path-carrying checks."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeGuard

from truthloop.exceptions import AdapterError, ContractError
from truthloop.review.types import Prediction

__all__ = ["Adapted", "AdapterFn", "as_contract", "fail", "is_number", "strip_metadata", "unit"]


@dataclass(frozen=True, slots=True)
class Adapted:
    """What an adapter returns: the predictions and, when the source defines them, the labels a reviewer may pick."""

    source: str
    predictions: tuple[Prediction, ...]
    candidates: tuple[str, ...] = ()


AdapterFn = Callable[..., Adapted]


def fail(message: str, path: str = "$") -> AdapterError:
    """An :class:`AdapterError` naming the JSON path of the problem (raise the result)."""
    return AdapterError(message, path)


@contextmanager
def as_contract(source: str) -> Iterator[None]:
    """Re-raise a contract parsing error as an :class:`AdapterError` with the same JSON path."""
    try:
        yield
    except AdapterError:
        raise
    except ContractError as exc:
        raise AdapterError(f"{source} response: {exc.message}", exc.path) from None


def unit(value: Any, path: str, scale: float = 1.0) -> float:
    """A confidence on ``0..scale`` as a float on 0..1; raises :class:`AdapterError` naming ``path`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(f"expected a number, got {type(value).__name__}", path)
    number = float(value)
    if not math.isfinite(number) or number < 0.0 or number > scale:
        raise fail(f"confidence {value!r} is outside 0..{scale:g}", path)
    return number / scale if scale != 1.0 else number


def strip_metadata(response: Any) -> Any:
    """A boto3 response without ``ResponseMetadata`` (kept for everything else)."""
    if isinstance(response, Mapping) and "ResponseMetadata" in response:
        return {k: v for k, v in response.items() if k != "ResponseMetadata"}
    return response


def is_number(value: Any, high: float) -> TypeGuard[float]:
    """True for an int/float (not bool, not NaN) within ``0..high``: the fast paths' acceptance check."""
    return (type(value) is float or type(value) is int) and 0.0 <= value <= high
