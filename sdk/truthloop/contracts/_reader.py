"""Path-tracking readers used by every contract parser.

Every access goes through :class:`Obj` so a problem is reported as a :class:`ContractError` naming the JSON path
(``$.payload.s3Uri``, ``$[3].annotations[0].workerId``). Key lookups are tolerant of the camelCase/PascalCase
split between AWS APIs and the payloads A2I writes (aws-contracts.md Appendix 5).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from truthloop.exceptions import ContractError

_MISSING: Any = object()


def child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if key.replace("_", "a").isalnum():
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


def _case_variants(name: str) -> tuple[str, ...]:
    if not name:
        return (name,)
    first = name[0]
    other = first.lower() if first.isupper() else first.upper()
    alt = other + name[1:]
    return (name,) if alt == name else (name, alt)


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def as_str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise ContractError(f"expected a string, got {type_name(value)}", path)
    return value


def as_number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        if isinstance(value, str):
            try:
                parsed = float(value)
            except ValueError:
                raise ContractError(f"expected a number, got string {value!r}", path) from None
            if math.isfinite(parsed):
                return parsed
        raise ContractError(f"expected a number, got {type_name(value)}", path)
    result = float(value)
    if not math.isfinite(result):
        raise ContractError("expected a finite number", path)
    return result


def as_int(value: Any, path: str) -> int:
    """An integer, also accepting integral floats and digit strings (class ids come both ways)."""
    if isinstance(value, bool):
        raise ContractError("expected an integer, got boolean", path)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise ContractError(f"expected an integer, got {type_name(value)} {value!r}"[:200], path)


def as_bool(value: Any, path: str) -> bool:
    """A boolean, also accepting the strings ``"true"``/``"false"`` and ``"yes"``/``"no"``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "yes"}:
        return True
    if isinstance(value, str) and value.strip().lower() in {"false", "no"}:
        return False
    raise ContractError(f"expected a boolean, got {type_name(value)}", path)


def as_datetime(value: Any, path: str) -> datetime:
    """A timestamp: a ``datetime`` (boto3), an ISO-8601 string, or epoch seconds."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ContractError("timestamp out of range", path) from None
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            raise ContractError(f"expected an ISO-8601 timestamp, got {value!r}"[:200], path) from None
    raise ContractError(f"expected a timestamp, got {type_name(value)}", path)


def iso(value: datetime) -> str:
    """ISO-8601 with millisecond precision and ``Z`` for UTC, the form AWS writes in JSON files."""
    if value.tzinfo is not None and value.utcoffset() is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
        return value.isoformat(timespec="milliseconds") + "Z"
    return value.isoformat(timespec="milliseconds")


def as_mapping(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ContractError(f"expected an object, got {type_name(value)}", path)
    for key in value:
        if not isinstance(key, str):
            raise ContractError(f"object keys must be strings, got {type_name(key)}", path)
    return dict(value)


def as_list(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise ContractError(f"expected an array, got {type_name(value)}", path)
    return value


def parse_json_text(text: Any, path: str) -> Any:
    if not isinstance(text, (str, bytes, bytearray)):
        raise ContractError(f"expected a JSON string, got {type_name(text)}", path)
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ContractError(f"not valid JSON: {exc}", path) from None


class Obj:
    """A JSON object being parsed, with its path. Lookups accept camelCase or PascalCase spellings."""

    __slots__ = ("data", "path")

    def __init__(self, value: Any, path: str = "$") -> None:
        self.data = as_mapping(value, path)
        self.path = path

    # -- lookup
    def _find(self, names: tuple[str, ...]) -> tuple[str, Any]:
        for name in names:
            for variant in _case_variants(name):
                if variant in self.data:
                    return variant, self.data[variant]
        return "", _MISSING

    def has(self, *names: str) -> bool:
        return self._find(names)[1] is not _MISSING

    def key_path(self, *names: str) -> str:
        found, _ = self._find(names)
        return child_path(self.path, found or names[0])

    def raw(self, *names: str, default: Any = _MISSING) -> Any:
        _found, value = self._find(names)
        if value is _MISSING or (value is None and default is not _MISSING):
            if default is _MISSING:
                raise ContractError("required field is missing", child_path(self.path, names[0]))
            return default
        return value

    def _opt(self, names: tuple[str, ...]) -> tuple[str, Any]:
        found, value = self._find(names)
        return child_path(self.path, found or names[0]), value

    # -- typed accessors
    def string(self, *names: str) -> str:
        return as_str(self.raw(*names), self.key_path(*names))

    def opt_str(self, *names: str) -> str | None:
        path, value = self._opt(names)
        return None if value is _MISSING or value is None else as_str(value, path)

    def text(self, *names: str) -> str | None:
        """A string that may also arrive as a number (version strings); ``None`` when absent."""
        path, value = self._opt(names)
        if value is _MISSING or value is None:
            return None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return as_str(value, path)

    def number(self, *names: str) -> float:
        return as_number(self.raw(*names), self.key_path(*names))

    def opt_number(self, *names: str) -> float | None:
        path, value = self._opt(names)
        return None if value is _MISSING or value is None else as_number(value, path)

    def integer(self, *names: str) -> int:
        return as_int(self.raw(*names), self.key_path(*names))

    def opt_int(self, *names: str) -> int | None:
        path, value = self._opt(names)
        return None if value is _MISSING or value is None else as_int(value, path)

    def opt_bool(self, *names: str) -> bool | None:
        path, value = self._opt(names)
        return None if value is _MISSING or value is None else as_bool(value, path)

    def opt_datetime(self, *names: str) -> datetime | None:
        path, value = self._opt(names)
        return None if value is _MISSING or value is None else as_datetime(value, path)

    def timestamp(self, *names: str) -> datetime:
        return as_datetime(self.raw(*names), self.key_path(*names))

    def obj(self, *names: str) -> Obj:
        return Obj(self.raw(*names), self.key_path(*names))

    def opt_obj(self, *names: str) -> Obj | None:
        path, value = self._opt(names)
        return None if value is _MISSING or value is None else Obj(value, path)

    def mapping(self, *names: str) -> dict[str, Any]:
        return as_mapping(self.raw(*names), self.key_path(*names))

    def opt_mapping(self, *names: str) -> dict[str, Any] | None:
        path, value = self._opt(names)
        return None if value is _MISSING or value is None else as_mapping(value, path)

    def array(self, *names: str) -> list[Any]:
        return as_list(self.raw(*names), self.key_path(*names))

    def opt_list(self, *names: str) -> list[Any] | None:
        path, value = self._opt(names)
        return None if value is _MISSING or value is None else as_list(value, path)

    def items(self, *names: str, required: bool = False) -> Iterator[tuple[Any, str]]:
        """Yield ``(item, path)`` for an array field; an absent optional field yields nothing."""
        path, value = self._opt(names)
        if value is _MISSING or value is None:
            if required:
                raise ContractError("required field is missing", path)
            return
        for index, item in enumerate(as_list(value, path)):
            yield item, child_path(path, index)

    def objs(self, *names: str, required: bool = False) -> list[Obj]:
        return [Obj(item, path) for item, path in self.items(*names, required=required)]

    def strs(self, *names: str, required: bool = False) -> tuple[str, ...]:
        return tuple(as_str(item, path) for item, path in self.items(*names, required=required))
