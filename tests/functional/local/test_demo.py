"""``truthloop demo`` end to end: the whole loop, accurate numbers, under two minutes, and the interactive mode."""

from __future__ import annotations

import io
import json
import re
import threading
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from rich.console import Console

from truthloop.cli import main
from truthloop.exceptions import TruthloopError
from truthloop.local.demo import POLICY_THRESHOLD, SAMPLES, run_demo
from truthloop.local.demo_output import MARKER, prepare_output_dir
from truthloop.local.simulate import answer_task


def _expected_routed() -> int:
    reviews = [json.loads(line) for line in (SAMPLES / "reviews.jsonl").read_text().splitlines()]
    return sum(max(r["prediction"]["SentimentScore"].values()) < POLICY_THRESHOLD for r in reviews)


def test_demo_runs_the_whole_loop_with_perfect_workers(tmp_path: Path) -> None:
    # GIVEN simulated workers that are always right
    buffer = io.StringIO()
    out = tmp_path / "demo-output"
    # WHEN the demo runs
    started = time.monotonic()
    result = run_demo(output_dir=out, accuracy=1.0, seed=7, workers=4, console=Console(file=buffer, width=140))
    elapsed = time.monotonic() - started
    # THEN every low-confidence prediction was reviewed and fixed, and the boxes match the gold
    routed = _expected_routed()
    assert result.predictions == 30
    assert result.routed == routed and sum(result.reasons.values()) == routed
    assert result.reviewed == routed and result.reviewed_correct == routed
    assert result.final_correct_overall == result.model_correct_overall + (routed - result.model_correct_on_routed)
    assert result.job_status == "Completed"
    assert result.job_counters["HumanLabeled"] == 6
    assert result.boxes_matched == result.boxes_gold == 10
    assert result.results_stored == routed  # the review_completed handler stored each loop once
    assert elapsed < 120
    output = buffer.getvalue()
    assert "truthloop demo: summary" in output
    # AND the manifests and training files made from them stay on disk after the demo returned
    reviewed = [json.loads(line) for line in (out / "reviewed.manifest").read_text().splitlines()]
    assert len(reviewed) == routed and all(r["sentiment-metadata"]["human-annotated"] == "yes" for r in reviewed)
    labeled = (out / "labeled.manifest").read_text().splitlines()
    assert len(labeled) == 6
    coco = json.loads((out / "training" / "boxes.coco.json").read_text())
    assert len(coco["images"]) == 6 and len(coco["annotations"]) == 10
    assert sorted(c["name"] for c in coco["categories"]) == ["blue", "red"]
    rows = [json.loads(line) for line in (out / "training" / "sentiment.jsonl").read_text().splitlines()]
    assert len(rows) == routed and {r["label"] for r in rows} <= {"POSITIVE", "NEGATIVE", "NEUTRAL", "MIXED"}
    assert len(list((out / "images").glob("*.png"))) == 6
    assert (out / "backend" / "truthloop.db").is_file() and (out / "backend" / "s3").is_dir()
    assert f"truthloop local up --data-dir {out / 'backend'}" in output.replace("\n", "")
    assert str(out / "training" / "boxes.coco.json") in output.replace("\n", "")


def test_a_new_run_replaces_its_own_output_but_never_a_foreign_directory(tmp_path: Path) -> None:
    # GIVEN an earlier demo output and a directory with someone's files
    own, foreign = tmp_path / "own", tmp_path / "foreign"
    prepare_output_dir(own)
    (own / "stale.txt").write_text("old run")
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    # WHEN the demo prepares each for a new run
    prepare_output_dir(own)
    # THEN its own output is emptied, and the foreign directory is refused and left as it was
    assert sorted(p.name for p in own.iterdir()) == [MARKER]
    with pytest.raises(TruthloopError, match="did not write"):
        prepare_output_dir(foreign)
    assert (foreign / "thesis.tex").read_text() == "precious"


def test_demo_outcome_does_not_depend_on_thread_scheduling(tmp_path: Path) -> None:
    # GIVEN fallible simulated workers and a fixed seed
    def outcome() -> tuple[int, ...]:
        result = run_demo(
            output_dir=tmp_path, accuracy=0.6, seed=3, workers=4, console=Console(file=io.StringIO(), width=140)
        )
        return result.reviewed_correct, result.final_correct_overall, result.boxes_matched

    # WHEN the demo runs twice (which worker claims which task differs between runs)
    first, second = outcome(), outcome()
    # THEN the numbers it reports are the same
    assert first == second


def test_demo_cli_prints_a_summary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the default output directory, relative to where the command runs
    monkeypatch.chdir(tmp_path)
    # WHEN the demo command runs
    result = CliRunner().invoke(main, ["demo", "--workers", "3"], catch_exceptions=False)
    # THEN it prints the summary and leaves demo-output/ behind
    assert result.exit_code == 0, result.output
    assert "routed to review" in result.output and "consolidated boxes vs gold" in result.output
    assert (tmp_path / "demo-output" / "training" / "boxes.coco.json").is_file()


