"""Preference items: a ranking or pairwise job's manifest line (or an A2I ``output.json``) → prompt, responses and
every annotator's judgement, read with the one answer parser (:func:`truthloop.labeling.answers.parse_ranking`,
:func:`~truthloop.labeling.answers.parse_pairwise`). Aggregation and writing are in :mod:`truthloop.export.preferences`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from truthloop.contracts import WorkerResponse
from truthloop.contracts._reader import child_path, type_name
from truthloop.exceptions import ConfigurationError, ContractError
from truthloop.labeling.answers import parse_pairwise, parse_ranking
from truthloop.labeling.order import DisplayOrder, display_order, display_order_of, legacy_display_order
from truthloop.manifest._json import DecodeError, decode
from truthloop.manifest.io import parse_location, read_bytes
from truthloop.manifest.labels import attributes, normalise_type
from truthloop.manifest.reader import Record

__all__ = ["Judgement", "PreferenceItem", "Ties", "expand_ranking", "preference_items", "ranking_dimensions"]

Ties = Literal["drop", "keep"]


# --------------------------------------------------------------------------------------------- pair expansion


def expand_ranking(ranks: Sequence[int], *, ties: Ties = "drop") -> list[tuple[int, int, bool]]:
    """Pairs ``(better, worse, is_tie)`` of response indices from one ranking (1 = best, equal = tie).

    Every pair of positions appears at most once: strictly ordered pairs always, as ``(better, worse, False)``;
    tied pairs only with ``ties="keep"``, as ``(i, j, True)`` with ``i < j``. Pairs are listed by ``i < j``.
    """
    if ties not in ("drop", "keep"):
        raise ConfigurationError(f"ties must be 'drop' or 'keep', got {ties!r}")
    out: list[tuple[int, int, bool]] = []
    n = len(ranks)
    for i in range(n):
        ri = ranks[i]
        for j in range(i + 1, n):
            rj = ranks[j]
            if ri < rj:
                out.append((i, j, False))
            elif rj < ri:
                out.append((j, i, False))
            elif ties == "keep":
                out.append((i, j, True))
    return out


# --------------------------------------------------------------------------------------------- items


@dataclass(frozen=True)
class Judgement:
    """One annotator's judgement of one prompt: the rank of each response in input order (1 = best)."""

    worker: str
    ranks: tuple[int, ...]
    strength: float | None = None
    rationale: str | None = None


@dataclass(frozen=True)
class PreferenceItem:
    """A prompt, its responses and every annotator's judgement, with where it came from."""

    prompt: str
    responses: tuple[str, ...]
    response_ids: tuple[str, ...]
    judgements: tuple[Judgement, ...]
    dimension: str | None
    source: str
    job: str | None = None
    loop: str | None = None
    kind: Literal["ranking", "pairwise"] = "ranking"

    @property
    def prompt_id(self) -> str:
        """A stable id: the first 16 hex digits of SHA-256 over the prompt text."""
        return hashlib.sha256(self.prompt.encode()).hexdigest()[:16]


