"""Export throughput and memory: a 1,000,000-line bounding-box manifest → COCO, a ranking manifest → TRL.

Prints ONE JSON object on stdout. Each export runs in its own subprocess (``truthloop export``'s Python API), so the
peak RSS reported is the exporter's alone (``ru_maxrss`` of that child, or of its largest worker with ``--jobs``),
not the generator's. ``cpu_seconds`` (user + system of the export call, workers included) is reported next to the
wall time: on a busy machine ``lines / cpu_seconds`` is the steadier number. The load average is recorded before
and after. The page cache is flushed (``sync``) after generating the manifests and after each export's outputs are
removed, so that no export pays for writing back another one's files; each export's own output is not synced.

Targets (issue 6): ≥ 200,000 lines/s and ≤ 200 MB peak RSS. TRL is measured in one process and with ``--jobs``
(2 by default; ``truthloop export``'s default ``--jobs auto`` picks one process per CPU for a file this large); both
write byte-identical files.

``phases_us_per_line`` (skip with ``--no-phases``) times the steps of the trl fast path cumulatively on the first
200,000 ranking lines, in this process, with the real decoder, plan and encoders (a stripped copy of the loop, so
the steps add up to a little less than the real export): where a line's time goes.

Generated data (deterministic):
* boxes: ``source-ref``, ``image_size``, 1–4 boxes per line (mean 2.5) with per-box confidences, a 3-class
  class-map and built-in metadata — the shape GT writes for ``groundtruth/object-detection``.
* ranking: a text-ranking job's output line — prompt in ``source``, ``responses`` + ``responseIds`` (3 responses)
  and the three annotators' answers passed through by the consolidation Lambda (``annotationsFromAllWorkers`` with
  JSON-string contents); most annotators agree, some swap two responses, some tie.

Usage: ``python bench/export.py [--lines N] [--ranking-lines N] [--jobs N] [--tmp DIR] [--no-phases]``
(``--tmp /dev/shm`` takes the disk out of the measurement).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec

ROOT = Path(__file__).resolve().parents[1]

_CHILD = r"""
import json, resource, sys, time
from truthloop.export import export
fmt, src, out, jobs = sys.argv[1:5]
def cpu():
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime
started, cpu_started = time.perf_counter(), cpu()
report = export(src, fmt, out, jobs=int(jobs))
seconds, cpu_seconds = time.perf_counter() - started, cpu() - cpu_started
me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({
    "lines": report.lines_read, "exported": report.lines_exported, "skipped": report.lines_skipped,
    "items": report.items_written, "seconds": seconds, "cpu_seconds": cpu_seconds,
    "peak_rss_mb": max(me.ru_maxrss, children.ru_maxrss) / 1024, "notes": report.notes,
}))
"""


def generate_boxes(path: Path, lines: int) -> None:
    encode = msgspec.json.Encoder().encode
    names = {"0": "person", "1": "car", "2": "bicycle"}
    with path.open("wb", buffering=1 << 20) as out:
        for i in range(lines):
            count = i % 4 + 1
            boxes = [
                {
                    "class_id": (i + j) % 3,
                    "left": 10 + 37 * j + i % 50,
                    "top": 20 + 11 * j,
                    "width": 40 + j,
                    "height": 30 + i % 7,
                }
                for j in range(count)
            ]
            line = {
                "source-ref": f"s3://bench-images/batch-{i // 10000:03d}/img-{i:07d}.jpg",
                "bb": {"image_size": [{"width": 640, "height": 480, "depth": 3}], "annotations": boxes},
                "bb-metadata": {
                    "objects": [{"confidence": 0.5 + ((i + j) % 50) / 100} for j in range(count)],
                    "class-map": names,
                    "type": "groundtruth/object-detection",
                    "human-annotated": "yes",
                    "creation-date": "2024-05-01T12:00:00.000000",
                    "job-name": "labeling-job/street-objects",
                },
            }
            out.write(encode(line) + b"\n")


_ORDERS = ([1, 2, 3], [1, 3, 2], [2, 1, 3], [1, 1, 2])


def generate_ranking(path: Path, lines: int) -> None:
    encode = msgspec.json.Encoder().encode
    with path.open("wb", buffering=1 << 20) as out:
        for i in range(lines):
            # a true order per prompt; annotators mostly follow it, one sometimes swaps or ties
            base = [(i + k) % 3 + 1 for k in range(3)]
            answers = []
            for w in range(3):
                ranks = base if (i + w) % 5 else [_ORDERS[(i + w) % 4][r - 1] for r in base]
                content = encode({"ranking": {"rankings": {"helpfulness": ranks}}}).decode()
                answers.append(
                    {"workerId": f"private.us-east-1.worker{(i + w) % 40:02d}", "annotationData": {"content": content}}
                )
            line = {
                "source": f"Question {i}: explain how a hash map resolves collisions in a few sentences.",
                "responses": [
                    f"Answer A{i}: by chaining entries in buckets, or by open addressing with probing.",
                    f"Answer B{i}: it stores everything in a list and searches it.",
                    f"Answer C{i}: collisions cannot happen in a hash map.",
                ],
                "responseIds": ["model-a", "model-b", "model-c"],
                "rank": {"annotationsFromAllWorkers": answers},
                "rank-metadata": {
                    "type": "groundTruth/custom",
                    "job_name": "rank-answers",
                    "human-annotated": "yes",
                    "creation_date": "2024-05-05T12:00:00.000000",
                },
            }
            out.write(encode(line) + b"\n")


def run_export(fmt: str, src: Path, out: Path, jobs: int = 1) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "sdk"), os.environ.get("PYTHONPATH", "")])}
    completed = subprocess.run(
        [sys.executable, "-c", _CHILD, fmt, str(src), str(out), str(jobs)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"export {fmt} failed:\n{completed.stderr}")
    result: dict[str, Any] = json.loads(completed.stdout)
    result["jobs"] = jobs
    result["lines_per_second"] = round(result["lines"] / result["seconds"])
    result["lines_per_cpu_second"] = round(result["lines"] / result["cpu_seconds"])
    result["seconds"] = round(result["seconds"], 3)
    result["cpu_seconds"] = round(result["cpu_seconds"], 3)
    result["peak_rss_mb"] = round(result["peak_rss_mb"], 1)
    result["input_mb"] = round(src.stat().st_size / 1e6, 1)
    result["output_mb"] = round(sum(p.stat().st_size for p in out.parent.glob(out.stem + "*")) / 1e6, 1)
    if not result["notes"] or fmt == "coco":
        del result["notes"]
    for path in out.parent.glob(out.stem + "*"):
        path.unlink()
    os.sync()  # the next export starts without this one's (or the generator's) writes being flushed meanwhile
    return result


#: The steps of the trl fast path, timed cumulatively by :func:`phases` (each includes the ones before it).
PHASES = (
    "read lines",
    "check attributes",
    "decode",
    "find plan",
    "encode texts",
    "prompt id",
    "format rows",
    "format sidecar",
    "join and write",
)


def phases(src: Path, folder: Path, lines: int = 200_000) -> dict[str, float]:
    """Microseconds per line of each fast-path step (best of three cumulative runs, then the differences)."""
    import binascii
    import hashlib
    from itertools import islice

    sys.path.insert(0, str(ROOT / "sdk"))
    from truthloop.export._preference_fast import _make_plan, ranking_line_decoder
    from truthloop.export.preferences import TrlExporter
    from truthloop.manifest._json import encode

    decode = ranking_line_decoder("rank").decode
    exporter = TrlExporter(folder / "phases.jsonl")
    sha256, hexlify = hashlib.sha256, binascii.hexlify
    source = encode(str(src))[:-1]

    def run(stop: int) -> float:
        plans: dict[Any, Any] = {}
        memo: dict[Any, Any] = {}
        rows_out: list[bytes] = []
        meta_out: list[bytes] = []
        row = 0
        read = 0
        started = time.perf_counter()
        with (
            src.open("rb", buffering=1 << 20) as handle,
            (folder / "phases.rows").open("wb") as rows_file,
            (folder / "phases.meta").open("wb") as meta_file,
        ):
            while read < lines and (batch := list(islice(handle, 1024))):
                read += len(batch)
                for number, raw in enumerate(batch, read - len(batch) + 1):
                    if stop < 1:
                        continue
                    raw.count(b'-metadata"')
                    if stop < 2:
                        continue
                    line = decode(raw)
                    if stop < 3:
                        continue
                    texts, ids = line.responses, line.response_ids
                    a0, a1, a2 = line.value.annotationsFromAllWorkers
                    workers = (a0.workerId, a1.workerId, a2.workerId)
                    contents = (a0.annotationData.content, a1.annotationData.content, a2.annotationData.content)
                    seen = memo.get(workers)
                    if seen is None:
                        seen = memo[workers] = (b',"workers":%b,"annotators":3' % encode(sorted(set(workers))), 3)
                    plan = plans.get((ids, seen[1], contents))
                    if plan is None:
                        plan = plans[(ids, seen[1], contents)] = _make_plan(exporter, ids, workers, contents)
                    if stop < 4:
                        continue
                    texts.append(line.source)
                    parts = encode(texts)[2:-2].split(b'","')
                    if stop < 5:
                        continue
                    prompt_id = hexlify(sha256(line.source.encode()).digest()[:8])
                    if stop < 6:
                        continue
                    count, rows_format, pick, meta_head, meta_tail = plan
                    rows_out.append(rows_format % pick(parts))
                    if stop < 7:
                        continue
                    meta_out += (meta_head % (row, prompt_id, source, number, b'"rank-answers"'), seen[0], meta_tail)
                    row += count
                if stop >= 8:
                    rows_file.write(b"".join(rows_out))
                    meta_file.write(b"".join(meta_out))
                rows_out.clear()
                meta_out.clear()
        return (time.perf_counter() - started) / read * 1e6

    totals = [min(run(stop) for _ in range(3)) for stop in range(len(PHASES))]
    exporter.abort()
    for name in ("phases.rows", "phases.meta"):
        (folder / name).unlink()
    before = [0.0, *totals]
    steps = {name: round(total - before[i], 2) for i, (name, total) in enumerate(zip(PHASES, totals, strict=True))}
    return {**steps, "total": round(totals[-1], 2)}


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000, help="bounding-box manifest lines")
    parser.add_argument("--ranking-lines", type=int, default=1_000_000, help="ranking manifest lines")
    parser.add_argument("--jobs", type=int, default=2, help="processes for the second TRL run (default 2)")
    parser.add_argument("--tmp", help="folder for the generated manifests and the outputs (default: the system's)")
    parser.add_argument("--no-phases", action="store_true", help="skip timing the steps of the trl fast path")
    args = parser.parse_args()
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="truthloop-bench-", dir=args.tmp) as folder:
        tmp = Path(folder)
        started = time.perf_counter()
        generate_boxes(tmp / "boxes.manifest", args.lines)
        generate_ranking(tmp / "ranking.manifest", args.ranking_lines)
        generated = time.perf_counter() - started
        os.sync()
        load_start = _load()
        results = {
            "coco": run_export("coco", tmp / "boxes.manifest", tmp / "coco.json"),
            "trl": run_export("trl", tmp / "ranking.manifest", tmp / "dpo.jsonl"),
            f"trl_jobs{args.jobs}": run_export("trl", tmp / "ranking.manifest", tmp / "dpo.jsonl", jobs=args.jobs),
        }
        load_end = _load()
        steps = None if args.no_phases or not args.ranking_lines else phases(tmp / "ranking.manifest", tmp)
    print(
        json.dumps(
            {
                "benchmark": "export",
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load_average": {"before": load_before, "exports_start": load_start, "exports_end": load_end},
                "tmp": str(Path(folder).parent),
                "generate_seconds": round(generated, 1),
                "targets": {"lines_per_second": 200_000, "peak_rss_mb": 200},
                "results": results,
                "meets_targets": {
                    name: r["lines_per_second"] >= 200_000 and r["peak_rss_mb"] <= 200 for name, r in results.items()
                },
                **({"phases_us_per_line": steps} if steps is not None else {}),
            }
        )
    )


if __name__ == "__main__":
    main()
