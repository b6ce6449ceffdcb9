"""JSON through msgspec: the same decoder everywhere, typed decoders for hot paths, UTF-8 output."""

from __future__ import annotations

from typing import Any

import msgspec

__all__ = ["DecodeError", "decode", "dumps_line", "encode"]

DecodeError = msgspec.DecodeError

decode = msgspec.json.Decoder().decode
encode = msgspec.json.Encoder().encode


def dumps_line(value: Any) -> bytes:
    """``value`` as one JSON Lines line (compact, UTF-8, newline-terminated)."""
    return encode(value) + b"\n"