def _answer_dicts(value: Any, path: str) -> Iterator[tuple[str, Any, str]]:
    """``(worker, answer, path)`` for every per-worker answer held by a consolidated label value."""
    if not isinstance(value, dict):
        raise ContractError(f"expected an object, got {type_name(value)}", path)
    for key in ("annotationsFromAllWorkers", "annotations"):
        items = value.get(key)
        if isinstance(items, list):
            for index, item in enumerate(items):
                item_path = child_path(child_path(path, key), index)
                if not isinstance(item, dict):
                    raise ContractError(f"expected an object, got {type_name(item)}", item_path)
                worker = item.get("workerId")
                if not isinstance(worker, str):
                    raise ContractError("required field is missing", child_path(item_path, "workerId"))
                data = item.get("annotationData")
                if not isinstance(data, dict) or "content" not in data:
                    raise ContractError("required field is missing", child_path(item_path, "annotationData.content"))
                yield worker, data["content"], child_path(child_path(item_path, "annotationData"), "content")
            return
    answers = value.get("answers")
    if isinstance(answers, list):
        for index, item in enumerate(answers):
            item_path = child_path(child_path(path, "answers"), index)
            if not isinstance(item, dict) or not isinstance(item.get("workerId"), str):
                raise ContractError("an answer needs workerId and answerContent", item_path)
            yield item["workerId"], item.get("answerContent"), child_path(item_path, "answerContent")
        return
    for key in ("workerRankings", "workerPreferences"):
        items = value.get(key)
        if isinstance(items, list):
            for index, item in enumerate(items):
                item_path = child_path(child_path(path, key), index)
                if not isinstance(item, dict) or not isinstance(item.get("workerId"), str):
                    raise ContractError("required field is missing", child_path(item_path, "workerId"))
                if key == "workerRankings":
                    yield item["workerId"], {"rankings": item.get("rankings")}, item_path
                else:
                    yield item["workerId"], _consolidated_preference(item, item_path), item_path
            return
    yield "consolidated", value, path


_PREFERRED = {"responseA": "A", "responseB": "B", "tie": "Tie"}


def _consolidated_preference(item: dict[str, Any], path: str) -> dict[str, Any]:
    """A ``workerPreferences`` entry of the post-annotation Lambda as a displayed-position answer.

    The Lambda maps each answer's displayed ``A``/``B`` to ``preferred`` (``responseA``/``responseB``/``tie``), so
    ``preferred`` is final and is returned with ``displayOrder: "ab"`` (the identity mapping). Lambdas before the
    order became a function of the data object wrote ``displayOrderKnown: false`` when they assumed ``"ab"``:
    ``preferred`` then names the *displayed* position, returned with ``legacyDisplayOrder`` for the caller to map
    with the order the pre-annotation Lambda of that time chose
    (:func:`~truthloop.labeling.order.legacy_display_order`).
    """
    preferred = item.get("preferred")
    if preferred not in _PREFERRED:
        raise ContractError(
            f"preferred must be responseA, responseB or tie, got {preferred!r}"[:200], child_path(path, "preferred")
        )
    answer: dict[str, Any] = {
        "preference": {"label": _PREFERRED[preferred]},
        "strength": item.get("strength"),
        "rationale": item.get("rationale"),
    }
    if item.get("displayOrderKnown", True) is not False:
        answer["displayOrder"] = "ab"
    else:
        answer[_LEGACY] = True
    return answer


#: Marks an answer of an earlier Lambda whose ``preferred`` is still a displayed position (see above).
_LEGACY = "legacyDisplayOrder"


def _load_answer(answer: Any, path: str) -> Any:
    if isinstance(answer, (str, bytes)):
        try:
            return decode(answer)
        except DecodeError as exc:
            raise ContractError(f"not valid JSON: {exc}", path) from None
    return answer


def _ranking(answer: Any, path: str, n: int, dimension: str | None) -> tuple[str, tuple[int, ...]]:
    """``(dimension, ranks)`` of one ranking answer, read by the shared parser (:func:`parse_ranking`)."""
    parsed = parse_ranking(answer, path)
    if dimension is None:
        dimension = next(iter(parsed.rankings))
    if dimension not in parsed.rankings:
        raise ContractError(f"no ranking for dimension {dimension!r} (has {', '.join(parsed.rankings)})", parsed.path)
    ranks = parsed.rankings[dimension]
    if len(ranks) != n:
        raise ContractError(
            f"expected {n} ranks (one per response, in input order)", child_path(parsed.path, dimension)
        )
    return dimension, ranks


