"""Simulated workers answer what each template's crowd elements would submit (docs/interfaces.md shapes)."""

from __future__ import annotations

import pytest

from truthloop.labeling import parse_answer
from truthloop.local.simulate import answer_task, parse_elements
from truthloop.templates import catalogue, render


def _answer(
    template: str,
    gold: dict[str, dict[str, object]],
    *,
    accuracy: float = 1.0,
    seed: int = 1,
    worker: str = "w",
    draw: int | None = None,
) -> tuple:
    entry = catalogue.load(template)
    task_input = entry.task_input()
    page = render(entry.text(), task_input, s3_client=_NoS3())
    task = {"id": "t", "taskInput": task_input, "objectId": "0"}
    return answer_task(task, page, gold=gold, accuracy=accuracy, seed=seed, worker=worker, draw=draw), task_input


class _NoS3:
    def generate_presigned_url(self, *args: object, **kwargs: object) -> str:
        return "http://127.0.0.1/presigned"


@pytest.mark.parametrize(
    ("template", "task_type"),
    [
        ("gt/text-classification", "text-classification"),
        ("gt/text-multilabel", "text-multilabel"),
        ("gt/image-classification", "image-classification"),
        ("gt/bounding-box", "bounding-box"),
        ("gt/ner", "ner"),
        ("gt/free-text", "free-text"),
        ("gt/text-ranking", "text-ranking"),
        ("gt/pairwise-preference", "pairwise-preference"),
    ],
)
def test_answers_parse_as_the_task_type(template: str, task_type: str) -> None:
    # WHEN a worker answers the catalogue template without gold
    (answer, _), _ = _answer(template, {})
    # THEN truthloop's own answer parser accepts it for that task type
    assert answer
    parse_answer(task_type, answer)


def test_gold_and_accuracy_decide_classification() -> None:
    entry = catalogue.load("gt/text-classification")
    task_input = entry.task_input()
    labels = task_input["labels"]
    gold = {task_input["taskObject"]: {"label": labels[-1]}}
    right = [_answer("gt/text-classification", gold, accuracy=1.0, seed=s)[0] for s in range(10)]
    wrong = [_answer("gt/text-classification", gold, accuracy=0.0, seed=s)[0] for s in range(10)]
    name = parse_elements(render(entry.text(), task_input))[0].name
    assert all(a[name]["label"] == labels[-1] and judged == [True] for a, judged in right)
    assert all(a[name]["label"] != labels[-1] and judged == [False] for a, judged in wrong)


def test_review_template_gives_a_verdict_and_a_correction() -> None:
    entry = catalogue.load("a2i/comprehend-sentiment-review")
    task_input = entry.task_input()
    predicted = task_input["predictions"][0]["label"]
    truth = next(c for c in task_input["candidates"] if c != predicted)
    (answer, judged), _ = _answer("a2i/comprehend-sentiment-review", {task_input["input"]["text"]: {"label": truth}})
    assert answer["verdict"] == {"label": "incorrect"}
    assert answer["correction"] == {"label": truth}
    assert "comment" not in answer  # optional inputs stay empty
    assert judged == [True]


def test_same_seed_same_answers() -> None:
    first = _answer("gt/bounding-box", {}, seed=5)[0]
    second = _answer("gt/bounding-box", {}, seed=5)[0]
    assert first == second


def test_the_draw_not_the_worker_seeds_the_answer() -> None:
    # GIVEN a task with gold and workers who are right half of the time
    task_input = catalogue.load("gt/text-classification").task_input()
    gold = {task_input["taskObject"]: {"label": task_input["labels"][-1]}}

    def judged(worker: str, draw: int) -> list[bool]:
        return [
            _answer("gt/text-classification", gold, accuracy=0.5, seed=s, worker=worker, draw=draw)[0][1][0]
            for s in range(40)
        ]

    # WHEN two different workers make the same draw, and one worker makes two different draws
    same_draw = judged("sim-1", 0), judged("sim-2", 0)
    other_draw = judged("sim-1", 1)
    # THEN the same draw gives the same answers whoever claimed the task; another draw is independent
    assert same_draw[0] == same_draw[1]
    assert other_draw != same_draw[0]
    assert 5 < sum(same_draw[0]) < 35  # and the accuracy is honoured
