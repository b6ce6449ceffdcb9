"""RLHF preference data: text-ranking / pairwise-preference answers → TRL preference (DPO) and KTO JSON Lines.

Input records are GT output-manifest lines of a ``text-ranking`` or ``pairwise-preference`` job, or A2I
``output.json`` documents (``humanAnswers``). The prompt and responses come from the line (``source`` or
``prompt``, ``responses`` + ``responseIds``, or ``responseA``/``responseB`` + ``modelA``/``modelB``) or from the
loop's ``inputContent``; the worker answers from

* the label value when the consolidation Lambda passed the answers through (``annotationsFromAllWorkers`` or
  ``annotations`` as in GT's consolidation payload, or ``answers`` as in a worker-response file),
* the consolidated content of truthloop's post-annotation Lambda (:mod:`truthloop.labeling.post`): its
  per-worker ``workerRankings`` (text ranking) or ``workerPreferences`` (pairwise preference),
* the worker-response file named by ``worker-response-ref`` in the metadata (a custom job without a
  consolidation Lambda),
* a bare consolidated answer (one "annotator", ``consolidated``), or A2I's ``humanAnswers``.

Pipeline per prompt:

1. **Expand** each annotator's ranking (1 = best, equal ranks = tie) into pairs with :func:`expand_ranking`:
   every strictly ordered pair once; ties dropped (``ties="drop"``) or kept as ties (``ties="keep"``). A
   pairwise answer's displayed ``A``/``B`` is mapped back to ``responseA``/``responseB`` with ``displayOrder``:
   echoed in the answer, else read from the line/input, else recomputed from the data object with
   :func:`truthloop.labeling.display_order` exactly as the pre-annotation Lambda chose it.
2. **Aggregate** all annotators' pairs with :class:`truthloop.consolidation.BradleyTerry` (a tie is half a win
   each). Identical judgement patterns give identical fits, so fits are memoised on the (canonically ordered)
   table of pair counts — exact, and what makes 10⁶ prompts feasible.
3. **Agreement**: for each compared pair, the share of its judgements that agree with the majority outcome;
   the prompt's agreement is their mean. A prompt judged by two or more annotators whose agreement is below
   ``min_agreement`` is *not* exported: it is written to the disagreements report with the split pairs and
   each annotator's ranking.
4. **Write** pairs in Bradley–Terry order (``pairs="all"``: every pair; ``"best-worst"``: one pair) as TRL
   ``{"prompt","chosen","rejected"}`` (``conversational=True``: ``[{"role","content"}]`` lists), a tie kept
   as ``"tie": true``; or KTO ``{"prompt","completion","label"}`` with ``label`` true for responses scoring above
   the prompt's mean Bradley–Terry score and false below it (a response exactly at the mean is left out).
5. **Sidecar** (``<stem>.meta.jsonl``): one line per prompt that wrote rows. ``"rows": [first, count]`` joins
   it to its (consecutive) rows; it carries the prompt id, the source line, job and loop, the dimension, the
   workers and the prompt's agreement, and one entry per row in row order: ``"pairs"`` (TRL: chosen and
   rejected ids, tie, Bradley–Terry margin — the log-strength difference — and win probability, the pair's
   agreement and votes) or ``"completions"`` (KTO: id, label, centred score, rank).

``aggregate="none"`` skips the Bradley–Terry ordering and exclusion and writes each annotator's own pairs (TRL
only); each sidecar entry then names its worker, strength and rationale.
"""

from __future__ import annotations

import hashlib
import math
from array import array
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, ClassVar, Literal

from truthloop.contracts import WorkerResponse
from truthloop.contracts._reader import child_path, type_name
from truthloop.exceptions import ConfigurationError, ContractError, ExportError
from truthloop.export._files import AtomicFile
from truthloop.export.base import Exporter, OnSkip, register
from truthloop.manifest._json import DecodeError, decode, dumps_line, encode
from truthloop.manifest.io import parse_location, read_bytes
from truthloop.manifest.labels import attributes, normalise_type
from truthloop.manifest.reader import ManifestReader, Record