def _pairwise(
    answer: Any, path: str, display_order: Any, legacy_order: DisplayOrder
) -> tuple[tuple[int, int], float | None, str | None]:
    """Ranks of (responseA, responseB) from a pairwise answer whose ``A``/``B`` are *displayed* positions.

    The shared parser (:func:`parse_pairwise`) reads it; the order is the answer's own, else ``display_order``
    (the line's, else recomputed from the data object). An order that is neither ``ab`` nor ``ba`` is an error.
    """
    if isinstance(answer, dict) and answer.get(_LEGACY) is True:
        display_order = legacy_order
    parsed = parse_pairwise(answer, path)
    if parsed.preference == "Tie":
        ranks = (1, 1)
    else:
        order = parsed.display_order or display_order
        if order not in ("ab", "ba"):
            raise ContractError(
                f"displayOrder must be 'ab' or 'ba', got {order!r}"[:60]
                + ": cannot tell which response the displayed A/B was",
                child_path(path, "displayOrder"),
            )
        ranks = (1, 2) if parsed.preferred(order) == "responseA" else (2, 1)
    return ranks, parsed.strength, parsed.rationale


def _display_order(src: Mapping[str, Any], prompt: str, *, manifest_line: bool) -> Any:
    """The line's (or input's) ``displayOrder``; when it has none, the order the pre-annotation Lambda chose.

    :func:`truthloop.labeling.pre.pre_annotate` derives it from the data object alone (``source``, else
    ``source-ref``; :func:`~truthloop.labeling.order.display_order_of`). An A2I input has no pre-annotation step;
    its ``prompt`` is the same text, so :func:`~truthloop.labeling.order.display_order` of it gives the same order.
    """
    order = src.get("displayOrder")
    if order is not None:
        return order
    if manifest_line:
        return display_order_of(src) or display_order(prompt)
    return display_order(prompt)


def _texts(
    src: Mapping[str, Any], path: str, *, manifest_line: bool = True
) -> tuple[str, tuple[str, ...], tuple[str, ...], Literal["ranking", "pairwise"], Any]:
    """``(prompt, responses, ids, kind, displayOrder)`` from a manifest line or an A2I input."""
    prompt = src.get("prompt", src.get("source"))
    if not isinstance(prompt, str):
        raise ContractError("no prompt text (expected a string prompt or source)", child_path(path, "prompt"))
    if "responses" in src:
        responses = src["responses"]
        if not isinstance(responses, list) or len(responses) < 2 or not all(isinstance(r, str) for r in responses):
            raise ContractError("responses must be a list of at least two strings", child_path(path, "responses"))
        ids = src.get("responseIds")
        if ids is None:
            ids = [str(i) for i in range(len(responses))]
        if not isinstance(ids, list) or len(ids) != len(responses) or len(set(map(str, ids))) != len(ids):
            raise ContractError("responseIds must be distinct, one per response", child_path(path, "responseIds"))
        return prompt, tuple(responses), tuple(map(str, ids)), "ranking", None
    a, b = src.get("responseA"), src.get("responseB")
    if isinstance(a, str) and isinstance(b, str):
        model_a, model_b = src.get("modelA"), src.get("modelB")
        ids = (
            (str(model_a), str(model_b))
            if model_a is not None and model_b is not None and model_a != model_b
            else ("A", "B")
        )
        return prompt, (a, b), ids, "pairwise", _display_order(src, prompt, manifest_line=manifest_line)
    raise ContractError("no responses (expected responses, or responseA and responseB)", path)


def _worker_response_answers(ref: str, s3_client: Any | None) -> list[tuple[str, Any, str]]:
    raw = read_bytes(parse_location(ref), s3_client=s3_client)
    try:
        response = WorkerResponse.parse(decode(raw))
    except DecodeError as exc:
        raise ContractError(f"{ref}: not valid JSON: {exc}", "$") from None
    return [(a.worker_id, a.answer_content, f"{ref}$.answers[{i}]") for i, a in enumerate(response.answers)]


