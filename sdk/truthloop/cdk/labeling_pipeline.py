"""``LabelingPipeline``: upload data, get Ground Truth labeling jobs; failed objects are retried, nothing is lost.

::

    input bucket (manifests/*.jsonl, objects/*) ─EventBridge─▶ SQS (+DLQ) ─▶ labeling_launcher ─▶ CreateLabelingJob
        jobs/<job>/input.manifest ◀────────────────────────────────────────┘      │ (deterministic job names)
    GT "Labeling Job State Change" ─EventBridge─▶ notification topic (SNS)         ▼
                                   └──────────▶ SQS ─▶ labeling_launcher: done / re-queue failed items
    optional: a streaming labeling job fed by an SNS input topic

Ground Truth calls the ``pre_annotation`` and ``post_annotation`` functions of this pipeline; their names contain
``SageMaker`` so that a job role relying on the AmazonSageMakerGroundTruthExecution policy may invoke them too
(and so that the truthloop service's engine, which has exactly that reach, may).

With ``service`` the same pipeline runs on the truthloop service: the launcher creates the jobs there (signed), the
worker template becomes a task UI on the service (:class:`~truthloop.cdk.task_ui.HumanTaskUi` with ``service``),
the service's functions get the buckets' prefixes, and the job-state rule also takes the service's events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as assets
from aws_cdk import aws_sns as sns
from constructs import Construct

from truthloop.cdk._common import (
    Problems,
    access_logs_bucket,
    allow,
    allow_service_to_use_key,
    arn,
    encryption_key,
    grant_key,
    grant_objects,
    is_token,
    python_function,
    queue_target,
    region_problem,
    sagemaker_function_name,
    secure_bucket,
    secure_queue,
    secure_topic,
    struct_values,
    topic_target,
)
from truthloop.cdk.labeling_job import LabelingJob
from truthloop.cdk.layer import TruthloopLayer
from truthloop.cdk.service import EVENT_SOURCE, ServiceTarget
from truthloop.cdk.task_ui import HumanTaskUi, lint_template_file, resolve_template
from truthloop.exceptions import InvalidNameError
from truthloop.naming import deterministic_name, validate_label_attribute_name
from truthloop.service.signing import ENV_ENDPOINT as ENV_SERVICE_ENDPOINT

__all__ = ["BUILTIN_SUFFIX", "GROUND_TRUTH_CORS", "TASK_TYPES", "LabelingPipeline"]

#: truthloop task type → built-in GT task-type suffix (docs/interfaces.md); None = a custom task type.
BUILTIN_SUFFIX: dict[str, str | None] = {
    "text-classification": "TextMultiClass",
    "text-multilabel": "TextMultiClassMultiLabel",
    "image-classification": "ImageMultiClass",
    "image-multilabel": "ImageMultiClassMultiLabel",
    "bounding-box": "BoundingBox",
    "bounding-box-verification": "VerificationBoundingBox",
    "bounding-box-adjustment": "AdjustmentBoundingBox",
    "ner": "NamedEntityRecognition",
    "semantic-segmentation": "SemanticSegmentation",
    "free-text": None,
    "text-ranking": None,
    "pairwise-preference": None,
}
TASK_TYPES = tuple(BUILTIN_SUFFIX)
#: Task types whose template file differs from their id.
_TEMPLATE_FOR = {"bounding-box-adjustment": "gt/bounding-box"}
#: The CORS rule Ground Truth documents for input data ("CORS Requirement for Input Image Data"): the worker
#: task page loads the data objects from the bucket through presigned GET URLs in the browser.
GROUND_TRUTH_CORS = (
    s3.CorsRule(
        allowed_methods=[s3.HttpMethods.GET],
        allowed_origins=["*"],
        exposed_headers=["Access-Control-Allow-Origin"],
    ),
)
#: Key prefixes of the input bucket (the launcher and the job role rely on them).
MANIFESTS, OBJECTS, JOBS = "manifests/", "objects/", "jobs/"


class LabelingPipeline(Construct):
    """Data in, labeled data out: an input bucket whose uploads become Ground Truth labeling jobs.

    Put a JSON Lines manifest under ``manifests/`` (one data object per line, ``source`` or ``source-ref``), or any
    object under ``objects/`` (labelled as ``{"source-ref": ...}``). Pending objects are batched into jobs of at
    most ``max_items_per_job``; an object a job fails to label is queued again, up to ``max_attempts`` times, then
    reported on ``notification_topic`` (which also receives every job's state changes). Output manifests land
    under ``s3://<output bucket>/output/<job>/manifests/output/output.manifest``.

    Props follow "existing X or X props": ``existing_input_bucket``/``input_bucket_props``,
    ``existing_output_bucket``/``output_bucket_props``, ``existing_key`` (else a new customer-managed key),
    ``existing_access_logs_bucket``; the props are CDK's typed ``s3.BucketProps`` (or their keyword arguments as
    a mapping), merged as defaults < yours < the secure settings. Every conflict is reported in one error. An
    existing input bucket must already send its events to EventBridge (S3 bucket setting "Amazon EventBridge
    notifications": on) and carry the CORS rule Ground Truth requires (:data:`GROUND_TRUTH_CORS`); a new one gets
    both. ``input_bucket_props`` may replace the CORS rules (``cors``).

    Attributes: ``key``, ``input_bucket``, ``output_bucket``, ``queue``, ``dead_letter_queue``, ``pending_table``,
    ``notification_topic``, ``launcher_function``, ``pre_annotation_function``, ``post_annotation_function``,
    ``job_role``, ``template_asset``, ``ui_template_s3_uri``, ``upload_rule``, ``job_state_rule``, ``schedule_rule``,
    ``input_topic`` and ``streaming_job`` (streaming only), ``job_config``, ``task_ui`` (on the service only).

    ``service`` (a :class:`~truthloop.cdk.service.ServiceTarget`, e.g. ``TruthloopService.target``) runs the jobs on
    the truthloop service instead of Ground Truth: ``workteam_arn`` is then a team on the service (e.g.
    :class:`~truthloop.cdk.service_workteam.ServiceWorkteam`), the launcher has ``execute-api:Invoke`` instead of
    any SageMaker permission, and streaming jobs are not available.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        workteam_arn: str,
        task_type: str = "text-classification",
        label_attribute_name: str = "label",
        labels: Sequence[str] = (),
        template: str | Path | None = None,
        human_task_ui_arn: str | None = None,
        task_title: str = "Label the data",
        task_description: str = "Read each item and give it the right label",
        task_keywords: Sequence[str] = ("labeling",),
        workers_per_object: int = 1,
        task_time_limit_seconds: int = 300,
        task_availability_seconds: int = 864_000,
        max_concurrent_task_count: int | None = None,
        max_items_per_job: int = 1000,
        batch_window: cdk.Duration | None = None,
        max_attempts: int = 3,
        auto_accept_threshold: float | None = None,
        consolidation_method: str | None = None,
        content_classifiers: Sequence[str] = (),
        job_name_prefix: str = "truthloop-label",
        streaming: bool = False,
        existing_key: kms.IKey | None = None,
        existing_access_logs_bucket: s3.IBucket | None = None,
        existing_input_bucket: s3.IBucket | None = None,
        input_bucket_props: s3.BucketProps | Mapping[str, Any] | None = None,
        existing_output_bucket: s3.IBucket | None = None,
        output_bucket_props: s3.BucketProps | Mapping[str, Any] | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        lambdas_root: Path | None = None,
        service: ServiceTarget | None = None,
    ) -> None:
        super().__init__(scope, id)
        labels = list(labels)
        batch_window = batch_window or cdk.Duration.minutes(5)
        template_path = self._validate(
            workteam_arn=workteam_arn,
            task_type=task_type,
            label_attribute_name=label_attribute_name,
            labels=labels,
            template=template,
            human_task_ui_arn=human_task_ui_arn,
            max_items_per_job=max_items_per_job,
            batch_window=batch_window,
            max_attempts=max_attempts,
            auto_accept_threshold=auto_accept_threshold,
            job_name_prefix=job_name_prefix,
            existing_input_bucket=existing_input_bucket,
            input_bucket_props=input_bucket_props,
            existing_output_bucket=existing_output_bucket,
            output_bucket_props=output_bucket_props,
            service=service,
            streaming=streaming,
        )
        layers = [TruthloopLayer.of(self)]
        self.key: kms.IKey = existing_key or encryption_key(
            self, "Key", description="truthloop labeling pipeline: buckets, queues, topics, table"
        )
        allow_service_to_use_key(self.key, "events.amazonaws.com", sid="AllowEventBridgeToEncryptForTargets")
        logs_bucket = existing_access_logs_bucket or access_logs_bucket(
            self, "AccessLogs", removal_policy=removal_policy
        )
        self.input_bucket: s3.IBucket = existing_input_bucket or secure_bucket(
            self,
            "Input",
            key=self.key,
            access_logs=logs_bucket,
            removal_policy=removal_policy,
            event_bridge=True,
            overrides={"cors": list(GROUND_TRUTH_CORS), **struct_values(input_bucket_props)},
        )
        self.output_bucket: s3.IBucket = existing_output_bucket or secure_bucket(
            self,
            "Output",
            key=self.key,
            access_logs=logs_bucket,
            removal_policy=removal_policy,
            overrides=output_bucket_props,
        )
        output_prefix = "output/"
        self.notification_topic = secure_topic(self, "Notifications", key=self.key, display_name="truthloop labeling")

        # ------------------------------------------------------------------ the worker template
        self.template_asset: assets.Asset | None = None
        self.ui_template_s3_uri: str | None = None
        self.task_ui: HumanTaskUi | None = None
        if template_path is not None:
            lint_template_file(self, template_path)
            if service is not None:  # the service keeps the template itself, as a task UI
                self.task_ui = HumanTaskUi(
                    self,
                    "TaskUi",
                    template=template_path,
                    name_prefix=job_name_prefix.strip("-"),
                    lint=False,
                    service=service,
                    log_retention=log_retention,
                )
                human_task_ui_arn = self.task_ui.human_task_ui_arn
            else:
                self.template_asset = assets.Asset(self, "Template", path=str(template_path))
                self.ui_template_s3_uri = self.template_asset.s3_object_url

        # ------------------------------------------------------------------ Ground Truth's Lambdas
        task_env = {"TRUTHLOOP_TASK_TYPE": task_type}
        pre_env = dict(task_env)
        if auto_accept_threshold is not None:
            pre_env["TRUTHLOOP_AUTO_ACCEPT_THRESHOLD"] = repr(float(auto_accept_threshold))
        post_env = dict(task_env)
        if consolidation_method:
            post_env["TRUTHLOOP_CONSOLIDATION_METHOD"] = consolidation_method
        self.pre_annotation_function = python_function(
            self,
            "PreAnnotation",
            package="pre_annotation",
            handler="pre_annotation.handler.lambda_handler",
            layers=layers,
            service="truthloop-pre-annotation",
            description=f"Ground Truth pre-annotation for {task_type} tasks",
            environment=pre_env,
            timeout=cdk.Duration.seconds(30),
            function_name=sagemaker_function_name(self, "PreAnnotation"),
            log_retention=log_retention,
            lambdas_root=lambdas_root,
        )
        self.post_annotation_function = python_function(
            self,
            "PostAnnotation",
            package="post_annotation",
            handler="post_annotation.handler.lambda_handler",
            layers=layers,
            service="truthloop-post-annotation",
            description=f"Ground Truth annotation consolidation for {task_type} tasks",
            environment=post_env,
            timeout=cdk.Duration.minutes(5),
            memory_size=1024,
            function_name=sagemaker_function_name(self, "Consolidation"),
            log_retention=log_retention,
            lambdas_root=lambdas_root,
        )
        grant_objects(
            self.post_annotation_function,
            self.output_bucket,
            read=[output_prefix],
            write=[output_prefix],
            key=self.key,
            purpose="the consolidation Lambda reads the consolidation request and answers Ground Truth wrote, and"
            " keeps each job's worker-skill state (and segmentation masks) next to the job's output",
        )

        # ------------------------------------------------------------------ the job role
        self.job_role = iam.Role(
            self,
            "JobRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="Ground Truth labeling jobs of the truthloop labeling pipeline"
            + (" (on the truthloop service: named in requests, holds no permission)" if service else ""),
        )
        if service is None:  # on the service the request names the role, the service's own roles do the work
            grant_objects(
                self.job_role,
                self.input_bucket,
                read=[MANIFESTS, OBJECTS, JOBS],
                list_prefixes=[MANIFESTS, OBJECTS, JOBS],
                key=self.key,
                purpose="Ground Truth reads job manifests, label configs and the data objects they reference",
            )
            grant_objects(
                self.job_role,
                self.output_bucket,
                read=[output_prefix],
                write=[output_prefix],
                list_prefixes=[output_prefix],
                key=self.key,
                purpose="Ground Truth writes (and re-reads) worker answers and output manifests under output/",
            )
            buckets = [self.input_bucket.bucket_arn, self.output_bucket.bucket_arn]
            allow(self.job_role, ["s3:GetBucketLocation"], buckets)
            allow(
                self.job_role,
                ["lambda:InvokeFunction"],
                [self.pre_annotation_function.function_arn, self.post_annotation_function.function_arn],
            )
            if self.template_asset is not None:
                allow(
                    self.job_role,
                    ["s3:GetObject"],
                    [
                        cdk.Fn.join(
                            "",
                            [
                                "arn:",
                                cdk.Aws.PARTITION,
                                ":s3:::",
                                self.template_asset.s3_bucket_name,
                                "/",
                                self.template_asset.s3_object_key,
                            ],
                        )
                    ],
                )
            allow(
                self.job_role,
                ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                [arn(self, "logs", "log-group:/aws/sagemaker/LabelingJobs:*", sep=":")],
                wildcard_reason="Ground Truth writes job logs to the log group /aws/sagemaker/LabelingJobs (any "
                "stream).",
            )
            allow(
                self.job_role,
                ["cloudwatch:PutMetricData"],
                ["*"],
                wildcard_reason="cloudwatch:PutMetricData supports no resource-level permissions; Ground Truth posts "
                "labeling-job metrics with it.",
            )
        else:
            service.grant_objects(
                self,
                self.input_bucket,
                read=[MANIFESTS, OBJECTS, JOBS],
                key=self.key,
                purpose="it reads job manifests, label configs and the data objects they reference",
            )
            service.grant_objects(
                self,
                self.output_bucket,
                read=[output_prefix],
                write=[output_prefix],
                key=self.key,
                purpose="it writes (and re-reads) worker answers and output manifests under output/",
            )

        # ------------------------------------------------------------------ pending items and the queue
        self.pending_table = dynamodb.Table(
            self,
            "PendingItems",
            partition_key=dynamodb.Attribute(name="item", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=removal_policy,
            deletion_protection=removal_policy == cdk.RemovalPolicy.RETAIN,
        )
        for index, key_name in (("status-index", "status"), ("job-index", "job")):
            self.pending_table.add_global_secondary_index(
                index_name=index,
                partition_key=dynamodb.Attribute(name=key_name, type=dynamodb.AttributeType.STRING),
                sort_key=dynamodb.Attribute(name="createdAt", type=dynamodb.AttributeType.STRING),
                projection_type=dynamodb.ProjectionType.ALL,
            )
        launcher_timeout = cdk.Duration.minutes(5)
        self.queue, self.dead_letter_queue = secure_queue(
            self,
            "Launches",
            key=self.key,
            visibility_timeout=cdk.Duration.seconds(launcher_timeout.to_seconds() * 6 + batch_window.to_seconds()),
            max_receive_count=5,
        )

        # ------------------------------------------------------------------ the launcher
        name_head = deterministic_name(job_name_prefix, "probe").rsplit("-", 1)[0]
        self.job_config: dict[str, Any] = {
            "jobNamePrefix": job_name_prefix,
            "labelAttributeName": label_attribute_name,
            "roleArn": self.job_role.role_arn,
            "workteamArn": workteam_arn,
            "inputBucket": self.input_bucket.bucket_name,
            "outputS3Uri": f"s3://{self.output_bucket.bucket_name}/{output_prefix}",
            "taskTitle": task_title,
            "taskDescription": task_description,
            "uiTemplateS3Uri": self.ui_template_s3_uri,
            "humanTaskUiArn": human_task_ui_arn,
            "preAnnotationLambdaArn": self.pre_annotation_function.function_arn,
            "consolidationLambdaArn": self.post_annotation_function.function_arn,
            "labels": labels,
            "taskKeywords": list(task_keywords),
            "workersPerObject": workers_per_object,
            "taskTimeLimitSeconds": task_time_limit_seconds,
            "taskAvailabilitySeconds": task_availability_seconds,
            "maxConcurrentTaskCount": max_concurrent_task_count,
            "kmsKeyArn": self.key.key_arn,
            "jobsPrefix": JOBS,
            "maxItemsPerJob": max_items_per_job,
            "maxAttempts": max_attempts,
            "notificationTopicArn": self.notification_topic.topic_arn,
            "contentClassifiers": list(content_classifiers),
        }
        self.launcher_function = python_function(
            self,
            "Launcher",
            package="labeling_launcher",
            handler="labeling_launcher.handler.lambda_handler",
            layers=layers,
            service="truthloop-labeling-launcher",
            description="Batches uploaded data objects into Ground Truth labeling jobs; re-queues failed objects",
            environment={
                "TRUTHLOOP_JOB_CONFIG": cdk.Stack.of(self).to_json_string(
                    {k: v for k, v in self.job_config.items() if v not in (None, [], "")}
                ),
                "TRUTHLOOP_PENDING_TABLE": self.pending_table.table_name,
                **({ENV_SERVICE_ENDPOINT: service.endpoint} if service is not None else {}),
            },
            timeout=launcher_timeout,
            memory_size=512,
            log_retention=log_retention,
            lambdas_root=lambdas_root,
        )
        launcher = self.launcher_function
        self.launcher_function.add_event_source(
            sources.SqsEventSource(
                self.queue,
                batch_size=100,
                max_batching_window=batch_window,
                report_batch_item_failures=True,
                max_concurrency=2,
            )
        )
        grant_objects(
            launcher,
            self.input_bucket,
            read=[MANIFESTS],
            write=[JOBS],
            key=self.key,
            purpose="the launcher reads uploaded manifests and writes each job's manifest and label config",
        )
        grant_objects(
            launcher,
            self.output_bucket,
            read=[output_prefix],
            key=self.key,
            purpose="the launcher reads finished jobs' output manifests to find objects that failed",
        )
        allow(
            launcher,
            ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query"],
            [self.pending_table.table_arn, f"{self.pending_table.table_arn}/index/*"],
            wildcard_reason="Query on the table's two secondary indexes (status-index, job-index).",
        )
        grant_key(launcher, self.key, encrypt=True)
        if service is not None:
            service.grant_invoke(launcher)  # CreateLabelingJob and DescribeLabelingJob, as calls to the service
        else:
            jobs = [arn(self, "sagemaker", f"labeling-job/{name_head}-*")]
            allow(
                launcher,
                ["sagemaker:CreateLabelingJob", "sagemaker:DescribeLabelingJob"],
                jobs,
                wildcard_reason=f"The launcher names jobs '{name_head}-<hash of the batch>' at run time; the "
                "permission covers exactly that prefix.",
            )
            allow(
                launcher,
                ["iam:PassRole"],
                [self.job_role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        allow(launcher, ["sns:Publish"], [self.notification_topic.topic_arn])

        # ------------------------------------------------------------------ events
        self.upload_rule = events.Rule(
            self,
            "Uploads",
            description="Data objects and manifests uploaded to the labeling input bucket",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [self.input_bucket.bucket_name]},
                    "object": {"key": [{"prefix": MANIFESTS}, {"prefix": OBJECTS}]},
                },
            ),
            targets=[queue_target(self.queue)],
        )
        self.job_state_rule = events.Rule(
            self,
            "JobStates",
            description="State changes of the labeling jobs this pipeline started",
            event_pattern=events.EventPattern(
                source=["aws.sagemaker", EVENT_SOURCE] if service is not None else ["aws.sagemaker"],
                detail_type=["SageMaker Ground Truth Labeling Job State Change"],
                resources=events.Match.prefix(arn(self, "sagemaker", f"labeling-job/{name_head}")),
            ),
            targets=[topic_target(self.notification_topic), queue_target(self.queue)],
        )

        self.schedule_rule = events.Rule(
            self,
            "LauncherSchedule",
            description="Runs the labeling launcher regularly: a backlog larger than one run, or a launch that "
            "died midway, is picked up even when nothing new is uploaded",
            schedule=events.Schedule.rate(cdk.Duration.minutes(15)),
            targets=[queue_target(self.queue)],
        )

        # ------------------------------------------------------------------ streaming (optional)
        self.input_topic: sns.Topic | None = None
        self.streaming_job: LabelingJob | None = None
        if streaming:
            self.input_topic = secure_topic(self, "StreamingInput", key=self.key, display_name="truthloop streaming")
            allow(
                self.job_role,
                ["sns:Subscribe"],
                [self.input_topic.topic_arn],
                conditions={"StringEquals": {"sns:Protocol": "sqs"}},
            )
            allow(
                self.job_role,
                [
                    "sqs:CreateQueue",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:GetQueueUrl",
                    "sqs:ReceiveMessage",
                    "sqs:SendMessage",
                    "sqs:SetQueueAttributes",
                ],
                [arn(self, "sqs", "*GroundTruth*", sep=":")],
                wildcard_reason="A streaming job creates and uses its own SQS queue, named by Ground Truth with "
                "'GroundTruth' in it (the pattern of the AmazonSageMakerGroundTruthExecution policy).",
            )
            self.streaming_job = LabelingJob(
                self,
                "StreamingJob",
                role=self.job_role,
                workteam_arn=workteam_arn,
                label_attribute_name=label_attribute_name,
                output_s3_uri=f"s3://{self.output_bucket.bucket_name}/{output_prefix}",
                task_title=task_title,
                task_description=task_description,
                input_topic=self.input_topic,
                ui_template_s3_uri=self.ui_template_s3_uri,
                human_task_ui_arn=human_task_ui_arn,
                pre_annotation_lambda_arn=self.pre_annotation_function.function_arn,
                consolidation_lambda_arn=self.post_annotation_function.function_arn,
                workers_per_object=workers_per_object,
                task_time_limit_seconds=task_time_limit_seconds,
                task_availability_seconds=task_availability_seconds,
                task_keywords=task_keywords,
                content_classifiers=content_classifiers,
                output_key=self.key,
                task_type=BUILTIN_SUFFIX.get(task_type),
                name_prefix=f"{job_name_prefix[:20]}-stream",
                log_retention=log_retention,
            )

    def _validate(self, **props: Any) -> Path | None:
        problems = Problems(f"LabelingPipeline {self.node.path}")
        region = region_problem(self) if props["service"] is None else None
        if region:
            problems.add(region)
        if props["service"] is not None and props["streaming"]:
            problems.add("streaming labeling jobs (an SNS input topic) are not available on the truthloop service")
        task_type = props["task_type"]
        problems.require(task_type in BUILTIN_SUFFIX, f"task_type {task_type!r} is not one of {list(TASK_TYPES)}")
        attribute = props["label_attribute_name"]
        if not is_token(attribute):
            try:
                validate_label_attribute_name(attribute, BUILTIN_SUFFIX.get(task_type))
            except InvalidNameError as exc:
                problems.add(str(exc))
        labels = props["labels"]
        if task_type in {"text-classification", "text-multilabel", "image-classification", "image-multilabel"}:
            problems.require(len(labels) >= 2, f"{task_type} needs at least 2 labels, got {len(labels)}")
        problems.require(len(set(labels)) == len(labels), "labels must be unique")
        problems.exclusive(template=props["template"], human_task_ui_arn=props["human_task_ui_arn"])
        template_path: Path | None = None
        if props["human_task_ui_arn"] is None:
            name = props["template"] or _TEMPLATE_FOR.get(task_type, f"gt/{task_type}")
            template_path = resolve_template(name)
            if not template_path.is_file():
                problems.add(
                    f"worker template {name} not found at {template_path}; give template= (a file) or "
                    "human_task_ui_arn= (an AWS-owned task UI)"
                )
                template_path = None
        problems.require(1 <= props["max_items_per_job"] <= 100_000, "max_items_per_job must be 1–100000")
        problems.require(1 <= props["max_attempts"] <= 100, "max_attempts must be 1–100")
        problems.require(
            props["batch_window"].to_seconds() <= 300, "batch_window is at most 5 minutes (SQS batching window limit)"
        )
        threshold = props["auto_accept_threshold"]
        if threshold is not None:
            problems.require(0.0 < threshold <= 1.0, f"auto_accept_threshold must be in (0, 1], got {threshold}")
        prefix = props["job_name_prefix"]
        problems.require(
            bool(prefix)
            and len(prefix) <= 30
            and prefix == prefix.lower()
            and all(c.isalnum() or c == "-" for c in prefix),
            f"job_name_prefix {prefix!r} must be 1–30 lower-case letters, digits and hyphens",
        )
        problems.exclusive(
            existing_input_bucket=props["existing_input_bucket"], input_bucket_props=props["input_bucket_props"]
        )
        problems.exclusive(
            existing_output_bucket=props["existing_output_bucket"], output_bucket_props=props["output_bucket_props"]
        )
        arn_value = props["workteam_arn"]
        if arn_value and not is_token(arn_value):
            problems.require(":workteam/" in arn_value, f"workteam_arn {arn_value!r} is not a work team ARN")
        problems.raise_if_any()
        return template_path
