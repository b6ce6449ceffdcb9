"""Workforces and work teams: Create/Describe/List/Update/Delete, subscribed (vendor) teams, a team's labeling jobs.

As on AWS:

* the first ``CreateWorkteam`` with a Cognito member definition creates the ``default`` private workforce from
  that user pool; only one workforce exists per account and region;
* an unknown work team or workforce is a ``ValidationException`` ("The work team … does not exist.", "No
  workforce …"), not ``ResourceNotFound``; deleting a missing workforce is that error too;
* there are no AWS Marketplace vendor teams locally: ``ListSubscribedWorkteams`` is empty and
  ``DescribeSubscribedWorkteam`` is a ``ValidationException``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from truthloop.contracts import arn_resource_name
from truthloop.local.errors import in_use, limit_exceeded, not_found, validation
from truthloop.local.resources import JOB, LIST_DEFAULT_ORDER, WORKFORCE, WORKTEAM, ResourceStore
from truthloop.local.runtime import Runtime, decode_token, encode_token, fingerprint, to_datetime
from truthloop.local.storage import ListQuery, Resource
from truthloop.local.tagging import TagService, merge_tags

__all__ = ["TEAM_OPERATIONS", "TeamService"]

_JOB_STATUSES = ("Initializing", "InProgress", "Completed", "Failed", "Stopping", "Stopped")


#: the operations this module serves, and the method serving each
TEAM_OPERATIONS = {
    "CreateWorkforce": "create_workforce",
    "DescribeWorkforce": "describe_workforce",
    "ListWorkforces": "list_workforces",
    "UpdateWorkforce": "update_workforce",
    "DeleteWorkforce": "delete_workforce",
    "CreateWorkteam": "create_workteam",
    "DescribeWorkteam": "describe_workteam",
    "ListWorkteams": "list_workteams",
    "UpdateWorkteam": "update_workteam",
    "DeleteWorkteam": "delete_workteam",
    "ListLabelingJobsForWorkteam": "list_labeling_jobs_for_workteam",
    "DescribeSubscribedWorkteam": "describe_subscribed_workteam",
    "ListSubscribedWorkteams": "list_subscribed_workteams",
}


def _member_kinds(members: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The Cognito and OIDC member definitions; ValidationException for a mix or an entry with neither/both."""
    cognito = [m["CognitoMemberDefinition"] for m in members if "CognitoMemberDefinition" in m]
    oidc = [m["OidcMemberDefinition"] for m in members if "OidcMemberDefinition" in m]
    if (cognito and oidc) or len(cognito) + len(oidc) != len(members):
        raise validation(
            "Each MemberDefinitions entry needs exactly one of CognitoMemberDefinition or OidcMemberDefinition, "
            "and a workteam cannot mix them."
        )
    if len({(c["UserPool"], c["ClientId"]) for c in cognito}) > 1:
        raise validation("All CognitoMemberDefinition entries of a workteam must use the same UserPool and ClientId.")
    return cognito, oidc


