"""The post-annotation Lambda keeps each job's worker skills between batches in S3 (moto), with conditional writes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from truthloop.consolidation import Answers
from truthloop.consolidation.carried import SkillState
from truthloop.labeling import consolidate_report

from .conftest import BUCKET, LambdaContext, annotation, put_event

STATE_KEY = "demo-job/annotations/truthloop/worker-skills.json"


def _batch(first: int, n: int, liars_win: bool = False) -> list[dict[str, Any]]:
    """Tasks where three good workers say the truth and two liars the opposite (or only liars and one good)."""
    payload = []
    for t in range(first, first + n):
        right = "cat" if t % 3 else "dog"
        wrong = "dog" if right == "cat" else "cat"
        good = ["good1"] if liars_win else ["good1", "good2", "good3"]
        answers = [annotation(g, {"crowd-classifier": {"label": right}}) for g in good]
        answers += [annotation(liar, {"crowd-classifier": {"label": wrong}}) for liar in ("liar1", "liar2")]
        payload.append({"datasetObjectId": str(t), "dataObject": {"content": f"object {t}"}, "annotations": answers})
    return payload


def _labels(report: Any) -> dict[str, str]:
    return {
        r["datasetObjectId"]: r["consolidatedAnnotation"]["content"]["label-metadata"]["class-name"]
        for r in report.responses
    }


def _state(s3: Any) -> SkillState:
    return SkillState.from_dict(json.loads(s3.get_object(Bucket=BUCKET, Key=STATE_KEY)["Body"].read()))


def _run(s3: Any, payload: Any, key: str, client: Any = None) -> Any:
    event = put_event(s3, payload, categories=["cat", "dog"], key=key)
    return consolidate_report(event, task_type="text-classification", s3_client=client or s3, carry_skills=True)


def test_a_small_late_batch_is_consolidated_with_the_skills_of_the_earlier_ones(s3: Any) -> None:
    # GIVEN three batches of 10 objects in which two workers always contradict three others
    for number in range(3):
        _run(s3, _batch(10 * number, 10), f"b{number}.json")
    # WHEN a batch of 3 objects arrives where the two liars outvote the only good worker
    late = _run(s3, _batch(100, 3, liars_win=True), "late.json")
    # THEN the good worker wins (a majority vote would give the liars' label), and the state holds four batches
    assert _labels(late) == {"100": "cat", "101": "cat", "102": "dog"}
    state = _state(s3)
    assert [b.rsplit("/", 1)[-1] for b in state.batches] == ["b0.json", "b1.json", "b2.json", "late.json"]
    assert set(state.workers) == {"good1", "good2", "good3", "liar1", "liar2"} and len(state.answers) == 159


def test_a_retried_batch_is_not_counted_twice(s3: Any) -> None:
    # GIVEN one batch consolidated
    _run(s3, _batch(0, 10), "b0.json")
    before = _state(s3)
    # WHEN GT retries it
    again = _run(s3, _batch(0, 10), "b0.json")
    # THEN the same labels, and the state did not change
    assert len(again.responses) == 10
    assert _state(s3) == before


class _RacingS3:
    """An S3 client whose first conditional put loses a race to another invocation's write."""

    def __init__(self, s3: Any, rival: bytes) -> None:
        self.s3 = s3
        self.rival = rival
        self.puts = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.s3, name)

    def put_object(self, **kwargs: Any) -> Any:
        if "IfMatch" in kwargs or "IfNoneMatch" in kwargs:
            self.puts += 1
            if self.puts == 1:
                self.s3.put_object(Bucket=BUCKET, Key=STATE_KEY, Body=self.rival)
        return self.s3.put_object(**kwargs)


def test_a_concurrent_write_is_merged_not_lost(s3: Any) -> None:
    # GIVEN another invocation writes its batch's state between this one's read and write
    _run(s3, _batch(0, 10), "b0.json")
    rival_batch = Answers.from_records([("other-1", "rival", "cat"), ("other-1", "good1", "cat")])
    rival_state = _state(s3).added("s3://gt-out/other-batch.json", rival_batch)
    racing = _RacingS3(s3, json.dumps(rival_state.to_dict()).encode())
    # WHEN
    report = _run(s3, _batch(10, 10), "b1.json", client=racing)
    # THEN the conditional write failed once, was retried on the fresh state, and both batches are kept
    assert len(report.responses) == 10 and racing.puts == 2
    state = _state(s3)
    assert [b.rsplit("/", 1)[-1] for b in state.batches] == ["b0.json", "other-batch.json", "b1.json"]
    assert "rival" in state.workers and len(state.answers) == 50 + 2 + 50


def test_with_a_named_method_or_without_opting_in_the_batch_stands_alone(s3: Any) -> None:
    # GIVEN
    event = put_event(s3, _batch(0, 10), categories=["cat", "dog"], key="b0.json")
    # WHEN a method is named
    consolidate_report(event, task_type="text-classification", s3_client=s3, method="mv", carry_skills=True)
    # ... or carrying is not asked for
    consolidate_report(event, task_type="text-classification", s3_client=s3)
    # THEN no state is written
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="demo-job/annotations/truthloop/")


@pytest.mark.parametrize(("setting", "written"), [(None, True), ("false", False)])
def test_the_lambda_carries_the_job_state_unless_turned_off(
    s3: Any, monkeypatch: pytest.MonkeyPatch, setting: str | None, written: bool
) -> None:
    # GIVEN the post-annotation Lambda for a classification job
    import post_annotation.handler as handler

    monkeypatch.setattr(handler, "s3", s3)
    monkeypatch.setenv("TRUTHLOOP_TASK_TYPE", "text-classification")
    if setting is not None:
        monkeypatch.setenv("TRUTHLOOP_CARRY_SKILLS", setting)
    # WHEN it consolidates a batch
    response = handler.lambda_handler(put_event(s3, _batch(0, 10), categories=["cat", "dog"]), LambdaContext())
    # THEN the labels come back, and the job's state is written next to the output by default
    assert len(response) == 10
    listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="demo-job/annotations/truthloop/")
    assert ("Contents" in listed) is written
