"""Textract ``AnalyzeDocument`` adapter: FORMS key/value pairs and QUERIES answers (confidences 0–100 → 0..1).

FORMS produce ``KEY_VALUE_SET`` blocks: the KEY block links its VALUE block through a ``VALUE`` relationship, and
both link their words through ``CHILD``. A form field's confidence is the lower of the key and value block
confidences; ``scores`` keeps ``key``, ``value`` and ``words`` (the lowest word confidence) separately. QUERIES
produce ``QUERY`` blocks linked to ``QUERY_RESULT`` blocks through ``ANSWER``; an unanswered query has confidence
0 and no value.

Multi-page results (``GetDocumentAnalysis`` pages) may be passed as a list of responses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from truthloop.contracts.services import AnalyzeDocumentResponse, Block, Relationship
from truthloop.review.adapters._common import Adapted, as_contract, fail, is_number
from truthloop.review.types import Prediction, normalise_key

__all__ = ["analyze_document", "merge_pages", "missing_keys"]

SOURCE = "textract:analyze_document"


def merge_pages(response: Any) -> Any:
    """One response from a list of paginated responses (their ``Blocks`` concatenated in order)."""
    if not isinstance(response, list):
        return response
    if not response:
        raise fail("an empty list of Textract responses", "$")
    blocks: list[Any] = []
    merged: dict[str, Any] = {}
    for index, page in enumerate(response):
        if not isinstance(page, Mapping):
            raise fail(f"expected a Textract response object, got {type(page).__name__}", f"$[{index}]")
        key = "Blocks" if "Blocks" in page else "blocks"
        items = page.get(key)
        if not isinstance(items, list):
            raise fail("required field is missing", f"$[{index}].Blocks")
        blocks.extend(items)
        for name, value in page.items():
            if name not in ("Blocks", "blocks", "NextToken", "ResponseMetadata"):
                merged.setdefault(name, value)
    merged["Blocks"] = blocks
    return merged


def _related(block: Block, kind: str, by_id: Mapping[str, Block]) -> list[Block]:
    out = []
    for r_index, rel in enumerate(block.relationships):
        if rel.type != kind:
            continue
        for i_index, block_id in enumerate(rel.ids):
            target = by_id.get(block_id)
            if target is None:
                raise fail(
                    f"{kind} relationship names block {block_id!r}, which is not in the response",
                    f"{block.path}.Relationships[{r_index}].Ids[{i_index}]",
                )
            out.append(target)
    return out


def _confidence(block: Block) -> float:
    if block.confidence is None:
        raise fail(f"{block.block_type} block {block.id!r} has no Confidence", f"{block.path}.Confidence")
    return block.confidence / 100.0


def _text(children: Sequence[Block]) -> tuple[str | None, list[float]]:
    words: list[str] = []
    confidences: list[float] = []
    for child in children:
        if child.block_type == "WORD":
            words.append(child.text or "")
        elif child.block_type == "SELECTION_ELEMENT":
            words.append(child.selection_status or "")
        else:
            continue
        if child.confidence is not None:
            confidences.append(child.confidence / 100.0)
    return (" ".join(w for w in words if w) if words else None), confidences


def _form_field(key_block: Block, by_id: Mapping[str, Block]) -> Prediction:
    key_text, key_words = _text(_related(key_block, "CHILD", by_id))
    values = _related(key_block, "VALUE", by_id)
    value_block = values[0] if values else None
    key_conf = _confidence(key_block)
    scores: dict[str, float] = {"key": key_conf}
    confidence = key_conf
    value_text: str | None = None
    word_confs = list(key_words)
    if value_block is not None:
        value_conf = _confidence(value_block)
        scores["value"] = value_conf
        confidence = min(confidence, value_conf)
        value_text, value_words = _text(_related(value_block, "CHILD", by_id))
        word_confs.extend(value_words)
    if word_confs:
        scores["words"] = min(word_confs)
    locator = {
        "page": key_block.page if key_block.page is not None else 1,
        "keyBlockId": key_block.id,
        "valueBlockId": None if value_block is None else value_block.id,
    }
    return Prediction(
        kind="form_field",
        key=key_text or "",
        value=value_text,
        confidence=confidence,
        locator=locator,
        scores=scores,
        raw=key_block,
    )


def _query_answer(query_block: Block, by_id: Mapping[str, Block]) -> Prediction:
    query = query_block.query or {}
    text = query.get("Text", query.get("text"))
    alias = query.get("Alias", query.get("alias"))
    if not isinstance(text, str):
        raise fail("QUERY block has no Query.Text", f"{query_block.path}.Query.Text")
    answers = [b for b in _related(query_block, "ANSWER", by_id) if b.block_type == "QUERY_RESULT"]
    best = max(answers, key=lambda b: b.confidence or 0.0) if answers else None
    page = query_block.page if query_block.page is not None else 1
    locator = {"page": page, "queryBlockId": query_block.id, "answerBlockId": None if best is None else best.id}
    return Prediction(
        kind="query_answer",
        key=alias if isinstance(alias, str) and alias else text,
        value=None if best is None else (best.text or ""),
        confidence=0.0 if best is None else _confidence(best),
        locator=locator,
        scores={} if best is None else {"answer": _confidence(best)},
        raw=query_block,
    )


def _fast_blocks(response: Any) -> tuple[Block, ...] | None:
    """Blocks of a well-formed API-shaped response without the contract parser; ``None`` for anything else."""
    items = response.get("Blocks") if type(response) is dict else None
    if type(items) is not list:
        return None
    blocks = []
    for index, b in enumerate(items):
        if type(b) is not dict:
            return None
        block_id, block_type, confidence = b.get("Id"), b.get("BlockType"), b.get("Confidence")
        text, page, relationships = b.get("Text"), b.get("Page"), b.get("Relationships") or []
        entity_types, status, query = b.get("EntityTypes") or [], b.get("SelectionStatus"), b.get("Query")
        if type(block_id) is not str or type(block_type) is not str:
            return None
        if confidence is not None and not is_number(confidence, 100.0):
            return None
        if (text is not None and type(text) is not str) or (page is not None and type(page) is not int):
            return None
        if (status is not None and type(status) is not str) or (query is not None and type(query) is not dict):
            return None
        if type(entity_types) is not list or type(relationships) is not list:
            return None
        if not all(type(t) is str for t in entity_types):
            return None
        rels = []
        for rel in relationships:
            ids = rel.get("Ids") if type(rel) is dict else None
            if type(ids) is not list or type(rel.get("Type")) is not str or not all(type(i) is str for i in ids):
                return None
            rels.append(Relationship(type=rel["Type"], ids=tuple(ids)))
        blocks.append(
            Block(
                id=block_id,
                block_type=block_type,
                confidence=None if confidence is None else float(confidence),
                text=text,
                entity_types=tuple(entity_types),
                relationships=tuple(rels),
                page=page,
                selection_status=status,
                query=query,
                path=f"$.Blocks[{index}]",
            )
        )
    return tuple(blocks)


def analyze_document(response: Any) -> Adapted:
    """Form fields (``form_field``) and query answers (``query_answer``), in block order."""
    merged = merge_pages(response)
    blocks = _fast_blocks(merged)
    if blocks is None:
        with as_contract(SOURCE):
            blocks = AnalyzeDocumentResponse.parse(merged).blocks
    by_id = {b.id: b for b in blocks}
    predictions = []
    for block in blocks:
        if block.block_type == "KEY_VALUE_SET" and "KEY" in block.entity_types:
            predictions.append(_form_field(block, by_id))
        elif block.block_type == "QUERY":
            predictions.append(_query_answer(block, by_id))
    return Adapted(SOURCE, tuple(predictions))


def missing_keys(predictions: Sequence[Prediction], required: Mapping[str, Sequence[str]]) -> list[Prediction]:
    """``missing_key`` predictions for each required form key (or any alias) no ``form_field`` carries."""
    present = {p.subject_key for p in predictions if p.kind == "form_field"}
    out = []
    for key, aliases in required.items():
        names = {normalise_key(key), *(normalise_key(a) for a in aliases)}
        if present.isdisjoint(names):
            out.append(Prediction(kind="missing_key", key=key, confidence=None, locator={"aliases": list(aliases)}))
    return out
