"""EventBridge events from SageMaker (aws-contracts.md §7)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from truthloop.contracts._base import Contract
from truthloop.contracts._reader import Obj, iso
from truthloop.contracts.a2i import HUMAN_LOOP_STATUSES
from truthloop.contracts.gt import job_name_from_arn
from truthloop.exceptions import ContractError

__all__ = [
    "A2I_DETAIL_TYPE",
    "A2I_DETAIL_TYPES",
    "GT_DETAIL_TYPE",
    "GT_DETAIL_TYPES",
    "LABELING_JOB_STATUSES",
    "A2ILoopStatusEvent",
    "GTJobStateEvent",
    "canonical_detail_type",
]

#: the detail-type truthloop emits (the A2I developer guide's current spelling)
A2I_DETAIL_TYPE = "SageMaker A2I HumanLoop Status Change"
#: every documented spelling of the A2I loop status event; match on all of them (EventBridge rules, handlers)
A2I_DETAIL_TYPES = (A2I_DETAIL_TYPE, "Amazon Augmented AI HumanLoop Status Change")
GT_DETAIL_TYPE = "SageMaker Ground Truth Labeling Job State Change"
GT_DETAIL_TYPES = (GT_DETAIL_TYPE,)
_CANONICAL = {spelling: spellings[0] for spellings in (A2I_DETAIL_TYPES, GT_DETAIL_TYPES) for spelling in spellings}
LABELING_JOB_STATUSES = ("Initializing", "InProgress", "Completed", "Failed", "Stopping", "Stopped")


@dataclass(frozen=True)
class _Envelope:
    id: str = ""
    time: str | None = None
    account: str | None = None
    region: str | None = None
    resources: tuple[str, ...] = ()
    version: str = "0"

    @classmethod
    def parse_envelope(cls, o: Obj) -> dict[str, Any]:
        return {
            "id": o.opt_str("id") or "",
            "time": o.opt_str("time"),
            "account": o.opt_str("account"),
            "region": o.opt_str("region"),
            "resources": o.strs("resources"),
            "version": o.text("version") or "0",
        }

    def envelope(self, detail_type: str) -> dict[str, Any]:
        return {
            "version": self.version,
            "id": self.id,
            "detail-type": detail_type,
            "source": "aws.sagemaker",
            "account": self.account,
            "time": self.time,
            "region": self.region,
            "resources": list(self.resources),
        }


def canonical_detail_type(detail_type: str) -> str:
    """The spelling truthloop emits for any documented spelling of a detail-type; other values unchanged."""
    return _CANONICAL.get(detail_type, detail_type)


def _check_source(o: Obj, detail_type: str) -> None:
    if canonical_detail_type(o.opt_str("detail-type") or "") != detail_type:
        raise ContractError(f"expected detail-type {detail_type!r}", o.key_path("detail-type"))


@dataclass(frozen=True)
class A2ILoopStatusEvent(_Envelope, Contract):
    """``SageMaker A2I HumanLoop Status Change``: delivered at least once when a loop ends."""

    kind: ClassVar[str] = "event.a2i_loop_status"
    human_loop_name: str = ""
    human_loop_arn: str = ""
    flow_definition_arn: str = ""
    human_loop_status: str = ""
    creation_time: datetime | None = None
    failure_code: str | None = None
    failure_reason: str | None = None
    output_s3_uri: str | None = None

    @classmethod
    def parse(cls, obj: Any, path: str = "$") -> A2ILoopStatusEvent:
        o = Obj(obj, path)
        _check_source(o, A2I_DETAIL_TYPE)
        d = o.obj("detail")
        status = d.string("humanLoopStatus")
        normalised = next((s for s in HUMAN_LOOP_STATUSES if s.lower() == status.lower()), None)
        if normalised is None:
            raise ContractError(f"unknown human loop status {status!r}", d.key_path("humanLoopStatus"))
        output = d.opt_obj("humanLoopOutput")
        return cls(
            **cls.parse_envelope(o),
            human_loop_name=d.string("humanLoopName"),
            human_loop_arn=d.string("humanLoopArn"),
            flow_definition_arn=d.string("flowDefinitionArn"),
            human_loop_status=normalised,
            creation_time=d.opt_datetime("creationTime"),
            failure_code=d.opt_str("failureCode"),
            failure_reason=d.opt_str("failureReason"),
            output_s3_uri=None if output is None else output.opt_str("outputS3Uri"),
        )

    def to_dict(self) -> dict[str, Any]:
        out = self.envelope(A2I_DETAIL_TYPE)
        detail: dict[str, Any] = {
            "creationTime": None if self.creation_time is None else iso(self.creation_time),
            "failureCode": self.failure_code,
            "failureReason": self.failure_reason,
            "flowDefinitionArn": self.flow_definition_arn,
            "humanLoopArn": self.human_loop_arn,
            "humanLoopName": self.human_loop_name,
        }
        if self.output_s3_uri is not None:
            detail["humanLoopOutput"] = {"outputS3Uri": self.output_s3_uri}
        detail["humanLoopStatus"] = self.human_loop_status
        out["detail"] = detail
        return out


@dataclass(frozen=True)
class GTJobStateEvent(_Envelope, Contract):
    """``SageMaker Ground Truth Labeling Job State Change``: the detail holds only the status."""

    kind: ClassVar[str] = "event.gt_job_state"
    labeling_job_status: str = ""
    extra_detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, obj: Any, path: str = "$") -> GTJobStateEvent:
        o = Obj(obj, path)
        _check_source(o, GT_DETAIL_TYPE)
        d = o.obj("detail")
        status = d.string("LabelingJobStatus")
        normalised = next((s for s in LABELING_JOB_STATUSES if s.lower() == status.lower()), None)
        if normalised is None:
            raise ContractError(f"unknown labeling job status {status!r}", d.key_path("LabelingJobStatus"))
        envelope = cls.parse_envelope(o)
        if not envelope["resources"]:
            raise ContractError("resources must name the labeling job ARN", o.key_path("resources"))
        extra = {k: v for k, v in d.data.items() if k not in {"LabelingJobStatus", "labelingJobStatus"}}
        return cls(**envelope, labeling_job_status=normalised, extra_detail=extra)

    def to_dict(self) -> dict[str, Any]:
        out = self.envelope(GT_DETAIL_TYPE)
        out["detail"] = {"LabelingJobStatus": self.labeling_job_status, **self.extra_detail}
        return out

    @property
    def labeling_job_arn(self) -> str:
        return self.resources[0]

    @property
    def job_name(self) -> str:
        return job_name_from_arn(self.labeling_job_arn)