__all__ = [
    "Aggregate",
    "Judgement",
    "KtoExporter",
    "PairVote",
    "PreferenceItem",
    "TrlExporter",
    "aggregate",
    "expand_ranking",
    "preference_items",
]

Ties = Literal["drop", "keep"]

#: Bradley–Terry scores closer than this are a tie (the fit converges to 1e-8 per step, so 1e-6 is safe).
SCORE_EPS = 1e-6


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

    The Lambda maps each answer's displayed ``A``/``B`` to ``preferred`` (``responseA``/``responseB``/``tie``).
    When the answer echoed ``displayOrder`` (``displayOrderKnown``), ``preferred`` is final and is returned with
    ``displayOrder: "ab"`` (the identity mapping). When it did not, the Lambda assumed ``"ab"``, so ``preferred``
    still names the *displayed* position, which is returned without a ``displayOrder`` for the caller to map
    with the line's order or the recomputed one.
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
    return answer


def _find_shape(answer: Any, key: str, path: str, depth: int = 0) -> tuple[dict[str, Any], str] | None:
    """The answer itself or the first value (nested at most two levels) that is an object holding ``key``."""
    if isinstance(answer, dict):
        if key in answer:
            return answer, path
        if depth < 2:
            for name, value in answer.items():
                found = _find_shape(value, key, child_path(path, name), depth + 1)
                if found is not None:
                    return found
    return None


def _load_answer(answer: Any, path: str) -> Any:
    if isinstance(answer, (str, bytes)):
        try:
            return decode(answer)
        except DecodeError as exc:
            raise ContractError(f"not valid JSON: {exc}", path) from None
    return answer


def _ranking(answer: Any, path: str, n: int, dimension: str | None) -> tuple[str, tuple[int, ...]]:
    found = _find_shape(answer, "rankings", path)
    if found is None:
        raise ContractError("no rankings in the answer (expected {…: {'rankings': {dimension: [ranks]}}})", path)
    holder, holder_path = found
    rankings = holder["rankings"]
    rpath = child_path(holder_path, "rankings")
    if not isinstance(rankings, dict) or not rankings:
        raise ContractError("rankings must map each dimension to the ranks of the responses", rpath)
    if dimension is None:
        dimension = next(iter(rankings))
    if dimension not in rankings:
        raise ContractError(f"no ranking for dimension {dimension!r} (has {', '.join(rankings)})", rpath)
    ranks = rankings[dimension]
    dpath = child_path(rpath, dimension)
    if not isinstance(ranks, list) or len(ranks) != n:
        raise ContractError(f"expected {n} ranks (one per response, in input order)", dpath)
    out = []
    for index, rank in enumerate(ranks):
        if type(rank) is str and rank.strip().isdigit():
            rank = int(rank)
        if type(rank) is float and rank.is_integer():
            rank = int(rank)
        if type(rank) is not int or rank < 1:
            raise ContractError(f"a rank is an integer from 1 (best), got {rank!r}"[:120], child_path(dpath, index))
        out.append(rank)
    return dimension, tuple(out)


_PREFERENCE = {"a": "A", "b": "B", "tie": "Tie"}


def _pairwise(answer: Any, path: str, display_order: Any) -> tuple[tuple[int, int], float | None, str | None]:
    """Ranks of (responseA, responseB) from a pairwise answer whose ``A``/``B`` are *displayed* positions."""
    found = None
    if isinstance(answer, dict):
        for name, value in [("preference", answer.get("preference")), *answer.items()]:
            if isinstance(value, dict) and str(value.get("label", "")).strip().lower() in _PREFERENCE:
                found = value, child_path(path, name)
                break
        if found is None and str(answer.get("label", "")).strip().lower() in _PREFERENCE:
            found = answer, path
    if found is None:
        raise ContractError("no preference in the answer (expected {'preference': {'label': 'A'|'B'|'Tie'}})", path)
    label = _PREFERENCE[str(found[0]["label"]).strip().lower()]
    order = answer.get("displayOrder") if isinstance(answer, dict) else None
    if order is None:
        order = display_order
    if label == "Tie":
        ranks = (1, 1)
    else:
        if order not in ("ab", "ba"):
            shown = repr(order)[:40]
            raise ContractError(
                f"displayOrder must be 'ab' or 'ba', got {shown}: cannot tell which response the displayed A/B was",
                child_path(path, "displayOrder"),
            )
        a_won = (label == "A") == (order == "ab")
        ranks = (1, 2) if a_won else (2, 1)
    strength = answer.get("strength") if isinstance(answer, dict) else None
    rationale = answer.get("rationale") if isinstance(answer, dict) else None
    return (
        ranks,
        float(strength) if isinstance(strength, (int, float)) and not isinstance(strength, bool) else None,
        rationale if isinstance(rationale, str) and rationale else None,
    )


