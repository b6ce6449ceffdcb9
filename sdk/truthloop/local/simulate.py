"""Simulated workers: answer portal tasks through its HTTP API, as a person using the template would.

Each task comes with its template rendered for that task; the worker reads the crowd elements in it
(``crowd-classifier`` categories, ``crowd-bounding-box`` labels, ``crowd-entity-annotation`` text, …) and answers
with the object those elements submit (docs/interfaces.md). With a gold answer for the task, a worker is right
with probability ``accuracy``; wrong answers are plausible (another category, a shifted box, a dropped entity).
Randomness is seeded per (seed, task, n) where n counts the answers the crowd has already drawn for that task: which
worker claims a task depends on thread scheduling, so seeding by worker would make a run's outcome vary; this way
the same seed gives every task the same answers whatever the scheduling (only who gave which one may differ).

Gold answers are keyed by the task's object: ``taskInput.taskObject`` / ``source`` / ``source-ref`` for GT, and
``input.text`` (truthloop's review input) or ``text`` for A2I.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx

from truthloop.exceptions import ConfigurationError, LocalBackendError

__all__ = ["Crowd", "CrowdStats", "Element", "answer_task", "gold_key", "load_gold", "parse_elements"]

_ANSWERING = {
    "crowd-classifier",
    "crowd-image-classifier",
    "crowd-classifier-multi-select",
    "crowd-image-classifier-multi-select",
    "crowd-bounding-box",
    "crowd-entity-annotation",
    "crowd-text-area",
    "crowd-input",
    "crowd-slider",
    "crowd-text-ranking",
    "input",
    "textarea",
}


@dataclass
class Element:
    """A crowd element (or input) that contributes to the answer, with its HTML attributes."""

    tag: str
    name: str
    attrs: dict[str, str]

    def json_attr(self, key: str, default: Any = None) -> Any:
        """An attribute holding JSON or a JavaScript literal (``['a', 'b']``, as AWS's sample templates write)."""
        value = self.attrs.get(key)
        if value is None:
            return default
        try:
            return json.loads(value)
        except ValueError:
            pass
        try:
            from truthloop.templates import parse_literal
        except ImportError:
            return default
        try:
            return parse_literal(value)
        except ValueError:
            return default


class _ElementParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _ANSWERING:
            return
        values = {k: (v if v is not None else "") for k, v in attrs}
        name = values.get("name")
        if not name:
            return
        if tag == "input" and values.get("type", "text") not in ("hidden", "text"):
            return
        self.elements.append(Element(tag, name, values))


def parse_elements(page: str) -> list[Element]:
    """The answer-contributing elements of a rendered task page, in document order."""
    parser = _ElementParser()
    parser.feed(page)
    parser.close()
    return parser.elements


def gold_key(task_input: Mapping[str, Any]) -> list[str]:
    """The keys a gold answer for this task may be filed under, most specific first."""
    keys = []
    for key in ("taskObject", "source-ref", "source"):
        value = task_input.get(key)
        if isinstance(value, str):
            keys.append(value)
    nested = task_input.get("input")
    if isinstance(nested, Mapping):
        for key in ("text", "taskObject", "source-ref", "document", "image"):
            value = nested.get(key)
            if isinstance(value, str):
                keys.append(value)
    for key in ("text", "prompt"):
        value = task_input.get(key)
        if isinstance(value, str):
            keys.append(value)
    return keys


def load_gold(path: str | Path) -> dict[str, dict[str, Any]]:
    """Gold answers from JSON Lines (or a JSON list) of objects with a ``key`` and the answer fields."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        items = json.loads(text)
        if not isinstance(items, list):
            items = [items]
    except ValueError:
        items = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                items.append(json.loads(line))
            except ValueError as exc:
                raise ConfigurationError(f"{path}:{number}: not valid JSON: {exc}") from exc
    gold = {}
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise ConfigurationError(f"{path}: entry {index} needs a string 'key'")
        gold[item["key"]] = {k: v for k, v in item.items() if k != "key"}
    return gold


# ----------------------------------------------------------------------------------------------------- answers


def _categories(element: Element) -> list[str]:
    raw = element.json_attr("categories") or element.json_attr("labels") or []
    out = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Mapping):
            name = item.get("label") or item.get("name")
            if isinstance(name, str):
                out.append(name)
    return out


def _input_labels(task_input: Mapping[str, Any]) -> list[str]:
    """Categories from the task input (``labels`` or review ``candidates``) when the page does not list them."""
    for key in ("labels", "candidates"):
        raw = task_input.get(key)
        if isinstance(raw, list):
            names = [x if isinstance(x, str) else x.get("label") for x in raw if isinstance(x, (str, Mapping))]
            return [n for n in names if isinstance(n, str)]
    return []


def _prediction(task_input: Mapping[str, Any]) -> str | None:
    predictions = task_input.get("predictions")
    if isinstance(predictions, list):
        flagged = [p for p in predictions if isinstance(p, Mapping) and p.get("flagged")]
        for item in flagged or predictions:
            if isinstance(item, Mapping) and isinstance(item.get("label"), str):
                return str(item["label"])
    return None


def _other(rng: random.Random, options: list[str], not_this: str | None) -> str | None:
    choices = [o for o in options if o != not_this]
    return rng.choice(choices) if choices else not_this


@dataclass
class _Answering:
    rng: random.Random
    accuracy: float
    gold: Mapping[str, Any] | None
    task_input: Mapping[str, Any]
    worker: str
    judged: list[bool] = field(default_factory=list)

    @property
    def knows(self) -> bool:
        return self.rng.random() < self.accuracy

    def gold_label(self) -> str | None:
        if self.gold is None:
            return None
        value = self.gold.get("label")
        return value if isinstance(value, str) else None

    def classify(self, element: Element, categories: list[str]) -> dict[str, Any] | None:
        if not categories:
            return None
        lowered = {c.lower() for c in categories}
        truth = self.gold_label()
        order = self.task_input.get("displayOrder")
        if lowered >= {"a", "b"} and truth in ("A", "B") and order in ("ab", "ba"):
            truth = truth if order == "ab" else ("B" if truth == "A" else "A")
        if truth is None or truth not in categories:
            return {"label": self.rng.choice(categories)}
        chosen = truth if self.knows else _other(self.rng, categories, truth)
        self.judged.append(chosen == truth)
        return {"label": chosen}

    def review(self, verdict: Element, correction: Element | None) -> dict[str, Any]:
        """A review of a model prediction: verdict correct/incorrect and, when incorrect, the right label."""
        verdicts = _categories(verdict)
        prediction = _prediction(self.task_input)
        truth = self.gold_label()
        candidates = _categories(correction) if correction is not None else []
        candidates = candidates or [c for c in self.task_input.get("candidates", []) if isinstance(c, str)]
        yes = next((c for c in verdicts if c.lower() == "correct"), "correct")
        no = next((c for c in verdicts if c.lower() == "incorrect"), "incorrect")
        if truth is None or prediction is None:
            believed = prediction if self.rng.random() < 0.5 else _other(self.rng, candidates, prediction)
        elif self.knows:
            believed = truth
        else:
            believed = _other(self.rng, candidates, truth) or truth
        if truth is not None:
            self.judged.append(believed == truth)
        out: dict[str, Any] = {verdict.name: {"label": yes if believed == prediction else no}}
        if correction is not None and believed != prediction and believed is not None:
            out[correction.name] = {"label": believed}
        return out

    def multi(self, categories: list[str]) -> dict[str, Any]:
        truth = self.gold.get("labels") if self.gold is not None else None
        if not isinstance(truth, list):
            k = self.rng.randint(1, max(1, min(2, len(categories))))
            return {"labels": self.rng.sample(categories, k) if categories else []}
        if self.knows or not categories:
            self.judged.append(True)
            return {"labels": list(truth)}
        flip = self.rng.choice(categories)
        labels = [c for c in truth if c != flip] if flip in truth else [*truth, flip]
        self.judged.append(False)
        return {"labels": labels}

    def boxes(self, element: Element) -> dict[str, Any]:
        labels = _categories(element) or ["object"]
        gold = self.gold or {}
        width = int(gold.get("width") or self.task_input.get("width") or 100)
        height = int(gold.get("height") or self.task_input.get("height") or 100)
        truth = gold.get("boxes")
        result: list[dict[str, Any]] = []
        if isinstance(truth, list) and truth:
            right = self.knows
            self.judged.append(right)
            for box in truth:
                shift = 2 if right else max(4, int(0.35 * int(box["width"])))
                result.append(
                    {
                        "label": box["label"] if right else self.rng.choice(labels),
                        "left": max(0, int(box["left"]) + self.rng.randint(-shift, shift)),
                        "top": max(0, int(box["top"]) + self.rng.randint(-shift, shift)),
                        "width": max(1, int(box["width"]) + self.rng.randint(-shift, shift)),
                        "height": max(1, int(box["height"]) + self.rng.randint(-shift, shift)),
                    }
                )
            if not right and len(result) > 1:
                result.pop(self.rng.randrange(len(result)))
        else:
            w, h = max(1, width // 3), max(1, height // 3)
            result.append(
                {
                    "label": self.rng.choice(labels),
                    "left": self.rng.randint(0, width - w),
                    "top": self.rng.randint(0, height - h),
                    "width": w,
                    "height": h,
                }
            )
        out: dict[str, Any] = {"boundingBoxes": result, "inputImageProperties": {"height": height, "width": width}}
        if element.attrs.get("initial-value"):
            out["initialValueModified"] = True
        return out

    def entities(self, element: Element) -> dict[str, Any]:
        labels = _categories(element) or ["entity"]
        truth = self.gold.get("entities") if self.gold is not None else None
        if isinstance(truth, list):
            right = self.knows
            self.judged.append(right)
            if right or not truth:
                return {"entities": [dict(e) for e in truth]}
            wrong = [dict(e) for e in truth]
            victim = self.rng.randrange(len(wrong))
            if len(wrong) > 1:
                wrong.pop(victim)
            else:
                wrong[victim]["label"] = _other(self.rng, labels, wrong[victim].get("label"))
            return {"entities": wrong}
        text = element.attrs.get("text", "")
        words = [(i, i + len(w)) for i, w in _word_spans(text)]
        if not words:
            return {"entities": []}
        start, end = self.rng.choice(words)
        return {"entities": [{"label": self.rng.choice(labels), "startOffset": start, "endOffset": end}]}

    def text(self, element: Element) -> str:
        if self.gold is not None and isinstance(self.gold.get("text"), str):
            self.judged.append(self.knows)
            return str(self.gold["text"])
        return f"Answer written by {self.worker}."

    def ranking(self, element: Element) -> dict[str, Any]:
        responses = element.json_attr("responses", []) or self.task_input.get("responses", [])
        dimensions = element.json_attr("ordinal-ranking-dimensions", []) or self.task_input.get("dimensions", [])
        n = len(responses) if isinstance(responses, list) else 0
        truth = self.gold.get("rankings") if self.gold is not None else None
        rankings: dict[str, list[int]] = {}
        for dimension in dimensions if isinstance(dimensions, list) else []:
            name = dimension.get("name") if isinstance(dimension, Mapping) else None
            if not isinstance(name, str):
                continue
            if isinstance(truth, Mapping) and isinstance(truth.get(name), list) and self.knows:
                rankings[name] = list(truth[name])
            else:
                order = list(range(1, n + 1))
                self.rng.shuffle(order)
                rankings[name] = order
        return {"rankings": rankings}


def _word_spans(text: str) -> list[tuple[int, str]]:
    spans = []
    index = 0
    for word in text.split():
        start = text.find(word, index)
        spans.append((start, word))
        index = start + len(word)
    return spans


def _task_identity(task: Mapping[str, Any]) -> tuple[Any, Any]:
    """What stays the same across the portal tasks of one data object: (labeling job, object or human loop)."""
    return task.get("labelingJobName"), task.get("objectId") or task.get("humanLoopName") or task.get("id")


def answer_task(
    task: Mapping[str, Any],
    page: str,
    *,
    gold: Mapping[str, Mapping[str, Any]],
    accuracy: float,
    seed: int,
    worker: str,
    draw: int | None = None,
) -> tuple[dict[str, Any], list[bool]]:
    """The answer object a worker submits for ``task`` (as the portal API returns it), and gold judgements.

    ``draw`` (the answer's ordinal among those given to this task) replaces the worker in the seed when given.
    """
    task_input: Mapping[str, Any] = task.get("taskInput") or {}
    record = next((gold[k] for k in gold_key(task_input) if k in gold), None)
    job, key = _task_identity(task)
    state = _Answering(
        random.Random(f"{seed}|{worker if draw is None else f'#{draw}'}|{job}|{key}"),
        accuracy,
        record,
        task_input,
        worker,
    )
    elements = parse_elements(page)
    answer: dict[str, Any] = {}
    by_name = {e.name: e for e in elements}
    verdict = next((e for e in elements if {c.lower() for c in _categories(e)} >= {"correct", "incorrect"}), None)
    handled: set[str] = set()
    if verdict is not None:
        correction = by_name.get("correction")
        if correction is None:
            correction = next(
                (e for e in elements if e is not verdict and e.tag.endswith("classifier") and _categories(e)), None
            )
        answer.update(state.review(verdict, correction))
        handled = {verdict.name, *([correction.name] if correction is not None else [])}
    for element in elements:
        if element.name in handled or element.name in answer:
            continue
        tag = element.tag
        if tag in ("crowd-classifier", "crowd-image-classifier"):
            value = state.classify(element, _categories(element) or _input_labels(task_input))
            if value is not None:
                answer[element.name] = value
        elif tag in ("crowd-classifier-multi-select", "crowd-image-classifier-multi-select"):
            answer[element.name] = state.multi(_categories(element) or _input_labels(task_input))
        elif tag == "crowd-bounding-box":
            answer[element.name] = state.boxes(element)
        elif tag == "crowd-entity-annotation":
            answer[element.name] = state.entities(element)
        elif tag == "crowd-text-ranking":
            answer[element.name] = state.ranking(element)
        elif tag == "crowd-slider":
            low = int(float(element.attrs.get("min", "1") or 1))
            high = int(float(element.attrs.get("max", "5") or 5))
            answer[element.name] = state.rng.randint(low, max(low, high))
        elif tag == "input" and element.attrs.get("type") == "hidden":
            answer[element.name] = element.attrs.get("value", "")
        elif tag in ("crowd-text-area", "crowd-input", "textarea", "input"):
            if element.attrs.get("type") == "hidden" or "disabled" in element.attrs:
                continue
            has_gold_text = record is not None and isinstance(record.get("text"), str)
            if tag in ("crowd-text-area", "textarea") or "required" in element.attrs or has_gold_text:
                answer[element.name] = state.text(element)  # optional inputs (comments) are left empty
    return answer, state.judged


# ----------------------------------------------------------------------------------------------------- crowd


@dataclass
class CrowdStats:
    answered: int = 0
    correct: int = 0
    judged: int = 0
    by_worker: dict[str, int] = field(default_factory=dict)


class Crowd:
    """``count`` simulated workers answering through the portal API until the queues stay empty.

    Their tokens come from ``POST /_truthloop/workers`` with ``admin_token`` (the admin API of ``truthloop local up``,
    or the local-only route of ``truthloop service local``: worker tokens, or with ``--sign-in`` Cognito ID tokens of
    the local pool), or from ``issue_token(name)``. A token the portal stops taking (an ID token past its expiry,
    with ``--follow``) is issued again once.
    """

    def __init__(
        self,
        endpoint: str,
        *,
        admin_token: str = "",
        issue_token: Callable[[str], str] | None = None,
        count: int = 5,
        accuracy: float = 0.8,
        seed: int = 1,
        gold: Mapping[str, Mapping[str, Any]] | None = None,
        name_prefix: str = "sim",
    ) -> None:
        if count < 1:
            raise ConfigurationError(f"--count must be at least 1, got {count}")
        if not 0.0 <= accuracy <= 1.0:
            raise ConfigurationError(f"--accuracy must be between 0 and 1, got {accuracy}")
        self.endpoint = endpoint.rstrip("/")
        if not admin_token and issue_token is None:
            raise ConfigurationError("simulated workers need an admin token or a way to issue worker tokens")
        self.admin_token = admin_token
        self.issue_token = issue_token
        self.count = count
        self.accuracy = accuracy
        self.seed = seed
        self.gold = dict(gold or {})
        self.name_prefix = name_prefix
        self.stats = CrowdStats()
        self._lock = threading.Lock()
        self._last_work = time.monotonic()
        self._draws: dict[tuple[Any, Any], int] = {}  # answers drawn so far per task (see the module docstring)

    def _issue(self, client: httpx.Client, name: str) -> str:
        if self.issue_token is not None:
            return self.issue_token(name)
        response = client.post(
            "/_truthloop/workers",
            json={"name": name, "simulated": True},
            headers={"authorization": f"Bearer {self.admin_token}"},
        )
        if response.status_code != 200:
            raise LocalBackendError(
                f"cannot create simulated worker {name}: HTTP {response.status_code} {response.text}"
            )
        token: str = response.json()["token"]
        return token

    def _tokens(self, client: httpx.Client) -> dict[str, str]:
        names = [f"{self.name_prefix}-{index}" for index in range(1, self.count + 1)]
        return {name: self._issue(client, name) for name in names}

    def run(
        self,
        *,
        idle_seconds: float | None = 2.0,
        progress: bool = False,
        on_answer: Callable[[CrowdStats], None] | None = None,
        stop: threading.Event | None = None,
    ) -> CrowdStats:
        """Answer until no task showed up for ``idle_seconds`` (``None``: until ``stop`` is set).

        A worker that cannot go on (a claim refused, the backend gone) stops the crowd, and its error is raised here.
        """
        stop = stop or threading.Event()
        with httpx.Client(base_url=self.endpoint, timeout=30) as client:
            tokens = self._tokens(client)
        self._last_work = time.monotonic()
        bar: Any = None
        if progress:
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=False)
            bar.start()
            task_id = bar.add_task("simulated workers: 0 answers", total=None)

            def report(stats: CrowdStats) -> None:
                bar.update(task_id, description=f"simulated workers: {stats.answered} answers")
                if on_answer is not None:
                    on_answer(stats)

            callback: Callable[[CrowdStats], None] | None = report
        else:
            callback = on_answer
        errors: list[Exception] = []

        def work(name: str, token: str) -> None:
            try:
                self._work(name, token, idle_seconds, stop, callback)
            except Exception as exc:  # raised by run(), not lost in the thread: the crowd stops
                with self._lock:
                    errors.append(exc)
                stop.set()

        threads = [threading.Thread(target=work, args=(name, token), daemon=True) for name, token in tokens.items()]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(timeout=0.2)
        except KeyboardInterrupt:
            stop.set()
            for thread in threads:
                thread.join(timeout=5)
        finally:
            if bar is not None:
                bar.stop()
        if errors:
            raise errors[0]
        return self.stats

    def _work(
        self,
        name: str,
        token: str,
        idle_seconds: float | None,
        stop: threading.Event,
        callback: Callable[[CrowdStats], None] | None,
    ) -> None:
        headers = {"authorization": f"Bearer {token}"}
        reissued = False
        with httpx.Client(base_url=self.endpoint, headers=headers, timeout=30) as client:
            while not stop.is_set():
                response = client.post("/portal/api/tasks/claim", json={})
                if response.status_code == 401 and not reissued:
                    reissued = True  # an expired token gets a new one, once: a new token refused too is an error
                    client.headers["authorization"] = f"Bearer {self._issue(client, name)}"
                    continue
                if response.status_code == 204:
                    with self._lock:
                        idle_for = time.monotonic() - self._last_work
                    if idle_seconds is not None and idle_for >= idle_seconds:
                        return
                    stop.wait(0.1)
                    continue
                if response.status_code != 200:
                    raise LocalBackendError(
                        f"{name}: claiming a task failed: HTTP {response.status_code} {response.text}"
                    )
                reissued = False
                with self._lock:
                    self._last_work = time.monotonic()
                task = response.json()["task"]
                page = task.get("rendered") or task.get("template") or ""
                task_key = _task_identity(task)
                with self._lock:
                    draw = self._draws.get(task_key, 0)
                    self._draws[task_key] = draw + 1
                answer, judged = answer_task(
                    task, page, gold=self.gold, accuracy=self.accuracy, seed=self.seed, worker=name, draw=draw
                )
                result = client.post(f"/portal/api/tasks/{task['id']}/answer", json={"answer": answer})
                if result.status_code != 200:
                    continue  # the task expired or was stopped meanwhile: take the next one
                with self._lock:
                    self._last_work = time.monotonic()
                    self.stats.answered += 1
                    self.stats.by_worker[name] = self.stats.by_worker.get(name, 0) + 1
                    self.stats.judged += len(judged)
                    self.stats.correct += sum(judged)
                    snapshot = self.stats
                if callback is not None:
                    callback(snapshot)
