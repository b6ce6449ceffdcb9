"""Classification CSV/JSONL, CoNLL and spaCy NER, segmentation: exact output from small manifests."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from truthloop.exceptions import ManifestLineError
from truthloop.export import export
from truthloop.export.ner import iob_tags, tokenize
from truthloop.manifest.labels import Entity

SINGLE = {
    "source": 'He said "hi", then left',
    "intent": "1",
    "intent-metadata": {
        "class-name": "greeting",
        "confidence": 0.8,
        "type": "groundtruth/text-classification",
        "job_name": "labeling-job/intents",
        "human-annotated": "yes",
    },
}
MULTI = {
    "source-ref": "s3://b/p.jpg",
    "pets": [1, 0],
    "pets-metadata": {
        "class-map": {"1": "dog", "0": "cat"},
        "confidence-map": {"1": 0.95, "0": 0.5},
        "type": "groundtruth/image-classification-multilabel",
        "human-annotated": "no",
        "job-name": "pets",
    },
}


def test_csv_is_long_format_and_quotes_text(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN / WHEN
    export(write_manifest([SINGLE, MULTI]), "csv", tmp_path / "out.csv")
    # THEN
    assert (tmp_path / "out.csv").read_text() == (
        "source,label,class_id,confidence,human_annotated,job_name\n"
        '"He said ""hi"", then left",greeting,1,0.8,yes,intents\n'
        "s3://b/p.jpg,dog,1,0.95,no,pets\n"
        "s3://b/p.jpg,cat,0,0.5,no,pets\n"
    )


def test_jsonl_has_one_object_per_item(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN / WHEN
    export(write_manifest([SINGLE, MULTI]), "jsonl", tmp_path / "out.jsonl")
    # THEN
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert rows == [
        {
            "source": 'He said "hi", then left',
            "label": "greeting",
            "class_id": 1,
            "confidence": 0.8,
            "human_annotated": True,
            "job_name": "intents",
        },
        {
            "source": "s3://b/p.jpg",
            "labels": ["dog", "cat"],
            "class_ids": [1, 0],
            "confidences": [0.95, 0.5],
            "human_annotated": False,
            "job_name": "pets",
        },
    ]


def _ner(text: str, entities: list[tuple[str, int, int]]) -> dict[str, object]:
    return {
        "source": text,
        "ner": {"annotations": {"entities": [{"label": k, "startOffset": s, "endOffset": e} for k, s, e in entities]}},
        "ner-metadata": {"type": "groundtruth/text-span", "job-name": "ner"},
    }


def test_conll_tokenises_and_tags_iob2(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN an entity that ends inside a word and one over two tokens (spans listed out of order)
    src = write_manifest([_ner("Dr. Ana Lima-Ruiz visited São Paulo.", [("place", 26, 35), ("person", 4, 17)])])
    # WHEN
    export(src, "conll", tmp_path / "out.conll")
    # THEN
    assert (tmp_path / "out.conll").read_text() == (
        "-DOCSTART- -X- -X- O\n\n"
        "Dr -X- _ O\n. -X- _ O\nAna -X- _ B-person\nLima -X- _ I-person\n- -X- _ I-person\nRuiz -X- _ I-person\n"
        "visited -X- _ O\nSão -X- _ B-place\nPaulo -X- _ I-place\n. -X- _ O\n\n"
    )


def test_overlapping_entities_first_one_wins() -> None:
    # GIVEN / WHEN
    tokens = tokenize("New York City")
    tags = iob_tags(tokens, (Entity("city", 0, 13, None), Entity("state", 0, 8, None)))
    # THEN
    assert tags == ["B-city", "I-city", "I-city"]


def test_spacy_jsonl_keeps_character_offsets_and_skips_bad_spans(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN a good line and one whose entity runs past the end of the text
    src = write_manifest([_ner("Anna cooks", [("person", 0, 4)]), _ner("short", [("x", 2, 9)])])
    skipped: list[ManifestLineError] = []
    # WHEN
    export(src, "spacy", tmp_path / "out.jsonl", on_skip=skipped.append)
    # THEN
    assert (
        tmp_path / "out.jsonl"
    ).read_text() == '{"text":"Anna cooks","spans":[{"start":0,"end":4,"label":"person"}]}\n'
    assert skipped[0].line_number == 2
    assert (
        "$.ner.annotations.entities[0]: entity offsets [2, 9) are not a non-empty span of a 5-character text"
        in skipped[0].reason
    )


def test_ner_needs_inline_text(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    # GIVEN
    line = _ner("x", [])
    line["source-ref"] = "s3://b/doc.txt"
    del line["source"]
    skipped: list[ManifestLineError] = []
    # WHEN
    export(write_manifest([line]), "conll", tmp_path / "out.conll", on_skip=skipped.append)
    # THEN
    assert "needs the text inline" in skipped[0].reason


def test_segmentation_writes_mask_table_and_rejects_conflicting_class_maps(write_manifest, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    def seg(ref: str, colors: dict[str, tuple[str, str]]) -> dict[str, object]:
        return {
            "source-ref": ref,
            "city-ref": ref.replace("img", "mask"),
            "city-ref-metadata": {
                "internal-color-map": {
                    k: {"class-name": n, "hex-color": c, "confidence": 0.9} for k, (n, c) in colors.items()
                },
                "type": "groundtruth/semantic-segmentation",
            },
        }

    # GIVEN
    src = write_manifest(
        [
            seg("s3://b/img1.png", {"0": ("BACKGROUND", "#ffffff"), "1": ("road", "#f28333")}),
            seg("s3://b/img2.png", {"1": ("car", "#000000")}),
        ]
    )
    skipped: list[ManifestLineError] = []
    # WHEN
    export(src, "semseg", tmp_path / "seg", on_skip=skipped.append)
    # THEN
    assert (tmp_path / "seg/masks.csv").read_text() == "source,mask\ns3://b/img1.png,s3://b/mask1.png\n"
    assert json.loads((tmp_path / "seg/class_map.json").read_text()) == {
        "0": {"name": "BACKGROUND", "color": "#ffffff"},
        "1": {"name": "road", "color": "#f28333"},
    }
    assert [e.line_number for e in skipped] == [2]


@pytest.mark.parametrize("option", [{"nope": 1}, {"fast": True}])
def test_unknown_options_are_rejected(write_manifest, tmp_path: Path, option: dict[str, object]) -> None:  # type: ignore[no-untyped-def]
    # GIVEN / WHEN / THEN (csv has no options at all)
    from truthloop.exceptions import ExportError

    with pytest.raises(ExportError, match="has no option"):
        export(write_manifest([SINGLE]), "csv", tmp_path / "x.csv", options=option)
