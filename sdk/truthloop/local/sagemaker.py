"""The ``sagemaker`` subset: workforces, workteams, human task UIs, flow definitions, labeling jobs, RenderUiTemplate.

Resources are documents in storage; their ARNs use the backend's region and account. As on AWS:

* the first ``CreateWorkteam`` with a Cognito member definition creates the ``default`` private workforce from
  that user pool; only one workforce exists per account and region;
* a flow definition is ``Initializing`` and becomes ``Active`` shortly after (the engine does it);
* labeling job names are unique case-insensitively and the ARN carries the name in lower case;
* a labeling job starts ``Initializing``; the engine reads its manifest and runs it (:mod:`.labeling`).
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
from truthloop.local.errors import ApiError, in_use, limit_exceeded, not_found, validation
from truthloop.local.runtime import Runtime, decode_token, encode_token, fingerprint, to_datetime
from truthloop.local.storage import ListQuery, Resource
from truthloop.naming import validate_label_attribute_name

__all__ = ["SageMakerService"]

WORKFORCE = "workforce"
WORKTEAM = "workteam"
TASK_UI = "human-task-ui"
FLOW = "flow-definition"
JOB = "labeling-job"

_ZERO_COUNTERS = {
    "TotalLabeled": 0,
    "HumanLabeled": 0,
    "MachineLabeled": 0,
    "FailedNonRetryableError": 0,
    "Unlabeled": 0,
}


def _ts(value: Any) -> float | None:
    return None if value is None else float(value.timestamp())


class SageMakerService:
    """The SageMaker control-plane operations the local backend supports."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self._ops: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "CreateWorkforce": self.create_workforce,
            "DescribeWorkforce": self.describe_workforce,
            "ListWorkforces": self.list_workforces,
            "DeleteWorkforce": self.delete_workforce,
            "CreateWorkteam": self.create_workteam,
            "DescribeWorkteam": self.describe_workteam,
            "ListWorkteams": self.list_workteams,
            "DeleteWorkteam": self.delete_workteam,
            "CreateHumanTaskUi": self.create_human_task_ui,
            "DescribeHumanTaskUi": self.describe_human_task_ui,
            "ListHumanTaskUis": self.list_human_task_uis,
            "DeleteHumanTaskUi": self.delete_human_task_ui,
            "CreateFlowDefinition": self.create_flow_definition,
            "DescribeFlowDefinition": self.describe_flow_definition,
            "ListFlowDefinitions": self.list_flow_definitions,
            "DeleteFlowDefinition": self.delete_flow_definition,
            "CreateLabelingJob": self.create_labeling_job,
            "DescribeLabelingJob": self.describe_labeling_job,
            "ListLabelingJobs": self.list_labeling_jobs,
            "StopLabelingJob": self.stop_labeling_job,
            "RenderUiTemplate": self.render_ui_template,
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

    # ------------------------------------------------------------------ helpers
    def _get(self, kind: str, name: str, what: str) -> Resource:
        resource = self.rt.storage.get_resource(kind, name)
        if resource is None:
            raise not_found(f"{what} {name} does not exist.", a2i=False)
        return resource

    def _create(self, kind: str, name: str, status: str, doc: dict[str, Any], what: str) -> Resource:
        now = self.rt.now()
        resource = Resource(kind=kind, name=name, status=status, created=now, modified=now, doc=doc)
        if not self.rt.storage.create_resource(resource):
            raise in_use(f"{what} {name} already exists.")
        return resource

    def _list(
        self,
        kind: str,
        params: dict[str, Any],
        *,
        sort_names: dict[str, str] | None = None,
    ) -> tuple[list[Resource], str | None]:
        sort_by = params.get("SortBy", "CreationTime")
        if sort_names is not None:
            sort_by = sort_names.get(sort_by, sort_by)
        query = ListQuery(
            created_after=_ts(params.get("CreationTimeAfter")),
            created_before=_ts(params.get("CreationTimeBefore")),
            modified_after=_ts(params.get("LastModifiedTimeAfter")),
            modified_before=_ts(params.get("LastModifiedTimeBefore")),
            name_contains=params.get("NameContains"),
            status_equals=params.get("StatusEquals"),
            sort_by=sort_by if sort_by in ("CreationTime", "Name", "Status") else "CreationTime",
            ascending=params.get("SortOrder", "Descending") == "Ascending",
            limit=int(params.get("MaxResults") or 10),
        )
        key = fingerprint(kind, {k: v for k, v in params.items() if k not in ("NextToken", "MaxResults")})
        cursor = decode_token(params.get("NextToken"), key)
        items, next_cursor = self.rt.storage.list_resources(kind, ListQuery(**{**query.__dict__, "cursor": cursor}))
        return items, None if next_cursor is None else encode_token(next_cursor, key)

    @staticmethod
    def _page(out: dict[str, Any], token: str | None) -> dict[str, Any]:
        if token is not None:
            out["NextToken"] = token
        return out

    # ------------------------------------------------------------------ workforces
    def _workforce_view(self, resource: Resource) -> dict[str, Any]:
        doc = resource.doc
        view: dict[str, Any] = {
            "WorkforceName": resource.name,
            "WorkforceArn": doc["WorkforceArn"],
            "LastUpdatedDate": to_datetime(resource.modified),
            "SourceIpConfig": doc.get("SourceIpConfig", {"Cidrs": []}),
            "SubDomain": self.rt.sub_domain,
            "CreateDate": to_datetime(resource.created),
            "Status": resource.status,
        }
        if "CognitoConfig" in doc:
            view["CognitoConfig"] = doc["CognitoConfig"]
        if "OidcConfig" in doc:
            oidc = {k: v for k, v in doc["OidcConfig"].items() if k != "ClientSecret"}
            view["OidcConfig"] = oidc
        if "IpAddressType" in doc:
            view["IpAddressType"] = doc["IpAddressType"]
        return view

    def _ensure_single_workforce(self, name: str) -> None:
        existing, _ = self.rt.storage.list_resources(WORKFORCE, ListQuery(limit=1))
        if existing:
            raise limit_exceeded(
                f"Cannot create workforce {name}: workforce {existing[0].name} already exists and an account can "
                "have one private workforce per region."
            )

    def create_workforce(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["WorkforceName"]
        has_cognito, has_oidc = "CognitoConfig" in params, "OidcConfig" in params
        if has_cognito == has_oidc:
            raise validation("Specify exactly one of CognitoConfig or OidcConfig.")
        self._ensure_single_workforce(name)
        arn = self.rt.arn("workforce", name)
        doc = {k: v for k, v in params.items() if k not in ("WorkforceName", "Tags")}
        doc["WorkforceArn"] = arn
        self._create(WORKFORCE, name, "Active", doc, "Workforce")
        return {"WorkforceArn": arn}

    def describe_workforce(self, params: dict[str, Any]) -> dict[str, Any]:
        resource = self._get(WORKFORCE, params["WorkforceName"], "Workforce")
        return {"Workforce": self._workforce_view(resource)}

    def list_workforces(self, params: dict[str, Any]) -> dict[str, Any]:
        items, token = self._list(WORKFORCE, params, sort_names={"CreateDate": "CreationTime"})
        return self._page({"Workforces": [self._workforce_view(r) for r in items]}, token)

    def delete_workforce(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["WorkforceName"]
        teams = [
            t for t in self.rt.storage.resources_in_status(WORKTEAM, ("Active",)) if t.doc.get("WorkforceName") == name
        ]
        if teams:
            raise in_use(f"Workforce {name} still has workteams: {', '.join(t.name for t in teams)}.")
        self.rt.storage.delete_resource(WORKFORCE, name)
        return {}

    # ------------------------------------------------------------------ workteams
    def _workteam_view(self, resource: Resource) -> dict[str, Any]:
        doc = resource.doc
        view = {
            "WorkteamName": resource.name,
            "MemberDefinitions": doc["MemberDefinitions"],
            "WorkteamArn": doc["WorkteamArn"],
            "WorkforceArn": doc["WorkforceArn"],
            "ProductListingIds": [],
            "Description": doc["Description"],
            "SubDomain": self.rt.sub_domain,
            "CreateDate": to_datetime(resource.created),
            "LastUpdatedDate": to_datetime(resource.modified),
        }
        for key in ("NotificationConfiguration", "WorkerAccessConfiguration"):
            if key in doc:
                view[key] = doc[key]
        return view

    def create_workteam(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["WorkteamName"]
        members = params["MemberDefinitions"]
        cognito = [m["CognitoMemberDefinition"] for m in members if "CognitoMemberDefinition" in m]
        oidc = [m["OidcMemberDefinition"] for m in members if "OidcMemberDefinition" in m]
        if (cognito and oidc) or len(cognito) + len(oidc) != len(members):
            raise validation(
                "Each MemberDefinitions entry needs exactly one of CognitoMemberDefinition or OidcMemberDefinition, "
                "and a workteam cannot mix them."
            )
        if len({(c["UserPool"], c["ClientId"]) for c in cognito}) > 1:
            raise validation(
                "All CognitoMemberDefinition entries of a workteam must use the same UserPool and ClientId."
            )
        if self.rt.storage.get_resource(WORKTEAM, name) is not None:
            raise in_use(f"Workteam {name} already exists.")
        workforce_name = params.get("WorkforceName") or "default"
        workforce = self.rt.storage.get_resource(WORKFORCE, workforce_name)
        if workforce is None:
            if not cognito or params.get("WorkforceName") not in (None, "default"):
                raise validation(
                    f"Workforce {workforce_name} does not exist. Create it with CreateWorkforce (OIDC) or create the "
                    "workteam with a CognitoMemberDefinition to get the default private workforce."
                )
            self._ensure_single_workforce(workforce_name)
            doc = {
                "WorkforceArn": self.rt.arn("workforce", workforce_name),
                "CognitoConfig": {"UserPool": cognito[0]["UserPool"], "ClientId": cognito[0]["ClientId"]},
            }
            now = self.rt.now()
            self.rt.storage.create_resource(
                Resource(kind=WORKFORCE, name=workforce_name, status="Active", created=now, modified=now, doc=doc)
            )
            workforce = self._get(WORKFORCE, workforce_name, "Workforce")
        if cognito and "CognitoConfig" not in workforce.doc:
            raise validation(f"Workforce {workforce_name} uses OIDC; use OidcMemberDefinition for its workteams.")
        if oidc and "OidcConfig" not in workforce.doc:
            raise validation(f"Workforce {workforce_name} uses Amazon Cognito; use CognitoMemberDefinition.")
        if cognito and cognito[0]["UserPool"] != workforce.doc["CognitoConfig"]["UserPool"]:
            raise validation(
                f"UserPool {cognito[0]['UserPool']} is not the user pool of workforce {workforce_name} "
                f"({workforce.doc['CognitoConfig']['UserPool']})."
            )
        arn = self.rt.arn("workteam", f"private-crowd/{name}")
        doc = {k: v for k, v in params.items() if k not in ("WorkteamName", "Tags")}
        doc.update({"WorkteamArn": arn, "WorkforceArn": workforce.doc["WorkforceArn"], "WorkforceName": workforce_name})
        self._create(WORKTEAM, name, "Active", doc, "Workteam")
        return {"WorkteamArn": arn}

    def describe_workteam(self, params: dict[str, Any]) -> dict[str, Any]:
        resource = self._get(WORKTEAM, params["WorkteamName"], "Workteam")
        return {"Workteam": self._workteam_view(resource)}

    def list_workteams(self, params: dict[str, Any]) -> dict[str, Any]:
        items, token = self._list(WORKTEAM, params, sort_names={"CreateDate": "CreationTime"})
        return self._page({"Workteams": [self._workteam_view(r) for r in items]}, token)

    def delete_workteam(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["WorkteamName"]
        self._get(WORKTEAM, name, "Workteam")
        self.rt.storage.delete_resource(WORKTEAM, name)
        return {"Success": True}

    def workteam_by_arn(self, arn: str) -> Resource | None:
        name = arn_resource_name(arn, "workteam").rsplit("/", 1)[-1]
        resource = self.rt.storage.get_resource(WORKTEAM, name)
        if resource is None or resource.doc.get("WorkteamArn") != arn:
            return None
        return resource

    # ------------------------------------------------------------------ human task UIs
    def create_human_task_ui(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["HumanTaskUiName"]
        content = params["UiTemplate"]["Content"]
        problems = templating.syntax_errors(content)
        if problems:
            raise validation(f"UiTemplate.Content is not a valid Liquid template: {problems[0]}")
        arn = self.rt.arn("human-task-ui", name)
        self._create(TASK_UI, name, "Active", {"HumanTaskUiArn": arn, "Content": content}, "HumanTaskUi")
        return {"HumanTaskUiArn": arn}

    def describe_human_task_ui(self, params: dict[str, Any]) -> dict[str, Any]:
        resource = self._get(TASK_UI, params["HumanTaskUiName"], "HumanTaskUi")
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
        items, token = self._list(TASK_UI, params)
        summaries = [
            {
                "HumanTaskUiName": r.name,
                "HumanTaskUiArn": r.doc["HumanTaskUiArn"],
                "CreationTime": to_datetime(r.created),
            }
            for r in items
        ]
        return self._page({"HumanTaskUiSummaries": summaries}, token)

    def delete_human_task_ui(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["HumanTaskUiName"]
        self._get(TASK_UI, name, "HumanTaskUi")
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
        doc["ActivateAt"] = self.rt.now() + self.rt.config.flow_activation_seconds
        self._create(FLOW, name, "Initializing", doc, "Flow definition")
        self.rt.steps.enqueue("activate_flow", name, delay_seconds=self.rt.config.flow_activation_seconds)
        return {"FlowDefinitionArn": arn}

    def describe_flow_definition(self, params: dict[str, Any]) -> dict[str, Any]:
        resource = self._get(FLOW, params["FlowDefinitionName"], "Flow definition")
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
        items, token = self._list(FLOW, params)
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
        return self._page({"FlowDefinitionSummaries": summaries}, token)

    def delete_flow_definition(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["FlowDefinitionName"]
        resource = self._get(FLOW, name, "Flow definition")
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
            }
        )
        self._create(JOB, name, "Initializing", doc, "Labeling job")
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
            "Tags",
            "LabelingJobOutput",
        ):
            if key in doc:
                out[key] = doc[key]
        return out

    def describe_labeling_job(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._job_view(self._get(JOB, params["LabelingJobName"], "Labeling job"))

    def list_labeling_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        items, token = self._list(JOB, params)
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
        return self._page({"LabelingJobSummaryList": summaries}, token)

    def stop_labeling_job(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["LabelingJobName"]
        self._get(JOB, name, "Labeling job")
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
