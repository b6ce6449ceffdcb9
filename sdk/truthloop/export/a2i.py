"""Reviewed A2I results → a GT augmented manifest, the loop back from review to (re)training and labeling.

Input records are A2I ``output.json`` documents (a file, a folder or an ``s3://`` prefix of them, or JSON Lines
with one per line). Each is read with :func:`truthloop.review.results.review_result_from_output` and written as
``ReviewResult.to_manifest_line(attribute)``: the reviewers' consensus as ``<attribute>`` /
``<attribute>-metadata`` (``--attribute``, default ``reviewed``). A loop without a usable human answer is skipped
with the reason.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from truthloop.contracts import HumanLoopOutput
from truthloop.exceptions import ReviewError
from truthloop.export._files import AtomicFile
from truthloop.export.base import Exporter, register
from truthloop.manifest._json import dumps_line
from truthloop.manifest.reader import Record

__all__ = ["GtManifestExporter"]

DEFAULT_ATTRIBUTE = "reviewed"


@register
class GtManifestExporter(Exporter):
    name: ClassVar[str] = "gt-manifest"
    summary: ClassVar[str] = "A2I output.json (reviewed results) → GT augmented manifest for retraining"
    requires_source: ClassVar[bool] = False

    def __init__(self, out: Path, *, attribute: str | None = None, **options: Any) -> None:
        super().__init__(out, attribute=attribute, **options)
        self._file = AtomicFile(out)

    def add(self, record: Record) -> int:
        from truthloop.review.results import review_result_from_output

        output = HumanLoopOutput.parse(record.data)
        output_uri = record.source if record.source.startswith("s3://") else None
        result = review_result_from_output(output, output_s3_uri=output_uri)
        try:
            line = result.to_manifest_line(self.attribute or DEFAULT_ATTRIBUTE)
        except ReviewError as exc:
            raise record.error(str(exc)) from None
        self._file.write(dumps_line(line))
        return 1

    def close(self) -> list[Path]:
        return [self._file.commit()]

    def abort(self) -> None:
        self._file.discard()
