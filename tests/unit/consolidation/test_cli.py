"""`truthloop consolidate` and `truthloop agreement`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from truthloop.cli import main

FIXTURES = Path(__file__).parent / "fixtures"
ANSWERS = str(FIXTURES / "answers.csv")


@pytest.mark.parametrize("method", ["mv", "wawa", "ds", "ods", "glad", "mace", "auto"])
def test_consolidate_writes_task_label_confidence(method: str, tmp_path: Path) -> None:
    out = tmp_path / "labels.csv"
    result = CliRunner().invoke(main, ["consolidate", ANSWERS, "--method", method, "--out", str(out)])
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0] == "task,label,confidence" and len(lines) == 4
    assert lines[2].startswith("t2,dog,")


def test_consolidate_with_gold_clamps() -> None:
    result = CliRunner().invoke(main, ["consolidate", ANSWERS, "-m", "mv", "--gold", str(FIXTURES / "gold.csv")])
    assert "t3,dog,1.0000" in result.output


def test_consolidate_reports_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("task,worker\nt,w\n")
    result = CliRunner().invoke(main, ["consolidate", str(bad)])
    assert result.exit_code == 1 and "missing column(s) label" in result.output


def test_agreement_json() -> None:
    result = CliRunner().invoke(
        main, ["agreement", ANSWERS, "--gold", str(FIXTURES / "gold.csv"), "--json", "--min-overlap", "3"]
    )
    report = json.loads(result.output)
    assert report["fleiss_kappa"] == pytest.approx(0.1)
    bob = report["workers_accuracy"][1]
    assert (bob["worker"], bob["answers"], bob["gold_answers"], bob["accuracy_vs_gold"]) == ("bob", 3, 3, 1.0)
    assert bob["accuracy_vs_mv"] == pytest.approx(2 / 3)


def test_agreement_interval_needs_numbers() -> None:
    result = CliRunner().invoke(main, ["agreement", ANSWERS, "--interval"])
    assert result.exit_code == 1 and "numeric labels" in result.output
