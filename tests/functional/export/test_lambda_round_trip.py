"""From the labeling Lambdas' own outputs to TRL files: pre-annotation task input → answers → post-annotation
consolidated content (moto S3) → output-manifest lines → ``truthloop export``.

The post-annotation Lambda replaces the raw answers with its consolidated content (``workerRankings`` /
``workerPreferences``); exporting those lines must give the same preference rows as exporting the raw answers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from truthloop.export import export
from truthloop.labeling import consolidate_report, pre_annotate

ARN = "arn:aws:sagemaker:us-east-1:111122223333:labeling-job/prefs"
BUCKET = "gt-out"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def _consolidate(s3: Any, task_type: str, objects: list[tuple[dict[str, Any], list[tuple[str, Any]]]]) -> list[Any]:
    """Run the post-annotation logic on ``(data object, [(worker, answer)])`` and return output-manifest lines."""
    payload = [
        {
            "datasetObjectId": str(index),
            # what GT puts in the payload for an inline-text object (aws-contracts.md §2): the source alone
            "dataObject": {"content": line["source"]},
            "annotations": [
                {"workerId": worker, "annotationData": {"content": json.dumps(answer)}} for worker, answer in answers
            ],
        }
        for index, (line, answers) in enumerate(objects)
    ]
    s3.put_object(Bucket=BUCKET, Key="req.json", Body=json.dumps(payload))
    event = {
        "version": "2018-10-06",
        "labelingJobArn": ARN,
        "labelAttributeName": "pref",
        "roleArn": "arn:aws:iam::111122223333:role/GtRole",
        "payload": {"s3Uri": f"s3://{BUCKET}/req.json"},
        "outputConfig": f"s3://{BUCKET}/prefs/annotations",
    }
    report = consolidate_report(event, task_type=task_type, s3_client=s3)
    assert not report.failures and not report.dropped
    by_id = {r["datasetObjectId"]: r["consolidatedAnnotation"]["content"] for r in report.responses}
    return [{**line, **by_id[str(index)]} for index, (line, _) in enumerate(objects)]


def _raw(objects: list[tuple[dict[str, Any], list[tuple[str, Any]]]]) -> list[Any]:
    """The same lines with the answers passed through unconsolidated (GT's ``annotationsFromAllWorkers``)."""
    return [
        {
            **line,
            "pref": {
                "annotationsFromAllWorkers": [
                    {"workerId": w, "annotationData": {"content": json.dumps(a)}} for w, a in answers
                ]
            },
            "pref-metadata": {"type": "groundTruth/custom", "job-name": "prefs", "human-annotated": "yes"},
        }
        for line, answers in objects
    ]


def _export(tmp_path: Path, name: str, lines: list[Any], fmt: str = "trl") -> tuple[str, list[dict[str, Any]]]:
    src = tmp_path / f"{name}.manifest"
    src.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = export(src, fmt, tmp_path / f"{name}.jsonl", strict=True)
    assert report.lines_exported == len(lines)
    meta = [json.loads(x) for x in (tmp_path / f"{name}.meta.jsonl").read_text().splitlines()]
    return (tmp_path / f"{name}.jsonl").read_text(), meta


def test_consolidated_ranking_content_exports_like_the_raw_answers(s3: Any, tmp_path: Path) -> None:
    # GIVEN ranking tasks built by the pre-annotation logic and three workers' answers each
    objects = []
    for i, pattern in enumerate([[[1, 2, 3], [1, 3, 2], [1, 2, 3]], [[2, 1, 1], [3, 1, 2], [2, 1, 3]]]):
        line = {"source": f"prompt {i}", "responses": ["x", "y", "z"], "responseIds": ["m1", "m2", "m3"]}
        task = pre_annotate(
            {"version": "2018-10-16", "labelingJobArn": ARN, "dataObject": line}, task_type="text-ranking"
        )
        dimension = task["taskInput"]["dimensions"][0]["name"]
        answers = [(f"w{k}", {"ranking": {"rankings": {dimension: ranks}}}) for k, ranks in enumerate(pattern)]
        objects.append((line, answers))
    # WHEN the Lambda's consolidated lines and the raw-answer lines are exported
    consolidated, consolidated_meta = _export(tmp_path, "consolidated", _consolidate(s3, "text-ranking", objects))
    raw, raw_meta = _export(tmp_path, "raw", _raw(objects))
    # THEN the rows are identical, and so is the sidecar apart from where each line came from
    assert consolidated == raw and consolidated.count("\n") == 6
    for m in (*consolidated_meta, *raw_meta):
        del m["source"]
    assert consolidated_meta == raw_meta


@pytest.mark.parametrize("echoed", [True, False], ids=["order-echoed", "order-not-echoed"])
def test_consolidated_pairwise_content_maps_displayed_positions_back(s3: Any, tmp_path: Path, echoed: bool) -> None:
    # GIVEN pairwise tasks whose display order the pre-annotation logic chose, and workers who each prefer a
    # known *response*; the answer names the displayed position (and echoes displayOrder only if ``echoed``)
    objects = []
    intended = []
    for i in range(6):
        line = {"source": f"Which is better? #{i}", "responseA": f"long {i}", "responseB": f"short {i}"}
        task = pre_annotate(
            {"version": "2018-10-16", "labelingJobArn": ARN, "dataObject": line}, task_type="pairwise-preference"
        )
        order = task["taskInput"]["displayOrder"]
        want = "responseA" if i % 3 else "responseB"
        shown = "A" if (want == "responseA") == (order == "ab") else "B"
        answer: dict[str, Any] = {"preference": {"label": shown}, "strength": 4, "rationale": "clearer"}
        if echoed:
            answer["displayOrder"] = order
        objects.append((line, [("w1", answer), ("w2", answer)]))
        intended.append((line[want], line["responseB" if want == "responseA" else "responseA"]))
    orders = {pre_annotate({"version": "2018-10-16", "labelingJobArn": ARN, "dataObject": o[0]},
                           task_type="pairwise-preference")["taskInput"]["displayOrder"] for o in objects}  # fmt: skip
    assert orders == {"ab", "ba"}  # both mappings are exercised
    # WHEN
    rows, meta = _export(tmp_path, "consolidated", _consolidate(s3, "pairwise-preference", objects))
    # THEN every row prefers the response the workers meant
    assert [(r["chosen"], r["rejected"]) for r in map(json.loads, rows.splitlines())] == intended
    assert [m["rows"] for m in meta] == [[i, 1] for i in range(6)]
    assert all(p["votes"] == {"chosen": 2, "rejected": 0, "tie": 0} for m in meta for p in m["pairs"])
