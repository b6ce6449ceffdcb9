"""TruthloopLabeling: upload data, get labeling jobs (LabelingPipeline) on Ground Truth or the truthloop service."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from infra.config import AppConfig
from infra.stacks._shared import lambdas_root, log_retention, removal_policy, stack_key
from truthloop.cdk.labeling_pipeline import LabelingPipeline
from truthloop.cdk.service import ServiceTarget


class LabelingStack(cdk.Stack):
    """The labeling pipeline for one task type, labelled by ``workteam_arn`` (on the truthloop ``service`` if given)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: AppConfig,
        workteam_arn: str,
        service: ServiceTarget | None = None,
        **kwargs: Any,
    ) -> None:
        where = "the truthloop service" if service is not None else "Ground Truth"
        super().__init__(scope, id, description=f"truthloop: labeling pipeline on {where}", **kwargs)
        template = config.labeling_template()
        threshold = config.value("labeling:autoAcceptThreshold")
        self.pipeline = LabelingPipeline(
            self,
            "Labeling",
            workteam_arn=workteam_arn,
            task_type=config.value("labeling:taskType"),
            label_attribute_name=config.value("labeling:labelAttribute"),
            labels=config.value("labeling:labels"),
            template=template,
            human_task_ui_arn=config.value("labeling:humanTaskUiArn"),
            task_title=config.value("labeling:taskTitle"),
            task_description=config.value("labeling:taskDescription"),
            workers_per_object=config.value("labeling:workersPerObject"),
            task_time_limit_seconds=config.value("labeling:taskTimeLimitSeconds"),
            task_availability_seconds=config.value("labeling:taskAvailabilitySeconds"),
            max_items_per_job=config.value("labeling:maxItemsPerJob"),
            batch_window=cdk.Duration.seconds(config.value("labeling:batchWindowSeconds")),
            max_attempts=config.value("labeling:maxAttempts"),
            auto_accept_threshold=threshold,
            consolidation_method=config.value("labeling:consolidationMethod"),
            streaming=bool(config.value("labeling:streaming")),
            job_name_prefix=f"{config.value('workforceName')[:14].lower()}-label",
            existing_key=stack_key(self, config, description="truthloop labeling: buckets, queues, topics, table"),
            log_retention=log_retention(config),
            removal_policy=removal_policy(config),
            lambdas_root=lambdas_root(config),
            service=service,
        )
        cdk.CfnOutput(
            self,
            "InputBucket",
            value=self.pipeline.input_bucket.bucket_name,
            description="Upload manifests to manifests/ and data objects to objects/",
        )
        cdk.CfnOutput(
            self,
            "OutputUri",
            value=f"s3://{self.pipeline.output_bucket.bucket_name}/output/",
            description=f"{where} writes each job's output here",
        )
        cdk.CfnOutput(
            self,
            "NotificationTopicArn",
            value=self.pipeline.notification_topic.topic_arn,
            description="Job state changes and objects that could not be labelled",
        )
        if self.pipeline.input_topic is not None:
            cdk.CfnOutput(
                self,
                "StreamingInputTopicArn",
                value=self.pipeline.input_topic.topic_arn,
                description="Publish data objects here for the streaming labeling job",
            )
        if self.pipeline.task_ui is not None:
            cdk.CfnOutput(
                self,
                "TaskUiArn",
                value=self.pipeline.task_ui.human_task_ui_arn,
                description="The workers' task UI on the truthloop service (the labeling jobs' HumanTaskUiArn)",
            )
