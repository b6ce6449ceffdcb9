"""Responses of the AWS AI services that truthloop routes to human review (aws-contracts.md §9–§10).

Parsers accept the PascalCase keys of the service APIs and the camelCase keys A2I writes into
``inputContent.aiServiceResponse``; builders emit the PascalCase API form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from truthloop.contracts._base import Contract
from truthloop.contracts._reader import Obj, child_path, parse_json_text
from truthloop.exceptions import ContractError

__all__ = [
    "AnalyzeDocumentResponse",
    "Block",
    "ClassifyDocumentResponse",
    "DetectEntitiesResponse",
    "DetectLabelsResponse",
    "DetectModerationLabelsResponse",
    "DetectSentimentResponse",
    "DocumentClass",
    "Entity",
    "HumanLoopActivationOutput",
    "Label",
    "LabelInstance",
    "ModerationLabel",
    "Relationship",
]


def _percent(o: Obj, *names: str) -> float:
    value = o.number(*names)
    if not 0.0 <= value <= 100.0:
        raise ContractError(f"confidence {value} is outside 0..100", o.key_path(*names))
    return value


def _unit(o: Obj, *names: str) -> float:
    value = o.number(*names)
    if not 0.0 <= value <= 1.0:
        raise ContractError(f"score {value} is outside 0..1", o.key_path(*names))
    return value


@dataclass(frozen=True)
class HumanLoopActivationOutput:
    """``HumanLoopActivationOutput`` of Textract/Rekognition calls made with ``HumanLoopConfig``."""

    human_loop_arn: str | None = None
    activation_reasons: tuple[str, ...] = ()
    conditions_evaluation_results: Any = None

    @classmethod
    def parse_opt(cls, parent: Obj) -> HumanLoopActivationOutput | None:
        o = parent.opt_obj("HumanLoopActivationOutput")
        if o is None:
            return None
        results = o.raw("HumanLoopActivationConditionsEvaluationResults", default=None)
        if isinstance(results, str):
            results = parse_json_text(results, o.key_path("HumanLoopActivationConditionsEvaluationResults"))
        return cls(
            human_loop_arn=o.opt_str("HumanLoopArn"),
            activation_reasons=o.strs("HumanLoopActivationReasons"),
            conditions_evaluation_results=results,
        )

    def to_dict(self) -> dict[str, Any]:
        import json

        out: dict[str, Any] = {}
        if self.human_loop_arn is not None:
            out["HumanLoopArn"] = self.human_loop_arn
        if self.activation_reasons:
            out["HumanLoopActivationReasons"] = list(self.activation_reasons)
        if self.conditions_evaluation_results is not None:
            out["HumanLoopActivationConditionsEvaluationResults"] = json.dumps(self.conditions_evaluation_results)
        return out


def _with_hlao(out: dict[str, Any], hlao: HumanLoopActivationOutput | None) -> dict[str, Any]:
    if hlao is not None:
        out["HumanLoopActivationOutput"] = hlao.to_dict()
    return out


# ============================================================================================ Rekognition


@dataclass(frozen=True)
class ModerationLabel:
    name: str
    confidence: float
    parent_name: str = ""
    taxonomy_level: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Confidence": self.confidence, "Name": self.name, "ParentName": self.parent_name}
        if self.taxonomy_level is not None:
            out["TaxonomyLevel"] = self.taxonomy_level
        return out


@dataclass(frozen=True)
class DetectModerationLabelsResponse(Contract):
    """Rekognition ``DetectModerationLabels`` (confidences 0–100)."""

    kind: ClassVar[str] = "service.rekognition.detect_moderation_labels"
    moderation_labels: tuple[ModerationLabel, ...]
    moderation_model_version: str | None = None
    human_loop_activation_output: HumanLoopActivationOutput | None = None
    content_types: tuple[dict[str, Any], ...] = ()

    @classmethod
    def parse(cls, obj: Any, path: str = "$") -> DetectModerationLabelsResponse:
        o = Obj(obj, path)
        labels = tuple(
            ModerationLabel(
                name=item.string("Name"),
                confidence=_percent(item, "Confidence"),
                parent_name=item.opt_str("ParentName") or "",
                taxonomy_level=item.opt_int("TaxonomyLevel"),
            )
            for item in o.objs("ModerationLabels", required=True)
        )
        return cls(
            moderation_labels=labels,
            moderation_model_version=o.text("ModerationModelVersion"),
            human_loop_activation_output=HumanLoopActivationOutput.parse_opt(o),
            content_types=tuple(c.data for c in o.objs("ContentTypes")),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"ModerationLabels": [x.to_dict() for x in self.moderation_labels]}
        if self.moderation_model_version is not None:
            out["ModerationModelVersion"] = self.moderation_model_version
        if self.content_types:
            out["ContentTypes"] = [dict(c) for c in self.content_types]
        return _with_hlao(out, self.human_loop_activation_output)


@dataclass(frozen=True)
class LabelInstance:
    bounding_box: dict[str, float]
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"BoundingBox": dict(self.bounding_box), "Confidence": self.confidence}


@dataclass(frozen=True)
class Label:
    name: str
    confidence: float
    instances: tuple[LabelInstance, ...] = ()
    parents: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "Name": self.name,
            "Confidence": self.confidence,
            "Instances": [i.to_dict() for i in self.instances],
            "Parents": [{"Name": p} for p in self.parents],
            "Aliases": [{"Name": a} for a in self.aliases],
            "Categories": [{"Name": c} for c in self.categories],
        }


def _names(o: Obj, key: str) -> tuple[str, ...]:
    return tuple(item.string("Name") for item in o.objs(key))


@dataclass(frozen=True)
class DetectLabelsResponse(Contract):
    """Rekognition ``DetectLabels`` (confidences 0–100, boxes as ratios)."""

    kind: ClassVar[str] = "service.rekognition.detect_labels"
    labels: tuple[Label, ...]
    label_model_version: str | None = None

    @classmethod
    def parse(cls, obj: Any, path: str = "$") -> DetectLabelsResponse:
        o = Obj(obj, path)
        labels = []
        for item in o.objs("Labels", required=True):
            instances = []
            for inst in item.objs("Instances"):
                box = inst.obj("BoundingBox")
                instances.append(
                    LabelInstance(
                        bounding_box={k: box.number(k) for k in ("Width", "Height", "Left", "Top") if box.has(k)},
                        confidence=_percent(inst, "Confidence"),
                    )
                )
            labels.append(
                Label(
                    name=item.string("Name"),
                    confidence=_percent(item, "Confidence"),
                    instances=tuple(instances),
                    parents=_names(item, "Parents"),
                    aliases=_names(item, "Aliases"),
                    categories=_names(item, "Categories"),
                )
            )
        return cls(labels=tuple(labels), label_model_version=o.text("LabelModelVersion"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Labels": [x.to_dict() for x in self.labels]}
        if self.label_model_version is not None:
            out["LabelModelVersion"] = self.label_model_version
        return out


# ============================================================================================ Textract


@dataclass(frozen=True)
class Relationship:
    type: str
    ids: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"Type": self.type, "Ids": list(self.ids)}


@dataclass(frozen=True)
class Block:
    """One Textract block. ``confidence`` is 0–100 (absent on PAGE blocks of some responses)."""

    id: str
    block_type: str
    confidence: float | None = None
    text: str | None = None
    text_type: str | None = None
    entity_types: tuple[str, ...] = ()
    relationships: tuple[Relationship, ...] = ()
    page: int | None = None
    selection_status: str | None = None
    query: dict[str, Any] | None = None
    geometry: dict[str, Any] | None = None
    path: str = field(default="$", compare=False, repr=False)

    def related(self, relationship_type: str) -> tuple[str, ...]:
        return tuple(i for r in self.relationships if r.type == relationship_type for i in r.ids)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"BlockType": self.block_type, "Id": self.id}
        if self.confidence is not None:
            out["Confidence"] = self.confidence
        if self.text is not None:
            out["Text"] = self.text
        if self.text_type is not None:
            out["TextType"] = self.text_type
        if self.entity_types:
            out["EntityTypes"] = list(self.entity_types)
        if self.relationships:
            out["Relationships"] = [r.to_dict() for r in self.relationships]
        if self.page is not None:
            out["Page"] = self.page
        if self.selection_status is not None:
            out["SelectionStatus"] = self.selection_status
        if self.query is not None:
            out["Query"] = self.query
        if self.geometry is not None:
            out["Geometry"] = self.geometry
        return out


@dataclass(frozen=True)
class AnalyzeDocumentResponse(Contract):
    """Textract ``AnalyzeDocument`` (FORMS / QUERIES / TABLES …; confidences 0–100)."""

    kind: ClassVar[str] = "service.textract.analyze_document"
    blocks: tuple[Block, ...]
    pages: int | None = None
    model_version: str | None = None
    human_loop_activation_output: HumanLoopActivationOutput | None = None

    @classmethod
    def parse(cls, obj: Any, path: str = "$") -> AnalyzeDocumentResponse:
        o = Obj(obj, path)
        blocks = []
        for b in o.objs("Blocks", required=True):
            confidence = b.opt_number("Confidence")
            if confidence is not None and not 0.0 <= confidence <= 100.0:
                raise ContractError(f"confidence {confidence} is outside 0..100", b.key_path("Confidence"))
            blocks.append(
                Block(
                    id=b.string("Id"),
                    block_type=b.string("BlockType"),
                    confidence=confidence,
                    text=b.opt_str("Text"),
                    text_type=b.opt_str("TextType"),
                    entity_types=b.strs("EntityTypes"),
                    relationships=tuple(
                        Relationship(type=r.string("Type"), ids=r.strs("Ids")) for r in b.objs("Relationships")
                    ),
                    page=b.opt_int("Page"),
                    selection_status=b.opt_str("SelectionStatus"),
                    query=b.opt_mapping("Query"),
                    geometry=b.opt_mapping("Geometry"),
                    path=b.path,
                )
            )
        metadata = o.opt_obj("DocumentMetadata")
        return cls(
            blocks=tuple(blocks),
            pages=None if metadata is None else metadata.opt_int("Pages"),
            model_version=o.text("AnalyzeDocumentModelVersion"),
            human_loop_activation_output=HumanLoopActivationOutput.parse_opt(o),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.pages is not None:
            out["DocumentMetadata"] = {"Pages": self.pages}
        out["Blocks"] = [b.to_dict() for b in self.blocks]
        if self.model_version is not None:
            out["AnalyzeDocumentModelVersion"] = self.model_version
        return _with_hlao(out, self.human_loop_activation_output)

    def by_id(self) -> dict[str, Block]:
        return {b.id: b for b in self.blocks}


# ============================================================================================ Comprehend

_SENTIMENTS = ("POSITIVE", "NEGATIVE", "NEUTRAL", "MIXED")


@dataclass(frozen=True)
class DetectSentimentResponse(Contract):
    """Comprehend ``DetectSentiment`` (scores 0–1)."""

    kind: ClassVar[str] = "service.comprehend.detect_sentiment"
    sentiment: str
    scores: dict[str, float]

    @classmethod
    def parse(cls, obj: Any, path: str = "$") -> DetectSentimentResponse:
        o = Obj(obj, path)
        sentiment = o.string("Sentiment").upper()
        if sentiment not in _SENTIMENTS:
            raise ContractError(
                f"unknown sentiment {sentiment!r}; expected one of {_SENTIMENTS}", o.key_path("Sentiment")
            )
        scores_obj = o.obj("SentimentScore")
        scores = {
            name: _unit(scores_obj, name)
            for name in ("Positive", "Negative", "Neutral", "Mixed")
            if scores_obj.has(name)
        }
        if not scores:
            raise ContractError("SentimentScore has no scores", scores_obj.path)
        return cls(sentiment=sentiment, scores=scores)

    def to_dict(self) -> dict[str, Any]:
        return {"Sentiment": self.sentiment, "SentimentScore": dict(self.scores)}


@dataclass(frozen=True)
class DocumentClass:
    name: str
    score: float
    page: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Name": self.name, "Score": self.score}
        if self.page is not None:
            out["Page"] = self.page
        return out


def _classes(o: Obj, key: str) -> tuple[DocumentClass, ...]:
    return tuple(
        DocumentClass(name=c.string("Name"), score=_unit(c, "Score"), page=c.opt_int("Page")) for c in o.objs(key)
    )


@dataclass(frozen=True)
class ClassifyDocumentResponse(Contract):
    """Comprehend ``ClassifyDocument``: ``Classes`` (multi-class) or ``Labels`` (multi-label), scores 0–1."""

    kind: ClassVar[str] = "service.comprehend.classify_document"
    classes: tuple[DocumentClass, ...] = ()
    labels: tuple[DocumentClass, ...] = ()
    multi_label: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, obj: Any, path: str = "$") -> ClassifyDocumentResponse:
        o = Obj(obj, path)
        if not o.has("Classes") and not o.has("Labels"):
            raise ContractError("ClassifyDocument response needs Classes or Labels", child_path(path, "Classes"))
        extra = {
            k: v
            for k, v in o.data.items()
            if k[:1].upper() + k[1:] in {"DocumentMetadata", "DocumentType", "Errors", "Warnings"}
        }
        return cls(
            classes=_classes(o, "Classes"),
            labels=_classes(o, "Labels"),
            multi_label=o.has("Labels") and not o.has("Classes"),
            extra=extra,
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.classes or not self.multi_label:
            out["Classes"] = [c.to_dict() for c in self.classes]
        if self.labels or self.multi_label:
            out["Labels"] = [c.to_dict() for c in self.labels]
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class Entity:
    type: str
    text: str
    score: float
    begin_offset: int | None = None
    end_offset: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Score": self.score, "Type": self.type, "Text": self.text}
        if self.begin_offset is not None:
            out["BeginOffset"] = self.begin_offset
        if self.end_offset is not None:
            out["EndOffset"] = self.end_offset
        return out


@dataclass(frozen=True)
class DetectEntitiesResponse(Contract):
    """Comprehend ``DetectEntities`` (scores 0–1, Unicode offsets)."""

    kind: ClassVar[str] = "service.comprehend.detect_entities"
    entities: tuple[Entity, ...]

    @classmethod
    def parse(cls, obj: Any, path: str = "$") -> DetectEntitiesResponse:
        o = Obj(obj, path)
        entities = tuple(
            Entity(
                type=e.string("Type"),
                text=e.string("Text"),
                score=_unit(e, "Score"),
                begin_offset=e.opt_int("BeginOffset"),
                end_offset=e.opt_int("EndOffset"),
            )
            for e in o.objs("Entities", required=True)
        )
        return cls(entities=entities)

    def to_dict(self) -> dict[str, Any]:
        return {"Entities": [e.to_dict() for e in self.entities]}
