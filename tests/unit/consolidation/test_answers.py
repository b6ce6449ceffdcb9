"""The Answers table: construction, encoding, errors with line numbers."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from truthloop.consolidation import Answers
from truthloop.exceptions import ConsolidationError

FIXTURES = Path(__file__).parent / "fixtures"


def test_from_records_keeps_first_appearance_order_and_sorts_classes() -> None:
    # GIVEN / WHEN
    answers = Answers.from_records([("t2", "w1", "b"), ("t1", "w2", "a"), ("t2", "w2", "10"), ("t1", "w1", "9")])
    # THEN
    assert answers.tasks == ["t2", "t1"]
    assert answers.workers == ["w1", "w2"]
    assert answers.classes == ["9", "10", "a", "b"]  # numbers numerically, then text
    assert answers.records()[2] == ("t2", "w2", "10")


def test_repeated_task_worker_rows_are_separate_answers() -> None:
    answers = Answers.from_records([("t", "w", "x"), ("t", "w", "x"), ("t", "v", "y")])
    assert len(answers) == 3
    assert answers.counts().tolist() == [[2.0, 1.0]]


def test_from_csv_reads_the_fixture() -> None:
    answers = Answers.from_csv(FIXTURES / "answers.csv")
    assert (len(answers), answers.n_tasks, answers.n_workers, answers.classes) == (9, 3, 3, ["cat", "dog"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("task,worker\nt,w\n", "missing column(s) label"),
        ("task,worker,label\nt,w,x\nt,w\n", "<csv>:3: expected 3 columns, got 2"),
        ("task,worker,label\nt,w,\n", "<csv>:2: the label column is empty"),
    ],
)
def test_from_csv_names_the_line_of_bad_input(text: str, message: str) -> None:
    with pytest.raises(ConsolidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Answers.from_csv(io.StringIO(text))


def test_from_csv_with_other_column_names() -> None:
    answers = Answers.from_csv(
        io.StringIO("item,annotator,answer\n1,a,x\n"), task="item", worker="annotator", label="answer"
    )
    assert answers.records() == [("1", "a", "x")]


@pytest.mark.parametrize("record", [("t", "w"), ("t", "w", None)])
def test_from_records_rejects_bad_rows(record: tuple[str, ...]) -> None:
    with pytest.raises(ConsolidationError, match="record 0"):
        Answers.from_records([record])


def test_missing_file_is_a_consolidation_error(tmp_path: Path) -> None:
    with pytest.raises(ConsolidationError, match="cannot read"):
        Answers.from_csv(tmp_path / "nope.csv")


def test_empty_and_round_trip() -> None:
    assert len(Answers.from_records([])) == 0
    answers = Answers.from_csv(FIXTURES / "answers.csv")
    again = Answers.from_csv(io.StringIO(answers.to_csv()))
    assert again.records() == answers.records()


def test_index_arrays_are_validated() -> None:
    with pytest.raises(ConsolidationError, match="out of range"):
        Answers(np.array([0]), np.array([0]), np.array([3]), tasks=["t"], workers=["w"], classes=["a"])


def test_select_renumbers_tasks_and_keeps_worker_and_class_indices() -> None:
    # GIVEN three tasks; the mask drops every answer to t2 and one answer to t3
    answers = Answers.from_records(
        [("t1", "w1", "a"), ("t2", "w2", "b"), ("t3", "w1", "b"), ("t3", "w2", "a"), ("t1", "w2", "a")]
    )
    mask = np.array([True, False, True, False, True])
    # WHEN
    subset, kept = answers.select(mask)
    # THEN the subset covers t1 and t3 (this table's tasks 0 and 2) as its tasks 0 and 1
    assert kept.tolist() == [0, 2]
    assert subset.tasks == ["t1", "t3"]
    assert subset.records() == [("t1", "w1", "a"), ("t3", "w1", "b"), ("t1", "w2", "a")]
    assert subset.workers == answers.workers and subset.classes == answers.classes
