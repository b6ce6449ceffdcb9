"""Bounding boxes: cluster workers' boxes by IoU, fuse each cluster, keep clusters enough workers drew."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from truthloop.consolidation._base import FloatArray
from truthloop.exceptions import ConsolidationError

__all__ = ["BoxAggregator", "FusedBox", "WorkerBox", "iou_matrix"]


@dataclass(frozen=True)
class WorkerBox:
    """One box drawn by one worker, as corners ``(x1, y1) – (x2, y2)`` in pixels."""

    worker: Hashable
    label: Hashable
    x1: float
    y1: float
    x2: float
    y2: float

    @classmethod
    def from_ltwh(
        cls, worker: Hashable, label: Hashable, left: float, top: float, width: float, height: float
    ) -> WorkerBox:
        return cls(worker, label, left, top, left + width, top + height)


@dataclass(frozen=True)
class FusedBox:
    """A consolidated box: fused corners, the share of (weighted) workers who drew it, and a confidence."""

    label: Hashable
    x1: float
    y1: float
    x2: float
    y2: float
    support: float
    confidence: float
    workers: tuple[Hashable, ...]

    @property
    def ltwh(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2 - self.x1, self.y2 - self.y1)


def iou_matrix(a: FloatArray, b: FloatArray) -> FloatArray:
    """IoU of every box in ``a`` (``(n, 4)`` corners) with every box in ``b`` (``(m, 4)``)."""
    left = np.maximum(a[:, None, 0], b[None, :, 0])
    top = np.maximum(a[:, None, 1], b[None, :, 1])
    right = np.minimum(a[:, None, 2], b[None, :, 2])
    bottom = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    result: FloatArray = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    return result


class BoxAggregator:
    """Consolidate several workers' boxes on one image.

    Per class, boxes are visited from the most to the least trusted worker (``skills``, default 1 for all;
    ties keep input order) and each joins the cluster whose current fused box it overlaps most, if that IoU is
    at least ``iou_threshold`` and the cluster has no box of the same worker yet; otherwise it starts a new
    cluster. Each cluster is fused by weighted box fusion: corners are the skill-weighted mean of its members'.
    A cluster is kept when the weighted share of the image's workers who drew it (``support``) is at least
    ``quorum``. ``confidence`` = ``support`` × the mean IoU between members and the fused box.

    Workers who saw the image but drew nothing count in the denominator: pass them in ``workers``.

    Weighted box fusion: R. Solovyev, W. Wang and T. Gabruseva, "Weighted boxes fusion: Ensembling boxes from
    different object detection models", Image and Vision Computing 107, 2021,
    https://doi.org/10.1016/j.imavis.2021.104117.

    >>> boxes = [WorkerBox("a", "dog", 10, 10, 50, 50), WorkerBox("b", "dog", 12, 10, 52, 50)]
    >>> [(b.label, b.x1, b.support) for b in BoxAggregator().aggregate(boxes)]
    [('dog', 11.0, 1.0)]
    """

    def __init__(
        self, iou_threshold: float = 0.5, quorum: float = 0.5, skills: Mapping[Hashable, float] | None = None
    ) -> None:
        if not 0 < iou_threshold <= 1:
            raise ConsolidationError(f"iou_threshold must be in (0, 1], got {iou_threshold}")
        if not 0 <= quorum <= 1:
            raise ConsolidationError(f"quorum must be in [0, 1], got {quorum}")
        self.iou_threshold = iou_threshold
        self.quorum = quorum
        self.skills = dict(skills or {})

    def aggregate(self, boxes: Iterable[WorkerBox], workers: Iterable[Hashable] | None = None) -> list[FusedBox]:
        """Fused boxes for one image, by class (in order of first appearance) then left to right."""
        items = list(boxes)
        for box in items:
            if not (box.x2 >= box.x1 and box.y2 >= box.y1):
                raise ConsolidationError(f"box of worker {box.worker!r} has negative width or height: {box}")
        everyone = list(dict.fromkeys([*(workers or []), *(b.worker for b in items)]))
        total_weight = sum(self.skills.get(w, 1.0) for w in everyone)
        if not items or total_weight <= 0:
            return []
        out: list[FusedBox] = []
        for label in dict.fromkeys(b.label for b in items):
            same = [b for b in items if b.label == label]
            out.extend(self._fuse_class(label, same, total_weight))
        return out

    def _fuse_class(self, label: Hashable, boxes: list[WorkerBox], total_weight: float) -> list[FusedBox]:
        weights = np.array([self.skills.get(b.worker, 1.0) for b in boxes], dtype=np.float64)
        order = np.lexsort((np.arange(len(boxes)), -weights)).tolist()
        corners = np.array([[b.x1, b.y1, b.x2, b.y2] for b in boxes], dtype=np.float64)
        members: list[list[int]] = []
        fused = np.zeros((0, 4))
        for i in order:
            cluster = -1
            if len(members):
                ious = iou_matrix(corners[i : i + 1], fused)[0]
                taken = np.array([any(boxes[j].worker == boxes[i].worker for j in m) for m in members])
                ious[taken] = -1.0
                best = int(np.argmax(ious))
                if ious[best] >= self.iou_threshold:
                    cluster = best
            if cluster < 0:
                members.append([i])
                fused = np.vstack([fused, corners[i]])
            else:
                members[cluster].append(i)
                idx = members[cluster]
                fused[cluster] = np.average(corners[idx], axis=0, weights=np.maximum(weights[idx], 1e-12))
        result = []
        for cluster, idx in enumerate(members):
            support = float(weights[idx].sum() / total_weight)
            if support + 1e-12 < self.quorum:
                continue
            mean_iou = float(iou_matrix(corners[idx], fused[cluster : cluster + 1]).mean())
            x1, y1, x2, y2 = (float(v) for v in fused[cluster])
            result.append(
                FusedBox(
                    label=label,
                    x1=x1,
                    y1=y1,
                    x2=x2,
                    y2=y2,
                    support=min(support, 1.0),
                    confidence=min(support, 1.0) * mean_iou,
                    workers=tuple(boxes[j].worker for j in idx),
                )
            )
        result.sort(key=lambda b: (b.x1, b.y1))
        return result
