"""JSON through msgspec: the same decoder everywhere, typed decoders for hot paths, UTF-8 output."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["DecodeError", "decode", "dumps_line", "encode"]

DecodeError = msgspec.DecodeError

_decode = msgspec.json.Decoder().decode
encode = msgspec.json.Encoder().encode


def decode(data: bytes | str) -> Any:
    """``data`` decoded; raises :class:`DecodeError` for malformed JSON and for bytes that are not UTF-8.

    (msgspec itself raises :class:`UnicodeDecodeError` for a string that is not UTF-8.)
    """
    try:
        return _decode(data)
    except UnicodeDecodeError as exc:
        where = exc
        if isinstance(data, bytes):  # msgspec counts within the string: say where in the whole input
            try:
                data.decode()
            except UnicodeDecodeError as whole:
                where = whole
        bad = where.object[where.start : where.start + 1]
        raise DecodeError(f"not UTF-8 at byte {where.start} ({bad!r}: {where.reason})") from None


def dumps_line(value: Any) -> bytes:
    """``value`` as one JSON Lines line (compact, UTF-8, newline-terminated)."""
    return encode(value) + b"\n"
