"""What every SageMaker resource family of the emulator shares: kinds, ARNs, reads, creates and List* pages.

Resources are documents in storage (:class:`~truthloop.local.storage.Resource`); their tags live in the document
(``doc["Tags"]``, AWS's ``[{Key, Value}]`` list) so that any storage keeps them without a method of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from truthloop.local.errors import in_use, not_found
from truthloop.local.runtime import Runtime, decode_token, encode_token, fingerprint
from truthloop.local.storage import ListQuery, Resource

__all__ = [
    "FLOW",
    "JOB",
    "KINDS",
    "LIST_DEFAULT_ORDER",
    "TASK_UI",
    "WORKFORCE",
    "WORKTEAM",
    "Kind",
    "ResourceStore",
]

WORKFORCE = "workforce"
WORKTEAM = "workteam"
TASK_UI = "human-task-ui"
FLOW = "flow-definition"
JOB = "labeling-job"


@dataclass(frozen=True)
class Kind:
    """One resource family: its storage kind, the ARN resource prefix before the name, the doc's ARN field."""

    kind: str
    arn_prefix: str
    arn_field: str


#: every resource family the emulator serves, by storage kind (ARN: ``arn:<partition>:sagemaker:<r>:<a>:<prefix><n>``)
KINDS: dict[str, Kind] = {
    WORKFORCE: Kind(WORKFORCE, "workforce/", "WorkforceArn"),
    WORKTEAM: Kind(WORKTEAM, "workteam/private-crowd/", "WorkteamArn"),
    TASK_UI: Kind(TASK_UI, "human-task-ui/", "HumanTaskUiArn"),
    FLOW: Kind(FLOW, "flow-definition/", "FlowDefinitionArn"),
    JOB: Kind(JOB, "labeling-job/", "LabelingJobArn"),
}

#: the order of a List* answer when the request has no ``SortOrder``. Where the API reference states a default it
#: is used ("The default is Ascending." for ListLabelingJobs, ListLabelingJobsForWorkteam, ListWorkteams); where it
#: states none (ListWorkforces, ListHumanTaskUis, ListFlowDefinitions, ListHumanLoops) newest first is kept, and
#: docs/local.md says so. tests/functional/local/test_wire_fidelity.py checks this table against botocore's docs.
LIST_DEFAULT_ORDER: dict[str, str] = {
    "ListLabelingJobs": "Ascending",
    "ListLabelingJobsForWorkteam": "Ascending",
    "ListWorkteams": "Ascending",
    "ListWorkforces": "Descending",
    "ListHumanTaskUis": "Descending",
    "ListFlowDefinitions": "Descending",
    "ListHumanLoops": "Descending",
}


class ResourceStore:
    """Reads, creates and List* pages of resource documents, with AWS's errors."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def get(self, kind: str, name: str, what: str) -> Resource:
        resource = self.rt.storage.get_resource(kind, name)
        if resource is None:
            raise not_found(f"{what} {name} does not exist.", a2i=False)
        return resource

    def create(self, kind: str, name: str, status: str, doc: dict[str, Any], what: str) -> Resource:
        now = self.rt.now()
        resource = Resource(kind=kind, name=name, status=status, created=now, modified=now, doc=doc)
        if not self.rt.storage.create_resource(resource):
            raise in_use(f"{what} {name} already exists.")
        return resource

    def list(
        self,
        operation: str,
        kind: str,
        params: dict[str, Any],
        *,
        sort_names: dict[str, str] | None = None,
    ) -> tuple[list[Resource], str | None]:
        sort_by = params.get("SortBy", "CreationTime")
        if sort_names is not None:
            sort_by = sort_names.get(sort_by, sort_by)
        order = params.get("SortOrder", LIST_DEFAULT_ORDER[operation])
        query = ListQuery(
            created_after=_ts(params.get("CreationTimeAfter")),
            created_before=_ts(params.get("CreationTimeBefore")),
            modified_after=_ts(params.get("LastModifiedTimeAfter")),
            modified_before=_ts(params.get("LastModifiedTimeBefore")),
            name_contains=params.get("NameContains"),
            status_equals=params.get("StatusEquals"),
            sort_by=sort_by if sort_by in ("CreationTime", "Name", "Status") else "CreationTime",
            ascending=order == "Ascending",
            limit=int(params.get("MaxResults") or 10),
        )
        key = fingerprint(kind, {k: v for k, v in params.items() if k not in ("NextToken", "MaxResults")})
        cursor = decode_token(params.get("NextToken"), key)
        items, next_cursor = self.rt.storage.list_resources(kind, ListQuery(**{**query.__dict__, "cursor": cursor}))
        return items, None if next_cursor is None else encode_token(next_cursor, key)

    @staticmethod
    def page(out: dict[str, Any], token: str | None) -> dict[str, Any]:
        if token is not None:
            out["NextToken"] = token
        return out


def _ts(value: Any) -> float | None:
    return None if value is None else float(value.timestamp())
