"""``FlowDefinition``: an A2I flow definition, deployed through a custom resource (no CloudFormation type exists)."""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from truthloop.cdk._common import Problems, allow, arn, depend_on_policy, grant_objects, is_token, region_problem
from truthloop.cdk._provider import SageMakerResourceProvider
from truthloop.cdk.task_ui import HumanTaskUi
from truthloop.naming import deterministic_name

if TYPE_CHECKING:
    from truthloop.cdk.service import ServiceTarget

__all__ = ["BUILTIN_SOURCES", "FlowDefinition", "activation_conditions_from_policy"]

#: truthloop source id → A2I's AwsManagedHumanLoopRequestSource (aws-contracts.md §8, §9).
BUILTIN_SOURCES = {
    "textract:analyze_document": "AWS/Textract/AnalyzeDocument/Forms/V1",
    "rekognition:detect_moderation_labels": "AWS/Rekognition/DetectModerationLabels/Image/V3",
}
MAX_CONDITIONS_CHARS = 10_240
_PREFIX = re.compile(r"[a-z0-9](-*[a-z0-9]){0,29}")


def activation_conditions_from_policy(policy: Any, source: str) -> dict[str, Any]:
    """A2I activation conditions generated from a ``truthloop.review.ReviewPolicy`` (or its ``to_dict()``)."""
    from truthloop.review import ReviewPolicy  # imported late: the review package is optional at synth

    if isinstance(policy, Mapping):
        policy = ReviewPolicy.from_dict(dict(policy))
    method = policy.to_activation_conditions
    accepts_source = any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        for p in inspect.signature(method).parameters.values()
    )
    conditions = method(source) if accepts_source else method()
    if isinstance(conditions, str):
        conditions = json.loads(conditions)
    return dict(conditions)


