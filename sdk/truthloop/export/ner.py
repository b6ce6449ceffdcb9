"""Named entities (``groundtruth/text-span``) → CoNLL-2003 or spaCy-style JSON Lines.

**Tokenisation (CoNLL).** A token is a run of word characters (``\\w+``: letters, digits, underscore, any script)
or one other non-space character (punctuation, symbols): ``re.findall(r"\\w+|[^\\w\\s]", text)``. A token
belongs to an entity when their character ranges overlap; the first token of an entity is tagged ``B-<label>``,
the next ones ``I-<label>`` (IOB2), the rest ``O``. When two entities overlap one token, the earlier entity wins.
Each manifest line is one sentence block; columns are ``token -X- _ tag`` (CoNLL-2003's four columns, with no
part-of-speech or chunk tags) and the file starts with ``-DOCSTART- -X- -X- O``.

**spaCy JSONL.** One object per line: ``{"text", "spans": [{"start", "end", "label"}]}`` with character offsets
(``end`` exclusive) as GT recorded them, ready for ``doc.char_span(start, end, label=label)``.

Both read the text from the line's inline ``source``; a line whose text is only in S3 (``source-ref``) is skipped.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

from truthloop.export._files import AtomicFile
from truthloop.export.base import Exporter, register
from truthloop.manifest._json import dumps_line
from truthloop.manifest.labels import SPAN_TYPES, Entity, SpanLabel, spans
from truthloop.manifest.reader import Record

__all__ = ["TOKEN_PATTERN", "ConllExporter", "SpacyExporter", "iob_tags", "tokenize"]

TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]")


def tokenize(text: str) -> list[tuple[str, int, int]]:
    """``(token, start, end)`` for each token of ``text`` by :data:`TOKEN_PATTERN`."""
    return [(m.group(), m.start(), m.end()) for m in TOKEN_PATTERN.finditer(text)]


def iob_tags(tokens: list[tuple[str, int, int]], entities: tuple[Entity, ...]) -> list[str]:
    """IOB2 tags for ``tokens`` from character-offset ``entities`` (sorted by start)."""
    tags = ["O"] * len(tokens)
    owner: list[int | None] = [None] * len(tokens)
    for index, entity in enumerate(entities):
        first = True
        for position, (_, start, end) in enumerate(tokens):
            if end <= entity.start or start >= entity.end or owner[position] is not None:
                continue
            owner[position] = index
            tags[position] = ("B-" if first else "I-") + entity.label
            first = False
    return tags


class _NerExporter(Exporter):
    label_types = SPAN_TYPES

    def __init__(self, out: Path, *, attribute: str | None = None, **options: Any) -> None:
        super().__init__(out, attribute=attribute, **options)
        self._file = AtomicFile(out)

    def _label(self, record: Record) -> tuple[str, SpanLabel]:
        attr = self.label_attribute(record)
        label = spans(record.data, attr)
        if label.text is None:
            raise record.error(f"{attr}: NER export needs the text inline in source (this line has only source-ref)")
        return label.text, label

    def close(self) -> list[Path]:
        return [self._file.commit()]

    def abort(self) -> None:
        self._file.discard()


@register
class ConllExporter(_NerExporter):
    name: ClassVar[str] = "conll"
    summary: ClassVar[str] = "named entities → CoNLL-2003 (token -X- _ IOB2-tag), one block per line"

    def __init__(self, out: Path, *, attribute: str | None = None, **options: Any) -> None:
        super().__init__(out, attribute=attribute, **options)
        self._file.write(b"-DOCSTART- -X- -X- O\n\n")

    def add(self, record: Record) -> int:
        text, label = self._label(record)
        tokens = tokenize(text)
        if not tokens:
            return 0
        tags = iob_tags(tokens, label.entities)
        block = "".join(f"{token} -X- _ {tag}\n" for (token, _, _), tag in zip(tokens, tags, strict=True))
        self._file.write((block + "\n").encode())
        return len(label.entities)


@register
class SpacyExporter(_NerExporter):
    name: ClassVar[str] = "spacy"
    summary: ClassVar[str] = 'named entities → spaCy-style JSONL {"text", "spans": [{"start","end","label"}]}'

    def add(self, record: Record) -> int:
        text, label = self._label(record)
        entities = [{"start": e.start, "end": e.end, "label": e.label} for e in label.entities]
        self._file.write(dumps_line({"text": text, "spans": entities}))
        return len(entities)
