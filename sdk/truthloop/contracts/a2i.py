"""Augmented AI payloads (aws-contracts.md §5, §6, §8)."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from truthloop.contracts._base import Contract, arn_resource_name
from truthloop.contracts._reader import Obj, as_mapping, iso, parse_json_text
from truthloop.contracts.gt import WorkerAnswer
from truthloop.exceptions import ContractError

__all__ = [
    "BUILTIN_SOURCES",
    "HUMAN_LOOP_STATUSES",
    "ActivationConditions",
    "DescribeHumanLoopResponse",
    "HumanLoopOutput",
    "StartHumanLoopRequest",
]

HUMAN_LOOP_STATUSES = ("InProgress", "Failed", "Completed", "Stopped", "Stopping")
BUILTIN_SOURCES = (
    "AWS/Rekognition/DetectModerationLabels/Image/V3",
    "AWS/Textract/AnalyzeDocument/Forms/V1",
)


@dataclass(frozen=True)
class HumanLoopOutput(Contract):
    """``output.json`` written by A2I when a loop completes; custom and built-in task types alike."""

    kind: ClassVar[str] = "a2i.output"
    flow_definition_arn: str
    human_loop_name: str
    input_content: Any
    human_answers: tuple[WorkerAnswer, ...]
    aws_managed_human_loop_request_source: str | None = None

    @classmethod
    def parse(cls, obj: Any, path: str = "$") -> HumanLoopOutput:
        o = Obj(obj, path)
        content = o.raw("inputContent", default=None)
        if isinstance(content, str):
            with contextlib.suppress(ValueError):
                content = json.loads(content)
        return cls(
            flow_definition_arn=o.string("flowDefinitionArn"),
            human_loop_name=o.string("humanLoopName"),
            input_content=content,
            human_answers=tuple(WorkerAnswer.parse(a) for a in o.objs("humanAnswers", required=True)),
            aws_managed_human_loop_request_source=o.opt_str("awsManagedHumanLoopRequestSource"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.aws_managed_human_loop_request_source is not None:
            out["awsManagedHumanLoopRequestSource"] = self.aws_managed_human_loop_request_source
        out["flowDefinitionArn"] = self.flow_definition_arn
        out["humanLoopName"] = self.human_loop_name
        out["inputContent"] = self.input_content
        out["humanAnswers"] = [a.to_dict() for a in self.human_answers]
        return out

    @property
    def is_builtin(self) -> bool:
        return self.aws_managed_human_loop_request_source is not None

    @property
    def flow_definition_name(self) -> str:
        return arn_resource_name(self.flow_definition_arn, "flow-definition")


def _status(o: Obj, *names: str) -> str:
    value = o.string(*names)
    for status in HUMAN_LOOP_STATUSES:
        if value.lower() == status.lower():
            return status
    raise ContractError(
        f"unknown human loop status {value!r}; expected one of {HUMAN_LOOP_STATUSES}", o.key_path(*names)
    )


@dataclass(frozen=True)
class DescribeHumanLoopResponse(Contract):
    """The ``DescribeHumanLoop`` response (boto3 gives ``datetime``; JSON dumps give ISO strings)."""

    kind: ClassVar[str] = "a2i.describe_human_loop"
    human_loop_name: str
    human_loop_arn: str
    flow_definition_arn: str
    human_loop_status: str
    creation_time: datetime
    failure_reason: str | None = None
    failure_code: str | None = None
    output_s3_uri: str | None = None

    @classmethod
    def parse(cls, obj: Any, path: str = "$") -> DescribeHumanLoopResponse:
        o = Obj(obj, path)
        output = o.opt_obj("HumanLoopOutput")
        return cls(
            human_loop_name=o.string("HumanLoopName"),
            human_loop_arn=o.string("HumanLoopArn"),
            flow_definition_arn=o.string("FlowDefinitionArn"),
            human_loop_status=_status(o, "HumanLoopStatus"),
            creation_time=o.timestamp("CreationTime"),
            failure_reason=o.opt_str("FailureReason"),
            failure_code=o.opt_str("FailureCode"),
            output_s3_uri=None if output is None else output.string("OutputS3Uri"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "CreationTime": iso(self.creation_time),
            "HumanLoopStatus": self.human_loop_status,
            "HumanLoopName": self.human_loop_name,
            "HumanLoopArn": self.human_loop_arn,
            "FlowDefinitionArn": self.flow_definition_arn,
        }
        if self.failure_reason is not None:
            out["FailureReason"] = self.failure_reason
        if self.failure_code is not None:
            out["FailureCode"] = self.failure_code
        if self.output_s3_uri is not None:
            out["HumanLoopOutput"] = {"OutputS3Uri": self.output_s3_uri}
        return out


@dataclass(frozen=True)
class StartHumanLoopRequest(Contract):
    """A ``StartHumanLoop`` request; ``input_content`` is the JSON *string* A2I takes."""

    kind: ClassVar[str] = "a2i.start_human_loop_request"
    human_loop_name: str
    flow_definition_arn: str
    input_content: str
    content_classifiers: tuple[str, ...] = ()

    @classmethod
    def parse(cls, obj: Any, path: str = "$") -> StartHumanLoopRequest:
        o = Obj(obj, path)
        human_input = o.obj("HumanLoopInput")
        content = human_input.raw("InputContent")
        if not isinstance(content, str):
            content = json.dumps(as_mapping(content, human_input.key_path("InputContent")), ensure_ascii=False)
        attributes = o.opt_obj("DataAttributes")
        return cls(
            human_loop_name=o.string("HumanLoopName"),
            flow_definition_arn=o.string("FlowDefinitionArn"),
            input_content=content,
            content_classifiers=() if attributes is None else attributes.strs("ContentClassifiers"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "HumanLoopName": self.human_loop_name,
            "FlowDefinitionArn": self.flow_definition_arn,
            "HumanLoopInput": {"InputContent": self.input_content},
        }
        if self.content_classifiers:
            out["DataAttributes"] = {"ContentClassifiers": list(self.content_classifiers)}
        return out

    def input(self) -> Any:
        return parse_json_text(self.input_content, "$.HumanLoopInput.InputContent")


_CONDITION_TYPES = {
    "ModerationLabelConfidenceCheck",
    "ImportantFormKeyConfidenceCheck",
    "MissingImportantFormKey",
    "Sampling",
}


def _check_condition(o: Obj, depth: int) -> None:
    if o.has("And") or o.has("Or"):
        key = "And" if o.has("And") else "Or"
        if depth >= 2:
            raise ContractError("activation conditions nest at most 2 levels", o.path)
        children = o.objs(key, required=True)
        if len(children) < 2:
            raise ContractError(f"{key} needs at least 2 conditions", o.key_path(key))
        for child in children:
            _check_condition(child, depth + 1)
        return
    kind = o.string("ConditionType")
    if kind not in _CONDITION_TYPES:
        raise ContractError(f"unknown ConditionType {kind!r}", o.key_path("ConditionType"))
    o.obj("ConditionParameters")


@dataclass(frozen=True)
class ActivationConditions(Contract):
    """The human-loop activation-conditions JSON of a flow definition (§8). Structure is checked, not semantics."""

    kind: ClassVar[str] = "a2i.activation_conditions"
    conditions: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    @classmethod
    def parse(cls, obj: Any, path: str = "$") -> ActivationConditions:
        o = Obj(obj, path)
        conditions = o.objs("Conditions", required=True)
        for condition in conditions:
            _check_condition(condition, 0)
        return cls(conditions=tuple(c.data for c in conditions))

    def to_dict(self) -> dict[str, Any]:
        return {"Conditions": [dict(c) for c in self.conditions]}