def _display_order(src: Mapping[str, Any], prompt: str, a: str, b: str, *, manifest_line: bool) -> Any:
    """The line's (or input's) ``displayOrder``; when it has none, the order the pre-annotation Lambda chose.

    :func:`truthloop.labeling.pre.pre_annotate` derives it from the task's prompt, which for a manifest line is
    ``source`` (else ``source-ref``) — not a ``prompt`` key — and ``responseA``/``responseB``. An A2I input has
    no pre-annotation step; its ``prompt`` is the same text, so the same function gives the same order.
    """
    order = src.get("displayOrder")
    if order is not None:
        return order
    from truthloop.labeling.pre import display_order

    text: Any = prompt
    if manifest_line:
        text = src.get("source")
        if text is None:
            text = src.get("source-ref", prompt)
    return display_order(text, a, b) if isinstance(text, str) else None


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
        return prompt, (a, b), ids, "pairwise", _display_order(src, prompt, a, b, manifest_line=manifest_line)
    raise ContractError("no responses (expected responses, or responseA and responseB)", path)


def _worker_response_answers(ref: str, s3_client: Any | None) -> list[tuple[str, Any, str]]:
    raw = read_bytes(parse_location(ref), s3_client=s3_client)
    try:
        response = WorkerResponse.parse(decode(raw))
    except DecodeError as exc:
        raise ContractError(f"{ref}: not valid JSON: {exc}", "$") from None
    return [(a.worker_id, a.answer_content, f"{ref}$.answers[{i}]") for i, a in enumerate(response.answers)]


def preference_items(
    record: Record,
    *,
    attribute: str | None = None,
    dimension: str | None = None,
    s3_client: Any | None = None,
) -> PreferenceItem:
    """The :class:`PreferenceItem` of one manifest line or A2I ``output.json``; raises ContractError if malformed."""
    data = record.data
    where = f"{record.source}:{record.line}"
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
    prompt, responses, ids, kind_, display_order = _texts(src, base, manifest_line=base == "$")
    judgements = []
    chosen_dimension = dimension
    for worker, answer, path in answers:
        answer = _load_answer(answer, path)
        if kind_ == "ranking":
            chosen_dimension, ranks = _ranking(answer, path, len(responses), chosen_dimension)
            judgements.append(Judgement(worker, ranks))
        else:
            pair, strength, rationale = _pairwise(answer, path, display_order)
            judgements.append(Judgement(worker, pair, strength, rationale))
    if not judgements:
        raise ContractError("no worker answers", base)
    return PreferenceItem(prompt, responses, ids, tuple(judgements), chosen_dimension, where, job, loop, kind_)


# --------------------------------------------------------------------------------------------- aggregation


@dataclass(frozen=True)
class PairVote:
    """One consolidated pair: ``chosen`` over ``rejected`` (indices), with its votes and Bradley–Terry margin."""

    chosen: int
    rejected: int
    tie: bool
    margin: float
    p_chosen: float
    agreement: float
    votes_chosen: int
    votes_rejected: int
    votes_tie: int

    def sidecar_entry(self, ids: Sequence[str]) -> dict[str, Any]:
        """This pair in the sidecar's ``pairs`` list (both export paths write it from here, so byte for byte)."""
        return {
            "chosen": ids[self.chosen],
            "rejected": ids[self.rejected],
            "tie": self.tie,
            "margin": round(self.margin, 6),
            "p_chosen": round(self.p_chosen, 6),
            "agreement": round(self.agreement, 6),
            "votes": {"chosen": self.votes_chosen, "rejected": self.votes_rejected, "tie": self.votes_tie},
        }


