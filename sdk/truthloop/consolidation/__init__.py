"""Consolidation (truth inference) of crowd answers, numpy only, sklearn-style.

Categorical: :class:`MajorityVote`, :class:`Wawa`, :class:`DawidSkene`, :class:`OneCoinDawidSkene`,
:class:`GLAD`, :class:`MACE` and :class:`AutoSelect` (which picks between the Dawid–Skene variants from the
data, or majority vote when there is too little data per worker) on an :class:`Answers` table. Pairwise:
:class:`Comparisons` with :class:`BradleyTerry` / :class:`NoisyBradleyTerry`.

    >>> from truthloop.consolidation import Answers, DawidSkene
    >>> answers = Answers.from_records([("t1", "w1", "cat"), ("t1", "w2", "cat"), ("t1", "w3", "dog")])
    >>> DawidSkene().fit_predict(answers)
    {'t1': 'cat'}
"""

from __future__ import annotations

from truthloop.consolidation._answers import Answers
from truthloop.consolidation._base import CategoricalAggregator
from truthloop.consolidation.auto import AutoSelect
from truthloop.consolidation.dawid_skene import DawidSkene, OneCoinDawidSkene
from truthloop.consolidation.glad import GLAD
from truthloop.consolidation.mace import MACE
from truthloop.consolidation.majority import MajorityVote, Wawa
from truthloop.consolidation.pairwise import BradleyTerry, Comparisons, NoisyBradleyTerry

__all__ = [
    "GLAD",
    "MACE",
    "Answers",
    "AutoSelect",
    "BradleyTerry",
    "CategoricalAggregator",
    "Comparisons",
    "DawidSkene",
    "MajorityVote",
    "NoisyBradleyTerry",
    "OneCoinDawidSkene",
    "Wawa",
]
