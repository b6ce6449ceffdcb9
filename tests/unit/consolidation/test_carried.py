"""Worker skills carried across batches: the state, retries, and a small batch that uses what earlier ones taught."""

from __future__ import annotations

import numpy as np
import pytest

from truthloop.consolidation import Answers, MajorityVote
from truthloop.consolidation.carried import SkillState, consolidate_with_skills
from truthloop.exceptions import ConsolidationError, ContractError

CLASSES = ["cat", "dog"]


def _over_classes(rows: list[tuple[str, str, str]]) -> Answers:
    """An Answers table over the job's classes, in the job's order."""
    answers = Answers.from_records(rows)
    return Answers(answers.task_index, answers.worker_index,
                   [CLASSES.index(str(answers.classes[i])) for i in answers.label_index],
                   tasks=answers.tasks, workers=answers.workers, classes=CLASSES)  # fmt: skip


def _small_batch_where_the_majority_is_wrong() -> Answers:
    # two known liars and one good worker: the majority says dog, the truth is cat
    rows = [("x1", "liar", "dog"), ("x1", "liar2", "dog"), ("x1", "good1", "cat")]
    rows += [("x2", "liar", "cat"), ("x2", "liar2", "cat"), ("x2", "good1", "dog")]
    return _over_classes(rows)


def _history() -> SkillState:
    """Three batches of 10 tasks in which 'liar' and 'liar2' always contradict three good workers."""
    rng = np.random.default_rng(0)
    state = SkillState()
    for number in range(3):
        rows = []
        for t in range(10):
            right = str(rng.choice(CLASSES))
            wrong = "dog" if right == "cat" else "cat"
            task = f"b{number}-t{t}"
            rows += [(task, g, right) for g in ("good1", "good2", "good3")]
            rows += [(task, liar, wrong) for liar in ("liar", "liar2")]
        _, state = consolidate_with_skills(_over_classes(rows), state, batch_id=f"b{number}", classes=CLASSES)
    return state


def test_a_small_batch_uses_the_skills_earlier_batches_taught() -> None:
    # GIVEN a job whose earlier batches showed two workers always wrong, and a batch of 2 tasks they outvote
    # (too small for any skill model on its own: the default would take a majority vote)
    state = _history()
    batch = _small_batch_where_the_majority_is_wrong()
    assert MajorityVote().fit(batch).labels_ == {"x1": "dog", "x2": "cat"}
    # WHEN
    model, new_state = consolidate_with_skills(batch, state, batch_id="b-next", classes=CLASSES)
    # THEN the good worker's answer wins, and the batch is added to the state once
    assert model.labels_ == {"x1": "cat", "x2": "dog"}
    assert new_state.batches == [*state.batches, "b-next"]
    liar = np.asarray(new_state.counts["liar"])
    assert liar[0, 1] + liar[1, 0] > 5 * (liar[0, 0] + liar[1, 1])  # most of its answers are off-diagonal


def test_without_history_a_small_batch_is_a_majority_vote() -> None:
    # WHEN
    model, state = consolidate_with_skills(_small_batch_where_the_majority_is_wrong(), SkillState(),
                                           batch_id="b0", classes=CLASSES)  # fmt: skip
    # THEN
    assert isinstance(model, MajorityVote) and model.labels_ == {"x1": "dog", "x2": "cat"}
    assert state.batches == ["b0"] and set(state.counts) == {"liar", "liar2", "good1"}


def test_a_retried_batch_changes_nothing_and_the_state_round_trips() -> None:
    # GIVEN
    state = _history()
    batch = _small_batch_where_the_majority_is_wrong()
    _, once = consolidate_with_skills(batch, state, batch_id="b-next", classes=CLASSES)
    # WHEN the same batch comes again
    model, twice = consolidate_with_skills(batch, once, batch_id="b-next", classes=CLASSES)
    # THEN
    assert twice == once and model.labels_ == {"x1": "cat", "x2": "dog"}
    assert SkillState.from_dict(once.to_dict()) == once


def test_a_new_class_widens_the_state() -> None:
    # GIVEN a state over cat/dog and a contribution over cat/bird
    state = SkillState().added("b0", CLASSES, {"w": np.array([[3.0, 1.0], [0.0, 2.0]])})
    # WHEN
    wider = state.added("b1", ["cat", "bird"], {"w": np.array([[1.0, 0.0], [0.0, 5.0]])})
    # THEN counts are aligned by class name
    assert wider.classes == ["cat", "dog", "bird"]
    assert wider.counts["w"] == [[4.0, 1.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 5.0]]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"version": 2}, "not a version-1"),
        ({"version": 1, "classes": ["a"], "batches": [], "counts": {"w": [[1, 2]]}}, "expected 1×1"),
        ({"version": 1, "classes": ["a"], "batches": [], "counts": {"w": [[-1]]}}, "non-negative"),
    ],
)
def test_a_corrupt_state_is_refused_with_a_reason(data: dict[str, object], message: str) -> None:
    with pytest.raises(ContractError, match=message):
        SkillState.from_dict(data)


def test_answers_must_be_built_over_the_job_classes() -> None:
    with pytest.raises(ConsolidationError, match="job's classes"):
        consolidate_with_skills(Answers.from_records([("t", "w", "z")]), SkillState(), batch_id="b", classes=CLASSES)
