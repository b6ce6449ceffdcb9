"""Multi-label answers: one binary aggregation per label (binary relevance)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Self

import numpy as np

from truthloop.consolidation._answers import Answers, factorize, sort_key
from truthloop.consolidation._base import CategoricalAggregator, FloatArray
from truthloop.consolidation.majority import MajorityVote
from truthloop.exceptions import ConsolidationError

__all__ = ["MultiLabelAggregator"]


class MultiLabelAggregator:
    """Aggregate multi-label answers by running a binary aggregator per label ("binary relevance").

    Every answer ``(task, worker, labels)`` says, for each label of the vocabulary, "present" or "absent"; the
    binary aggregator made by ``method`` (default :class:`MajorityVote`) decides each label separately, so a
    label is chosen when its probability of being present exceeds ``threshold``. Workers' skills are
    estimated per label. Fitted: ``labels_`` (``{task: tuple of labels}`` in vocabulary order), ``probas_``
    (``{task: {label: P(present)}}``), ``vocabulary_``, ``proba_matrix_`` (tasks × labels).

    Binary relevance as a multi-label strategy: G. Tsoumakas and I. Katakis, "Multi-Label Classification: An
    Overview", IJDWM 3(3), 2007, https://doi.org/10.4018/jdwm.2007070101.

    >>> from truthloop.consolidation.multilabel import MultiLabelAggregator
    >>> rows = [("t1", "a", ["cat", "dog"]), ("t1", "b", ["cat"]), ("t1", "c", ["cat", "dog"])]
    >>> MultiLabelAggregator().fit(rows).labels_
    {'t1': ('cat', 'dog')}
    """

    tasks_: list[Hashable]
    vocabulary_: list[Hashable]
    proba_matrix_: FloatArray

    def __init__(
        self,
        method: Callable[[], CategoricalAggregator] = MajorityVote,
        threshold: float = 0.5,
        vocabulary: Sequence[Hashable] | None = None,
    ) -> None:
        if not 0 <= threshold < 1:
            raise ConsolidationError(f"threshold must be in [0, 1), got {threshold}")
        self.method = method
        self.threshold = threshold
        self.vocabulary = None if vocabulary is None else list(vocabulary)

    def fit(
        self,
        records: Iterable[tuple[Hashable, Hashable, Iterable[Hashable]]],
        gold: Mapping[Hashable, Iterable[Hashable]] | None = None,
    ) -> Self:
        rows = [(task, worker, frozenset(labels)) for task, worker, labels in records]
        task_codes, tasks = factorize(r[0] for r in rows)
        worker_codes, workers = factorize(r[1] for r in rows)
        seen = {label for r in rows for label in r[2]}
        vocabulary = list(self.vocabulary) if self.vocabulary is not None else sorted(seen, key=sort_key)
        unknown = seen - set(vocabulary)
        if unknown:
            raise ConsolidationError(f"labels outside the vocabulary: {sorted(map(str, unknown))}")
        self.tasks_ = tasks
        self.vocabulary_ = vocabulary
        self.proba_matrix_ = np.zeros((len(tasks), len(vocabulary)))
        if not rows:
            return self
        membership = np.array([[label in r[2] for label in vocabulary] for r in rows], dtype=np.int64).reshape(
            len(rows), len(vocabulary)
        )
        for j, label in enumerate(vocabulary):
            binary = Answers(task_codes, worker_codes, membership[:, j], tasks=tasks, workers=workers, classes=[0, 1])
            label_gold = None if gold is None else {t: int(label in set(v)) for t, v in gold.items()}
            model = self.method().fit(binary, label_gold)
            column = model.classes_.index(1)
            self.proba_matrix_[:, j] = model.proba_matrix_[:, column]
        return self

    @property
    def labels_(self) -> dict[Hashable, tuple[Hashable, ...]]:
        chosen = self.proba_matrix_ > self.threshold
        return {
            task: tuple(label for label, keep in zip(self.vocabulary_, row, strict=True) if keep)
            for task, row in zip(self.tasks_, chosen.tolist(), strict=True)
        }

    @property
    def probas_(self) -> dict[Hashable, dict[Hashable, float]]:
        return {
            task: dict(zip(self.vocabulary_, row, strict=True))
            for task, row in zip(self.tasks_, self.proba_matrix_.tolist(), strict=True)
        }
