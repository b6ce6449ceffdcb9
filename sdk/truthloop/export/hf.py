"""Any label type → a Hugging Face ``datasets`` dataset folder, read back with ``datasets.load_from_disk(OUT)``.

Needs the ``hf`` extra (``pip install 'truthloop[hf]'``); ``datasets`` and ``pyarrow`` are imported only when
this format is used (importing ``datasets`` takes about a second).

**What a row is** depends on the label type, chosen by the first line with a label (``rows=auto``, the default)
or by the ``rows`` option; a line of another type is then skipped with the reason:

=================  ==================================================================================
``detection``      ``{"image", "width", "height", "objects": [{"bbox": [left, top, width, height],
                   "category", "label", "confidence"}]}`` (pixels as GT wrote them; ``category`` is GT's
                   ``class_id``, ``label`` its ``class-map`` name or the id as text)
``classification`` ``{"source", "label", "class_id", "confidence", "human_annotated", "job_name"}``
``multilabel``     ``{"source", "labels", "class_ids", "confidences", "human_annotated", "job_name"}``
``ner``            ``{"text", "spans": [{"start", "end", "label"}], "tokens", "ner_tags"}`` (character
                   offsets; tokens and IOB2 tags as in the ``conll`` format)
``segmentation``   ``{"image", "mask", "classes": [{"index", "name", "color"}]}``
``preference``     TRL preference rows ``{"prompt", "chosen", "rejected"}`` (``"tie"`` too with
                   ``ties=keep``; ``[{"role","content"}]`` lists with ``conversational=true``), made by the
                   ``trl`` pipeline with the same options; its sidecar and disagreement report are written
                   into the folder as ``meta.jsonl`` and ``disagreements.jsonl``
``kto``            KTO rows ``{"prompt", "completion", "label"}`` from the ``kto`` pipeline, likewise
=================  ==================================================================================

**How it is written.** Rows go in batches of :data:`BATCH_ROWS` into an Arrow IPC stream in a staging folder
next to the output (constant memory), with the schema of the row type's ``datasets.Features``. At the end
``datasets.Dataset.from_file`` memory-maps that stream and ``save_to_disk`` writes the folder in the layout
``datasets`` owns (``data-*.arrow``, ``dataset_info.json``, ``state.json``), so only public ``datasets`` API
decides that layout. The staging folder is removed either way.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar

from truthloop.exceptions import ContractError, ExportError
from truthloop.export.base import Exporter, OnSkip, register
from truthloop.export.ner import iob_tags, tokenize
from truthloop.export.preferences import KtoExporter, TrlExporter, _PreferenceExporter
from truthloop.manifest._json import DecodeError, decode
from truthloop.manifest.labels import (
    BOX_TYPES,
    CLASS_TYPES,
    CUSTOM_TYPES,
    MASK_TYPES,
    SPAN_TYPES,
    boxes,
    classes,
    label_info,
    line_source,
    mask,
    normalise_type,
    spans,
)
from truthloop.manifest.reader import ManifestReader, Record

__all__ = ["BATCH_ROWS", "ROW_TYPES", "HfExporter"]

#: Rows per Arrow record batch.
BATCH_ROWS = 1000
ROW_TYPES = ("auto", "detection", "classification", "multilabel", "ner", "segmentation", "preference", "kto")
_PREFERENCE_OPTIONS = ("ties", "min_agreement", "dimension", "aggregate", "pairs", "conversational", "fast")
#: How many lines ``rows=auto`` looks at to find the first one with a label.
_PEEK_LINES = 10_000
_INT64 = 1 << 63


def _kind_of(task: str) -> str | None:
    """The row type for a normalised metadata type."""
    if task in BOX_TYPES:
        return "detection"
    if task in CLASS_TYPES:
        return "multilabel" if task.endswith("-multilabel") else "classification"
    if task in SPAN_TYPES:
        return "ner"
    if task in MASK_TYPES:
        return "segmentation"
    if task in CUSTOM_TYPES:
        return "preference"
    return None


def _types_of(kind: str) -> frozenset[str]:
    if kind == "detection":
        return BOX_TYPES
    if kind == "classification":
        return frozenset(t for t in CLASS_TYPES if not t.endswith("-multilabel"))
    if kind == "multilabel":
        return frozenset(t for t in CLASS_TYPES if t.endswith("-multilabel"))
    if kind == "ner":
        return SPAN_TYPES
    if kind == "segmentation":
        return MASK_TYPES
    return CUSTOM_TYPES


def _int64(value: int, what: str) -> int:
    if not -_INT64 <= value < _INT64:
        raise ContractError(f"{what} {value} does not fit a 64-bit integer column")
    return value


def _features(kind: str, *, conversational: bool = False, ties: bool = False) -> Any:
    """The ``datasets.Features`` of a row type."""
    from datasets import Features, Value

    string, int64, float64, boolean = Value("string"), Value("int64"), Value("float64"), Value("bool")
    if kind == "detection":
        objects = [{"bbox": [float64], "category": int64, "label": string, "confidence": float64}]
        return Features({"image": string, "width": int64, "height": int64, "objects": objects})
    if kind == "classification":
        return Features(
            {
                "source": string,
                "label": string,
                "class_id": int64,
                "confidence": float64,
                "human_annotated": boolean,
                "job_name": string,
            }
        )
    if kind == "multilabel":
        return Features(
            {
                "source": string,
                "labels": [string],
                "class_ids": [int64],
                "confidences": [float64],
                "human_annotated": boolean,
                "job_name": string,
            }
        )
    if kind == "ner":
        spans_ = [{"start": int64, "end": int64, "label": string}]
        return Features({"text": string, "spans": spans_, "tokens": [string], "ner_tags": [string]})
    if kind == "segmentation":
        classes_ = [{"index": int64, "name": string, "color": string}]
        return Features({"image": string, "mask": string, "classes": classes_})
    text: Any = [{"role": string, "content": string}] if conversational else string
    if kind == "kto":
        return Features({"prompt": text, "completion": text, "label": boolean})
    fields = {"prompt": text, "chosen": text, "rejected": text}
    return Features({**fields, "tie": boolean} if ties else fields)


# ------------------------------------------------------------------------------------------------ rows


def _detection_row(record: Record, attr: str) -> dict[str, Any]:
    source = record.data.get("source-ref")
    if type(source) is not str:
        raise record.error("a detection row needs an image: the line has no source-ref")
    label = boxes(record.data, attr)
    if label.width is None or label.height is None:
        raise record.error(f"{attr}: no image_size; detection rows need the image width and height")
    size = []
    for name, value in (("width", label.width), ("height", label.height)):
        if value != int(value):
            raise record.error(f"{attr}: image_size {name} {value} is not a whole number of pixels")
        size.append(_int64(int(value), f"image_size {name}"))
    objects = [
        {
            "bbox": [box.left, box.top, box.width, box.height],
            "category": _int64(box.class_id, "class_id"),
            "label": label.class_name(box.class_id) or str(box.class_id),
            "confidence": box.confidence,
        }
        for box in label.boxes
    ]
    return {"image": source, "width": size[0], "height": size[1], "objects": objects}


def _classification_row(record: Record, attr: str) -> dict[str, Any]:
    label = classes(record.data, attr)
    info = label_info(record.data, attr)
    names = [n if n is not None else str(i) for i, n in zip(label.class_ids, label.names, strict=True)]
    ids = [_int64(i, "class id") for i in label.class_ids]
    row: dict[str, Any] = {"source": line_source(record.data)}
    if label.multilabel:
        row.update(labels=names, class_ids=ids, confidences=list(label.confidences))
    else:
        row.update(label=names[0], class_id=ids[0], confidence=label.confidences[0])
    row.update(human_annotated=info.human_annotated, job_name=info.job_name)
    return row


def _ner_row(record: Record, attr: str) -> dict[str, Any]:
    label = spans(record.data, attr)
    if label.text is None:
        raise record.error(f"{attr}: NER rows need the text inline in source (this line has only source-ref)")
    tokens = tokenize(label.text)
    return {
        "text": label.text,
        "spans": [{"start": e.start, "end": e.end, "label": e.label} for e in label.entities],
        "tokens": [t for t, _, _ in tokens],
        "ner_tags": iob_tags(tokens, label.entities),
    }


def _segmentation_row(record: Record, attr: str) -> dict[str, Any]:
    label = mask(record.data, attr)
    classes_ = [
        {"index": _int64(index, "mask index"), "name": entry.name, "color": entry.hex_color}
        for index, entry in label.classes.items()
    ]
    return {"image": line_source(record.data), "mask": label.uri, "classes": classes_}


_ROWS: dict[str, Callable[[Record, str], dict[str, Any]]] = {
    "detection": _detection_row,
    "classification": _classification_row,
    "multilabel": _classification_row,
    "ner": _ner_row,
    "segmentation": _segmentation_row,
}


# ------------------------------------------------------------------------------------------------ writer


class _ArrowStage:
    """Rows → an Arrow IPC stream file, in record batches of :data:`BATCH_ROWS`."""

    def __init__(self, path: Path, features: Any) -> None:
        import pyarrow as pa  # type: ignore[import-untyped]

        self._pa = pa
        self.path = path
        self.features = features
        self.schema = features.arrow_schema
        self._sink = pa.OSFile(str(path), "wb")
        self._writer = pa.ipc.new_stream(self._sink, self.schema)
        self._rows: list[dict[str, Any]] = []
        self.count = 0

    def append(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        if len(self._rows) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        if self._rows:
            self._writer.write_batch(self._pa.RecordBatch.from_pylist(self._rows, schema=self.schema))
            self.count += len(self._rows)
            self._rows.clear()

    def close(self) -> None:
        self.flush()
        self._writer.close()
        self._sink.close()


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """``datasets`` progress bars off while saving (restored after): truthloop draws its own."""
    from datasets.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            enable_progress_bars()


@register
class HfExporter(Exporter):
    name: ClassVar[str] = "hf"
    summary: ClassVar[str] = "any label type → Hugging Face datasets folder (load_from_disk); needs truthloop[hf]"
    label_types = BOX_TYPES | CLASS_TYPES | SPAN_TYPES | MASK_TYPES | CUSTOM_TYPES
    writes: ClassVar[str] = "directory"
    requires_source: ClassVar[bool] = False
    option_help: ClassVar[Mapping[str, str]] = {
        "rows": "auto (default: by the first labelled line), " + ", ".join(ROW_TYPES[1:]),
        **{k: f"preference/kto rows: as for trl ({v})" for k, v in _PreferenceExporter.option_help.items()},
    }

    def __init__(self, out: Path, *, attribute: str | None = None, **options: Any) -> None:
        super().__init__(out, attribute=attribute, **options)
        try:
            import datasets  # noqa: F401
            import pyarrow  # noqa: F401
        except ImportError:
            raise ExportError("the hf format needs the datasets package: pip install 'truthloop[hf]'") from None
        self.rows: str = options.get("rows", "auto")
        if self.rows not in ROW_TYPES:
            raise ExportError(f"option rows must be one of {', '.join(ROW_TYPES)}, got {self.rows!r}")
        self._preference_options = {k: v for k, v in options.items() if k in _PREFERENCE_OPTIONS}
        if self._preference_options and self.rows not in ("auto", "preference", "kto"):
            given = ", ".join(sorted(self._preference_options))
            raise ExportError(f"option(s) {given} only apply to preference or kto rows, not {self.rows} rows")
        if self.rows != "auto":
            self.wanted_types = _types_of(self.rows)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            self._staging = Path(tempfile.mkdtemp(prefix=".truthloop-hf-", dir=out.parent))
        except OSError as exc:
            raise ExportError(f"{out}: cannot create a staging folder next to it: {exc.strerror or exc}") from None
        self._kind: str | None = None
        self._kind_line: str = ""
        self._stage: _ArrowStage | None = None
        self._inner: _PreferenceExporter | None = None

    # ------------------------------------------------------------------------------------------ choosing rows

    def _peek(self, reader: ManifestReader) -> str | None:
        """The row type of the first labelled line (``None`` when there is none, or the input is stdin)."""
        if reader.location.is_stdio:
            return None
        peek = ManifestReader(reader.location.uri, s3_client=reader.s3_client, on_error=lambda _: None)
        for index, record in enumerate(peek):
            if index >= _PEEK_LINES:
                break
            if "humanAnswers" in record.data:
                return "preference"
            try:
                attr = self.label_attribute(record)
            except Exception:  # no usable label on this line: look further
                continue
            return _kind_of(normalise_type(record.data[attr + "-metadata"].get("type")))
        return None

    def _start(self, kind: str, where: str) -> None:
        self._kind = kind
        self._kind_line = where
        if kind in ("preference", "kto"):
            cls = KtoExporter if kind == "kto" else TrlExporter
            self._inner = cls(self._staging / "rows.jsonl", attribute=self.attribute, **self._preference_options)
            self._inner.s3_client = self.s3_client
        else:
            self._stage = _ArrowStage(self._staging / "data.arrow", _features(kind))

    def consume(self, reader: ManifestReader, skip: OnSkip) -> tuple[int, int]:
        """Preference rows go through the trl/kto pipeline (and its fast path); other rows line by line."""
        kind = self.rows if self.rows != "auto" else self._peek(reader)
        if kind in ("preference", "kto"):
            self._start(kind, "the first labelled line")
            assert self._inner is not None
            return self._inner.consume(reader, skip)
        return super().consume(reader, skip)

    def add(self, record: Record) -> int:
        if "humanAnswers" in record.data:
            kind = "kto" if self.rows == "kto" else "preference"
            attr = ""
        else:
            attr = self.label_attribute(record)
            task = normalise_type(record.data[attr + "-metadata"].get("type"))
            kind = _kind_of(task) or ""
            if kind == "preference" and self.rows == "kto":
                kind = "kto"
        where = f"line {record.line}" + ("" if record.source == "-" else f" of {Path(record.source).name}")
        if self._kind is None:
            self._start(kind, where)
        elif kind != self._kind and not (kind == "preference" and self._kind == "kto"):
            raise record.error(
                f"{attr}: {kind} rows cannot join this dataset of {self._kind} rows (from {self._kind_line}); "
                f"export them on their own with -O rows={kind}"
            )
        if self._inner is not None:
            return self._inner.add(record)
        assert self._stage is not None
        self._stage.append(_ROWS[kind](record, attr))
        return 1

    # ------------------------------------------------------------------------------------------ finishing

    def close(self) -> list[Path]:
        try:
            if self._inner is not None:
                self._inner.close()
                self._stage = self._preference_stage(self._inner)
            if self._stage is None:  # nothing was exported: an empty dataset of the requested (or no) row type
                features = _features(self._kind or self.rows) if (self._kind or self.rows) != "auto" else None
                if features is None:
                    from datasets import Features

                    features = Features({})
                self._stage = _ArrowStage(self._staging / "data.arrow", features)
            self._stage.close()
            self._save(self._stage)
            if self._inner is not None:
                self.notes = [
                    f"{self._inner.row_count} rows written; {self._inner.excluded} prompt(s) excluded for "
                    f"disagreement (see {self.out.name}/disagreements.jsonl)"
                ]
        finally:
            shutil.rmtree(self._staging, ignore_errors=True)
        return [self.out]

    def _preference_stage(self, inner: _PreferenceExporter) -> _ArrowStage:
        """The trl/kto rows file (and sidecars) of the inner exporter as an Arrow stage."""
        assert self._kind is not None
        ties = inner.ties == "keep" and self._kind == "preference"
        stage = _ArrowStage(
            self._staging / "data.arrow", _features(self._kind, conversational=inner.conversational, ties=ties)
        )
        rows_file = self._staging / "rows.jsonl"
        with rows_file.open("rb") as handle:
            for number, raw in enumerate(handle, 1):
                try:
                    row = decode(raw)
                except DecodeError as exc:  # truthloop wrote this file: a failure here is a bug, not bad input
                    raise ExportError(f"{rows_file}:{number}: cannot read back a {self._kind} row: {exc}") from None
                if ties:
                    row.setdefault("tie", False)
                stage.append(row)
        self.out.mkdir(parents=True, exist_ok=True)
        for suffix in ("meta", "disagreements"):
            shutil.move(self._staging / f"rows.{suffix}.jsonl", self.out / f"{suffix}.jsonl")
        return stage

    def _save(self, stage: _ArrowStage) -> None:
        from datasets import Dataset, DatasetInfo

        with _quiet_datasets():
            dataset = Dataset.from_file(str(stage.path), info=DatasetInfo(features=stage.features))
            try:
                # one shard at least: datasets cannot load a folder saved with zero shards
                dataset.save_to_disk(str(self.out), num_shards=None if len(dataset) else 1)
            finally:
                del dataset

    def abort(self) -> None:
        if self._inner is not None:
            self._inner.abort()
        if self._stage is not None:
            with contextlib.suppress(Exception):
                self._stage.close()
        shutil.rmtree(self._staging, ignore_errors=True)
        super().abort()
