"""The policy error with its JSON path, shared by the policy's rules, budget and serialisation."""

from __future__ import annotations

from truthloop.exceptions import PolicyError

__all__ = ["_error"]


def _error(message: str, path: str = "$", *, absolute: bool = False) -> PolicyError:
    """A :class:`PolicyError` carrying ``path`` (``absolute``: the path is already from the policy's root)."""
    error = PolicyError(f"{path}: {message}")
    error.path = path  # type: ignore[attr-defined]
    error.reason = message  # type: ignore[attr-defined]
    error.absolute = absolute  # type: ignore[attr-defined]
    return error
