"""The job's state carried across batches: a small batch is consolidated with what earlier batches taught."""

from __future__ import annotations

import numpy as np
import pytest

from truthloop.consolidation import Answers, AutoSelect, MajorityVote
from truthloop.consolidation import carried as carried_module
from truthloop.consolidation.carried import SkillState, consolidate_with_skills
from truthloop.exceptions import ContractError

CLASSES = ["cat", "dog"]


def _earlier_batches(n_batches: int = 3, per_batch: int = 12) -> tuple[SkillState, list[Answers]]:
    """Batches in which 'liar' and 'liar2' always contradict three good workers."""
    rng = np.random.default_rng(0)
    state = SkillState()
    batches = []
    for number in range(n_batches):
        rows = []
        for t in range(per_batch):
            right = str(rng.choice(CLASSES))
            wrong = "dog" if right == "cat" else "cat"
            task = f"b{number}-t{t}"
            rows += [(task, g, right) for g in ("good1", "good2", "good3")]
            rows += [(task, liar, wrong) for liar in ("liar", "liar2")]
        batch = Answers.from_records(rows)
        batches.append(batch)
        _, state = consolidate_with_skills(batch, state, batch_id=f"b{number}")
    return state, batches


def _small_batch_where_the_majority_is_wrong() -> Answers:
    # the two known liars and one good worker: the majority says dog for x1, the truth is cat
    rows = [("x1", "liar", "dog"), ("x1", "liar2", "dog"), ("x1", "good1", "cat")]
    rows += [("x2", "liar", "cat"), ("x2", "liar2", "cat"), ("x2", "good1", "dog")]
    return Answers.from_records(rows)


def test_a_small_batch_uses_what_the_earlier_batches_taught() -> None:
    # GIVEN a job whose earlier batches showed two workers always wrong, and a batch of 2 tasks they outvote
    # (too small for any skill model on its own: the default gives the majority's labels)
    state, _ = _earlier_batches()
    batch = _small_batch_where_the_majority_is_wrong()
    assert AutoSelect().fit(batch).labels_ == MajorityVote().fit(batch).labels_ == {"x1": "dog", "x2": "cat"}
    # WHEN
    model, new_state = consolidate_with_skills(batch, state, batch_id="b-next")
    # THEN the good worker's answer wins, only this batch's tasks are labelled, and the batch is added once
    assert model.labels_ == {"x1": "cat", "x2": "dog"}
    assert new_state.batches == [*state.batches, "b-next"]
    assert len(new_state.answers) == len(state.answers) + 6


def test_the_last_batch_is_labelled_as_the_whole_job_fit_labels_it() -> None:
    # GIVEN three batches
    _, batches = _earlier_batches()
    rows = [r for b in batches for r in b.records()]
    # WHEN the last one is consolidated again on a state without it
    before, _ = _earlier_batches(n_batches=2)
    model, _ = consolidate_with_skills(batches[2], before, batch_id="b2")
    # THEN its labels are the whole job's fit restricted to it
    whole = AutoSelect().fit(Answers.from_records(rows)).labels_
    assert model.labels_ == {t: whole[t] for t in batches[2].tasks}
    assert np.allclose(model.proba_matrix_.sum(axis=1), 1.0)


def test_a_retried_batch_changes_nothing_and_the_state_round_trips() -> None:
    # GIVEN
    state, _ = _earlier_batches()
    batch = _small_batch_where_the_majority_is_wrong()
    first, once = consolidate_with_skills(batch, state, batch_id="b-next")
    # WHEN the same batch comes again
    again, twice = consolidate_with_skills(batch, once, batch_id="b-next")
    # THEN
    assert twice == once and again.labels_ == first.labels_
    assert SkillState.from_dict(once.to_dict()) == once


def test_the_state_keeps_the_most_recent_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN room for 20 answers and 3 batches of 12 tasks x 5 answers
    monkeypatch.setattr(carried_module, "MAX_ANSWERS", 20)
    # WHEN
    state, batches = _earlier_batches()
    # THEN the last 20 answers are kept, re-indexed onto the tasks and workers they name
    assert len(state.answers) == 20
    kept = state.to_answers().records()
    assert kept == batches[-1].records()[-20:]
    assert set(state.tasks) == {t for t, _, _ in kept}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"version": 2}, "not a version-1"),
        ({"version": 1, "tasks": ["t"], "workers": ["w"], "classes": ["a"], "answers": [[0, 0, 1]], "batches": []},
         r"answers\[0\]"),
        ({"version": 1, "tasks": ["t"], "workers": [1], "classes": ["a"], "answers": [], "batches": []},
         "workers must be a list of strings"),
    ],
)  # fmt: skip
def test_a_corrupt_state_is_refused_with_a_reason(data: dict[str, object], message: str) -> None:
    # WHEN / THEN
    with pytest.raises(ContractError, match=message):
        SkillState.from_dict(data)


def test_ties_break_as_in_one_fit_over_the_whole_job() -> None:
    # GIVEN a job whose first answers name "zebra" before "ant", and a batch with a 1-1 tie
    first = Answers.from_records([("t1", "w1", "zebra"), ("t1", "w2", "zebra"), ("t1", "w3", "ant")])
    _, state = consolidate_with_skills(first, SkillState(), batch_id="b1")
    tied = Answers.from_records([("t2", "w1", "zebra"), ("t2", "w2", "ant")])
    # WHEN
    model, _ = consolidate_with_skills(tied, state, batch_id="b2")
    # THEN the tie goes to the first class in sorted order, as for the whole job at once
    whole = MajorityVote().fit(Answers.from_records([*first.records(), *tied.records()]))
    assert model.labels_ == {"t2": whole.labels_["t2"]} == {"t2": "ant"}
    assert state.classes == ["zebra", "ant"]