def test_demo_cli_refuses_an_output_directory_it_did_not_make(tmp_path: Path) -> None:
    # GIVEN a directory with a file the demo did not write
    (tmp_path / "notes.txt").write_text("keep me")
    # WHEN the demo is pointed at it
    result = CliRunner().invoke(main, ["demo", "--output-dir", str(tmp_path)])
    # THEN it stops with one clear line and deletes nothing
    assert result.exit_code == 1
    assert "holds files the demo did not write" in result.output
    assert (tmp_path / "notes.txt").exists()


def _person(portal: str, token: str, finished: threading.Thread) -> int:
    """One person answering every task they are offered, through the portal's API with their own token, until the
    demo ends (the labeling job's tasks may appear after the reviews: an empty queue is not the end)."""
    reviews = map(json.loads, (SAMPLES / "reviews.jsonl").read_text().splitlines())
    gold = {r["text"]: {"label": r["gold"]} for r in reviews}
    answered = 0
    headers = {"authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 120
    with httpx.Client(base_url=portal.split("/portal")[0], headers=headers, timeout=30) as client:
        while finished.is_alive() and time.monotonic() < deadline:
            try:
                claimed = client.post("/portal/api/tasks/claim")
            except httpx.TransportError:  # the demo stopped its backend after the last answer
                break
            if claimed.status_code == 204:
                time.sleep(0.2)
                continue
            task = claimed.json()["task"]
            answer, _ = answer_task(task, task["rendered"], gold=gold, accuracy=1.0, seed=1, worker="person")
            reply = client.post(f"/portal/api/tasks/{task['id']}/answer", json={"answer": answer})
            assert reply.status_code == 200, reply.text
            answered += 1
    return answered


def test_one_person_finishes_the_interactive_demo_alone(tmp_path: Path) -> None:
    # GIVEN the interactive demo running in a thread
    buffer = io.StringIO()
    stop = threading.Event()
    results = []
    thread = threading.Thread(
        target=lambda: results.append(
            run_demo(
                output_dir=tmp_path / "out", interactive=True, stop=stop, console=Console(file=buffer, width=200)
            )
        )
    )
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while "Worker token:" not in buffer.getvalue():
            assert time.monotonic() < deadline and thread.is_alive(), buffer.getvalue()
            time.sleep(0.1)
        text = buffer.getvalue()
        portal = re.search(r"Worker portal:\s+(\S+)", text)
        token = re.search(r"Worker token:\s+(\S+)", text)
        assert portal and token
        # WHEN one person (the printed token) answers every task offered
        answered = _person(portal.group(1), token.group(1), thread)
        # THEN the demo finishes by itself, with nothing left and every image labeled
        thread.join(timeout=90)
        assert not thread.is_alive(), buffer.getvalue()
    finally:
        stop.set()
        thread.join(timeout=60)
    result = results[0]
    assert answered == result.routed + 6
    assert result.left == {"reviews": 0, "images": 0}
    assert result.job_status == "Completed" and result.job_counters["HumanLabeled"] == 6
    # AND the terminal said what was left as the person went, down to nothing
    progress = re.findall(r"left to do: (\d+) reviews, (\d+) images", buffer.getvalue())
    assert progress and progress[-1] == ("0", "0")
    assert (tmp_path / "out" / "training" / "boxes.coco.json").is_file()


def test_interactive_demo_leaves_the_portal_up_with_a_token(tmp_path: Path) -> None:
    # GIVEN the interactive demo running in a thread
    buffer = io.StringIO()
    stop = threading.Event()
    thread = threading.Thread(
        target=run_demo,
        kwargs={
            "output_dir": tmp_path,
            "interactive": True,
            "stop": stop,
            "console": Console(file=buffer, width=200),
        },
    )
    thread.start()
    try:
        # WHEN it prints the portal URL and a token
        deadline = time.monotonic() + 60
        while "Worker token:" not in buffer.getvalue():
            assert time.monotonic() < deadline and thread.is_alive(), buffer.getvalue()
            time.sleep(0.1)
        text = buffer.getvalue()
        portal = re.search(r"Worker portal:\s+(\S+)", text)
        token = re.search(r"Worker token:\s+(\S+)", text)
        assert portal and token
        # THEN a person can sign in with that token and sees the review queue
        with httpx.Client(base_url=portal.group(1).split("/portal")[0]) as client:
            page = client.get("/portal/")
            csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
            assert csrf
            signed_in = client.post(
                "/portal/login", data={"token": token.group(1), "csrf": csrf.group(1)}, follow_redirects=True
            )
            assert signed_in.status_code == 200
            assert "demo-reviewers" in signed_in.text and "task(s) available" in signed_in.text
    finally:
        stop.set()
        thread.join(timeout=60)
    assert "summary" in buffer.getvalue()
