"""RLHF preferences: pair expansion (property tests), display-order mapping, Bradley–Terry aggregation, files."""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from truthloop.consolidation import BradleyTerry, Comparisons
from truthloop.exceptions import ManifestLineError
from truthloop.export import export
from truthloop.export.preferences import Judgement, PreferenceItem, _BtCache, aggregate, expand_ranking
from truthloop.labeling import display_order, pre_annotate

RANKS = st.lists(st.integers(min_value=1, max_value=4), min_size=0, max_size=7)


@given(RANKS)
def test_every_strictly_ordered_pair_appears_exactly_once(ranks: list[int]) -> None:
    # WHEN
    pairs = expand_ranking(ranks, ties="drop")
    # THEN each strictly ordered pair is present once, better first; no tie and no other pair is
    expected = {
        (i, j) if ranks[i] < ranks[j] else (j, i) for i, j in combinations(range(len(ranks)), 2) if ranks[i] != ranks[j]
    }
    assert len(pairs) == len(expected)
    assert {(b, w) for b, w, _ in pairs} == expected
    assert all(not tie and ranks[b] < ranks[w] for b, w, tie in pairs)


@given(RANKS)
def test_kept_ties_appear_once_each_as_ties(ranks: list[int]) -> None:
    # WHEN
    kept = expand_ranking(ranks, ties="keep")
    dropped = expand_ranking(ranks, ties="drop")
    # THEN every pair of positions appears exactly once; ties only when the ranks are equal
    assert sorted((min(b, w), max(b, w)) for b, w, _ in kept) == list(combinations(range(len(ranks)), 2))
    assert [p for p in kept if not p[2]] == dropped
    assert all(ranks[b] == ranks[w] and b < w for b, w, tie in kept if tie)


def _ranking_line(prompt: str, workers: list[tuple[str, list[int]]], n: int = 3, attr: str = "rank") -> dict[str, Any]:
    content = [
        {"workerId": w, "annotationData": {"content": json.dumps({"ranking": {"rankings": {"helpfulness": r}}})}}
        for w, r in workers
    ]
    return {
        "source": prompt,
        "responses": [f"answer {i}" for i in range(n)],
        "responseIds": [f"m{i}" for i in range(n)],
        attr: {"annotationsFromAllWorkers": content},
        f"{attr}-metadata": {"type": "groundTruth/custom", "job_name": "rank", "human-annotated": "yes"},
    }


def _pairwise_line(answers: list[tuple[str, str, str | None]], line_order: str | None = None) -> dict[str, Any]:
    content = []
    for worker, label, order in answers:
        answer: dict[str, Any] = {"preference": {"label": label}, "strength": 3, "rationale": "why"}
        if order is not None:
            answer["displayOrder"] = order
        content.append({"workerId": worker, "annotationData": {"content": json.dumps(answer)}})
    line: dict[str, Any] = {
        "source": "Which summary?",
        "responseA": "long summary",
        "responseB": "short",
        "modelA": "big",
        "modelB": "small",
        "pref": {"annotationsFromAllWorkers": content},
        "pref-metadata": {"type": "groundTruth/custom", "job_name": "compare"},
    }
    if line_order is not None:
        line["displayOrder"] = line_order
    return line


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in path.read_text().splitlines()]


@pytest.mark.parametrize(
    ("answers", "line_order"),
    [
        ([("w1", "A", "ab"), ("w2", "A", "ab")], None),  # A shown first = responseA
        ([("w1", "B", "ba"), ("w2", "B", "ba")], None),  # swapped display: B on screen = responseA
        ([("w1", "A", "ab"), ("w2", "B", "ba")], None),  # one of each
        ([("w1", "B", None), ("w2", "B", None)], "ba"),  # order not echoed: read from the line
    ],
    ids=["ab", "ba", "mixed", "line-order"],
)
def test_pairwise_display_order_is_mapped_back(write_manifest, tmp_path: Path, answers, line_order) -> None:  # type: ignore[no-untyped-def]
    # GIVEN answers that all prefer responseA once the displayed position is mapped back
    src = write_manifest([_pairwise_line(answers, line_order)])
    # WHEN
    export(src, "trl", tmp_path / "dpo.jsonl")
    # THEN
    assert _rows(tmp_path / "dpo.jsonl") == [
        {"prompt": "Which summary?", "chosen": "long summary", "rejected": "short"}
    ]
    (meta,) = _rows(tmp_path / "dpo.meta.jsonl")
    assert (meta["rows"], meta["pairs"][0]["chosen"], meta["pairs"][0]["rejected"], meta["pairs"][0]["votes"]) == (
        [0, 1],
        "big",
        "small",
        {"chosen": 2, "rejected": 0, "tie": 0},
    )


