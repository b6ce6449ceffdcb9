"""Battles from judgement files: the arena JSONL format and truthloop's ranking / pairwise-preference manifests.

One JSON object per line, either

* an **arena battle** ``{"model_a": "...", "model_b": "...", "winner": "model_a" | "model_b" | "tie" |
  "tie (bothbad)"}`` (other fields such as ``question_id``, ``turn`` or ``language`` are ignored), or
* a **ranking or pairwise-preference manifest line** (a GT output line of a ``text-ranking`` or
  ``pairwise-preference`` job, or an A2I ``output.json``), read by the export's item reader with the one answer
  parser: each annotator's ranking is expanded into every pair of responses (equal ranks are a tie), per ranking
  dimension. The models are the line's ``responseIds`` (or ``modelA``/``modelB``).

A malformed line is reported with its line number and skipped; ``strict`` stops at the first.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from truthloop.exceptions import ContractError, ManifestLineError
from truthloop.manifest.reader import ManifestReader, Record

__all__ = ["OVERALL", "Battles", "read_battles"]

#: The dimension of arena battles and of pairwise lines (rankings name their own dimensions).
OVERALL = "overall"
_WINNERS = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5, "tie (bothbad)": 0.5}


@dataclass
class Battles:
    """Battles per dimension as index arrays into ``models``: ``first`` scored ``score`` against ``second``."""

    models: list[str] = field(default_factory=list)
    by_dimension: dict[str, tuple[list[int], list[int], list[float]]] = field(default_factory=dict)
    lines: int = 0
    skipped: int = 0
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def model(self, name: str) -> int:
        index = self._index.get(name)
        if index is None:
            index = self._index[name] = len(self.models)
            self.models.append(name)
        return index

    def add(self, dimension: str, a: str, b: str, score: float) -> None:
        first, second, scores = self.by_dimension.setdefault(dimension, ([], [], []))
        first.append(self.model(a))
        second.append(self.model(b))
        scores.append(score)

    def extend(self, dimension: str, a: list[str], b: list[str], scores: list[float]) -> None:
        first, second, kept = self.by_dimension.setdefault(dimension, ([], [], []))
        index = self._index
        for name in dict.fromkeys(a + b):
            if name not in index:
                self.model(name)
        first.extend(map(index.__getitem__, a))
        second.extend(map(index.__getitem__, b))
        kept.extend(scores)

    def arrays(self, dimension: str) -> tuple[list[str], Any, Any, Any]:
        """``(models, first, second, score)`` of one dimension, renumbered to the models it names."""
        first, second, scores = self.by_dimension[dimension]
        a, b = np.asarray(first, dtype=np.int64), np.asarray(second, dtype=np.int64)
        used, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
        names = [self.models[int(k)] for k in used]
        return names, inverse[: a.size], inverse[a.size :], np.asarray(scores, dtype=np.float64)

    @property
    def total(self) -> int:
        return sum(len(v[0]) for v in self.by_dimension.values())


def _arena(data: dict[str, Any], battles: Battles) -> None:
    a, b, winner = data.get("model_a"), data.get("model_b"), data.get("winner")
    if not isinstance(a, str) or not a or not isinstance(b, str) or not b:
        raise ContractError("model_a and model_b must be non-empty strings", "$")
    if a == b:
        raise ContractError(f"the battle names one model twice ({a!r})", "$.model_b")
    if winner not in _WINNERS:
        raise ContractError(
            f"winner must be model_a, model_b, tie or 'tie (bothbad)', got {winner!r}"[:160], "$.winner"
        )
    battles.add(OVERALL, a, b, _WINNERS[winner])


def _manifest(record: Record, battles: Battles) -> None:
    from truthloop.export.preference_items import expand_ranking, preference_items, ranking_dimensions

    data = record.data
    src = data.get("inputContent", data) if "humanAnswers" in data else data
    if isinstance(src, dict) and isinstance(src.get("input"), dict) and "prompt" not in src:
        src = src["input"]
    named = isinstance(src, dict) and ("responseIds" in src or ("modelA" in src and "modelB" in src))
    item = preference_items(record)
    if not named:
        raise ContractError("no model names on the line (expected responseIds, or modelA and modelB)", "$")
    if len(set(item.response_ids)) != len(item.response_ids):
        raise ContractError(f"the line names one model twice ({list(item.response_ids)})", "$")
    dimensions = [item.dimension] if item.kind == "pairwise" else ranking_dimensions(record)
    pending = []  # added only once the whole line has been read
    for dimension in dimensions:
        found = item if dimension == item.dimension else preference_items(record, dimension=dimension)
        name = OVERALL if found.kind == "pairwise" or found.dimension is None else found.dimension
        ids = found.response_ids
        for judgement in found.judgements:
            for better, worse, tie in expand_ranking(judgement.ranks, ties="keep"):
                pending.append((name, ids[better], ids[worse], 0.5 if tie else 1.0))
    for battle in pending:
        battles.add(*battle)


def read_battles(
    path: str | os.PathLike[str],
    *,
    strict: bool = False,
    on_skip: Callable[[ManifestLineError], None] | None = None,
    s3_client: Any | None = None,
) -> Battles:
    """Every battle in ``path`` (JSON Lines, a ``.json`` document, a folder or an ``s3://`` prefix).

    A bad line is passed to ``on_skip`` (its line number and a one-line reason) and skipped, or raised as
    :class:`ManifestLineError` when ``strict``.
    """
    battles = Battles()

    def skip(error: ManifestLineError) -> None:
        if strict:
            raise error
        battles.skipped += 1
        if on_skip is not None:
            on_skip(error)

    reader = ManifestReader(path, s3_client=s3_client, on_error=skip)
    whole_batch = msgspec.json.Decoder(list[_ArenaLine])
    for source, first, lines in reader.batches():
        # fast path: a batch of well-formed arena lines decodes at once into three strings per line
        try:
            parsed = whole_batch.decode(b"[" + b",".join(lines) + b"]")
        except (msgspec.DecodeError, msgspec.ValidationError):
            parsed = None
        if parsed is not None and all(x.model_a and x.model_a != x.model_b and x.winner in _WINNERS for x in parsed):
            battles.extend(
                OVERALL,
                [x.model_a for x in parsed],
                [x.model_b for x in parsed],
                [_WINNERS[x.winner] for x in parsed],
            )
            battles.lines += len(parsed)
            continue
        for number, raw in enumerate(lines, start=first):
            record = reader.decode((source, number, raw))
            if record is None:
                continue
            battles.lines += 1
            try:
                if "model_a" in record.data or "model_b" in record.data:
                    _arena(record.data, battles)
                else:
                    _manifest(record, battles)
            except ContractError as exc:
                skip(record.error(str(exc)))
    return battles


class _ArenaLine(msgspec.Struct):
    """The fields of an arena battle line that matter (others are ignored)."""

    model_a: str
    model_b: str
    winner: str
