"""Parse the attribute values crowd elements read: JSON, or the JavaScript literals AWS's samples write.

``categories="['Cat', 'Dog']"``, ``exclusion-category="{ text: 'None of the above' }"`` and
``[{ name: "Gore", parentName: "Violence", }, ]`` are all accepted (single quotes, bare keys, trailing commas,
comments), exactly like the offline elements' ``TruthloopCrowd.parseLiteral``. Nothing is evaluated.
"""

from __future__ import annotations

import re
from typing import Any

from truthloop.exceptions import TemplateError

__all__ = ["LiteralError", "parse_literal"]

_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_IDENT = re.compile(r"[A-Za-z_$][\w$-]*")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "v": "\v", "0": "\0"}


class LiteralError(TemplateError, ValueError):
    """Raised when an attribute value is neither JSON nor a JavaScript literal; ``position`` is 0-based."""

    def __init__(self, message: str, position: int) -> None:
        self.position = position
        super().__init__(f"{message} at character {position}")


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def ws(self) -> None:
        s = self.s
        while True:
            while self.i < len(s) and s[self.i].isspace():
                self.i += 1
            if s.startswith("//", self.i):
                end = s.find("\n", self.i)
                self.i = len(s) if end < 0 else end
            elif s.startswith("/*", self.i):
                end = s.find("*/", self.i + 2)
                self.i = len(s) if end < 0 else end + 2
            else:
                return

    def fail(self, message: str) -> LiteralError:
        return LiteralError(message, self.i)

    def string(self) -> str:
        quote = self.s[self.i]
        self.i += 1
        out: list[str] = []
        while self.i < len(self.s) and self.s[self.i] != quote:
            c = self.s[self.i]
            self.i += 1
            if c == "\\" and self.i < len(self.s):
                c = self.s[self.i]
                self.i += 1
                if c == "u":
                    out.append(chr(int(self.s[self.i : self.i + 4], 16)))
                    self.i += 4
                elif c == "x":
                    out.append(chr(int(self.s[self.i : self.i + 2], 16)))
                    self.i += 2
                elif c != "\n":
                    out.append(_ESCAPES.get(c, c))
            else:
                out.append(c)
        if self.i >= len(self.s):
            raise self.fail("unterminated string")
        self.i += 1
        text = "".join(out)
        if any("\ud800" <= ch <= "\udfff" for ch in text):  # \uD83D\uDE00 escapes: join surrogate pairs
            text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return text

    def ident(self) -> str:
        match = _IDENT.match(self.s, self.i)
        if not match:
            found = repr(self.s[self.i]) if self.i < len(self.s) else "end of text"
            raise self.fail(f"unexpected {found}")
        self.i = match.end()
        return match.group()

    def value(self) -> Any:
        self.ws()
        if self.i >= len(self.s):
            raise self.fail("unexpected end of text")
        c = self.s[self.i]
        if c == "{":
            return self.obj()
        if c == "[":
            return self.arr()
        if c in "\"'":
            return self.string()
        number = _NUMBER.match(self.s, self.i)
        if number:
            self.i = number.end()
            text = number.group()
            return float(text) if any(ch in text for ch in ".eE") else int(text)
        word = self.ident()
        constants: dict[str, Any] = {"true": True, "false": False, "null": None, "undefined": None}
        if word in constants:
            return constants[word]
        raise LiteralError(f"unexpected word {word!r}", self.i - len(word))

    def obj(self) -> dict[str, Any]:
        self.i += 1
        out: dict[str, Any] = {}
        while True:
            self.ws()
            if self.s.startswith("}", self.i):
                self.i += 1
                return out
            key = self.string() if self.i < len(self.s) and self.s[self.i] in "\"'" else self.ident()
            self.ws()
            if not self.s.startswith(":", self.i):
                raise self.fail("expected ':'")
            self.i += 1
            out[key] = self.value()
            self.ws()
            if self.s.startswith(",", self.i):
                self.i += 1
            elif not self.s.startswith("}", self.i):
                raise self.fail("expected ',' or '}'")

    def arr(self) -> list[Any]:
        self.i += 1
        out: list[Any] = []
        while True:
            self.ws()
            if self.s.startswith("]", self.i):
                self.i += 1
                return out
            out.append(self.value())
            self.ws()
            if self.s.startswith(",", self.i):
                self.i += 1
            elif not self.s.startswith("]", self.i):
                raise self.fail("expected ',' or ']'")


def parse_literal(text: str) -> Any:
    """Parse ``text`` as JSON or a JavaScript object/array literal; raises :class:`LiteralError`."""
    parser = _Parser(text)
    result = parser.value()
    parser.ws()
    if parser.i < len(text):
        raise parser.fail("unexpected trailing text")
    return result