# data objects whose pre-annotation display orders differ (checked below, so both mappings are exercised)
PROMPTS = ["Which summary?", "Pick the clearer answer.", "Which is politer?", "Q"]


@pytest.mark.parametrize("prompt", PROMPTS)
@pytest.mark.parametrize("shown", ["A", "B"])
def test_missing_display_order_is_recomputed_as_the_pre_annotation_lambda_chose_it(
    write_manifest, tmp_path: Path, prompt: str, shown: str
) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a line and answer that both lack displayOrder, and the order the pre-annotation Lambda gave the task
    line = _pairwise_line([("w1", shown, None)])
    line["source"] = prompt
    data_object = {k: v for k, v in line.items() if not k.startswith("pref")}
    event = {"version": "2018-10-16", "labelingJobArn": "arn:aws:sagemaker:us-east-1:1:labeling-job/x"}
    order = pre_annotate({**event, "dataObject": data_object}, task_type="pairwise-preference")["taskInput"][
        "displayOrder"
    ]
    src = write_manifest([line])
    # WHEN
    export(src, "trl", tmp_path / "dpo.jsonl")
    # THEN the displayed position maps to the response the worker saw there
    on_left, on_right = ("long summary", "short") if order == "ab" else ("short", "long summary")
    chosen, rejected = (on_left, on_right) if shown == "A" else (on_right, on_left)
    assert _rows(tmp_path / "dpo.jsonl") == [{"prompt": prompt, "chosen": chosen, "rejected": rejected}]


def test_the_display_order_examples_cover_both_orders() -> None:
    assert {display_order(p) for p in PROMPTS} == {"ab", "ba"}