class FlowDefinition(Construct):
    """An A2I flow definition: who reviews (work team), what they see (task UI), where answers go (S3).

    The flow is created by a custom resource backed by ``lambdas/custom_resources/flow_definition.py``: the
    deployment waits until the flow is ``Active``; any change deploys a new flow under a new deterministic name
    (``<name_prefix>-<hash>``) and removes the old one; removing the construct deletes the flow.

    ``source`` is ``"custom"`` (loops started with StartHumanLoop, e.g. by ``review_router``) or a built-in
    integration (``"textract:analyze_document"``, ``"rekognition:detect_moderation_labels"``), which needs
    activation conditions: explicit ``activation_conditions`` or generated from ``review_policy``.

    With ``service`` (a :class:`~truthloop.cdk.service.ServiceTarget`) the flow is created on the truthloop
    service instead (``Custom::TruthloopServiceFlowDefinition``: the same handler, given the service's endpoint and
    ``execute-api:Invoke``, no SageMaker permission); the service's own functions get write access to the output
    prefix (they write each loop's ``output.json``), and only ``"custom"`` sources exist there.

    Attributes: ``flow_definition_arn``, ``flow_definition_name``, ``role``, ``resource``, ``output_bucket``,
    ``output_prefix``, ``output_s3_uri``, ``encryption_key``, ``request`` (the CreateFlowDefinition request),
    ``service``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        workteam_arn: str,
        output_bucket: s3.IBucket,
        human_task_ui: HumanTaskUi | None = None,
        human_task_ui_arn: str | None = None,
        output_prefix: str = "a2i/",
        encryption_key: kms.IKey | None = None,
        task_title: str = "Review a model prediction",
        task_description: str = "Check the model's answer and correct it if it is wrong",
        task_count: int = 1,
        task_time_limit_seconds: int = 3600,
        task_availability_seconds: int = 86_400,
        task_keywords: Sequence[str] = ("review",),
        source: str = "custom",
        review_policy: Any = None,
        activation_conditions: Mapping[str, Any] | None = None,
        existing_role: iam.IRole | None = None,
        name_prefix: str = "truthloop-review",
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        service: ServiceTarget | None = None,
    ) -> None:
        super().__init__(scope, id)
        keywords = list(task_keywords)
        problems = Problems(f"FlowDefinition {self.node.path}")
        region = region_problem(self) if service is None else None
        if region:
            problems.add(region)
        if service is not None and source != "custom":
            problems.add(
                f"source {source!r} is A2I's built-in integration with Textract/Rekognition, which the truthloop "
                "service does not have: use 'custom' (loops started by review_router)"
            )
        if service is not None and human_task_ui is not None and human_task_ui.service is None:
            problems.add("human_task_ui is a SageMaker task UI; on the truthloop service give HumanTaskUi(service=...)")
        problems.exclusive(human_task_ui=human_task_ui, human_task_ui_arn=human_task_ui_arn)
        problems.require(
            human_task_ui is not None or bool(human_task_ui_arn), "give human_task_ui or human_task_ui_arn"
        )
        problems.exclusive(review_policy=review_policy, activation_conditions=activation_conditions)
        problems.require(
            source == "custom" or source in BUILTIN_SOURCES,
            f"source {source!r} is not 'custom' or one of {sorted(BUILTIN_SOURCES)}",
        )
        builtin = source in BUILTIN_SOURCES
        if source == "custom" and (review_policy is not None or activation_conditions is not None):
            problems.add(
                "activation conditions only apply to built-in sources (Textract, Rekognition); a custom flow's loops "
                "are started explicitly (review_router applies the ReviewPolicy before StartHumanLoop)"
            )
        if builtin and review_policy is None and activation_conditions is None:
            problems.add(f"source {source!r} needs review_policy or activation_conditions")
        problems.require(1 <= task_count <= 3, f"task_count must be 1–3 (workers per loop), got {task_count}")
        problems.require(1 <= len(task_title) <= 128, f"task_title must be 1–128 characters, got {len(task_title)}")
        problems.require(
            1 <= len(task_description) <= 255,
            f"task_description must be 1–255 characters, got {len(task_description)}",
        )
        problems.require(task_time_limit_seconds >= 30, "task_time_limit_seconds must be at least 30")
        problems.require(task_availability_seconds >= 1, "task_availability_seconds must be at least 1")
        problems.require(1 <= len(keywords) <= 5, f"task_keywords must hold 1–5 keywords, got {len(keywords)}")
        for keyword in keywords:
            problems.require(
                bool(re.fullmatch(r"[A-Za-z0-9]+( [A-Za-z0-9]+)*", keyword)) and len(keyword) <= 30,
                f"task keyword {keyword!r} must be 1–30 letters/digits (single spaces between words)",
            )
        problems.require(
            bool(_PREFIX.fullmatch(name_prefix)),
            f"name_prefix {name_prefix!r} must be lower-case letters, digits and inner hyphens (at most 30)",
        )
        problems.require(
            output_prefix == "" or (output_prefix.endswith("/") and not output_prefix.startswith("/")),
            f"output_prefix {output_prefix!r} must be empty or end with '/' (and not start with it)",
        )
        if workteam_arn and not is_token(workteam_arn):
            problems.require(":workteam/" in workteam_arn, f"workteam_arn {workteam_arn!r} is not a work team ARN")

        conditions: dict[str, Any] | None = None
        if builtin and activation_conditions is not None:
            conditions = dict(activation_conditions)
        elif builtin and review_policy is not None:
            try:
                conditions = activation_conditions_from_policy(review_policy, source)
            except ImportError:
                problems.add("review_policy needs truthloop.review (ReviewPolicy) to generate activation conditions")
            except Exception as exc:
                problems.add(f"review_policy cannot be expressed as activation conditions: {exc}")
        if conditions is not None:
            text = json.dumps(conditions, separators=(",", ":"), sort_keys=True)  # as sent (see below)
            problems.require(
                isinstance(conditions.get("Conditions"), list) and bool(conditions["Conditions"]),
                "activation conditions need a non-empty top-level 'Conditions' list",
            )
            problems.require(
                len(text) <= MAX_CONDITIONS_CHARS,
                f"activation conditions are {len(text)} characters; A2I accepts at most {MAX_CONDITIONS_CHARS}",
            )
        problems.raise_if_any()

        self.service = service
        self.output_bucket = output_bucket
        self.output_prefix = output_prefix
        self.encryption_key = encryption_key
        self.output_s3_uri = f"s3://{output_bucket.bucket_name}/{output_prefix}"
        self.role: iam.IRole = existing_role or iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="A2I flow definition: writes human answers to the output prefix",
        )
        if existing_role is None and service is None:  # on the service, its own roles write the output
            grant_objects(
                self.role,
                output_bucket,
                read=[output_prefix],
                write=[output_prefix],
                key=encryption_key,
                purpose="A2I writes each human loop's output.json under the flow's output prefix",
            )

        ui_arn = human_task_ui.human_task_ui_arn if human_task_ui is not None else str(human_task_ui_arn)
        human_loop_config: dict[str, Any] = {
            "WorkteamArn": workteam_arn,
            "HumanTaskUiArn": ui_arn,
            "TaskTitle": task_title,
            "TaskDescription": task_description,
            "TaskCount": task_count,
            "TaskAvailabilityLifetimeInSeconds": task_availability_seconds,
            "TaskTimeLimitInSeconds": task_time_limit_seconds,
            "TaskKeywords": keywords,
        }
        output_config: dict[str, Any] = {"S3OutputPath": self.output_s3_uri}
        if encryption_key is not None:
            output_config["KmsKeyId"] = encryption_key.key_arn
        request: dict[str, Any] = {
            "HumanLoopConfig": human_loop_config,
            "OutputConfig": output_config,
            "RoleArn": self.role.role_arn,
        }
        if builtin:
            request["HumanLoopRequestSource"] = {"AwsManagedHumanLoopRequestSource": BUILTIN_SOURCES[source]}
            request["HumanLoopActivationConfig"] = {
                "HumanLoopActivationConditionsConfig": {"HumanLoopActivationConditions": text}
            }
        self.request = request

        provider = SageMakerResourceProvider.of(
            self,
            module="flow_definition",
            description="truthloop A2I flow definitions" + (" on the truthloop service" if service else ""),
            log_retention=log_retention,
            service=service,
        )
        name_head = deterministic_name(name_prefix, "probe").rsplit("-", 1)[0]
        #: Every flow this construct ever made (a change replaces the flow under a new name with this prefix):
        #: match events and permissions on it, so loops of a replaced flow are still handled.
        self.flow_definition_arn_prefix = arn(self, "sagemaker", f"flow-definition/{name_head}-")
        if service is None:
            flows = [arn(self, "sagemaker", f"flow-definition/{name_head}-*")]
            reason = (
                f"Flow definition names are generated at deploy time as '{name_head}-<hash of the definition>' so "
                "that a changed definition replaces the old one; the permission covers exactly that name prefix."
            )
            provider.allow(
                ["sagemaker:CreateFlowDefinition", "sagemaker:DeleteFlowDefinition"],
                flows,
                wildcard_reason=reason,
                on_event_only=True,
            )
            provider.allow(["sagemaker:DescribeFlowDefinition"], flows, wildcard_reason=reason)
            provider.allow_pass_role(self.role)
        else:
            service.grant_objects(
                self,
                output_bucket,
                read=[output_prefix],
                write=[output_prefix],
                key=encryption_key,
                purpose="it writes each human loop's output.json under the flow's output prefix",
            )
        self.resource = cdk.CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type="Custom::TruthloopServiceFlowDefinition" if service else "Custom::TruthloopFlowDefinition",
            properties={"NamePrefix": name_prefix, "Request": cdk.Stack.of(self).to_json_string(request)},
        )
        # The flow role must be able to write before A2I validates the output path.
        depend_on_policy(self.resource, self.role)
        for data_role in service.data_roles(self) if service is not None else ():
            policy = data_role.node.try_find_child("Policy")  # the service must be able to write, too
            if policy is not None:
                self.resource.node.add_dependency(policy)
        self.flow_definition_arn = self.resource.get_att_string("FlowDefinitionArn")
        self.flow_definition_name = self.resource.get_att_string("FlowDefinitionName")

    def grant_read_inputs(self, bucket: s3.IBucket, prefixes: Sequence[str], key: kms.IKey | None = None) -> None:
        """Let reviewers' task pages show input objects (Textract documents, Rekognition images) from ``bucket``."""
        grant_objects(
            self.role,
            bucket,
            read=list(prefixes),
            key=key,
            purpose="A2I presigns the reviewed document/image for the worker task page",
        )

    def grant_start_human_loop(self, grantee: iam.IGrantable) -> None:
        """``sagemaker:StartHumanLoop`` on this flow definition only."""
        allow(grantee, ["sagemaker:StartHumanLoop"], [self.flow_definition_arn])
