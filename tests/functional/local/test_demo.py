"""``truthloop demo`` end to end: the whole loop, accurate numbers, under two minutes, and the interactive mode."""

from __future__ import annotations

import io
import json
import re
import threading
import time

import httpx
from click.testing import CliRunner
from rich.console import Console

from truthloop.cli import main
from truthloop.local.demo import POLICY_THRESHOLD, SAMPLES, run_demo


def _expected_routed() -> int:
    reviews = [json.loads(line) for line in (SAMPLES / "reviews.jsonl").read_text().splitlines()]
    return sum(max(r["prediction"]["SentimentScore"].values()) < POLICY_THRESHOLD for r in reviews)


def test_demo_runs_the_whole_loop_with_perfect_workers() -> None:
    # GIVEN simulated workers that are always right
    buffer = io.StringIO()
    # WHEN the demo runs
    started = time.monotonic()
    result = run_demo(accuracy=1.0, seed=7, workers=4, console=Console(file=buffer, width=140))
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
    assert "truthloop demo: summary" in output and "output.manifest" in output


def test_demo_outcome_does_not_depend_on_thread_scheduling() -> None:
    # GIVEN fallible simulated workers and a fixed seed
    def outcome() -> tuple[int, ...]:
        result = run_demo(accuracy=0.6, seed=3, workers=4, console=Console(file=io.StringIO(), width=140))
        return result.reviewed_correct, result.final_correct_overall, result.boxes_matched

    # WHEN the demo runs twice (which worker claims which task differs between runs)
    first, second = outcome(), outcome()
    # THEN the numbers it reports are the same
    assert first == second


def test_demo_cli_prints_a_summary() -> None:
    result = CliRunner().invoke(main, ["demo", "--workers", "3"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "routed to review" in result.output and "consolidated boxes vs gold" in result.output


def test_interactive_demo_leaves_the_portal_up_with_a_token() -> None:
    # GIVEN the interactive demo running in a thread
    buffer = io.StringIO()
    stop = threading.Event()
    thread = threading.Thread(
        target=run_demo, kwargs={"interactive": True, "stop": stop, "console": Console(file=buffer, width=200)}
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
