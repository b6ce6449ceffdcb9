"""contracts.load on the documented examples: kind detection, tolerant parsing, strict round-trips."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from truthloop.contracts import KINDS, Contract, identify_file, load
from truthloop.exceptions import ContractError, UnknownKindError

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "contracts"


def _cases() -> list[tuple[str, str, Any]]:
    cases = []
    for path in sorted(FIXTURES.rglob("*")):
        if path.is_dir():
            continue
        kind = path.parent.name
        if path.suffix == ".manifest":
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                cases.append((kind, f"{path.name}:{number}", json.loads(line)))
        else:
            cases.append((kind, path.name, json.loads(path.read_text())))
    return cases


CASES = _cases()


@pytest.mark.parametrize(("kind", "name", "obj"), CASES, ids=[f"{k}/{n}" for k, n, _ in CASES])
def test_documented_example_is_identified_as_its_kind(kind: str, name: str, obj: Any) -> None:
    # WHEN
    contract = load(obj)
    # THEN
    assert contract.kind == kind
    assert isinstance(contract, KINDS[kind])


@pytest.mark.parametrize(("kind", "name", "obj"), CASES, ids=[f"{k}/{n}" for k, n, _ in CASES])
def test_round_trip_parse_build_parse_is_stable(kind: str, name: str, obj: Any) -> None:
    # GIVEN
    first = load(obj)
    # WHEN
    built = first.to_dict()
    second = load(json.loads(json.dumps(built)))
    # THEN
    assert second == first
    assert second.to_dict() == built


def test_every_kind_has_a_fixture() -> None:
    covered = {kind for kind, _, _ in CASES}
    assert covered == set(KINDS)


def test_load_accepts_json_text() -> None:
    text = (FIXTURES / "event.gt_job_state" / "documented.json").read_text()
    assert load(text).kind == "event.gt_job_state"


@pytest.mark.parametrize(
    ("obj", "path"),
    [
        ({"labelingJobArn": "arn", "dataObject": "not-an-object"}, "$.dataObject"),
        ({"labelingJobArn": 5, "dataObject": {}}, "$.labelingJobArn"),
        ({"labelingJobArn": "a", "labelAttributeName": "x", "payload": {}}, "$.payload.s3Uri"),
        (
            [{"datasetObjectId": "0", "dataObject": {"s3Uri": "s3://b/k"}, "annotations": [{"workerId": "w"}]}],
            "$[0].annotations[0].annotationData",
        ),
        ({"answers": [{"workerId": "w", "answerContent": []}]}, "$.answers[0].answerContent"),
        ({"ModerationLabels": [{"Name": "x", "Confidence": 120}]}, "$.ModerationLabels[0].Confidence"),
        ({"Sentiment": "HAPPY", "SentimentScore": {"Positive": 1}}, "$.Sentiment"),
        (
            {"source": "x", "a-metadata": {"type": "groundtruth/object-detection"}, "a": {"annotations": [{}]}},
            "$.a.annotations[0].left",
        ),
    ],
)
def test_contract_error_names_json_path_of_first_problem(obj: Any, path: str) -> None:
    # WHEN / THEN
    with pytest.raises(ContractError) as info:
        load(obj)
    assert info.value.path == path
    assert path in str(info.value)


@pytest.mark.parametrize("obj", [{}, {"hello": 1}, [], [1, 2], 42, "null", None])
def test_unrecognised_shapes_raise_unknown_kind(obj: Any) -> None:
    with pytest.raises(UnknownKindError):
        load(obj if obj != "null" else "null")


def test_identify_file_reports_each_manifest_line(tmp_path: Path) -> None:
    # GIVEN a manifest with a good line, a blank line and a bad line
    manifest = tmp_path / "mixed.manifest"
    manifest.write_text('{"source": "a"}\n\n{"nope": 1}\n')
    # WHEN
    results = list(identify_file(manifest))
    # THEN
    assert [label.rsplit(":", 1)[1] for label, _ in results] == ["1", "3"]
    assert isinstance(results[0][1], Contract)
    assert isinstance(results[1][1], ContractError)
