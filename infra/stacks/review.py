"""TruthloopReview: the A2I flow definition, its task UI and the review pipeline (on A2I or the truthloop service)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from constructs import Construct

from infra.config import AppConfig
from infra.stacks._shared import lambdas_root, log_retention, removal_policy, stack_key
from truthloop.cdk._common import access_logs_bucket, secure_bucket
from truthloop.cdk.flow_definition import FlowDefinition
from truthloop.cdk.review_pipeline import ReviewPipeline
from truthloop.cdk.service import ServiceTarget
from truthloop.cdk.task_ui import HumanTaskUi


class ReviewStack(cdk.Stack):
    """Human review of model predictions, reviewed by ``workteam_arn`` (on the truthloop ``service`` if given)."""

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
        where = "the truthloop service" if service is not None else "Augmented AI"
        super().__init__(scope, id, description=f"truthloop: review pipeline on {where}", **kwargs)
        policy = removal_policy(config)
        key = stack_key(self, config, description="truthloop review: A2I output, queues, table, reviewed data")
        logs_bucket = access_logs_bucket(self, "AccessLogs", removal_policy=policy)
        a2i_output = secure_bucket(self, "A2iOutput", key=key, access_logs=logs_bucket, removal_policy=policy)
        source = config.value("review:source")
        template = config.review_template()
        prefix = f"{config.value('workforceName')[:14].lower()}-review"
        self.task_ui = HumanTaskUi(
            self, "TaskUi", template=template, name_prefix=prefix, service=service, log_retention=log_retention(config)
        )
        self.flow_definition = FlowDefinition(
            self,
            "Flow",
            workteam_arn=workteam_arn,
            human_task_ui=self.task_ui,
            output_bucket=a2i_output,
            encryption_key=key,
            task_title=config.value("review:taskTitle"),
            task_description=config.value("review:taskDescription"),
            task_count=config.value("review:taskCount"),
            task_time_limit_seconds=config.value("review:taskTimeLimitSeconds"),
            task_availability_seconds=config.value("review:taskAvailabilitySeconds"),
            source=source,
            review_policy=config.value("review:policy") if source != "custom" else None,
            name_prefix=prefix,
            log_retention=log_retention(config),
            service=service,
        )
        reserved = config.value("review:reservedConcurrency")
        self.pipeline = ReviewPipeline(
            self,
            "Review",
            flow_definition=self.flow_definition,
            review_policy=config.value("review:policy"),
            label_attribute=config.value("review:labelAttribute"),
            router_reserved_concurrency=reserved or None,
            function_url=bool(config.value("review:functionUrl")),
            existing_key=key,
            existing_access_logs_bucket=logs_bucket,
            log_retention=log_retention(config),
            removal_policy=policy,
            lambdas_root=lambdas_root(config),
            service=service,
        )
        cdk.CfnOutput(
            self,
            "FlowDefinitionArn",
            value=self.flow_definition.flow_definition_arn,
            description=f"The flow definition on {where} (StartHumanLoop, or HumanLoopConfig in Textract/Rekognition)",
        )
