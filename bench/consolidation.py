"""Benchmark truthloop.consolidation against gold labels (and crowd-kit, when importable).

Runs every dataset in the bench-data folder (``TRUTHLOOP_BENCH_DATA``, default ``../shared/bench-data`` next to
the repository): the categorical methods on the categorical sets, :class:`BoxAggregator` on the box set and the
numeric aggregators on ``emotion_numeric``. Prints a table to stderr and ONE JSON object to stdout, also written
to ``bench/results/consolidation-<UTC time>.json``.

    .venv/bin/python bench/consolidation.py                       # truthloop only
    PYTHONPATH=sdk .bench-venv/bin/python bench/consolidation.py  # side by side with crowd-kit

Fit times are the best of several runs on an already-built table (``Answers`` for truthloop, a pandas
``DataFrame`` for crowd-kit); building the table (``encode_s``) is reported separately.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "sdk"))

from truthloop.consolidation import Answers  # noqa: E402
from truthloop.consolidation.boxes import BoxAggregator, WorkerBox, iou_matrix  # noqa: E402
from truthloop.consolidation.methods import DEFAULT_METHOD, METHODS  # noqa: E402
from truthloop.consolidation.numeric import NumericAggregator, Ratings  # noqa: E402

CK_NAMES = {
    "mv": "MajorityVote",
    "wawa": "Wawa",
    "ds": "DawidSkene",
    "ods": "OneCoinDawidSkene",
    "glad": "GLAD",
    "mace": "MACE",
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def best_time(fn: Callable[[], Any], budget_s: float = 1.0, max_runs: int = 5) -> tuple[float, Any]:
    """Best wall time of up to ``max_runs`` runs (fewer once ``budget_s`` is spent), and the last result."""
    times = []
    result = None
    spent = 0.0
    for _ in range(max_runs):
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
        times.append(elapsed)
        spent += elapsed
        if spent > budget_s:
            break
    return min(times), result


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


# ------------------------------------------------------------------ categorical


def categorical(folder: Path, methods: list[str], crowdkit: Any) -> dict[str, Any]:
    rows = read_csv(folder / "answers.csv")
    gold = {r["task"]: r["label"] for r in read_csv(folder / "gold.csv")}
    columns = ([r["task"] for r in rows], [r["worker"] for r in rows], [r["label"] for r in rows])
    encode_s, answers = best_time(lambda: Answers.from_columns(*columns))
    out: dict[str, Any] = {
        "answers": len(answers),
        "tasks": answers.n_tasks,
        "workers": answers.n_workers,
        "classes": answers.n_classes,
        "gold_tasks": sum(1 for t in gold if t in set(answers.tasks)),
        "encode_s": encode_s,
        "truthloop": {},
    }
    task_pos = {t: i for i, t in enumerate(answers.tasks)}
    class_pos = {c: i for i, c in enumerate(answers.classes)}
    scored = np.array([(task_pos[t], class_pos.get(g, -1)) for t, g in gold.items() if t in task_pos])
    for name in methods:
        seconds, model = best_time(lambda name=name: METHODS[name]().fit(answers))
        accuracy = float(np.mean(model.label_indices_[scored[:, 0]] == scored[:, 1]))
        out["truthloop"][name] = {"accuracy": accuracy, "fit_s": seconds}
    if crowdkit is not None:
        pd, aggregation = crowdkit
        frame = pd.DataFrame({"task": columns[0], "worker": columns[1], "label": columns[2]})
        gold_series = pd.Series(gold)
        out["crowdkit"] = {}
        for name in methods:
            if name not in CK_NAMES:
                continue
            cls = getattr(aggregation, CK_NAMES[name])
            runs = 1 if name in ("glad", "mace") else 3
            seconds, labels = best_time(lambda cls=cls: cls().fit_predict(frame), budget_s=2.0, max_runs=runs)
            common = gold_series.index.intersection(labels.index)
            accuracy = float((labels[common].astype(str) == gold_series[common]).mean())
            out["crowdkit"][name] = {"accuracy": accuracy, "fit_s": seconds}
            out["truthloop"][name]["speedup"] = seconds / out["truthloop"][name]["fit_s"]
    return out


# ------------------------------------------------------------------ boxes


def _match(pred: np.ndarray, gold: np.ndarray, threshold: float) -> list[float]:
    """Greedy one-to-one matching by IoU; returns the IoUs of matched pairs."""
    if not len(pred) or not len(gold):
        return []
    ious = iou_matrix(pred, gold)
    matched = []
    while True:
        i, j = np.unravel_index(int(np.argmax(ious)), ious.shape)
        if ious[i, j] < threshold:
            return matched
        matched.append(float(ious[i, j]))
        ious[i, :] = -1
        ious[:, j] = -1


def boxes(folder: Path) -> dict[str, Any]:
    rows = read_csv(folder / "answers.csv")
    gold_rows = read_csv(folder / "gold.csv")
    # a row with empty coordinates is a worker (or the gold) saying "no pedestrian in this image"
    per_task: dict[str, list[WorkerBox]] = defaultdict(list)
    seen_by: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        seen_by[r["task"]].append(r["worker"])
        if r["x1"] != "":
            per_task[r["task"]].append(
                WorkerBox(r["worker"], "pedestrian", float(r["x1"]), float(r["y1"]), float(r["x2"]), float(r["y2"]))
            )
    gold: dict[str, list[list[float]]] = defaultdict(list)
    for r in gold_rows:
        gold[r["task"]]
        if r["x1"] != "":
            gold[r["task"]].append([float(r["x1"]), float(r["y1"]), float(r["x2"]), float(r["y2"])])

    def evaluate(predict: Callable[[str], np.ndarray]) -> dict[str, float]:
        tp = n_pred = n_gold = 0
        ious: list[float] = []
        for task, truth in gold.items():
            pred = predict(task)
            matched = _match(pred, np.array(truth).reshape(-1, 4), 0.5)
            tp += len(matched)
            n_pred += len(pred)
            n_gold += len(truth)
            ious += matched
        precision = tp / n_pred if n_pred else 0.0
        recall = tp / n_gold if n_gold else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"precision": precision, "recall": recall, "f1": f1, "mean_iou": float(np.mean(ious)) if ious else 0.0}

    def fused(quorum: float) -> Callable[[str], np.ndarray]:
        aggregator = BoxAggregator(iou_threshold=0.5, quorum=quorum)

        def predict(task: str) -> np.ndarray:
            result = aggregator.aggregate(per_task.get(task, []), seen_by.get(task, []))
            return np.array([[b.x1, b.y1, b.x2, b.y2] for b in result]).reshape(-1, 4)

        return predict

    def first_worker(task: str) -> np.ndarray:
        workers = seen_by.get(task, [])
        if not workers:
            return np.zeros((0, 4))
        return np.array([[b.x1, b.y1, b.x2, b.y2] for b in per_task.get(task, []) if b.worker == workers[0]]).reshape(
            -1, 4
        )

    out: dict[str, Any] = {"boxes": len(rows), "images": len(seen_by), "gold_images": len(gold), "truthloop": {}}
    for quorum in (0.3, 0.5):
        start = time.perf_counter()
        metrics = evaluate(fused(quorum))
        metrics["fit_s"] = time.perf_counter() - start
        out["truthloop"][f"wbf_quorum_{quorum}"] = metrics
    out["baseline_single_worker"] = evaluate(first_worker)
    return out


# ------------------------------------------------------------------ numeric


def numeric(folder: Path) -> dict[str, Any]:
    ratings = Ratings.from_csv(folder / "answers.csv")
    gold = {r["task"]: float(r["label"]) for r in read_csv(folder / "gold.csv")}
    out: dict[str, Any] = {"answers": len(ratings), "tasks": len(ratings.tasks), "truthloop": {}}
    for method in ("mean", "median", "weighted"):
        seconds, model = best_time(lambda method=method: NumericAggregator(method).fit(ratings))
        values = model.values_
        keys = [t for t in values if t in gold]
        truth = np.array([gold[t] for t in keys])
        pred = np.array([values[t] for t in keys])
        out["truthloop"][method] = {
            "mae": float(np.mean(np.abs(truth - pred))),
            "rmse": float(np.sqrt(np.mean((truth - pred) ** 2))),
            "pearson": float(np.corrcoef(truth, pred)[0, 1]),
            "fit_s": seconds,
        }
    return out


# ------------------------------------------------------------------ import time, targets, default


def import_time(runs: int = 7) -> float:
    code = "import time; t = time.perf_counter(); import truthloop.consolidation; print(time.perf_counter() - t)"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "sdk")}
    samples = []
    for _ in range(runs):
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
        samples.append(float(result.stdout.strip()))
    return min(samples)


def summarise(results: dict[str, Any], methods: list[str]) -> dict[str, Any]:
    cat = {name: r for name, r in results.items() if "classes" in r}
    with_ck = all("crowdkit" in r for r in cat.values()) and bool(cat)
    reference = "crowdkit" if with_ck else "truthloop"
    per_method: dict[str, Any] = {}
    for method in methods:
        gaps = []
        below_mv = []
        for name, r in cat.items():
            best_ref = max(v["accuracy"] for v in r[reference].values())
            accuracy = r["truthloop"][method]["accuracy"]
            gaps.append(best_ref - accuracy)
            if "mv" in r["truthloop"] and accuracy < r["truthloop"]["mv"]["accuracy"] - 1e-12:
                below_mv.append(name)
        per_method[method] = {"mean_gap_to_best_" + reference: float(np.mean(gaps)), "below_majority_vote": below_mv}
    eligible = [m for m in methods if not per_method[m]["below_majority_vote"]]
    pool = eligible or methods
    key = "mean_gap_to_best_" + reference
    recommended = min(pool, key=lambda m: (len(per_method[m]["below_majority_vote"]), per_method[m][key]))
    summary: dict[str, Any] = {
        "default_method": {
            "configured": DEFAULT_METHOD,
            "recommended": recommended,
            "reference": reference,
            "per_method": per_method,
            "meets_target": bool(eligible) and per_method[recommended][key] <= 0.005,
        }
    }
    if with_ck:
        ds_ok = {n: r["truthloop"]["ds"]["accuracy"] >= r["crowdkit"]["ds"]["accuracy"] - 0.002 for n, r in cat.items()}
        default_vs_ck_mv = {
            n: r["truthloop"][DEFAULT_METHOD]["accuracy"] >= r["crowdkit"]["mv"]["accuracy"] - 1e-12
            for n, r in cat.items()
        }
        best_ok = {
            n: max(v["accuracy"] for v in r["truthloop"].values())
            >= max(v["accuracy"] for v in r["crowdkit"].values()) - 1e-12
            for n, r in cat.items()
        }
        speedups = {m: [r["truthloop"][m]["speedup"] for r in cat.values()] for m in methods if m in CK_NAMES}
        summary["targets"] = {
            "ds_at_least_crowdkit_ds": ds_ok,
            "best_truthloop_at_least_best_crowdkit": best_ok,
            "min_speedup_per_method": {m: float(min(v)) for m, v in speedups.items()},
            "median_speedup_per_method": {m: float(statistics.median(v)) for m, v in speedups.items()},
            "all_ds_ok": all(ds_ok.values()),
            "all_best_ok": all(best_ok.values()),
            "all_10x": all(min(v) >= 10 for v in speedups.values()),
            "default_at_least_crowdkit_mv": default_vs_ck_mv,
        }
    return summary


def table(results: dict[str, Any], methods: list[str]) -> str:
    lines = []
    header = f"{'dataset':14s} {'answers':>7s} " + " ".join(f"{m:>18s}" for m in methods)
    lines.append(header)
    for name, r in results.items():
        if "classes" not in r:
            continue
        cells = []
        for m in methods:
            tl = r["truthloop"][m]
            cell = f"{tl['accuracy']:.4f}"
            if "crowdkit" in r and m in r["crowdkit"]:
                cell += f"/{r['crowdkit'][m]['accuracy']:.4f} {tl['speedup']:.0f}x"
            else:
                cell += f" {tl['fit_s'] * 1000:.1f}ms"
            cells.append(f"{cell:>18s}")
        lines.append(f"{name:14s} {r['answers']:7d} " + " ".join(cells))
    lines.append("(accuracy truthloop[/crowd-kit and crowd-kit time ÷ truthloop time])")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_data = os.environ.get("TRUTHLOOP_BENCH_DATA", str(ROOT.parent / "shared" / "bench-data"))
    parser.add_argument("--data", default=default_data, help="folder holding one sub-folder per dataset")
    parser.add_argument("--datasets", nargs="*", help="only these datasets")
    parser.add_argument("--methods", nargs="*", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--no-crowdkit", action="store_true", help="skip crowd-kit even when importable")
    args = parser.parse_args()

    crowdkit = None
    if not args.no_crowdkit:
        try:
            import crowdkit.aggregation as aggregation
            import pandas as pd

            crowdkit = (pd, aggregation)
        except ImportError:
            log("crowd-kit is not importable: running truthloop only")
    data = Path(args.data)
    folders = sorted(p for p in data.iterdir() if p.is_dir() and (p / "answers.csv").exists())
    if args.datasets:
        folders = [p for p in folders if p.name in args.datasets]
    results: dict[str, Any] = {}
    try:
        from rich.progress import Progress

        progress: Any = Progress(transient=True, console=__import__("rich.console").console.Console(stderr=True))
    except ImportError:  # pragma: no cover - rich is a runtime dependency
        progress = None
    with progress or _Null() as bar:
        task = bar.add_task("consolidation bench", total=len(folders)) if progress else None
        for folder in folders:
            if progress:
                bar.update(task, description=f"{folder.name}")
            header = (folder / "answers.csv").open(encoding="utf-8").readline().strip().split(",")
            if "x1" in header:
                results[folder.name] = boxes(folder)
            elif folder.name.endswith("numeric"):
                results[folder.name] = numeric(folder)
            else:
                results[folder.name] = categorical(folder, args.methods, crowdkit)
            if progress:
                bar.advance(task)
    report: dict[str, Any] = {
        "benchmark": "consolidation",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "crowdkit": None if crowdkit is None else _crowdkit_version(),
        "import_truthloop_consolidation_s": import_time(),
        "datasets": results,
    }
    report.update(summarise(results, args.methods))
    log(table(results, args.methods))
    log(f"import truthloop.consolidation: {report['import_truthloop_consolidation_s'] * 1000:.0f} ms")
    log(json.dumps(report["default_method"], indent=1))
    if "targets" in report:
        log(json.dumps(report["targets"], indent=1))
    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (out_dir / f"consolidation-{stamp}.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report))


class _Null:
    def __enter__(self) -> _Null:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _crowdkit_version() -> str:
    from importlib.metadata import version

    return version("crowd-kit")


if __name__ == "__main__":
    main()
