"""Benchmark of ``truthloop leaderboard``; prints ONE JSON object on stdout.

Writes ``--battles`` (default 1,000,000) arena battles among ``--models`` (default 30) models of known strength
(up to 10% ties, drawn so the expected score is the Bradley–Terry probability) to a JSONL file in ``--tmp``, then
times reading it (``read_s``), the maximum-likelihood fit (``fit_s``) and the fit with ``--bootstrap`` replicates
(``fit_bootstrap_s``), and reports how well the ratings recover the true strengths (``max_abs_error_points`` on
the Elo scale, ``ci95_coverage`` of the true ratings).

Target (issue 19): fast enough for a million battles.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "sdk") not in sys.path:
    sys.path.insert(0, str(ROOT / "sdk"))

from truthloop.leaderboard import fit_ratings, read_battles  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--battles", type=int, default=1_000_000)
    parser.add_argument("--models", type=int, default=30)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tmp", default=None, help="folder for the generated JSONL (default: the system's)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    m, n = args.models, args.battles
    strength = rng.normal(0.0, 0.8, m)
    first = rng.integers(0, m, n)
    second = (first + rng.integers(1, m, n)) % m
    p = 1.0 / (1.0 + np.exp(strength[second] - strength[first]))
    # up to 10% ties, drawn so that the expected score stays p (a tie is half a win): P(win) = p - t/2
    t = np.minimum(0.1, 2 * np.minimum(p, 1 - p))
    u = rng.random(n)
    score = np.where(u < p - t / 2, 1.0, np.where(u < p + t / 2, 0.5, 0.0))
    winner = np.where(score == 1.0, "model_a", np.where(score == 0.0, "model_b", "tie"))
    names = [f"model-{i:02d}" for i in range(m)]
    with tempfile.TemporaryDirectory(dir=args.tmp) as folder:
        path = Path(folder) / "battles.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for a, b, w, q in zip(first.tolist(), second.tolist(), winner.tolist(), range(n), strict=True):
                handle.write(f'{{"model_a":"{names[a]}","model_b":"{names[b]}","winner":"{w}","question_id":"q{q}"}}\n')
        size = path.stat().st_size
        start = time.perf_counter()
        battles = read_battles(path, strict=True)
        read_s = time.perf_counter() - start
    models, a_idx, b_idx, scores = battles.arrays("overall")
    start = time.perf_counter()
    fit_ratings(models, a_idx, b_idx, scores, bootstrap=0)
    fit_s = time.perf_counter() - start
    start = time.perf_counter()
    board = fit_ratings(models, a_idx, b_idx, scores, bootstrap=args.bootstrap, seed=args.seed)
    fit_bootstrap_s = time.perf_counter() - start
    elo = 400 / math.log(10)
    truth = {names[i]: 1000 + elo * (strength[i] - strength.mean()) for i in range(m)}
    errors = [abs(board.ratings[k] - truth[k]) for k in models]
    covered = [board.ci_low[k] <= truth[k] <= board.ci_high[k] for k in models]
    print(
        json.dumps(
            {
                "benchmark": "leaderboard",
                "python": platform.python_version(),
                "numpy": np.__version__,
                "battles": n,
                "models": m,
                "file_mb": round(size / 1e6, 1),
                "bootstrap": args.bootstrap,
                "read_s": round(read_s, 3),
                "read_battles_per_s": round(n / read_s),
                "fit_s": round(fit_s, 4),
                "fit_bootstrap_s": round(fit_bootstrap_s, 3),
                "total_s": round(read_s + fit_bootstrap_s, 3),
                "max_abs_error_points": round(max(errors), 2),
                "mean_ci95_width_points": round(
                    float(np.mean([board.ci_high[k] - board.ci_low[k] for k in models])), 2
                ),
                "ci95_coverage": round(sum(covered) / m, 3),
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
