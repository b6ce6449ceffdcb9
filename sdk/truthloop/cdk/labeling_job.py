"""``LabelingJob``: one Ground Truth labeling job as a CloudFormation resource (through a custom resource)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from constructs import Construct

from truthloop.cdk._common import Problems, arn, depend_on_policy, is_token, region_problem
from truthloop.cdk._provider import SageMakerResourceProvider
from truthloop.exceptions import InvalidNameError
from truthloop.naming import deterministic_name, validate_label_attribute_name

__all__ = ["WAIT_MINUTES", "LabelingJob"]

_PREFIX = re.compile(r"[a-z0-9](-*[a-z0-9]){0,29}")
_KEYWORD = re.compile(r"[A-Za-z0-9]+( [A-Za-z0-9]+)*")
#: How long ``wait=True`` waits for the job to complete (CloudFormation's limit for a custom resource is 60 minutes).
WAIT_MINUTES = 50
CONTENT_CLASSIFIERS = frozenset({"FreeOfPersonallyIdentifiableInformation", "FreeOfAdultContent"})


class LabelingJob(Construct):
    """A labeling job created when the stack deploys: one-shot (a manifest) or streaming (an SNS input topic).

    Backed by ``lambdas/custom_resources/labeling_job.py``: create (optionally wait until ``Completed``, at most
    :data:`WAIT_MINUTES` minutes: CloudFormation gives a custom resource one hour; a longer job fails the deployment
    and the rollback stops it), replace on change (a new job under a new name ``<name_prefix>-<hash>``, unique to
    the stack, so a redeploy after a destroy never meets the old, stopped job), stop on delete. Jobs cannot be
    deleted from SageMaker, so a removed job stays listed (stopped).

    ``role`` is the SageMaker execution role the job runs as; it needs read access to the manifest and
    template, write access to the output and permission to invoke the pre/post Lambdas. The construct lets
    its provider pass that role to SageMaker and nothing else.

    Attributes: ``labeling_job_name``, ``labeling_job_arn``, ``resource``, ``request``; with ``wait=True`` also
    ``output_dataset_s3_uri``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        role: iam.IRole,
        workteam_arn: str,
        label_attribute_name: str,
        output_s3_uri: str,
        task_title: str,
        task_description: str,
        manifest_s3_uri: str | None = None,
        input_topic: sns.ITopic | None = None,
        output_topic: sns.ITopic | None = None,
        ui_template_s3_uri: str | None = None,
        human_task_ui_arn: str | None = None,
        pre_annotation_lambda_arn: str | None = None,
        consolidation_lambda_arn: str | None = None,
        label_category_config_s3_uri: str | None = None,
        workers_per_object: int = 1,
        task_time_limit_seconds: int = 300,
        task_availability_seconds: int | None = None,
        max_concurrent_task_count: int | None = None,
        task_keywords: Sequence[str] = (),
        content_classifiers: Sequence[str] = (),
        stopping_conditions: Mapping[str, int] | None = None,
        output_key: kms.IKey | None = None,
        task_type: str | None = None,
        wait: bool = False,
        name_prefix: str = "truthloop-job",
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    ) -> None:
        super().__init__(scope, id)
        keywords, classifiers = list(task_keywords), list(content_classifiers)
        problems = Problems(f"LabelingJob {self.node.path}")
        region = region_problem(self)
        if region:
            problems.add(region)
        problems.require(
            manifest_s3_uri is not None or input_topic is not None,
            "give manifest_s3_uri (a one-shot job) or input_topic (a streaming job), or both",
        )
        problems.exclusive(ui_template_s3_uri=ui_template_s3_uri, human_task_ui_arn=human_task_ui_arn)
        problems.require(
            ui_template_s3_uri is not None or human_task_ui_arn is not None,
            "give ui_template_s3_uri (a custom template in S3) or human_task_ui_arn (an AWS-owned task UI)",
        )
        if wait and input_topic is not None:
            problems.add("wait=True cannot be used with a streaming job (input_topic): it never completes on its own")
        if not is_token(label_attribute_name):
            try:
                validate_label_attribute_name(label_attribute_name, task_type)
            except InvalidNameError as exc:
                problems.add(str(exc))
        for name, value in (
            ("manifest_s3_uri", manifest_s3_uri),
            ("output_s3_uri", output_s3_uri),
            ("ui_template_s3_uri", ui_template_s3_uri),
            ("label_category_config_s3_uri", label_category_config_s3_uri),
        ):
            if value is not None and not is_token(value) and not value.startswith("s3://"):
                problems.add(f"{name} {value!r} must be an s3:// URI")
        problems.require(1 <= workers_per_object <= 9, f"workers_per_object must be 1–9, got {workers_per_object}")
        problems.require(
            30 <= task_time_limit_seconds <= 28_800,
            f"task_time_limit_seconds must be 30–28800 (8 hours), got {task_time_limit_seconds}",
        )
        if task_availability_seconds is not None:
            problems.require(
                60 <= task_availability_seconds <= 2_592_000,
                f"task_availability_seconds must be 60–2592000 (30 days), got {task_availability_seconds}",
            )
        if max_concurrent_task_count is not None:
            problems.require(
                1 <= max_concurrent_task_count <= 5000,
                f"max_concurrent_task_count must be 1–5000, got {max_concurrent_task_count}",
            )
        problems.require(1 <= len(task_title) <= 128, f"task_title must be 1–128 characters, got {len(task_title)}")
        problems.require(
            1 <= len(task_description) <= 255, f"task_description must be 1–255 characters, got {len(task_description)}"
        )
        problems.require(len(keywords) <= 5, f"task_keywords holds at most 5 keywords, got {len(keywords)}")
        for keyword in keywords:
            problems.require(
                bool(_KEYWORD.fullmatch(keyword)) and len(keyword) <= 30,
                f"task keyword {keyword!r} must be 1–30 letters/digits (single spaces between words)",
            )
        for classifier in classifiers:
            problems.require(
                classifier in CONTENT_CLASSIFIERS,
                f"content classifier {classifier!r} is not one of {sorted(CONTENT_CLASSIFIERS)}",
            )
        problems.require(
            bool(_PREFIX.fullmatch(name_prefix)),
            f"name_prefix {name_prefix!r} must be lower-case letters, digits and inner hyphens (at most 30)",
        )
        problems.raise_if_any()

        human: dict[str, Any] = {
            "WorkteamArn": workteam_arn,
            "UiConfig": {"UiTemplateS3Uri": ui_template_s3_uri}
            if ui_template_s3_uri
            else {"HumanTaskUiArn": human_task_ui_arn},
            "TaskTitle": task_title,
            "TaskDescription": task_description,
            "NumberOfHumanWorkersPerDataObject": workers_per_object,
            "TaskTimeLimitInSeconds": task_time_limit_seconds,
        }
        if pre_annotation_lambda_arn:
            human["PreHumanTaskLambdaArn"] = pre_annotation_lambda_arn
        if consolidation_lambda_arn:
            human["AnnotationConsolidationConfig"] = {"AnnotationConsolidationLambdaArn": consolidation_lambda_arn}
        if keywords:
            human["TaskKeywords"] = keywords
        if task_availability_seconds is not None:
            human["TaskAvailabilityLifetimeInSeconds"] = task_availability_seconds
        if max_concurrent_task_count is not None:
            human["MaxConcurrentTaskCount"] = max_concurrent_task_count
        data_source: dict[str, Any] = {}
        if manifest_s3_uri:
            data_source["S3DataSource"] = {"ManifestS3Uri": manifest_s3_uri}
        if input_topic is not None:
            data_source["SnsDataSource"] = {"SnsTopicArn": input_topic.topic_arn}
        input_config: dict[str, Any] = {"DataSource": data_source}
        if classifiers:
            input_config["DataAttributes"] = {"ContentClassifiers": classifiers}
        output: dict[str, Any] = {"S3OutputPath": output_s3_uri}
        if output_key is not None:
            output["KmsKeyId"] = output_key.key_arn
        if output_topic is not None:
            output["SnsTopicArn"] = output_topic.topic_arn
        request: dict[str, Any] = {
            "LabelAttributeName": label_attribute_name,
            "InputConfig": input_config,
            "OutputConfig": output,
            "RoleArn": role.role_arn,
            "HumanTaskConfig": human,
        }
        if label_category_config_s3_uri:
            request["LabelCategoryConfigS3Uri"] = label_category_config_s3_uri
        if stopping_conditions:
            request["StoppingConditions"] = dict(stopping_conditions)
        self.request = request

        provider = SageMakerResourceProvider.of(
            self,
            module="labeling_job",
            description="truthloop Ground Truth labeling jobs",
            # How long wait=True waits: under CloudFormation's one hour for a custom resource. A job still running
            # then fails the deployment, and the rollback's delete stops the job (no job runs on unobserved).
            total_timeout=cdk.Duration.minutes(WAIT_MINUTES),
            query_interval=cdk.Duration.seconds(30),
            log_retention=log_retention,
        )
        name_head = deterministic_name(name_prefix, "probe").rsplit("-", 1)[0]
        jobs = [arn(self, "sagemaker", f"labeling-job/{name_head}-*")]
        reason = (
            f"Labeling job names are generated at deploy time as '{name_head}-<hash of the job request>' so that a "
            "changed job is a new job; the permission covers exactly that name prefix."
        )
        provider.allow(
            ["sagemaker:CreateLabelingJob", "sagemaker:StopLabelingJob"],
            jobs,
            wildcard_reason=reason,
            on_event_only=True,
        )
        provider.allow(["sagemaker:DescribeLabelingJob"], jobs, wildcard_reason=reason)
        provider.allow_pass_role(role)
        self.resource = cdk.CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type="Custom::TruthloopLabelingJob",
            properties={
                "NamePrefix": name_prefix,
                "Request": cdk.Stack.of(self).to_json_string(request),
                "Wait": "true" if wait else "false",
            },
        )
        depend_on_policy(self.resource, role)
        self.labeling_job_name = self.resource.get_att_string("LabelingJobName")
        self.labeling_job_arn = self.resource.get_att_string("LabelingJobArn")
        self.output_dataset_s3_uri = self.resource.get_att_string("OutputDatasetS3Uri") if wait else None
