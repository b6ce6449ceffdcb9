"""The typed fast path of the ``trl`` and ``kto`` exporters for text-ranking lines.

Nearly every line of a ranking job's output manifest has the same shape: ``source``, ``responses``,
``responseIds``, the answers (passed through by GT as ``annotationsFromAllWorkers`` with JSON-string contents, or
the post-annotation Lambda's ``workerRankings``), and the custom-type metadata. This path decodes such a line in
one msgspec call into typed structs and leaves the answers undecoded; what a line exports then depends on very
little:

* the answer strings (few distinct ones: a ranking of three responses has 13 possible values per dimension),
  the number of distinct workers and the response ids decide the judgements and therefore the whole
  Bradley–Terry aggregation, agreement, exclusion and every number in the sidecar. They key a memo of
  *plans*: a ``bytes % args`` format of the line's rows and one of its sidecar line, computed once by the
  general code (:func:`~truthloop.export.preferences._ranking`, :func:`~truthloop.export.preferences.aggregate`);
* the prompt, the responses, the workers, the job and the line number are encoded per line and spliced in.

The sidecar is written as bytes in the same key order as the general path's ``dumps_line(dict)``, with every
value encoded by the same msgspec encoder, so both paths write byte-identical files (tests export corpora both
ways). Anything unusual — another shape, a second label attribute, an answer that does not parse, a prompt
excluded for disagreement (its report names workers), a blank or broken line — goes through the general path,
which decides and reports it.
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Callable
from functools import lru_cache
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import msgspec

from truthloop.exceptions import ContractError
from truthloop.manifest._json import decode, encode
from truthloop.manifest.labels import attributes, normalise_type

if TYPE_CHECKING:
    from truthloop.export.base import OnSkip
    from truthloop.export.preferences import _PreferenceExporter
    from truthloop.manifest.reader import ManifestReader

__all__ = ["consume_fast", "ranking_line_decoder"]

UNSET = msgspec.UNSET
#: Bound on each memo; they are cleared when full (real manifests use a handful of patterns).
_MEMO_ENTRIES = 1 << 16


class _AnnotationData(msgspec.Struct, gc=False):
    content: str


class _Annotation(msgspec.Struct, gc=False):
    workerId: str
    annotationData: _AnnotationData


class _WorkerRanking(msgspec.Struct, gc=False):
    workerId: str
    rankings: msgspec.Raw


class _Value(msgspec.Struct, gc=False):
    """The answers: passed through by GT, or the post-annotation Lambda's per-worker rankings.

    ``annotations`` and ``answers`` are only read to see whether they are there: the general path would read them
    before ``workerRankings``.
    """

    annotationsFromAllWorkers: list[_Annotation] | msgspec.UnsetType = UNSET
    annotations: Any = UNSET
    answers: Any = UNSET
    workerRankings: list[_WorkerRanking] | msgspec.UnsetType = UNSET


class _Meta(msgspec.Struct, gc=False, rename={"job__name": "job-name"}):
    type: str | None = None
    job_name: str | msgspec.UnsetType | None = UNSET
    job__name: str | msgspec.UnsetType | None = UNSET


@lru_cache(maxsize=32)
def ranking_line_decoder(attribute: str) -> msgspec.json.Decoder[Any]:
    """A decoder of ranking lines whose answers are under ``attribute`` (as GT passes them through).

    Keys that would send the general path elsewhere are decoded too: ``prompt`` takes precedence over ``source``,
    and an A2I document's ``humanAnswers`` fails the decode (the general path reads it).
    """
    line = msgspec.defstruct(
        "RankingLine",
        [
            ("responses", list[str]),
            ("value", _Value),
            ("meta", _Meta),
            ("source", str | msgspec.UnsetType, UNSET),
            ("prompt", str | msgspec.UnsetType, UNSET),
            ("response_ids", tuple[str, ...] | None | msgspec.UnsetType, UNSET),
            ("human_answers", msgspec.UnsetType, UNSET),
        ],
        rename={
            "value": attribute,
            "meta": attribute + "-metadata",
            "response_ids": "responseIds",
            "human_answers": "humanAnswers",
        },
        gc=False,
    )
    return msgspec.json.Decoder(line)


#: What one judgement pattern exports: ``(count, rows_format, pick, meta_head, meta_tail)``. With ``texts`` the
#: inner JSON of each response followed by the prompt's, ``rows_format % pick(texts)`` is the line's ``count`` rows;
#: its sidecar line is ``meta_head % (row, prompt_id, source, line, job)`` (without ``row`` in template mode), then
#: the memoised workers, then ``meta_tail`` (written as three pieces: the tail is not copied per line).
#: ``count`` 0: the line writes nothing.
_Plan = tuple[int, bytes, Callable[[list[bytes]], tuple[bytes, ...]], bytes, bytes]


def _literal(data: bytes) -> bytes:
    """``data`` as literal text of a ``bytes % args`` format."""
    return data.replace(b"%", b"%%")


def _make_plan(
    exporter: _PreferenceExporter, ids: tuple[str, ...], workers: tuple[str, ...], contents: tuple[str | bytes, ...]
) -> _Plan | None:
    """The rows of a line with these answers, computed by the general code; ``None`` → use the general path.

    A ``str`` content is a worker's answer as GT stores it (JSON text); ``bytes`` is the raw JSON of a
    ``workerRankings`` entry's ``rankings`` (the general path reads that entry as ``{"rankings": …}``).
    """
    from truthloop.export.preference_items import Judgement, PreferenceItem, _load_answer, _ranking
    from truthloop.export.preferences import aggregate

    n = len(ids)
    dimension = exporter.dimension
    judgements = []
    try:
        for worker, content in zip(workers, contents, strict=True):
            answer = {"rankings": decode(content)} if type(content) is bytes else _load_answer(content, "$")
            dimension, ranks = _ranking(answer, "$", n, dimension)
            judgements.append(Judgement(worker, ranks))
    except ContractError:
        return None  # the general path reports it with the full JSON path
    item = PreferenceItem("", ("",) * n, ids, tuple(judgements), dimension, "")
    result = aggregate(
        item, ties=exporter.ties, min_agreement=exporter.min_agreement, pairs=exporter.pairs, cache=exporter._cache
    )
    if result.excluded is not None:
        return None  # the disagreement report names workers: the general path writes it
    # A text is spliced in as the inside of its JSON string (see consume_fast), so the quotes are in the format.
    if exporter.conversational:
        prompt, text = b'[{"role":"user","content":"%b"}]', b'[{"role":"assistant","content":"%b"}]'
    else:
        prompt, text = b'"%b"', b'"%b"'
    rows_format: list[bytes] = []
    picks: list[int] = []  # indices into texts (responses, then the prompt at n)
    entries: list[dict[str, Any]] = []
    if exporter.name == "kto":
        list_name = b"completions"
        for index, desirable, entry in result.kto_completions(ids):
            label = b"true}\n" if desirable else b"false}\n"
            rows_format.append(b'{"prompt":' + prompt + b',"completion":' + text + b',"label":' + label)
            picks += (n, index)
            entries.append(entry)
    else:
        list_name = b"pairs"
        for pair in result.pairs:
            end = b',"tie":true}\n' if pair.tie else b"}\n"
            rows_format.append(b'{"prompt":' + prompt + b',"chosen":' + text + b',"rejected":' + text + end)
            picks += (n, pair.chosen, pair.rejected)
            entries.append(pair.sidecar_entry(ids))
    count = len(entries)
    if not count:
        return 0, b"", _nothing, b"", b""
    # The sidecar line, in the key order of the general path's dict: "rows", "prompt_id", "source" and "job" come
    # from the line, "loop" and "dimension" from here, "workers" and "annotators" from the line (memoised), the
    # rest from here. In template mode (see PromptSidecar) the output is itself a format, "%d" for the first row
    # and every other % doubled.
    template = exporter._meta.template
    # The head is a format (literal text escaped once); in template mode its output is itself a format, so the
    # literal text is escaped twice and the first row stays "%d". The tail is output as it is: escaped once in
    # template mode.
    loop_dimension = _literal(b',"loop":null,"dimension":' + encode(dimension))
    meta_head = (
        (b'{"rows":[%%d,' if template else b'{"rows":[%d,')
        + b"%d" % count
        + b'],"prompt_id":"%b","source":%b:%d","job":%b'
        + (_literal(loop_dimension) if template else loop_dimension)
    )
    meta_tail = b',"agreement":' + encode(round(result.agreement, 6)) + b',"' + list_name + b'":' + encode(entries)
    meta_tail = (_literal(meta_tail) if template else meta_tail) + b"}\n"
    return count, b"".join(rows_format), itemgetter(*picks), meta_head, meta_tail


def _nothing(_: list[bytes]) -> tuple[bytes, ...]:
    return ()


def _first_attribute(data: dict[str, Any]) -> str | None:
    """The attribute the general path reads answers from (the first ``<attr>-metadata`` holding an object)."""
    for name in attributes(data):
        if type(data.get(name + "-metadata")) is dict:
            return name
    return None


def consume_fast(exporter: _PreferenceExporter, reader: ManifestReader, skip: OnSkip) -> tuple[int, int]:
    """Export every line of ``reader`` through the fast path where it applies; see the module docstring.

    Texts are encoded together: ``encode([*responses, prompt])`` is ``["r0","r1",…,"prompt"]`` and splitting its
    inside at ``","`` gives each string's encoded inside. That sequence cannot occur within an encoded string
    (every quote in one is escaped, so it follows a backslash, never a comma), only between two of them.
    """
    exported = written = 0
    rows_file = exporter._rows
    meta_file = exporter._meta
    template = meta_file.template
    rows_out: list[bytes] = []
    meta_out: list[bytes] = []
    meta_counts: list[int] = []  # the row count of each sidecar line (template mode only)
    add_rows = rows_out.append
    add_meta = meta_out.append
    add_count = meta_counts.append
    plans: dict[tuple[Any, ...], _Plan | None] = {}
    worker_memo: dict[tuple[str, ...], tuple[bytes, int]] = {}
    good_types: set[str | None] = set()
    jobs: dict[Any, bytes] = {}
    decoder: Any = None
    count_attributes = exporter.attribute is None
    if not count_attributes:
        decoder = ranking_line_decoder(exporter.attribute or "")
    sha256 = hashlib.sha256
    hexlify = binascii.hexlify
    last_source = None
    source_arg = b""
    row = exporter.row_count
    decode_record = reader.decode

    def flush() -> None:
        """Write the buffered output."""
        if rows_out:
            rows_file.write(b"".join(rows_out))
            rows_out.clear()
        if meta_out:
            meta_file.write(b"".join(meta_out), meta_counts)
            meta_out.clear()
            meta_counts.clear()

    for source, first, batch in reader.batches():
        if source is not last_source:
            last_source = source
            source_arg = encode(source)[:-1]  # "path, closed after the line number
            if template:
                source_arg = _literal(source_arg)
        for number, raw in enumerate(batch, first):
            try:
                if count_attributes and raw.count(b'-metadata"') != 1:
                    raise LookupError  # another label attribute may come first: the general path picks
                if not raw.isascii():
                    raw.decode()  # msgspec checks UTF-8 only in the strings it decodes; the general path in all
                line = decoder.decode(raw)
                meta = line.meta
                if meta.type not in good_types:
                    if normalise_type(meta.type) not in ("custom", ""):
                        raise LookupError
                    good_types.add(meta.type)
                prompt = line.source if line.prompt is UNSET else line.prompt
                texts = line.responses
                n = len(texts)
                ids = line.response_ids
                if ids is UNSET or ids is None:
                    ids = tuple([str(i) for i in range(n)])
                elif len(ids) != n:
                    raise LookupError  # (n is not part of the plan key: checked on every line)
                if prompt is UNSET:
                    raise LookupError
                annotations = line.value.annotationsFromAllWorkers
                if annotations is not UNSET:
                    if len(annotations) == 3:  # the usual number of workers per object: spelled out, 5x cheaper
                        a0, a1, a2 = annotations
                        workers = (a0.workerId, a1.workerId, a2.workerId)
                        contents: tuple[str | bytes, ...] = (
                            a0.annotationData.content,
                            a1.annotationData.content,
                            a2.annotationData.content,
                        )
                    else:
                        workers = tuple([a.workerId for a in annotations])
                        contents = tuple([a.annotationData.content for a in annotations])
                else:  # the post-annotation Lambda's consolidated content: rankings as raw JSON (bytes keys)
                    value = line.value
                    rankings = value.workerRankings
                    if rankings is UNSET or value.annotations is not UNSET or value.answers is not UNSET:
                        raise LookupError
                    workers = tuple([w.workerId for w in rankings])
                    contents = tuple([bytes(w.rankings) for w in rankings])
                seen = worker_memo.get(workers)
                if seen is None:
                    distinct = sorted(set(workers))
                    seen = (b',"workers":%b,"annotators":%d' % (encode(distinct), len(distinct)), len(distinct))
                    if template:
                        seen = (_literal(seen[0]), seen[1])
                    if len(worker_memo) >= _MEMO_ENTRIES:
                        worker_memo.clear()
                    worker_memo[workers] = seen
                key = (ids, seen[1], contents)
                try:
                    plan = plans[key]
                except KeyError:
                    # these depend on the key only: checked once per pattern, no plan is made for a line failing them
                    if n < 2 or len(set(ids)) != n or not workers:
                        raise LookupError from None  # the general path reports (or reads) it
                    if len(plans) >= _MEMO_ENTRIES:
                        plans.clear()
                    plan = plans[key] = _make_plan(exporter, ids, workers, contents)
                if plan is None:
                    raise LookupError
                job_raw = meta.job_name if meta.job_name is not UNSET else meta.job__name
                job = jobs.get(job_raw)
                if job is None:
                    job = encode(job_raw.removeprefix("labeling-job/") if type(job_raw) is str else None)
                    jobs[job_raw] = job = _literal(job) if template else job
                texts.append(prompt)
                parts = encode(texts)[2:-2].split(b'","')
                if len(parts) != n + 1:
                    raise LookupError  # cannot happen (see above); never write a misaligned row
            except Exception:  # not the common shape: the general path decides (and reports any problem)
                flush()
                record = decode_record((source, number, raw))
                if record is None:
                    continue
                exporter.row_count = row
                items = exporter.add_or_skip(record, skip)
                if items is not None:
                    exported += 1
                    written += items
                    if decoder is None:
                        attribute = _first_attribute(record.data)
                        if attribute is not None and "humanAnswers" not in record.data:
                            decoder = ranking_line_decoder(attribute)
                row = exporter.row_count
                continue
            count, rows_format, pick, meta_head, meta_tail = plan
            exported += 1
            if not count:
                continue
            prompt_id = hexlify(sha256(prompt.encode()).digest()[:8])
            add_rows(rows_format % pick(parts))
            if template:
                add_meta(meta_head % (prompt_id, source_arg, number, job))
                add_count(count)
            else:
                add_meta(meta_head % (row, prompt_id, source_arg, number, job))
            add_meta(seen[0])
            add_meta(meta_tail)
            row += count
            written += count
        flush()
    flush()
    exporter.row_count = row
    return exported, written