@dataclass(frozen=True)
class Aggregate:
    """The consolidated judgement of one prompt."""

    item: PreferenceItem
    scores: tuple[float | None, ...]
    order: tuple[int, ...]
    pairs: tuple[PairVote, ...]
    agreement: float
    excluded: str | None = None
    split: tuple[str, ...] = field(default_factory=tuple)

    def kto_completions(self, ids: Sequence[str]) -> list[tuple[int, bool, dict[str, Any]]]:
        """``(response index, desirable, sidecar entry)`` of each response KTO writes, best first.

        A response is desirable when its Bradley–Terry score is above the prompt's mean, undesirable when below;
        one within :data:`SCORE_EPS` of the mean says nothing and is left out.
        """
        known = [s for s in self.scores if s is not None]
        mean = sum(known) / len(known)
        out = []
        for rank, index in enumerate(self.order, 1):
            centred = (self.scores[index] or 0.0) - mean
            if abs(centred) < SCORE_EPS:
                continue
            desirable = centred > 0
            entry = {"completion": ids[index], "label": desirable, "score": round(centred, 6), "rank": rank}
            out.append((index, desirable, entry))
        return out


class _BtCache:
    """Bradley–Terry fits memoised on the canonically ordered table of pair counts (bounded size)."""

    def __init__(self, max_entries: int = 65536) -> None:
        self.fits: dict[tuple[int, tuple[int, ...]], tuple[float, ...]] = {}
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0

    def scores(self, n: int, wins: list[list[int]], ties: list[list[int]]) -> list[float | None]:
        # canonical order: by (wins - losses, wins) descending, then input index
        totals = [(sum(wins[i]) - sum(wins[j][i] for j in range(n)), sum(wins[i]), -i) for i in range(n)]
        perm = sorted(range(n), key=lambda i: totals[i], reverse=True)
        key_cells: list[int] = []
        for a in range(n):
            for b in range(a + 1, n):
                i, j = perm[a], perm[b]
                key_cells += (wins[i][j], wins[j][i], ties[i][j] + ties[j][i])
        key = (n, tuple(key_cells))
        fit = self.fits.get(key)
        if fit is None:
            self.misses += 1
            fit = self._fit(n, key_cells)
            if len(self.fits) >= self.max_entries:
                self.fits.pop(next(iter(self.fits)))
            self.fits[key] = fit
        else:
            self.hits += 1
        out: list[float | None] = [None] * n
        for a, i in enumerate(perm):
            value = fit[a]
            out[i] = None if math.isnan(value) else value
        return out

    @staticmethod
    def _fit(n: int, cells: list[int]) -> tuple[float, ...]:
        from truthloop.consolidation import BradleyTerry, Comparisons

        rows: list[tuple[str, int, int, int | None]] = []
        position = 0
        for a in range(n):
            for b in range(a + 1, n):
                won, lost, tied = cells[position : position + 3]
                position += 3
                rows += [("*", a, b, a)] * won + [("*", a, b, b)] * lost + [("*", a, b, None)] * tied
        if not rows:
            return tuple(math.nan for _ in range(n))
        scores = BradleyTerry().fit(Comparisons.from_records(rows)).scores_
        return tuple(float(scores[a]) if a in scores else math.nan for a in range(n))


