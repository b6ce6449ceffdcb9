"""Free-text answers: pick the medoid, the answer most similar to all the others."""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from truthloop.consolidation._base import FloatArray
from truthloop.exceptions import ConsolidationError

__all__ = ["MedoidText", "TextMedoid", "similarity_matrix"]

_SPACE = re.compile(r"\s+")


def _normalise(text: str) -> str:
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _profile(text: str, n: int) -> Counter[str]:
    padded = f" {_normalise(text)} "
    if len(padded) < n:
        return Counter([padded])
    return Counter(padded[i : i + n] for i in range(len(padded) - n + 1))


def similarity_matrix(texts: Sequence[str], n: int = 3) -> FloatArray:
    """Cosine similarity of character ``n``-gram count vectors (case- and whitespace-insensitive)."""
    profiles = [_profile(t, n) for t in texts]
    norms = [math.sqrt(sum(c * c for c in p.values())) for p in profiles]
    size = len(texts)
    sims = np.eye(size)
    for i in range(size):
        for j in range(i + 1, size):
            small, large = (
                (profiles[i], profiles[j]) if len(profiles[i]) < len(profiles[j]) else (profiles[j], profiles[i])
            )
            dot = sum(c * large.get(g, 0) for g, c in small.items())
            value = (
                dot / (norms[i] * norms[j])
                if norms[i] and norms[j]
                else float(_normalise(texts[i]) == _normalise(texts[j]))
            )
            sims[i, j] = sims[j, i] = value
    return sims


@dataclass(frozen=True)
class MedoidText:
    """The chosen answer, its position among the inputs, and its mean similarity to the other answers."""

    text: str
    index: int
    confidence: float


class TextMedoid:
    """Consolidate free-text answers to one task by choosing the medoid.

    Each answer is compared with every other by the cosine similarity of character trigram counts (robust to
    case, spacing and small typos); the answer with the largest total similarity to the others wins, ties going
    to the earliest. ``confidence`` is the medoid's mean similarity to the others (0 for a single answer).
    Blank answers are ignored. The medoid (an actual answer, never a synthesis) follows L. Kaufman and
    P. J. Rousseeuw, "Finding Groups in Data", Wiley 1990, https://doi.org/10.1002/9780470316801 (ch. 2,
    partitioning around medoids); character n-gram similarity is that of W. B. Cavnar and J. M. Trenkle,
    "N-Gram-Based Text Categorization", SDAIR 1994.

    >>> TextMedoid().choose(["The cat sat.", "the cat sat", "A dog ran."]).text
    'The cat sat.'
    """

    def __init__(self, ngram: int = 3) -> None:
        if ngram < 1:
            raise ConsolidationError(f"ngram must be >= 1, got {ngram}")
        self.ngram = ngram

    def choose(self, texts: Sequence[str]) -> MedoidText:
        candidates = [(i, t) for i, t in enumerate(texts) if isinstance(t, str) and t.strip()]
        if not candidates:
            raise ConsolidationError("no non-blank answer to choose from")
        if len(candidates) == 1:
            index, text = candidates[0]
            return MedoidText(text, index, 0.0)
        sims = similarity_matrix([t for _, t in candidates], self.ngram)
        totals = sims.sum(axis=1) - 1.0
        best = int(np.argmax(np.round(totals, 12)))
        index, text = candidates[best]
        return MedoidText(text, index, float(totals[best] / (len(candidates) - 1)))