class TeamService:
    """Workforce and work team operations."""

    def __init__(self, runtime: Runtime, store: ResourceStore, tags: TagService) -> None:
        self.rt = runtime
        self.store = store
        self.tags = tags

    @property
    def operations(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {operation: getattr(self, method) for operation, method in TEAM_OPERATIONS.items()}

    # ------------------------------------------------------------------ workforces
    def _workforce(self, name: str) -> Resource:
        resource = self.rt.storage.get_resource(WORKFORCE, name)
        if resource is None:
            raise validation(f"No workforce found with name {name}.")
        return resource

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
            view["OidcConfig"] = {k: v for k, v in doc["OidcConfig"].items() if k != "ClientSecret"}
        vpc = doc.get("WorkforceVpcConfig")
        if vpc and {"VpcId", "SecurityGroupIds", "Subnets"} <= set(vpc):
            view["WorkforceVpcConfig"] = {k: vpc[k] for k in ("VpcId", "SecurityGroupIds", "Subnets")}
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
        if ("CognitoConfig" in params) == ("OidcConfig" in params):
            raise validation("Specify exactly one of CognitoConfig or OidcConfig.")
        self._ensure_single_workforce(name)
        arn = self.rt.arn("workforce", name)
        doc = {k: v for k, v in params.items() if k not in ("WorkforceName", "Tags")}
        doc.update({"WorkforceArn": arn, "Tags": merge_tags([], params.get("Tags", []))})
        self.store.create(WORKFORCE, name, "Active", doc, "Workforce")
        return {"WorkforceArn": arn}

    def describe_workforce(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"Workforce": self._workforce_view(self._workforce(params["WorkforceName"]))}

    def list_workforces(self, params: dict[str, Any]) -> dict[str, Any]:
        items, token = self.store.list("ListWorkforces", WORKFORCE, params, sort_names={"CreateDate": "CreationTime"})
        return self.store.page({"Workforces": [self._workforce_view(r) for r in items]}, token)

    def update_workforce(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["WorkforceName"]
        resource = self._workforce(name)
        if "OidcConfig" in params and "OidcConfig" not in resource.doc:
            raise validation(f"Workforce {name} uses Amazon Cognito; OidcConfig can only update an OIDC workforce.")
        changes = {k: v for k, v in params.items() if k != "WorkforceName"}
        updated = self.rt.storage.update_resource(WORKFORCE, name, now=self.rt.now(), doc={**resource.doc, **changes})
        if updated is None:  # deleted in the meantime
            raise validation(f"No workforce found with name {name}.")
        return {"Workforce": self._workforce_view(updated)}

    def delete_workforce(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["WorkforceName"]
        workforce = self._workforce(name)
        teams = [
            t for t in self.rt.storage.resources_in_status(WORKTEAM, ("Active",)) if t.doc.get("WorkforceName") == name
        ]
        if teams:
            raise in_use(f"Workforce {name} still has workteams: {', '.join(t.name for t in teams)}.")
        self.tags.forget(WORKFORCE, workforce)
        self.rt.storage.delete_resource(WORKFORCE, name)
        return {}

    # ------------------------------------------------------------------ work teams
    def _workteam(self, name: str) -> Resource:
        resource = self.rt.storage.get_resource(WORKTEAM, name)
        if resource is None:
            raise validation(f"The work team {name} does not exist.")
        return resource

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

    def _check_members(self, workforce: Resource, members: list[dict[str, Any]]) -> None:
        cognito, oidc = _member_kinds(members)
        if cognito and "CognitoConfig" not in workforce.doc:
            raise validation(f"Workforce {workforce.name} uses OIDC; use OidcMemberDefinition for its workteams.")
        if oidc and "OidcConfig" not in workforce.doc:
            raise validation(f"Workforce {workforce.name} uses Amazon Cognito; use CognitoMemberDefinition.")
        if cognito and cognito[0]["UserPool"] != workforce.doc["CognitoConfig"]["UserPool"]:
            raise validation(
                f"UserPool {cognito[0]['UserPool']} is not the user pool of workforce {workforce.name} "
                f"({workforce.doc['CognitoConfig']['UserPool']})."
            )

    def create_workteam(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["WorkteamName"]
        cognito, _ = _member_kinds(params["MemberDefinitions"])
        if self.rt.storage.get_resource(WORKTEAM, name) is not None:
            raise in_use(f"Workteam {name} already exists.")
        workforce_name = params.get("WorkforceName") or "default"
        workforce = self.rt.storage.get_resource(WORKFORCE, workforce_name)
        if workforce is None:
            if not cognito or params.get("WorkforceName") not in (None, "default"):
                raise validation(
                    f"No workforce found with name {workforce_name}. Create it with CreateWorkforce (OIDC) or create "
                    "the workteam with a CognitoMemberDefinition to get the default private workforce."
                )
            self._ensure_single_workforce(workforce_name)
            doc: dict[str, Any] = {
                "WorkforceArn": self.rt.arn("workforce", workforce_name),
                "CognitoConfig": {"UserPool": cognito[0]["UserPool"], "ClientId": cognito[0]["ClientId"]},
                "Tags": [],
            }
            now = self.rt.now()
            self.rt.storage.create_resource(
                Resource(kind=WORKFORCE, name=workforce_name, status="Active", created=now, modified=now, doc=doc)
            )
            workforce = self._workforce(workforce_name)
        self._check_members(workforce, params["MemberDefinitions"])
        arn = self.rt.arn("workteam", f"private-crowd/{name}")
        doc = {k: v for k, v in params.items() if k not in ("WorkteamName", "Tags")}
        doc.update(
            {
                "WorkteamArn": arn,
                "WorkforceArn": workforce.doc["WorkforceArn"],
                "WorkforceName": workforce_name,
                "Tags": merge_tags([], params.get("Tags", [])),
            }
        )
        self.store.create(WORKTEAM, name, "Active", doc, "Workteam")
        return {"WorkteamArn": arn}

    def describe_workteam(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"Workteam": self._workteam_view(self._workteam(params["WorkteamName"]))}

    def list_workteams(self, params: dict[str, Any]) -> dict[str, Any]:
        items, token = self.store.list("ListWorkteams", WORKTEAM, params, sort_names={"CreateDate": "CreationTime"})
        return self.store.page({"Workteams": [self._workteam_view(r) for r in items]}, token)

    def update_workteam(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["WorkteamName"]
        resource = self._workteam(name)
        if "MemberDefinitions" in params:
            self._check_members(self._workforce(resource.doc["WorkforceName"]), params["MemberDefinitions"])
        changes = {k: v for k, v in params.items() if k != "WorkteamName"}
        updated = self.rt.storage.update_resource(WORKTEAM, name, now=self.rt.now(), doc={**resource.doc, **changes})
        if updated is None:  # deleted in the meantime
            raise validation(f"The work team {name} does not exist.")
        return {"Workteam": self._workteam_view(updated)}

    def delete_workteam(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["WorkteamName"]
        self.tags.forget(WORKTEAM, self._workteam(name))
        self.rt.storage.delete_resource(WORKTEAM, name)
        return {"Success": True}

    def workteam_by_arn(self, arn: str) -> Resource | None:
        name = arn_resource_name(arn, "workteam").rsplit("/", 1)[-1]
        resource = self.rt.storage.get_resource(WORKTEAM, name)
        if resource is None or resource.doc.get("WorkteamArn") != arn:
            return None
        return resource

    # ------------------------------------------------------------------ a team's labeling jobs
    def list_labeling_jobs_for_workteam(self, params: dict[str, Any]) -> dict[str, Any]:
        arn = params["WorkteamArn"]
        if self.workteam_by_arn(arn) is None:
            raise not_found(f"The work team {arn} does not exist.", a2i=False)
        after, before = params.get("CreationTimeAfter"), params.get("CreationTimeBefore")
        code = params.get("JobReferenceCodeContains")
        jobs = [
            job
            for job in self.rt.storage.resources_in_status(JOB, _JOB_STATUSES)
            if job.doc["HumanTaskConfig"]["WorkteamArn"] == arn
            and (after is None or job.created > after.timestamp())
            and (before is None or job.created < before.timestamp())
            and (code is None or code in job.doc["JobReferenceCode"])
        ]
        descending = params.get("SortOrder", LIST_DEFAULT_ORDER["ListLabelingJobsForWorkteam"]) == "Descending"
        jobs.sort(key=lambda job: (job.created, job.name), reverse=descending)
        key = fingerprint(
            "ListLabelingJobsForWorkteam", {k: v for k, v in params.items() if k not in ("NextToken", "MaxResults")}
        )
        start = int(decode_token(params.get("NextToken"), key) or 0)
        limit = int(params.get("MaxResults") or 10)
        summaries = [self._job_for_workteam(job) for job in jobs[start : start + limit]]
        out: dict[str, Any] = {"LabelingJobSummaryList": summaries}
        if start + limit < len(jobs):
            out["NextToken"] = encode_token(str(start + limit), key)
        return out

    def _job_for_workteam(self, job: Resource) -> dict[str, Any]:
        counters = job.doc["LabelCounters"]
        total = counters["TotalLabeled"] + counters["Unlabeled"] + counters["FailedNonRetryableError"]
        return {
            "LabelingJobName": job.doc["LabelingJobName"],
            "JobReferenceCode": job.doc["JobReferenceCode"],
            "WorkRequesterAccountId": self.rt.config.account_id,
            "CreationTime": to_datetime(job.created),
            "LabelCounters": {
                "HumanLabeled": counters["HumanLabeled"],
                "PendingHuman": counters["Unlabeled"],
                "Total": total,
            },
            "NumberOfHumanWorkersPerDataObject": job.doc["HumanTaskConfig"]["NumberOfHumanWorkersPerDataObject"],
        }

    # ------------------------------------------------------------------ subscribed (AWS Marketplace vendor) teams
    def describe_subscribed_workteam(self, params: dict[str, Any]) -> dict[str, Any]:
        raise validation(
            f"{params['WorkteamArn']} is not a work team you are subscribed to (the local backend has no AWS "
            "Marketplace vendor work teams)."
        )

    def list_subscribed_workteams(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"SubscribedWorkteams": []}