def aggregate(
    item: PreferenceItem,
    *,
    ties: Ties = "drop",
    min_agreement: float = 0.6,
    pairs: Literal["all", "best-worst"] = "all",
    cache: _BtCache | None = None,
) -> Aggregate:
    """Consolidate ``item``'s judgements with Bradley–Terry; ``excluded`` says why a prompt is not exported."""
    n = len(item.responses)
    wins = [[0] * n for _ in range(n)]
    tie_counts = [[0] * n for _ in range(n)]
    voters: dict[tuple[int, int], list[tuple[str, int | None]]] = {}
    for judgement in item.judgements:
        for better, worse, is_tie in expand_ranking(judgement.ranks, ties=ties):
            key = (min(better, worse), max(better, worse))
            if is_tie:
                tie_counts[better][worse] += 1
                voters.setdefault(key, []).append((judgement.worker, None))
            else:
                wins[better][worse] += 1
                voters.setdefault(key, []).append((judgement.worker, better))
    scores = (cache or _BtCache()).scores(n, wins, tie_counts)
    ranked = [i for i in range(n) if scores[i] is not None]
    order = tuple(sorted(ranked, key=lambda i: (-round(scores[i] or 0.0, 12), i)))
    # agreement: per compared pair, the majority outcome's share of its judgements
    shares = []
    split = []
    for (i, j), votes in sorted(voters.items()):
        counts = (wins[i][j], wins[j][i], tie_counts[i][j] + tie_counts[j][i])
        share = max(counts) / len(votes)
        shares.append(share)
        if share < 1:
            who = "; ".join(
                f"{'tie' if w is None else item.response_ids[w]}: {', '.join(v for v, x in votes if x == w)}"
                for w in dict.fromkeys(x for _, x in votes)
            )
            split.append(f"{item.response_ids[i]} vs {item.response_ids[j]}: {who}")
    agreement = sum(shares) / len(shares) if shares else 1.0
    annotators = len({j.worker for j in item.judgements})
    excluded = None
    if not voters:
        excluded = "no strict preference: every judgement is a tie (ties dropped)"
    elif annotators >= 2 and agreement < min_agreement:
        excluded = f"agreement {agreement:.3f} is below the threshold {min_agreement:g}"
    chosen_pairs: list[tuple[int, int]]
    if len(order) < 2:
        chosen_pairs = []
    elif pairs == "best-worst":
        chosen_pairs = [(order[0], order[-1])]
    else:
        chosen_pairs = [(order[a], order[b]) for a in range(len(order)) for b in range(a + 1, len(order))]
    out = []
    for better, worse in chosen_pairs:
        margin = (scores[better] or 0.0) - (scores[worse] or 0.0)
        is_tie = abs(margin) < SCORE_EPS
        if is_tie and ties == "drop":
            continue
        if is_tie:
            better, worse = min(better, worse), max(better, worse)
            margin = 0.0
        votes = voters.get((min(better, worse), max(better, worse)), [])
        up = sum(1 for _, w in votes if w == better)
        down = sum(1 for _, w in votes if w == worse)
        level = len(votes) - up - down
        share = (level if is_tie else up) / len(votes) if votes else 0.0
        out.append(PairVote(better, worse, is_tie, margin, 1 / (1 + math.exp(-margin)), share, up, down, level))
    return Aggregate(item, tuple(scores), order, tuple(out), agreement, excluded, tuple(split))


# --------------------------------------------------------------------------------------------- exporters


