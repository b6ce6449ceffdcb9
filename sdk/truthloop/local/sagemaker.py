"""The ``sagemaker`` subset: human task UIs, flow definitions, labeling jobs, RenderUiTemplate; with the workforce and
work team operations (:mod:`.teams`) and the tag operations (:mod:`.tagging`) one dispatcher.

Resources are documents in storage (:mod:`.resources`); their ARNs use the backend's region and account. As on AWS:

* a flow definition is ``Initializing`` and becomes ``Active`` shortly after (the engine does it);
* labeling job names are unique case-insensitively and the ARN carries the name in lower case;
* a labeling job starts ``Initializing``; the engine reads its manifest and runs it (:mod:`.labeling`);
* ``Tags`` given at create time are kept in the resource's document and returned by ``ListTags``.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from typing import Any

from truthloop.arns import parse_builtin_lambda_arn
from truthloop.contracts import ActivationConditions, arn_resource_name
from truthloop.exceptions import ContractError, InvalidNameError, TemplateError
from truthloop.local import templating
from truthloop.local.errors import ApiError, in_use, not_found, validation
from truthloop.local.resources import FLOW, JOB, TASK_UI, ResourceStore
from truthloop.local.runtime import Runtime, to_datetime
from truthloop.local.storage import Resource
from truthloop.local.tagging import TAG_OPERATIONS, TagService, merge_tags
from truthloop.local.teams import TEAM_OPERATIONS, TeamService
from truthloop.naming import validate_label_attribute_name

__all__ = ["SageMakerService", "served_operations"]

_ZERO_COUNTERS = {
    "TotalLabeled": 0,
    "HumanLabeled": 0,
    "MachineLabeled": 0,
    "FailedNonRetryableError": 0,
    "Unlabeled": 0,
}


#: the operations this module serves itself, and the method serving each
_OWN_OPERATIONS = {
    "CreateHumanTaskUi": "create_human_task_ui",
    "DescribeHumanTaskUi": "describe_human_task_ui",
    "ListHumanTaskUis": "list_human_task_uis",
    "DeleteHumanTaskUi": "delete_human_task_ui",
    "CreateFlowDefinition": "create_flow_definition",
    "DescribeFlowDefinition": "describe_flow_definition",
    "ListFlowDefinitions": "list_flow_definitions",
    "DeleteFlowDefinition": "delete_flow_definition",
    "CreateLabelingJob": "create_labeling_job",
    "DescribeLabelingJob": "describe_labeling_job",
    "ListLabelingJobs": "list_labeling_jobs",
    "StopLabelingJob": "stop_labeling_job",
    "RenderUiTemplate": "render_ui_template",
}


def served_operations() -> frozenset[str]:
    """Every SageMaker operation the local backend serves (read without a running backend: docs and tests)."""
    return frozenset(_OWN_OPERATIONS) | frozenset(TEAM_OPERATIONS) | frozenset(TAG_OPERATIONS)


class SageMakerService:
    """The SageMaker control-plane operations the local backend supports."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.store = ResourceStore(runtime)
        self.tags = TagService(runtime)
        self.teams = TeamService(runtime, self.store, self.tags)
        self._ops: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            **self.teams.operations,
            **self.tags.operations,
            **{operation: getattr(self, method) for operation, method in _OWN_OPERATIONS.items()},
        }

    @property
    def operations(self) -> frozenset[str]:
        return frozenset(self._ops)

    def dispatch(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        handler = self._ops.get(operation)
        if handler is None:
            raise ApiError(
                "UnknownOperationException",
                f"The local backend does not emulate SageMaker {operation}; supported: {', '.join(sorted(self._ops))}",
                400,
            )
        return handler(params)

    def workteam_by_arn(self, arn: str) -> Resource | None:
        return self.teams.workteam_by_arn(arn)

    # ------------------------------------------------------------------ human task UIs
    def create_human_task_ui(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["HumanTaskUiName"]
        content = params["UiTemplate"]["Content"]
        problems = templating.syntax_errors(content)
        if problems:
            raise validation(f"UiTemplate.Content is not a valid Liquid template: {problems[0]}")
        arn = self.rt.arn("human-task-ui", name)
        doc = {"HumanTaskUiArn": arn, "Content": content, "Tags": merge_tags([], params.get("Tags", []))}
        self.store.create(TASK_UI, name, "Active", doc, "HumanTaskUi")
        return {"HumanTaskUiArn": arn}

    def describe_human_task_ui(self, params: dict[str, Any]) -> dict[str, Any]:
        resource = self.store.get(TASK_UI, params["HumanTaskUiName"], "HumanTaskUi")
        content = resource.doc["Content"]
        url = f"{self.rt.base_url}/_truthloop/ui-templates/{resource.name}?signature={self.rt.sign(resource.name)}"
        return {
            "HumanTaskUiArn": resource.doc["HumanTaskUiArn"],
            "HumanTaskUiName": resource.name,
            "HumanTaskUiStatus": resource.status,
            "CreationTime": to_datetime(resource.created),
            "UiTemplate": {"Url": url, "ContentSha256": hashlib.sha256(content.encode("utf-8")).hexdigest()},
        }

    def list_human_task_uis(self, params: dict[str, Any]) -> dict[str, Any]:
        items, token = self.store.list("ListHumanTaskUis", TASK_UI, params)
        summaries = [
            {
                "HumanTaskUiName": r.name,
                "HumanTaskUiArn": r.doc["HumanTaskUiArn"],
                "CreationTime": to_datetime(r.created),
            }
            for r in items
        ]
        return self.store.page({"HumanTaskUiSummaries": summaries}, token)

    def delete_human_task_ui(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["HumanTaskUiName"]
        self.tags.forget(TASK_UI, self.store.get(TASK_UI, name, "HumanTaskUi"))
        self.rt.storage.delete_resource(TASK_UI, name)
        return {}

    def task_ui_content(self, name: str) -> str | None:
        resource = self.rt.storage.get_resource(TASK_UI, name)
        return None if resource is None else str(resource.doc["Content"])

    # ------------------------------------------------------------------ flow definitions
    def create_flow_definition(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["FlowDefinitionName"]
        if self.rt.storage.get_resource(FLOW, name) is not None:
            raise in_use(f"Flow definition {name} already exists.")
        config = params.get("HumanLoopConfig")
        if config is not None:
            if self.workteam_by_arn(config["WorkteamArn"]) is None:
                raise validation(f"Workteam {config['WorkteamArn']} does not exist.")
            ui_arn = config["HumanTaskUiArn"]
            ui = self.rt.storage.get_resource(TASK_UI, arn_resource_name(ui_arn, "human-task-ui"))
            if ui is None or ui.doc["HumanTaskUiArn"] != ui_arn:
                raise validation(f"HumanTaskUi {ui_arn} does not exist.")
        source = params.get("HumanLoopRequestSource")
        activation = params.get("HumanLoopActivationConfig")
        if activation is not None:
            if source is None:
                raise validation(
                    "HumanLoopActivationConfig is only supported with a HumanLoopRequestSource (built-in task types)."
                )
            text = activation["HumanLoopActivationConditionsConfig"]["HumanLoopActivationConditions"]
            try:
                ActivationConditions.parse(json.loads(text))
            except ValueError as exc:
                raise validation(f"HumanLoopActivationConditions is not valid: {exc}") from None
        arn = self.rt.arn("flow-definition", name)
        doc = {k: v for k, v in params.items() if k != "Tags"}
        doc["FlowDefinitionArn"] = arn
        doc["Tags"] = merge_tags([], params.get("Tags", []))
        doc["ActivateAt"] = self.rt.now() + self.rt.config.flow_activation_seconds
        self.store.create(FLOW, name, "Initializing", doc, "Flow definition")
        self.rt.steps.enqueue("activate_flow", name, delay_seconds=self.rt.config.flow_activation_seconds)
        return {"FlowDefinitionArn": arn}

    def describe_flow_definition(self, params: dict[str, Any]) -> dict[str, Any]:
        resource = self.store.get(FLOW, params["FlowDefinitionName"], "Flow definition")
        doc = resource.doc
        out = {
            "FlowDefinitionArn": doc["FlowDefinitionArn"],
            "FlowDefinitionName": resource.name,
            "FlowDefinitionStatus": resource.status,
            "CreationTime": to_datetime(resource.created),
            "OutputConfig": doc["OutputConfig"],
            "RoleArn": doc["RoleArn"],
        }
        for key in ("HumanLoopRequestSource", "HumanLoopActivationConfig", "HumanLoopConfig", "FailureReason"):
            if key in doc:
                out[key] = doc[key]
        return out

    def list_flow_definitions(self, params: dict[str, Any]) -> dict[str, Any]:
        items, token = self.store.list("ListFlowDefinitions", FLOW, params)
        summaries = []
        for r in items:
            summary = {
                "FlowDefinitionName": r.name,
                "FlowDefinitionArn": r.doc["FlowDefinitionArn"],
                "FlowDefinitionStatus": r.status,
                "CreationTime": to_datetime(r.created),
            }
            if "FailureReason" in r.doc:
                summary["FailureReason"] = r.doc["FailureReason"]
            summaries.append(summary)
        return self.store.page({"FlowDefinitionSummaries": summaries}, token)

    def delete_flow_definition(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["FlowDefinitionName"]
        resource = self.store.get(FLOW, name, "Flow definition")
        loops, _ = self.rt.storage.list_human_loops(
            resource.doc["FlowDefinitionArn"],
            created_after=None,
            created_before=None,
            ascending=True,
            cursor=None,
            limit=1000,
        )
        active = [loop.name for loop in loops if loop.status in ("InProgress", "Stopping")]
        if active:
            raise in_use(
                f"Flow definition {name} has {len(active)} human loop(s) in progress (e.g. {active[0]}); stop them "
                "first."
            )
        self.tags.forget(FLOW, resource)
        self.rt.storage.delete_resource(FLOW, name)
        self.rt.active_flows.pop(resource.doc["FlowDefinitionArn"], None)
        return {}

    # ------------------------------------------------------------------ labeling jobs
    def create_labeling_job(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["LabelingJobName"]
        config = params["HumanTaskConfig"]
        ui = config["UiConfig"]
        if ("UiTemplateS3Uri" in ui) == ("HumanTaskUiArn" in ui):
            raise validation("HumanTaskConfig.UiConfig needs exactly one of UiTemplateS3Uri or HumanTaskUiArn.")
        source = params["InputConfig"]["DataSource"]
        if "S3DataSource" not in source:
            raise validation(
                "The local backend runs labeling jobs from an S3 manifest (InputConfig.DataSource.S3DataSource); "
                "streaming jobs (SnsDataSource) are not emulated."
            )
        if "LabelingJobAlgorithmsConfig" in params:
            raise validation(
                "Automated data labeling (LabelingJobAlgorithmsConfig) is not emulated by the local backend."
            )
        if self.workteam_by_arn(config["WorkteamArn"]) is None:
            raise validation(f"Workteam {config['WorkteamArn']} does not exist.")
        pre = config.get("PreHumanTaskLambdaArn")
        builtin = parse_builtin_lambda_arn(pre) if pre else None
        try:
            validate_label_attribute_name(params["LabelAttributeName"], builtin.task_type if builtin else None)
        except InvalidNameError as exc:
            raise validation(str(exc)) from None
        if self.rt.storage.get_resource(JOB, name) is not None:
            raise in_use(f"Labeling job {name} already exists (labeling job names are unique, ignoring case).")
        arn = self.rt.arn("labeling-job", name.lower())
        doc = dict(params)
        doc.update(
            {
                "LabelingJobArn": arn,
                "JobReferenceCode": secrets.token_hex(12),
                "LabelCounters": dict(_ZERO_COUNTERS),
                "Tags": merge_tags([], params.get("Tags", [])),
            }
        )
        self.store.create(JOB, name, "Initializing", doc, "Labeling job")
        self.rt.steps.enqueue("advance_job", name)
        return {"LabelingJobArn": arn}

    def _job_view(self, resource: Resource) -> dict[str, Any]:
        doc = resource.doc
        out = {
            "LabelingJobStatus": resource.status,
            "LabelCounters": doc["LabelCounters"],
            "CreationTime": to_datetime(resource.created),
            "LastModifiedTime": to_datetime(resource.modified),
            "JobReferenceCode": doc["JobReferenceCode"],
            "LabelingJobName": doc["LabelingJobName"],
            "LabelingJobArn": doc["LabelingJobArn"],
        }
        for key in (
            "FailureReason",
            "LabelAttributeName",
            "InputConfig",
            "OutputConfig",
            "RoleArn",
            "LabelCategoryConfigS3Uri",
            "StoppingConditions",
            "HumanTaskConfig",
            "LabelingJobOutput",
        ):
            if key in doc:
                out[key] = doc[key]
        return out

    def describe_labeling_job(self, params: dict[str, Any]) -> dict[str, Any]:
        resource = self.store.get(JOB, params["LabelingJobName"], "Labeling job")
        view = self._job_view(resource)
        tags = self.tags.current(JOB, resource)
        if tags:
            view["Tags"] = tags
        return view

    def list_labeling_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        items, token = self.store.list("ListLabelingJobs", JOB, params)
        summaries = []
        for r in items:
            view = self._job_view(r)
            config = view["HumanTaskConfig"]
            summary: dict[str, Any] = {
                k: view[k]
                for k in (
                    "LabelingJobName",
                    "LabelingJobArn",
                    "CreationTime",
                    "LastModifiedTime",
                    "LabelingJobStatus",
                    "LabelCounters",
                    "FailureReason",
                    "LabelingJobOutput",
                    "InputConfig",
                )
                if k in view
            }
            summary["WorkteamArn"] = config["WorkteamArn"]
            if "PreHumanTaskLambdaArn" in config:
                summary["PreHumanTaskLambdaArn"] = config["PreHumanTaskLambdaArn"]
            acs = config.get("AnnotationConsolidationConfig", {}).get("AnnotationConsolidationLambdaArn")
            if acs:
                summary["AnnotationConsolidationLambdaArn"] = acs
            summaries.append(summary)
        return self.store.page({"LabelingJobSummaryList": summaries}, token)

    def stop_labeling_job(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["LabelingJobName"]
        self.store.get(JOB, name, "Labeling job")
        self.rt.storage.update_resource(
            JOB, name, now=self.rt.now(), status="Stopping", expect_status=("Initializing", "InProgress")
        )
        self.rt.steps.enqueue("advance_job", name)
        return {}

    # ------------------------------------------------------------------ RenderUiTemplate
    def render_ui_template(self, params: dict[str, Any]) -> dict[str, Any]:
        has_content, has_arn = "UiTemplate" in params, "HumanTaskUiArn" in params
        if has_content == has_arn:
            raise validation("Specify exactly one of UiTemplate or HumanTaskUiArn.")
        if has_arn:
            arn = params["HumanTaskUiArn"]
            resource = self.rt.storage.get_resource(TASK_UI, arn_resource_name(arn, "human-task-ui"))
            if resource is None or resource.doc["HumanTaskUiArn"] != arn:
                raise not_found(f"HumanTaskUi {arn} does not exist.", a2i=False)
            content = str(resource.doc["Content"])
        else:
            content = params["UiTemplate"]["Content"]
        try:
            task_input = json.loads(params["Task"]["Input"])
        except ValueError as exc:
            return {
                "RenderedContent": "",
                "Errors": [{"Code": "InvalidTaskInput", "Message": f"Task.Input is not JSON: {exc}"}],
            }
        try:
            rendered = templating.render(content, task_input, s3_client=self.rt.s3)
        except (TemplateError, ContractError) as exc:
            return {"RenderedContent": "", "Errors": [{"Code": "TemplateRenderError", "Message": str(exc)}]}
        return {"RenderedContent": rendered, "Errors": []}
