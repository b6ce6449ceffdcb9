"""The typed fast path of trl/kto writes exactly what the general path writes, line for line and byte for byte."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from truthloop.exceptions import ManifestLineError
from truthloop.export import _preference_fast, export
from truthloop.export.preferences import TrlExporter

from .conftest import box_line


def _answer(ranks: list[Any], dimension: str = "helpfulness") -> str:
    return json.dumps({"ranking": {"rankings": {dimension: ranks}}})


def _line(
    text: str,
    responses: list[str],
    answers: list[tuple[str, Any]],
    *,
    attr: str = "rank",
    ids: list[Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    line: dict[str, Any] = {"source": text, "responses": responses}
    if ids is not None:
        line["responseIds"] = ids
    line[attr] = {"annotationsFromAllWorkers": [{"workerId": w, "annotationData": {"content": c}} for w, c in answers]}
    line[f"{attr}-metadata"] = {"type": "groundTruth/custom", "job_name": "rank-job", "human-annotated": "yes"}
    line.update(extra)
    return line


def _consolidated(text: str, rankings: list[tuple[str, Any]], **value: Any) -> dict[str, Any]:
    """A line as truthloop's post-annotation Lambda writes it: per-worker rankings in the consolidated content."""
    workers = [{"workerId": w, "rankings": r} if w is not None else {"rankings": r} for w, r in rankings]
    return {
        "source": text,
        "responses": R3,
        "responseIds": IDS,
        "rank": {"rankings": {"helpfulness": {"order": [0, 1, 2]}}, "workerRankings": workers, **value},
        "rank-metadata": {"type": "groundTruth/custom", "job-name": "labeling-job/rank", "human-annotated": "yes"},
    }