class PromptSidecar:
    """The metadata sidecar: one JSON line per prompt that wrote rows, each starting with ``{"rows":[FIRST,COUNT]``.

    The rows of a prompt are consecutive in the rows file, so ``FIRST`` (0-based) and ``COUNT`` join a sidecar
    line to its rows; the pair (or completion) entries of the line are in the same order as the rows.

    A later part of a ``--jobs`` export does not know its first row number until the parts before it are done.
    In *template* mode (:meth:`use_templates`) every line therefore starts with ``{"rows":[%d,COUNT]`` and has
    any other ``%`` doubled. Each line's ``COUNT`` also goes to a side file of 32-bit integers, and
    :attr:`chunks` indexes the template as ``[bytes, lines]`` runs of whole writes (a run is closed once it
    reaches :data:`TEMPLATE_CHUNK_BYTES`), so that :func:`truthloop.export._parallel.fill_templates` can fill in
    the first row numbers a run at a time with one ``bytes % numbers`` and without parsing the lines.
    """

    def __init__(self, file: AtomicFile) -> None:
        self.file = file
        self.template = False
        self.chunks: list[list[int]] = []
        self._counts: IO[bytes] | None = None

    def use_templates(self, counts: Path) -> None:
        """Write templates from now on, and the row count of each line to ``counts``."""
        self.template = True
        self._counts = counts.open("wb")

    def write_line(self, line: bytes, rows: int) -> None:
        """One sidecar line of ``rows`` rows as ``dumps_line`` wrote it (``{"rows":[N,…``)."""
        if self.template:
            line = b'{"rows":[%d' + line[line.index(b",") :].replace(b"%", b"%%")
            self._index(len(line), (rows,))
        self.file.write(line)

    def write(self, data: bytes, counts: Sequence[int]) -> None:
        """Whole lines already in this sidecar's form (template or not), of ``counts`` rows each."""
        if self.template:
            self._index(len(data), counts)
        self.file.write(data)

    def _index(self, size: int, counts: Sequence[int]) -> None:
        assert self._counts is not None
        self._counts.write(array("I", counts).tobytes())
        if self.chunks and self.chunks[-1][0] < TEMPLATE_CHUNK_BYTES:
            self.chunks[-1][0] += size
            self.chunks[-1][1] += len(counts)
        else:
            self.chunks.append([size, len(counts)])

    def close(self) -> None:
        if self._counts is not None:
            self._counts.close()


#: A template sidecar run (indexed, and later filled, at once) is closed when it reaches this size; a fast-path
#: batch (about 0.75 MB) is then one run. Runs of several MB were re-faulted from the OS at every fill and took
#: three times as long.
TEMPLATE_CHUNK_BYTES = 256 << 10