def _source(
    record: Record, attribute: str | None, s3_client: Any | None
) -> tuple[Mapping[str, Any], list[tuple[str, Any, str]], str, str | None, str | None]:
    """``(texts holder, [(worker, answer, path)], base path, job, loop)`` of a manifest line or A2I output."""
    data = record.data
    job = loop = None
    if "humanAnswers" in data:
        content = data.get("inputContent")
        if isinstance(content, str):
            content = _load_answer(content, "$.inputContent")
        if not isinstance(content, dict):
            raise ContractError("inputContent must be an object", "$.inputContent")
        src = content["input"] if isinstance(content.get("input"), dict) and "prompt" not in content else content
        answers = []
        for index, item in enumerate(data["humanAnswers"] if isinstance(data["humanAnswers"], list) else []):
            item_path = f"$.humanAnswers[{index}]"
            if not isinstance(item, dict) or not isinstance(item.get("workerId"), str):
                raise ContractError("an answer needs workerId and answerContent", item_path)
            answers.append((item["workerId"], item.get("answerContent"), f"{item_path}.answerContent"))
        arn = data.get("flowDefinitionArn")
        job = arn.rsplit("/", 1)[-1] if isinstance(arn, str) else None
        loop = data.get("humanLoopName") if isinstance(data.get("humanLoopName"), str) else None
        base = "$.inputContent"
    else:
        src = data
        base = "$"
        names = [attribute] if attribute is not None else attributes(data)
        candidates = [n for n in names if isinstance(data.get(f"{n}-metadata"), dict)]
        if attribute is not None and not candidates:
            raise ContractError(f"no {attribute!r} label on this line (no {attribute}-metadata key)", "$")
        if not candidates:
            raise ContractError("no label attribute (<attr>-metadata) on this line", "$")
        attr = candidates[0]
        meta = data[f"{attr}-metadata"]
        kind = normalise_type(meta.get("type"))
        if kind not in ("custom", ""):
            raise ContractError(f"{attr} is a {kind} label, not a ranking or preference job", f"$.{attr}-metadata.type")
        job_name = meta.get("job_name", meta.get("job-name"))
        job = job_name.removeprefix("labeling-job/") if isinstance(job_name, str) else None
        ref = meta.get("worker-response-ref")
        if data.get(attr) in (None, {}) and isinstance(ref, str):
            answers = _worker_response_answers(ref, s3_client)
        else:
            answers = list(_answer_dicts(data.get(attr), child_path("$", attr)))
    return src, answers, base, job, loop


def ranking_dimensions(record: Record, *, attribute: str | None = None, s3_client: Any | None = None) -> list[str]:
    """Every ranking dimension the line's answers name, in first-seen order (``[]`` for a pairwise line)."""
    src, answers, _, _, _ = _source(record, attribute, s3_client)
    if "responses" not in src:
        return []
    seen: dict[str, None] = {}
    for _, answer, path in answers:
        seen.update(dict.fromkeys(parse_ranking(_load_answer(answer, path), path).rankings))
    return list(seen)


def preference_items(
    record: Record,
    *,
    attribute: str | None = None,
    dimension: str | None = None,
    s3_client: Any | None = None,
) -> PreferenceItem:
    """The :class:`PreferenceItem` of one manifest line or A2I ``output.json``; raises ContractError if malformed."""
    where = f"{record.source}:{record.line}"
    src, answers, base, job, loop = _source(record, attribute, s3_client)
    prompt, responses, ids, kind_, order = _texts(src, base, manifest_line=base == "$")
    judgements = []
    chosen_dimension = dimension
    for worker, answer, path in answers:
        answer = _load_answer(answer, path)
        if kind_ == "ranking":
            chosen_dimension, ranks = _ranking(answer, path, len(responses), chosen_dimension)
            judgements.append(Judgement(worker, ranks))
        else:
            pair, strength, rationale = _pairwise(answer, path, order, legacy_display_order(prompt, *responses))
            judgements.append(Judgement(worker, pair, strength, rationale))
    if not judgements:
        raise ContractError("no worker answers", base)
    return PreferenceItem(prompt, responses, ids, tuple(judgements), chosen_dimension, where, job, loop, kind_)
