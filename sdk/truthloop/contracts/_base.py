"""The :class:`Contract` base: parse tolerantly, build strictly."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from typing import Any, ClassVar, TypeVar

from truthloop.exceptions import ContractError

__all__ = ["Contract", "arn_resource_name", "canonical_json"]

C = TypeVar("C", bound="Contract")


class Contract(ABC):
    """A documented AWS payload. ``kind`` is a stable identifier such as ``gt.consolidation_event``."""

    kind: ClassVar[str]

    @classmethod
    @abstractmethod
    def parse(cls: type[C], obj: Any, path: str = "$") -> C:
        """Parse ``obj`` (already JSON-decoded), tolerating every documented and observed variant."""

    @abstractmethod
    def to_dict(self) -> Any:
        """Build the documented JSON form (the spelling AWS documents, not whatever was parsed)."""

    def to_json(self, **kwargs: Any) -> str:
        kwargs.setdefault("ensure_ascii", False)
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def parse_json(cls: type[C], text: str | bytes) -> C:
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError) as exc:
            raise ContractError(f"not valid JSON: {exc}") from None
        return cls.parse(obj)


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 kept. Used for hashing names and idempotency keys."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def arn_resource_name(arn: str, resource_type: str) -> str:
    """The name after ``<resource_type>/`` in an ARN (``labeling-job/foo`` → ``foo``); the input if absent."""
    marker = f":{resource_type}/"
    index = arn.find(marker)
    if index < 0:
        return arn
    return arn[index + len(marker) :]