def _bool_option(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.lower() in ("true", "yes", "1")
    raise ExportError(f"option {name} must be true or false, got {value!r}")


class _PreferenceExporter(Exporter):
    requires_source: ClassVar[bool] = False
    parallel: ClassVar[bool] = True
    option_help: ClassVar[Mapping[str, str]] = {
        "ties": "drop (default) or keep: tied judgements ignored, or counted as ties and written with tie=true",
        "min_agreement": "exclude (and report) prompts whose annotators agree less than this (default 0.6)",
        "dimension": "which ranking dimension to use (default: the first one in each answer)",
        "aggregate": "bt (default): Bradley–Terry across annotators; none: each annotator's pairs (TRL only)",
        "pairs": "all (default): every pair in consolidated order; best-worst: one pair per prompt",
        "conversational": 'true: write [{"role","content"}] lists instead of plain strings',
        "fast": "true (default) reads common ranking lines with a typed decoder; false: the general path only",
    }

    def __init__(self, out: Path, *, attribute: str | None = None, **options: Any) -> None:
        super().__init__(out, attribute=attribute, **options)
        self.ties: Ties = options.get("ties", "drop")
        if self.ties not in ("drop", "keep"):
            raise ExportError(f"option ties must be drop or keep, got {self.ties!r}")
        try:
            self.min_agreement = float(options.get("min_agreement", 0.6))
        except (TypeError, ValueError):
            raise ExportError(f"option min_agreement must be a number, got {options['min_agreement']!r}") from None
        if not 0 <= self.min_agreement <= 1:
            raise ExportError("option min_agreement must be between 0 and 1")
        self.dimension: str | None = options.get("dimension")
        self.aggregate: str = options.get("aggregate", "bt")
        if self.aggregate not in ("bt", "none"):
            raise ExportError(f"option aggregate must be bt or none, got {self.aggregate!r}")
        self.pairs: Literal["all", "best-worst"] = options.get("pairs", "all")
        if self.pairs not in ("all", "best-worst"):
            raise ExportError(f"option pairs must be all or best-worst, got {self.pairs!r}")
        self.conversational = _bool_option(options.get("conversational", False), "conversational")
        self.fast = _bool_option(options.get("fast", True), "fast")
        stem = out.name[: -len(out.suffix)] if out.suffix else out.name
        self._rows = AtomicFile(out)
        self._meta = PromptSidecar(AtomicFile(out.with_name(f"{stem}.meta.jsonl")))
        self._report = AtomicFile(out.with_name(f"{stem}.disagreements.jsonl"))
        self._cache = _BtCache()
        self.row_count = 0
        self.excluded = 0

    def consume(self, reader: ManifestReader, skip: OnSkip) -> tuple[int, int]:
        """Ranking lines of the common shape go through a typed fast path that writes exactly what :meth:`add`
        would (see :mod:`truthloop.export._preference_fast`); every other line goes through :meth:`add`."""
        if not self.fast or self.aggregate != "bt":
            return super().consume(reader, skip)
        from truthloop.export._preference_fast import consume_fast

        return consume_fast(self, reader, skip)

    def _item(self, record: Record) -> PreferenceItem:
        return preference_items(record, attribute=self.attribute, dimension=self.dimension, s3_client=self.s3_client)

    def _prompt_text(self, text: str) -> bytes:
        if self.conversational:
            return b'[{"role":"user","content":' + encode(text) + b"}]"
        return encode(text)

    def _completion_text(self, text: str) -> bytes:
        if self.conversational:
            return b'[{"role":"assistant","content":' + encode(text) + b"}]"
        return encode(text)

    def _exclude(self, result: Aggregate) -> None:
        item = result.item
        self.excluded += 1
        report = {
            "prompt_id": item.prompt_id,
            "source": item.source,
            "job": item.job,
            "loop": item.loop,
            "dimension": item.dimension,
            "why": result.excluded,
            "agreement": round(result.agreement, 6),
            "threshold": self.min_agreement,
            "split_pairs": list(result.split),
            "judgements": [
                {"worker": j.worker, "ranking": _ranking_text(item.response_ids, j.ranks)} for j in item.judgements
            ],
        }
        self._report.write(dumps_line(report))

    def _prompt_meta(self, result: Aggregate, rows: int) -> dict[str, Any]:
        """The start of a prompt's sidecar line: its rows, where it came from, who judged it, how they agreed."""
        item = result.item
        workers = sorted({j.worker for j in item.judgements})
        return {
            "rows": [self.row_count, rows],
            "prompt_id": item.prompt_id,
            "source": item.source,
            "job": item.job,
            "loop": item.loop,
            "dimension": item.dimension,
            "workers": workers,
            "annotators": len(workers),
            "agreement": round(result.agreement, 6),
        }

    def prepare_part(self, index: int) -> None:
        if index > 0:  # the first row number is only known when the parts before are done
            self._meta.use_templates(self._meta.file.path.with_suffix(".counts"))

    def part_state(self) -> dict[str, Any]:
        return {"rows": self.row_count, "excluded": self.excluded, "chunks": self._meta.chunks}

    def append_part(self, folder: Path, state: Mapping[str, Any]) -> None:
        from truthloop.export._parallel import append_file, fill_templates

        append_file(self._rows, folder / self._rows.path.name)
        meta = folder / self._meta.file.path.name
        fill_templates(self._meta.file, meta, meta.with_suffix(".counts"), state["chunks"], self.row_count)
        append_file(self._report, folder / self._report.path.name)
        self.row_count += state["rows"]
        self.excluded += state["excluded"]

    def close(self) -> list[Path]:
        self.notes = [
            f"{self.row_count} rows written; {self.excluded} prompt(s) excluded for disagreement "
            f"(see {self._report.path.name})"
        ]
        self._meta.close()
        return [self._rows.commit(), self._meta.file.commit(), self._report.commit()]

    def abort(self) -> None:
        self._rows.discard()
        self._meta.close()
        self._meta.file.discard()
        self._report.discard()


def _ranking_text(ids: Sequence[str], ranks: Sequence[int]) -> str:
    """``"m2 > m1 = m3"``: a ranking as text, best first."""
    groups: dict[int, list[str]] = {}
    for response_id, rank in zip(ids, ranks, strict=True):
        groups.setdefault(rank, []).append(response_id)
    return " > ".join(" = ".join(groups[r]) for r in sorted(groups))


@register
class TrlExporter(_PreferenceExporter):
    name: ClassVar[str] = "trl"
    summary: ClassVar[str] = 'rankings / pairwise preferences → TRL preference JSONL {"prompt","chosen","rejected"}'

    def add(self, record: Record) -> int:
        item = self._item(record)
        if self.aggregate == "none":
            return self._add_raw(item)
        result = aggregate(item, ties=self.ties, min_agreement=self.min_agreement, pairs=self.pairs, cache=self._cache)
        if result.excluded is not None:
            self._exclude(result)
            return 0
        if not result.pairs:
            return 0
        prompt = self._prompt_text(item.prompt)
        texts = [self._completion_text(r) for r in item.responses]
        for pair in result.pairs:
            row = b'{"prompt":' + prompt + b',"chosen":' + texts[pair.chosen] + b',"rejected":' + texts[pair.rejected]
            self._rows.write(row + (b',"tie":true}\n' if pair.tie else b"}\n"))
        meta = self._prompt_meta(result, len(result.pairs))
        meta["pairs"] = [pair.sidecar_entry(item.response_ids) for pair in result.pairs]
        self._meta.write_line(dumps_line(meta), len(result.pairs))
        self.row_count += len(result.pairs)
        return len(result.pairs)

    def _add_raw(self, item: PreferenceItem) -> int:
        """Each annotator's own pairs; the sidecar line lists them with the annotator and the prompt's agreement."""
        prompt = self._prompt_text(item.prompt)
        texts = [self._completion_text(r) for r in item.responses]
        ids = item.response_ids
        entries = []
        for judgement in item.judgements:
            for better, worse, is_tie in expand_ranking(judgement.ranks, ties=self.ties):
                row = b'{"prompt":' + prompt + b',"chosen":' + texts[better] + b',"rejected":' + texts[worse]
                self._rows.write(row + (b',"tie":true}\n' if is_tie else b"}\n"))
                entries.append(
                    {
                        "chosen": ids[better],
                        "rejected": ids[worse],
                        "tie": is_tie,
                        "worker": judgement.worker,
                        "strength": judgement.strength,
                        "rationale": judgement.rationale,
                    }
                )
        if not entries:
            return 0
        result = aggregate(item, ties=self.ties, min_agreement=self.min_agreement, pairs=self.pairs, cache=self._cache)
        meta = self._prompt_meta(result, len(entries))
        meta["pairs"] = entries
        self._meta.write_line(dumps_line(meta), len(entries))
        self.row_count += len(entries)
        return len(entries)


@register
class KtoExporter(_PreferenceExporter):
    name: ClassVar[str] = "kto"
    summary: ClassVar[str] = 'rankings / pairwise preferences → KTO unpaired JSONL {"prompt","completion","label"}'

    def __init__(self, out: Path, *, attribute: str | None = None, **options: Any) -> None:
        super().__init__(out, attribute=attribute, **options)
        if self.aggregate != "bt":
            raise ExportError("KTO labels come from the Bradley–Terry consensus: aggregate must be bt")

    def add(self, record: Record) -> int:
        item = self._item(record)
        result = aggregate(item, ties=self.ties, min_agreement=self.min_agreement, pairs=self.pairs, cache=self._cache)
        if result.excluded is not None:
            self._exclude(result)
            return 0
        prompt = self._prompt_text(item.prompt)
        entries = []
        for index, desirable, entry in result.kto_completions(item.response_ids):
            completion = self._completion_text(item.responses[index])
            self._rows.write(
                b'{"prompt":'
                + prompt
                + b',"completion":'
                + completion
                + b',"label":'
                + (b"true}\n" if desirable else b"false}\n")
            )
            entries.append(entry)
        if not entries:
            return 0
        meta = self._prompt_meta(result, len(entries))
        meta["completions"] = entries
        self._meta.write_line(dumps_line(meta), len(entries))
        self.row_count += len(entries)
        return len(entries)
