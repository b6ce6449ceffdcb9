"""Text spans (NER): vote on exact spans, fall back to character-level votes where workers' boundaries differ."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from truthloop.exceptions import ConsolidationError

__all__ = ["SpanAggregator", "VotedSpan", "WorkerSpan"]


@dataclass(frozen=True)
class WorkerSpan:
    """One span marked by one worker: ``[start, end)`` in Unicode code points."""

    worker: Hashable
    label: Hashable
    start: int
    end: int


@dataclass(frozen=True)
class VotedSpan:
    """A consolidated span with the (weighted) share of workers who support it."""

    label: Hashable
    start: int
    end: int
    confidence: float
    exact: bool


class SpanAggregator:
    """Consolidate several workers' entity spans on one text.

    1. Spans of one label that overlap (across workers) form a cluster.
    2. In a cluster, the exact span marked by the largest (weighted) share of workers wins if that share is at
       least ``quorum`` — ties go to the longer span, then the earlier one.
    3. Otherwise the cluster is resolved character by character: characters covered by at least ``quorum`` of
       the workers form the consolidated span(s); confidence is the mean coverage over the span.
    4. Spans of different labels that still overlap are resolved by higher confidence, then longer, then
       earlier; the loser is dropped.

    Workers who saw the text but marked nothing count in the denominator: pass them in ``workers``.
    ``skills`` weights workers (default 1). This is plurality voting over spans with a token-level fallback,
    the usual way to merge crowd NER annotations (e.g. Rodrigues, Pereira and Ribeiro, "Sequence labeling
    with multiple annotators", Machine Learning 95, 2014, https://doi.org/10.1007/s10994-013-5411-2, use
    majority voting as the baseline).

    >>> spans = [WorkerSpan("a", "PER", 0, 5), WorkerSpan("b", "PER", 0, 5), WorkerSpan("c", "PER", 0, 3)]
    >>> SpanAggregator().aggregate(spans)
    [VotedSpan(label='PER', start=0, end=5, confidence=0.6666666666666666, exact=True)]
    """

    def __init__(self, quorum: float = 0.5, skills: Mapping[Hashable, float] | None = None) -> None:
        if not 0 < quorum <= 1:
            raise ConsolidationError(f"quorum must be in (0, 1], got {quorum}")
        self.quorum = quorum
        self.skills = dict(skills or {})

    def _weight(self, worker: Hashable) -> float:
        return self.skills.get(worker, 1.0)

    def aggregate(self, spans: Iterable[WorkerSpan], workers: Iterable[Hashable] | None = None) -> list[VotedSpan]:
        items = list(spans)
        for span in items:
            if span.start < 0 or span.end <= span.start:
                raise ConsolidationError(f"span of worker {span.worker!r} is empty or negative: {span}")
        everyone = list(dict.fromkeys([*(workers or []), *(s.worker for s in items)]))
        total = sum(self._weight(w) for w in everyone)
        if not items or total <= 0:
            return []
        chosen: list[VotedSpan] = []
        for label in dict.fromkeys(s.label for s in items):
            same = sorted((s for s in items if s.label == label), key=lambda s: (s.start, s.end))
            for cluster in self._clusters(same):
                chosen.extend(self._resolve(label, cluster, total))
        return self._drop_overlaps(chosen)

    @staticmethod
    def _clusters(spans: list[WorkerSpan]) -> list[list[WorkerSpan]]:
        clusters: list[list[WorkerSpan]] = []
        reach = -1
        for span in spans:
            if clusters and span.start < reach:
                clusters[-1].append(span)
                reach = max(reach, span.end)
            else:
                clusters.append([span])
                reach = span.end
        return clusters

    def _resolve(self, label: Hashable, cluster: list[WorkerSpan], total: float) -> list[VotedSpan]:
        votes: dict[tuple[int, int], dict[Hashable, float]] = {}
        for span in cluster:
            votes.setdefault((span.start, span.end), {})[span.worker] = self._weight(span.worker)
        ranked = sorted(votes.items(), key=lambda kv: (-sum(kv[1].values()), -(kv[0][1] - kv[0][0]), kv[0][0]))
        (start, end), supporters = ranked[0]
        share = sum(supporters.values()) / total
        if share + 1e-12 >= self.quorum:
            return [VotedSpan(label, start, end, min(share, 1.0), True)]
        # character-level vote: each worker covers a character at most once
        lo = min(s.start for s in cluster)
        hi = max(s.end for s in cluster)
        coverage = np.zeros(hi - lo)
        by_worker: dict[Hashable, np.ndarray] = {}
        for span in cluster:
            mask = by_worker.setdefault(span.worker, np.zeros(hi - lo, dtype=bool))
            mask[span.start - lo : span.end - lo] = True
        for worker, mask in by_worker.items():
            coverage += mask * self._weight(worker)
        share_per_char = coverage / total
        keep = share_per_char + 1e-12 >= self.quorum
        out = []
        edges = np.flatnonzero(np.diff(np.r_[0, keep.astype(np.int8), 0]))
        for a, b in zip(edges[0::2].tolist(), edges[1::2].tolist(), strict=True):
            out.append(VotedSpan(label, lo + a, lo + b, min(float(share_per_char[a:b].mean()), 1.0), False))
        return out

    @staticmethod
    def _drop_overlaps(spans: list[VotedSpan]) -> list[VotedSpan]:
        kept: list[VotedSpan] = []
        for span in sorted(spans, key=lambda s: (-s.confidence, -(s.end - s.start), s.start)):
            if all(span.end <= k.start or span.start >= k.end for k in kept):
                kept.append(span)
        return sorted(kept, key=lambda s: (s.start, s.end))
