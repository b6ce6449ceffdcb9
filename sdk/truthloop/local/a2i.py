"""``sagemaker-a2i-runtime``: StartHumanLoop, DescribeHumanLoop, ListHumanLoops, StopHumanLoop, DeleteHumanLoop.

Behaviour follows aws-contracts.md §5–§7: a started loop becomes a task in its flow's workteam queue; once
``TaskCount`` workers answered, the engine writes ``output.json`` and the loop is ``Completed``; a loop whose task
availability lifetime passes is ``Failed`` (``FailureCode: Expired``). ``StopHumanLoop`` moves an in-progress loop
to ``Stopping`` (workers holding the task may still submit) and then ``Stopped``; only a loop that is no longer in
progress can be deleted.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from truthloop.contracts import arn_resource_name
from truthloop.local.errors import ApiError, conflict, not_found, quota_exceeded, throttled, validation
from truthloop.local.resources import LIST_DEFAULT_ORDER
from truthloop.local.runtime import Runtime, decode_token, encode_token, fingerprint, to_datetime
from truthloop.local.storage import HumanLoop, LoopConflict, LoopQuotaExceeded, StorageError, StorageThrottled, Task

__all__ = ["A2I_OPERATIONS", "A2IService", "loop_owner"]

#: the A2I runtime operations served, and the method serving each
_HANDLERS = {
    "StartHumanLoop": "start_human_loop",
    "DescribeHumanLoop": "describe_human_loop",
    "ListHumanLoops": "list_human_loops",
    "StopHumanLoop": "stop_human_loop",
    "DeleteHumanLoop": "delete_human_loop",
}
A2I_OPERATIONS = frozenset(_HANDLERS)

_STOPPABLE = ("InProgress",)
_DELETABLE = ("Completed", "Failed", "Stopped")


def loop_owner(name: str) -> str:
    """The task owner id of a human loop."""
    return f"human-loop:{name}"


class A2IService:
    """The A2I runtime operations over :class:`~truthloop.local.runtime.Runtime`."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

    def _flow(self, arn: str) -> dict[str, Any]:
        cached = self.rt.active_flows.get(arn)
        if cached is not None:
            return cached
        name = arn_resource_name(arn, "flow-definition")
        resource = self.rt.storage.get_resource("flow-definition", name)
        if resource is None or resource.doc.get("FlowDefinitionArn") != arn:
            raise validation(f"Flow definition {arn} does not exist.")
        doc = dict(resource.doc)
        doc["FlowDefinitionStatus"] = resource.status
        if resource.status == "Active":  # Active flows only change by deletion, which clears the cache
            self.rt.active_flows[arn] = doc
        return doc

    def _loop(self, name: str) -> HumanLoop:
        loop = self.rt.storage.get_human_loop(name)
        if loop is None:
            raise not_found(f"Human loop {name} does not exist.", a2i=True)
        return loop

    # ------------------------------------------------------------------ operations
    def start_human_loop(self, params: dict[str, Any]) -> dict[str, Any]:
        loop, task = self.prepare_start(params)
        try:
            stored, _ = self.rt.storage.start_human_loop(loop, task, max_active=self.rt.max_active_human_loops)
        except StorageError as exc:
            raise self.start_error(loop.name, exc) from None
        return {"HumanLoopArn": stored.arn}

    def start_error(self, name: str, exc: StorageError) -> ApiError:
        """The A2I error for a storage refusal of StartHumanLoop."""
        if isinstance(exc, LoopQuotaExceeded):
            return quota_exceeded(
                f"You have {exc.active} active human loops; the quota of this backend is {exc.limit}. Wait for loops "
                "to finish or raise max_active_human_loops."
            )
        if isinstance(exc, LoopConflict):
            return conflict(
                f"A human loop named {name} already exists with different input; human loop names must be unique."
            )
        if isinstance(exc, StorageThrottled):
            return throttled(f"Rate exceeded: the store is throttling ({exc.operation}); retry with backoff.", a2i=True)
        return ApiError("InternalServerException", f"The store failed to start human loop {name}: {exc}", 500)

    def prepare_start(self, params: dict[str, Any]) -> tuple[HumanLoop, Task]:
        """Validate a StartHumanLoop request and build the loop and its task (no writes)."""
        name: str = params["HumanLoopName"]
        flow_arn: str = params["FlowDefinitionArn"]
        content: str = params["HumanLoopInput"]["InputContent"]
        flow = self._flow(flow_arn)
        if flow["FlowDefinitionStatus"] != "Active":
            raise validation(
                f"Flow definition {flow_arn} is {flow['FlowDefinitionStatus']}; human loops can only be started "
                "when it is Active."
            )
        try:
            task_input = json.loads(content)
        except ValueError as exc:
            raise validation(f"HumanLoopInput.InputContent is not valid JSON: {exc}") from None
        config = flow.get("HumanLoopConfig")
        if not config:
            raise validation(f"Flow definition {flow_arn} has no HumanLoopConfig, so it cannot take human loops.")
        now = self.rt.now()
        classifiers = list((params.get("DataAttributes") or {}).get("ContentClassifiers", []))
        task_id = uuid.uuid4().hex
        loop = HumanLoop(
            name=name,
            arn=self.rt.arn("human-loop", name),
            flow_arn=flow_arn,
            status="InProgress",
            created=now,
            modified=now,
            input_content=content,
            content_classifiers=classifiers,
            task_id=task_id,
        )
        lifetime = int(
            config.get("TaskAvailabilityLifetimeInSeconds") or self.rt.config.default_a2i_task_lifetime_seconds
        )
        task = Task(
            id=task_id,
            kind="a2i",
            workteam_arn=config["WorkteamArn"],
            owner=loop_owner(name),
            ui="human-task-ui:" + arn_resource_name(config["HumanTaskUiArn"], "human-task-ui"),
            task_input=task_input if isinstance(task_input, dict) else {"value": task_input},
            title=config["TaskTitle"],
            description=config["TaskDescription"],
            keywords=list(config.get("TaskKeywords", [])),
            required=int(config["TaskCount"]),
            time_limit=int(config.get("TaskTimeLimitInSeconds") or 3600),
            created=now,
            expires_at=now + lifetime,
        )
        return loop, task

    def describe_human_loop(self, params: dict[str, Any]) -> dict[str, Any]:
        loop = self._loop(params["HumanLoopName"])
        out: dict[str, Any] = {
            "CreationTime": to_datetime(loop.created),
            "HumanLoopStatus": loop.status,
            "HumanLoopName": loop.name,
            "HumanLoopArn": loop.arn,
            "FlowDefinitionArn": loop.flow_arn,
        }
        if loop.failure_reason is not None:
            out["FailureReason"] = loop.failure_reason
        if loop.failure_code is not None:
            out["FailureCode"] = loop.failure_code
        if loop.output_s3_uri is not None:
            out["HumanLoopOutput"] = {"OutputS3Uri": loop.output_s3_uri}
        return out

    def list_human_loops(self, params: dict[str, Any]) -> dict[str, Any]:
        flow_arn = params["FlowDefinitionArn"]
        name = arn_resource_name(flow_arn, "flow-definition")
        resource = self.rt.storage.get_resource("flow-definition", name)
        if resource is None or resource.doc.get("FlowDefinitionArn") != flow_arn:
            raise not_found(f"Flow definition {flow_arn} does not exist.", a2i=True)
        after = params.get("CreationTimeAfter")
        before = params.get("CreationTimeBefore")
        ascending = params.get("SortOrder", LIST_DEFAULT_ORDER["ListHumanLoops"]) == "Ascending"
        limit = int(params.get("MaxResults") or 100)
        key = fingerprint("ListHumanLoops", flow_arn, after, before, ascending)
        cursor = decode_token(params.get("NextToken"), key)
        loops, next_cursor = self.rt.storage.list_human_loops(
            flow_arn,
            created_after=None if after is None else after.timestamp(),
            created_before=None if before is None else before.timestamp(),
            ascending=ascending,
            cursor=cursor,
            limit=limit,
        )
        summaries = []
        for loop in loops:
            summary: dict[str, Any] = {
                "HumanLoopName": loop.name,
                "HumanLoopStatus": loop.status,
                "CreationTime": to_datetime(loop.created),
                "FlowDefinitionArn": loop.flow_arn,
            }
            if loop.failure_reason is not None:
                summary["FailureReason"] = loop.failure_reason
            summaries.append(summary)
        out: dict[str, Any] = {"HumanLoopSummaries": summaries}
        if next_cursor is not None:
            out["NextToken"] = encode_token(next_cursor, key)
        return out

    def stop_human_loop(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["HumanLoopName"]
        loop = self._loop(name)
        if loop.status in ("Stopping", "Stopped"):
            return {}
        if loop.status not in _STOPPABLE:
            raise validation(f"Human loop {name} is {loop.status}; only InProgress human loops can be stopped.")
        now = self.rt.now()
        changed = self.rt.storage.transition_human_loop(name, _STOPPABLE, "Stopping", now=now)
        if changed is None:  # finished in the meantime
            current = self._loop(name)
            if current.status in ("Stopping", "Stopped"):
                return {}
            raise validation(f"Human loop {name} is {current.status}; only InProgress human loops can be stopped.")
        self.rt.storage.close_tasks(loop_owner(name), now)
        if loop.task_id is not None:  # settles at once when nobody holds the task; else when its holder is done
            self.rt.steps.enqueue("settle_task", loop.task_id)
        return {}

    def delete_human_loop(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["HumanLoopName"]
        loop = self.rt.storage.delete_human_loop(name, _DELETABLE)
        if loop is None:
            raise not_found(f"Human loop {name} does not exist.", a2i=True)
        if loop.status not in _DELETABLE:
            raise validation(
                f"Human loop {name} is {loop.status}; stop it (StopHumanLoop) and wait until it is Stopped before "
                "deleting it."
            )
        return {}

    def dispatch(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        method = _HANDLERS.get(operation)
        if method is None:
            raise ApiError("UnknownOperationException", f"Operation {operation} is not supported locally.", 404)
        handler: Any = getattr(self, method)
        result: dict[str, Any] = handler(params)
        return result