def test_an_invalid_display_order_on_the_line_is_reported_not_replaced(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN
    src = write_manifest([_pairwise_line([("w1", "A", None)], line_order="left-right")])
    skipped: list[ManifestLineError] = []
    # WHEN
    export(src, "trl", tmp_path / "dpo.jsonl", on_skip=skipped.append)
    # THEN
    assert [e.reason for e in skipped] == [
        "$.pref.annotationsFromAllWorkers[0].annotationData.content.displayOrder: displayOrder must be 'ab' or "
        "'ba', got 'left-right': cannot tell which response the displayed A/B was"
    ]
    assert (tmp_path / "dpo.jsonl").read_text() == ""


def test_rankings_become_pairs_in_bradley_terry_order_with_agreement(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN three annotators: all put m2 first; two of three prefer m0 over m1
    src = write_manifest([_ranking_line("q", [("w1", [2, 3, 1]), ("w2", [3, 2, 1]), ("w3", [2, 3, 1])])])
    # WHEN
    export(src, "trl", tmp_path / "dpo.jsonl", options={"conversational": True})
    # THEN
    rows = _rows(tmp_path / "dpo.jsonl")
    assert [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows] == [
        ("answer 2", "answer 0"),
        ("answer 2", "answer 1"),
        ("answer 0", "answer 1"),
    ]
    assert rows[0]["prompt"] == [{"role": "user", "content": "q"}]
    assert rows[0]["chosen"][0]["role"] == "assistant"
    (meta,) = _rows(tmp_path / "dpo.meta.jsonl")  # one line for the prompt, one entry per row
    pairs = meta["pairs"]
    assert meta["rows"] == [0, 3]
    assert [(p["chosen"], p["rejected"]) for p in pairs] == [("m2", "m0"), ("m2", "m1"), ("m0", "m1")]
    assert [p["agreement"] for p in pairs] == [1.0, 1.0, pytest.approx(2 / 3, abs=1e-6)]
    assert meta["agreement"] == pytest.approx((1 + 1 + 2 / 3) / 3, abs=1e-6)
    assert (meta["workers"], meta["annotators"], meta["job"]) == (["w1", "w2", "w3"], 3, "rank")
    assert pairs[0]["margin"] > pairs[2]["margin"] > 0 and 0.5 < pairs[2]["p_chosen"] < pairs[0]["p_chosen"] < 1


def test_disagreeing_prompts_are_reported_not_included(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN one prompt where two annotators give opposite rankings
    src = write_manifest(
        [_ranking_line("contested", [("w1", [1, 2]), ("w2", [2, 1])], n=2), _ranking_line("ok", [("w1", [1, 2])], n=2)]
    )
    # WHEN
    report = export(src, "trl", tmp_path / "dpo.jsonl")
    # THEN only the agreed prompt is written, and the contested one is listed with why
    assert [r["prompt"] for r in _rows(tmp_path / "dpo.jsonl")] == ["ok"]
    (reported,) = _rows(tmp_path / "dpo.disagreements.jsonl")
    assert reported["why"] == "agreement 0.500 is below the threshold 0.6"
    assert reported["split_pairs"] == ["m0 vs m1: m0: w1; m1: w2"]
    assert reported["judgements"] == [{"worker": "w1", "ranking": "m0 > m1"}, {"worker": "w2", "ranking": "m1 > m0"}]
    assert "1 prompt(s) excluded" in report.notes[0]
    # AND lowering the threshold includes it
    export(src, "trl", tmp_path / "all.jsonl", options={"min_agreement": 0.5})
    assert len(_rows(tmp_path / "all.jsonl")) == 1  # a 1–1 split is a Bradley–Terry tie: dropped by default


@pytest.mark.parametrize(("ties", "expected"), [("drop", []), ("keep", [True])])
def test_consolidated_ties_are_dropped_or_kept(write_manifest, tmp_path: Path, ties: str, expected: list[bool]) -> None:  # type: ignore[no-untyped-def]
    # GIVEN an annotator who ties both responses
    src = write_manifest([_ranking_line("q", [("w1", [1, 1])], n=2)])
    # WHEN
    export(src, "trl", tmp_path / "dpo.jsonl", options={"ties": ties})
    # THEN
    assert [r.get("tie", False) for r in _rows(tmp_path / "dpo.jsonl")] == expected


def test_kto_labels_responses_above_the_mean_as_desirable(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a clear order m0 > m1 > m2 > m3
    src = write_manifest([_ranking_line("q", [("w1", [1, 2, 3, 4]), ("w2", [1, 2, 3, 4])], n=4)])
    # WHEN
    export(src, "kto", tmp_path / "kto.jsonl")
    # THEN
    assert [(r["completion"], r["label"]) for r in _rows(tmp_path / "kto.jsonl")] == [
        ("answer 0", True),
        ("answer 1", True),
        ("answer 2", False),
        ("answer 3", False),
    ]


def test_aggregate_none_writes_each_annotators_own_pairs(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN
    src = write_manifest([_ranking_line("q", [("w1", [1, 2]), ("w2", [2, 1])], n=2)])
    # WHEN
    export(src, "trl", tmp_path / "raw.jsonl", options={"aggregate": "none"})
    # THEN
    assert [(r["chosen"], r["rejected"]) for r in _rows(tmp_path / "raw.jsonl")] == [
        ("answer 0", "answer 1"),
        ("answer 1", "answer 0"),
    ]
    (meta,) = _rows(tmp_path / "raw.meta.jsonl")
    assert (meta["rows"], meta["workers"], meta["agreement"]) == ([0, 2], ["w1", "w2"], 0.5)
    assert meta["pairs"] == [
        {"chosen": "m0", "rejected": "m1", "tie": False, "worker": "w1", "strength": None, "rationale": None},
        {"chosen": "m1", "rejected": "m0", "tie": False, "worker": "w2", "strength": None, "rationale": None},
    ]


def test_a2i_output_json_is_a_preference_source(tmp_path: Path) -> None:
    # GIVEN an A2I output.json whose input content carries the prompt and responses
    doc = {
        "flowDefinitionArn": "arn:aws:sagemaker:us-east-1:111122223333:flow-definition/rank-review",
        "humanLoopName": "loop-1",
        "inputContent": {"prompt": "p", "responses": ["x", "y"], "responseIds": ["a", "b"]},
        "humanAnswers": [
            {
                "workerId": "w1",
                "submissionTime": "2024-01-01T00:00:00Z",
                "answerContent": {"ranking": {"rankings": {"h": [2, 1]}}},
            }
        ],
    }
    (tmp_path / "loop").mkdir()
    (tmp_path / "loop/output.json").write_text(json.dumps(doc))
    # WHEN
    export(tmp_path / "loop", "trl", tmp_path / "dpo.jsonl")
    # THEN
    assert _rows(tmp_path / "dpo.jsonl") == [{"prompt": "p", "chosen": "y", "rejected": "x"}]
    (meta,) = _rows(tmp_path / "dpo.meta.jsonl")
    assert (meta["job"], meta["loop"], meta["dimension"], meta["rows"]) == ("rank-review", "loop-1", "h", [0, 1])


def test_memoised_fit_equals_a_fresh_bradley_terry_fit() -> None:
    # GIVEN the same judgement pattern on responses listed in two different orders
    judgements = (Judgement("w1", (1, 2, 3)), Judgement("w2", (2, 1, 3)), Judgement("w3", (1, 3, 2)))
    item = PreferenceItem("p", ("a", "b", "c"), ("a", "b", "c"), judgements, "h", "x:1")
    permuted = PreferenceItem(
        "p",
        ("c", "a", "b"),
        ("c", "a", "b"),
        tuple(Judgement(j.worker, (j.ranks[2], j.ranks[0], j.ranks[1])) for j in judgements),
        "h",
        "x:2",
    )
    cache = _BtCache()
    # WHEN
    first = aggregate(item, cache=cache)
    second = aggregate(permuted, cache=cache)
    # THEN the second fit came from the cache and both equal a direct Bradley–Terry fit
    assert (cache.misses, cache.hits) == (1, 1)
    rows = [(j.worker, f"r{b}", f"r{w}", f"r{b}") for j in judgements for b, w, _ in expand_ranking(j.ranks)]
    direct = BradleyTerry().fit(Comparisons.from_records(rows)).scores_
    assert first.scores == pytest.approx([direct["r0"], direct["r1"], direct["r2"]], abs=1e-9)
    assert second.scores == pytest.approx([direct["r2"], direct["r0"], direct["r1"]], abs=1e-9)


@pytest.mark.parametrize(
    ("fmt", "options", "entries"),
    [
        ("trl", {}, "pairs"),
        ("trl", {"ties": "keep", "pairs": "best-worst"}, "pairs"),
        ("trl", {"aggregate": "none", "ties": "keep"}, "pairs"),
        ("kto", {}, "completions"),
    ],
    ids=["trl", "trl-ties-best-worst", "trl-per-annotator", "kto"],
)
def test_each_sidecar_line_covers_its_prompts_rows_in_order(
    write_manifest, tmp_path: Path, fmt: str, options: dict[str, Any], entries: str
) -> None:  # type: ignore[no-untyped-def]
    # GIVEN prompts with three and two responses, ties, a contested prompt and one whose consensus is a tie
    lines = [
        _ranking_line("p0", [("w1", [1, 2, 3]), ("w2", [1, 3, 2]), ("w3", [2, 1, 3])]),
        _ranking_line("p1", [("w1", [1, 2]), ("w2", [2, 1])], n=2),  # contested: excluded (per-annotator: kept)
        _ranking_line("p2", [("w2", [1, 1, 2])]),
        _ranking_line("p3", [("w1", [1, 2]), ("w1", [1, 2])], n=2),  # one worker twice: one annotator
    ]
    src = write_manifest(lines)
    # WHEN
    report = export(src, fmt, tmp_path / "out.jsonl", options=options)
    # THEN the sidecar has one line per prompt that wrote rows, and their row ranges tile the rows file in order
    rows = _rows(tmp_path / "out.jsonl")
    meta = _rows(tmp_path / "out.meta.jsonl")
    assert [m["rows"] for m in meta] == [
        [sum(m["rows"][1] for m in meta[:i]), len(m[entries])] for i, m in enumerate(meta)
    ]
    assert sum(m["rows"][1] for m in meta) == len(rows) == report.items_written and all(m["rows"][1] for m in meta)
    # AND each entry names the responses of its row, and the line names the prompt of its rows
    by_prompt = {line["source"]: line for line in lines}
    for m in meta:
        first, count = m["rows"]
        for row, entry in zip(rows[first : first + count], m[entries], strict=True):
            line = by_prompt[row["prompt"]]
            assert m["source"].endswith(f":{lines.index(line) + 1}") and m["prompt_id"] == _prompt_id(row["prompt"])
            text = dict(zip(line["responseIds"], line["responses"], strict=True))
            if fmt == "kto":
                assert (text[entry["completion"]], entry["label"]) == (row["completion"], row["label"])
            else:
                assert (text[entry["chosen"]], text[entry["rejected"]]) == (row["chosen"], row["rejected"])
                assert entry["tie"] == row.get("tie", False)
        assert m["workers"] == sorted({a["workerId"] for a in by_prompt[rows[first]["prompt"]]["rank"][
            "annotationsFromAllWorkers"]}) and m["annotators"] == len(m["workers"])  # fmt: skip


def _prompt_id(prompt: str) -> str:
    import hashlib

    return hashlib.sha256(prompt.encode()).hexdigest()[:16]
