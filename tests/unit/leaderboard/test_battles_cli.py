"""``truthloop leaderboard``: arena battles and truthloop manifests in, board.json + a ranked table out."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from truthloop.cli import main
from truthloop.exceptions import ManifestLineError
from truthloop.leaderboard import read_battles


def _arena(a: str, b: str, winner: str, **extra: Any) -> str:
    return json.dumps({"model_a": a, "model_b": b, "winner": winner, **extra})


def _ranking_line(ranks: dict[str, list[int]]) -> dict[str, Any]:
    answer = {"ranking": {"rankings": ranks}}
    return {
        "source": "Summarise the memo.",
        "responses": ["r0", "r1", "r2"],
        "responseIds": ["m0", "m1", "m2"],
        "rank": {"annotationsFromAllWorkers": [{"workerId": "w1", "annotationData": {"content": json.dumps(answer)}}]},
        "rank-metadata": {"type": "groundTruth/custom", "job_name": "rank"},
    }


def _pairwise_line(label: str, order: str) -> dict[str, Any]:
    answer = {"preference": {"label": label}, "displayOrder": order}
    return {
        "source": "Which reply?",
        "responseA": "long",
        "responseB": "short",
        "modelA": "m0",
        "modelB": "m1",
        "pref": {"annotationsFromAllWorkers": [{"workerId": "w2", "annotationData": {"content": json.dumps(answer)}}]},
        "pref-metadata": {"type": "groundTruth/custom", "job_name": "pref"},
    }


def test_arena_lines_and_bad_lines_each_get_a_line_numbered_reason(tmp_path: Path) -> None:
    # GIVEN arena battles (extra fields ignored) with four bad lines among them
    path = tmp_path / "battles.jsonl"
    path.write_text(
        "\n".join(
            [
                _arena("gpt", "llama", "model_a", question_id="q1", turn=1, language="English"),
                "{not json",
                _arena("gpt", "gpt", "tie"),
                _arena("llama", "gpt", "tie (bothbad)"),
                _arena("gpt", "llama", "model_c"),
                _arena("llama", "claude", "model_b"),
                json.dumps({"model_a": "", "model_b": "x", "winner": "tie"}),
            ]
        )
        + "\n"
    )
    skipped: list[ManifestLineError] = []
    # WHEN
    battles = read_battles(path, on_skip=skipped.append)
    # THEN good battles are kept, each bad one is reported once with its line and a one-line reason
    assert battles.by_dimension["overall"] == ([0, 1, 1], [1, 0, 2], [1.0, 0.5, 0.0])
    assert battles.models == ["gpt", "llama", "claude"]
    assert [(e.line_number, e.reason.splitlines()[0]) for e in skipped] == [
        (2, skipped[0].reason),
        (3, "$.model_b: the battle names one model twice ('gpt')"),
        (5, "$.winner: winner must be model_a, model_b, tie or 'tie (bothbad)', got 'model_c'"),
        (7, "$: model_a and model_b must be non-empty strings"),
    ]
    assert "\n" not in skipped[0].reason and "JSON" in skipped[0].reason
    # ... and --strict stops at the first
    with pytest.raises(ManifestLineError, match=":2: "):
        read_battles(path, strict=True)


def test_ranking_and_pairwise_manifests_become_battles_per_dimension(tmp_path: Path) -> None:
    # GIVEN a ranking line with two dimensions (m1 and m2 tie on style) and a pairwise line shown "ba"
    path = tmp_path / "judgements.manifest"
    lines = [_ranking_line({"helpful": [2, 1, 3], "style": [1, 2, 2]}), _pairwise_line("A", "ba")]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    # WHEN
    battles = read_battles(path, strict=True)
    # THEN every pair per dimension; the pairwise "A" shown first under "ba" is a win for modelB (m1)
    named = {
        d: sorted((battles.models[a], battles.models[b], s) for a, b, s in zip(*v, strict=True))
        for d, v in battles.by_dimension.items()
    }
    assert named == {
        "helpful": [("m0", "m2", 1.0), ("m1", "m0", 1.0), ("m1", "m2", 1.0)],
        "style": [("m0", "m1", 1.0), ("m0", "m2", 1.0), ("m1", "m2", 0.5)],
        "overall": [("m1", "m0", 1.0)],
    }


def test_the_command_writes_the_board_prints_a_ranked_table_and_plots(tmp_path: Path) -> None:
    # GIVEN gpt beats llama 3 times of 4, and a malformed line
    path = tmp_path / "battles.jsonl"
    rows = [_arena("gpt", "llama", "model_a")] * 3 + [_arena("gpt", "llama", "model_b"), "[1, 2]"]
    path.write_text("\n".join(rows) + "\n")
    out, png = tmp_path / "board.json", tmp_path / "board.png"
    # WHEN
    result = CliRunner().invoke(
        main, ["leaderboard", str(path), "--out", str(out), "--bootstrap", "50", "--seed", "3", "--plot", str(png)]
    )
    # THEN
    assert result.exit_code == 0, result.output
    board = json.loads(out.read_text())
    gpt, llama = board["ratings"]["gpt"], board["ratings"]["llama"]
    assert list(board["ratings"]) == ["gpt", "llama"]
    assert gpt["rating"] - llama["rating"] == pytest.approx(400 * math.log10(3), abs=0.1)
    assert gpt["rating"] + llama["rating"] == pytest.approx(2000, abs=0.02)
    assert gpt["ci_low"] <= gpt["rating"] <= gpt["ci_high"] and gpt["battles"] == 4
    assert (board["battles"], board["bootstrap"], board["seed"], board["skipped_lines"]) == (4, 50, 3, 1)
    assert "gpt" in result.stdout and "95% CI" in result.stdout
    assert ":5: " in result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