def _meta(line: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {**line, "rank-metadata": meta}


R3 = ["first answer", "second answer", "third answer"]
IDS = ["m-a", "m-b", "m-c"]
AGREE = [("w1", _answer([1, 2, 3])), ("w2", _answer([1, 3, 2])), ("w3", _answer([1, 2, 3]))]


def _corpus() -> list[Any]:
    """Common lines mixed with every variant the fast path must hand over (or handle identically)."""
    common = [_line(f"Question {i}?", [f"{r} {i}" for r in R3], AGREE, ids=IDS) for i in range(12)]
    lambda_rankings = [("w1", {"helpfulness": [1, 2, 3]}), ("w2", {"helpfulness": [2, 1, 3]})]
    common += [_consolidated(f"Consolidated {i}?", lambda_rankings) for i in range(6)]
    pairwise_answer = json.dumps({"preference": {"label": "A"}, "displayOrder": "ba"})
    rotations = [(f"w{k}", _answer([1 + k % 3, 1 + (k + 1) % 3, 1 + (k + 2) % 3])) for k in range(5)]
    odd: list[Any] = [
        # ties, a tie-only judgement, a contested prompt (excluded and reported), four and two responses
        _line("ties", R3, [("w1", _answer([1, 1, 2])), ("w2", _answer([1, 1, 3])), ("w3", _answer([2, 1, 3]))]),
        _line("all tied", R3[:2], [("w1", _answer([1, 1]))], ids=IDS[:2]),
        _line("contested", R3[:2], [("w1", _answer([1, 2])), ("w2", _answer([2, 1]))], ids=IDS[:2]),
        _line("four", [*R3, "fourth"], [("w1", _answer([4, 3, 2, 1])), ("w2", _answer([3, 4, 2, 1]))]),
        _line("one worker", R3, [("w1", _answer([3, 1, 2]))], ids=IDS),
        _line("same worker twice", R3, [("w1", _answer([1, 2, 3])), ("w1", _answer([3, 2, 1]))], ids=IDS),
        _line("five workers", R3, rotations),
        # texts and ids that need escaping, including the % of bytes formats and the "," the splitter relies on
        _line(
            'He said "hi", "bye" \\ 100% ünïcödé\n\t',
            ['a","b', "ends with \\", "%d %s %b %% € 😀 \u2028"],
            [("w%1", _answer([2, 1, 3])), ('w"2', _answer([2, 3, 1])), ("w\\3", _answer([2, 1, 3]))],
            ids=["id %d", 'id "q"', "id ü"],
        ),
        _line("empty strings", ["", "", "x"], AGREE, ids=IDS),
        # shapes the fast path hands to the general path
        _line("prompt key wins", R3, AGREE, ids=IDS, prompt="the real prompt"),
        _line("no ids", R3, AGREE),
        _line("null ids", R3, AGREE, responseIds=None),
        _line("numeric ids", R3, AGREE, ids=[1, 2, 3]),
        _line("duplicate ids", R3, AGREE, ids=["x", "x", "y"]),
        _line("short ids", R3, AGREE, ids=["x", "y"]),
        # the answers and ids of the common lines (so their cached plan) with one response too many, or no prompt
        _line("extra response", [*R3, "fourth"], AGREE, ids=IDS),
        {k: v for k, v in _line("no source", R3, AGREE, ids=IDS).items() if k != "source"},
        _line("dict content", R3, [("w1", {"ranking": {"rankings": {"helpfulness": [1, 2, 3]}}})], ids=IDS),
        _line("string ranks", R3, [("w1", _answer(["1", "2", "3"])), ("w2", _answer([1.0, 3, 2]))], ids=IDS),
        _line("bad ranks", R3, [("w1", _answer([0, 2, 3]))], ids=IDS),
        _line("wrong length", R3, [("w1", _answer([1, 2]))], ids=IDS),
        _line("other dimension", R3, [("w1", _answer([1, 2, 3], "accuracy")), ("w2", _answer([2, 1, 3]))], ids=IDS),
        _line("no answers", R3, [], ids=IDS),
        _line("one response", R3[:1], [("w1", _answer([1]))], ids=IDS[:1]),
        _consolidated("two dimensions", [("w1", {"accuracy": [3, 2, 1], "helpfulness": [1, 2, 3]})]),
        _consolidated("ties", [("w1", {"h": [1, 1, 2]}), ("w2", {"h": [1, 1, 2]}), ("w3", {"h": [2, 1, 1]})]),
        _consolidated("with annotations too", lambda_rankings, annotations=[]),
        _consolidated("with answers too", lambda_rankings, answers="not a list"),
        _consolidated("null rankings", [("w1", None)]),
        _consolidated("no worker id", [(None, {"helpfulness": [1, 2, 3]})]),
        _consolidated("no workers", []),
        _meta(_line("labeling-job prefix", R3, AGREE), **{"type": "groundtruth/custom", "job-name": "labeling-job/j"}),
        _meta(_line("null job", R3, AGREE), **{"type": "groundTruth/custom", "job_name": None, "job-name": "x"}),
        _meta(_line("no type", R3, AGREE, ids=IDS), **{"job-name": "j3"}),
        _meta(_line("not custom", R3, AGREE, ids=IDS), type="groundtruth/text-classification"),
        {**_line("chained", R3, AGREE, ids=IDS), "earlier-metadata": {"type": "groundTruth/custom"}},
        {"earlier": {}, "earlier-metadata": {"type": "groundTruth/custom"}, **_line("first", R3, AGREE, ids=IDS)},
        _line("another attribute name", R3, AGREE, ids=IDS, attr="rank2"),
        _line("x-metadata", R3, AGREE, ids=IDS, note="ends in -metadata"),
        {**_line("human answers", R3, AGREE, ids=IDS), "humanAnswers": []},
        {
            "source": "consolidated",
            "responses": R3,
            "responseIds": IDS,
            "rank": {"rankings": {}, "workerRankings": [{"workerId": "w1", "rankings": {"helpfulness": [2, 1, 3]}}]},
            "rank-metadata": {"type": "groundTruth/custom", "job-name": "prefs"},
        },
        {
            "source": "pairwise",
            "responseA": "a",
            "responseB": "b",
            "rank": {"annotationsFromAllWorkers": [{"workerId": "w1", "annotationData": {"content": pairwise_answer}}]},
            "rank-metadata": {"type": "groundTruth/custom"},
        },
        "",
        '{"source": "broken",',
        "[1, 2]",
        {"source": 5, "responses": R3},
    ]
    return common[:6] + odd + common[6:]


OPTIONS = [
    {},
    {"ties": "keep"},
    {"pairs": "best-worst"},
    {"conversational": True},
    {"min_agreement": 0.9},
    {"min_agreement": 0.0, "ties": "keep"},
    {"dimension": "accuracy"},
]


def _export(src: Path, out: Path, fmt: str, options: dict[str, Any], **kwargs: Any) -> tuple[dict[str, bytes], Any]:
    skipped: list[ManifestLineError] = []
    report = export(src, fmt, out, on_skip=skipped.append, options=options, **kwargs)
    files = {p.name.replace(out.stem, ""): p.read_bytes() for p in sorted(out.parent.glob(out.stem + ".*"))}
    return files, (
        [(e.line_number, e.reason) for e in skipped],
        report.lines_read,
        report.lines_exported,
        report.items_written,
        report.notes,
    )


def _count_plans(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Record every plan the fast path makes (one per distinct judgement pattern it exports)."""
    made: list[Any] = []
    original = _preference_fast._make_plan

    def spy(*args: Any) -> Any:
        plan = original(*args)
        made.append(plan)
        return plan

    monkeypatch.setattr(_preference_fast, "_make_plan", spy)
    return made


@pytest.mark.parametrize("fmt", ["trl", "kto"])
@pytest.mark.parametrize("options", OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
def test_fast_path_writes_exactly_what_the_general_path_writes(
    write_manifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str, options: dict[str, Any]
) -> None:  # type: ignore[no-untyped-def]
    # GIVEN common ranking lines mixed with every unusual variant, in a file whose name needs escaping
    src = write_manifest(_corpus(), name='in "100%d".manifest')
    plans = _count_plans(monkeypatch)
    # WHEN the manifest is exported through the fast path and through the general path only
    fast, fast_report = _export(src, tmp_path / "fast" / "out.jsonl", fmt, options)
    made = len(plans)
    slow, slow_report = _export(src, tmp_path / "slow" / "out.jsonl", fmt, {**options, "fast": False})
    # THEN every output file is byte-identical and the same lines were skipped for the same reasons
    assert fast == slow
    assert fast_report == slow_report
    assert sorted(fast) == [".disagreements.jsonl", ".jsonl", ".meta.jsonl"]
    assert fast[".jsonl"]  # the corpus does export rows
    # AND the fast path did handle lines (the common lines of each shape share a plan), the general path none
    assert 2 <= made < 40 and len(plans) == made


def test_fast_path_with_an_explicit_attribute(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN / WHEN
    src = write_manifest(_corpus())
    fast = _export(src, tmp_path / "fast" / "out.jsonl", "trl", {}, attribute="rank")
    slow = _export(src, tmp_path / "slow" / "out.jsonl", "trl", {"fast": False}, attribute="rank")
    # THEN
    assert fast == slow


@pytest.mark.parametrize("fmt", ["trl", "kto", "coco"])
@pytest.mark.parametrize("where", ["skipped field", "decoded string"])
def test_a_byte_that_is_not_utf8_is_reported_by_the_fast_path_too(tmp_path: Path, fmt: str, where: str) -> None:
    # GIVEN common lines (and valid non-ASCII text), one with a byte that is not UTF-8 in a key the typed decoder
    # skips (a note) or in a string it decodes (a worker id / the image URI)
    if fmt == "coco":
        lines = [{**box_line(f"s3://b/ü{i}.jpg", [(0, 1, 2, 3, 4)]), "note": "checked"} for i in range(4)]
        bad = b'"checked"' if where == "skipped field" else "ü2.jpg".encode()
    else:
        lines = [_line(f"Q{i} ü?", R3, AGREE, ids=IDS, note="checked") for i in range(4)]
        bad = b'"checked"' if where == "skipped field" else b'"w2"'
    data = [json.dumps(line, ensure_ascii=False).encode() for line in lines]
    data[2] = data[2].replace(bad, bad[:-2] + b"\xe9" + bad[-2:], 1)
    src = tmp_path / "in.manifest"
    src.write_bytes(b"\n".join(data) + b"\n")
    # WHEN it is exported through the fast path and the general path only
    out = "out.json" if fmt == "coco" else "out.jsonl"
    fast = _export(src, tmp_path / "fast" / out, fmt, {})
    slow = _export(src, tmp_path / "slow" / out, fmt, {"fast": False})
    # THEN both skip that line for the same reason and write the same bytes
    assert fast == slow
    assert [number for number, _ in fast[1][0]] == [3] and "not UTF-8" in fast[1][0][0][1]


TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12)


@st.composite
def _lines(draw: st.DrawFn) -> list[dict[str, Any]]:
    lines = []
    for index in range(draw(st.integers(1, 6))):
        n = draw(st.integers(2, 4))
        responses = draw(st.lists(TEXT, min_size=n, max_size=n))
        workers = draw(st.lists(st.sampled_from(["w1", "w2", "w3", "w%", 'w"']), min_size=1, max_size=4))
        answers = [(w, _answer(draw(st.lists(st.integers(1, n), min_size=n, max_size=n)))) for w in workers]
        lines.append(_line(draw(TEXT) + str(index), responses, answers, ids=[f"r{i}" for i in range(n)]))
    return lines


@settings(max_examples=40, deadline=None)
@given(lines=_lines(), ties=st.sampled_from(["drop", "keep"]), fmt=st.sampled_from(["trl", "kto"]))
def test_fast_and_general_paths_agree_on_random_rankings(
    tmp_path_factory: pytest.TempPathFactory, lines: list[dict[str, Any]], ties: str, fmt: str
) -> None:
    # GIVEN random texts (any Unicode) and rankings
    folder = tmp_path_factory.mktemp("random")
    src = folder / "in.manifest"
    src.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    # WHEN / THEN
    fast = _export(src, folder / "fast" / "out.jsonl", fmt, {"ties": ties})
    slow = _export(src, folder / "slow" / "out.jsonl", fmt, {"ties": ties, "fast": False})
    assert fast == slow


@pytest.mark.parametrize("shape", ["passed-through", "post-annotation-lambda"])
def test_common_lines_of_either_shape_take_the_fast_path(
    write_manifest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shape: str
) -> None:  # type: ignore[no-untyped-def]
    # GIVEN lines as GT passes the answers through, or as truthloop's post-annotation Lambda consolidates them
    rankings = [
        ("w1", {"helpfulness": [1, 2, 3]}),
        ("w2", {"helpfulness": [1, 3, 2]}),
        ("w3", {"helpfulness": [2, 1, 3]}),
    ]
    if shape == "passed-through":
        lines = [_line(f"q{i}", R3, [(w, _answer(r["helpfulness"])) for w, r in rankings], ids=IDS) for i in range(50)]
    else:
        lines = [_consolidated(f"q{i}", rankings) for i in range(50)]
    plans = _count_plans(monkeypatch)
    general: list[int] = []
    add = TrlExporter.add

    def spy(self: TrlExporter, record: Any) -> int:
        general.append(record.line)
        return add(self, record)

    monkeypatch.setattr(TrlExporter, "add", spy)
    # WHEN
    report = export(write_manifest(lines), "trl", tmp_path / "dpo.jsonl")
    # THEN only the first line (which names the attribute to decode) took the general path; one plan served the rest
    assert (general, len(plans), report.lines_exported, report.items_written) == ([1], 1, 50, 150)
