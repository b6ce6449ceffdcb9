"""``ReviewPipeline``: model predictions in, human-reviewed training data out (Amazon A2I).

::

    producers ─SQS (+DLQ)─┐
    SigV4 POST ─function URL (AWS_IAM)─┴─▶ review_router ─ReviewPolicy─▶ StartHumanLoop (this flow only)
    A2I "HumanLoop Status Change" ─EventBridge (+DLQ)─▶ review_completed ─▶ DynamoDB results (PITR)
                                                                      └─▶ reviewed bucket (GT augmented manifest)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from truthloop.cdk._common import (
    Problems,
    access_logs_bucket,
    acknowledge,
    allow,
    allow_service_to_use_key,
    arn,
    depend_on_policy,
    encryption_key,
    grant_key,
    grant_objects,
    is_token,
    python_function,
    secure_bucket,
    secure_queue,
)
from truthloop.cdk.flow_definition import FlowDefinition
from truthloop.cdk.layer import TruthloopLayer
from truthloop.cdk.service import EVENT_SOURCE, ServiceTarget
from truthloop.contracts.events import A2I_DETAIL_TYPES
from truthloop.exceptions import InvalidNameError
from truthloop.naming import validate_label_attribute_name

__all__ = ["DEFAULT_REVIEW_POLICY", "STATUS_SOURCES", "ReviewPipeline"]

#: The sources of "SageMaker A2I HumanLoop Status Change" events: Amazon A2I, and the truthloop service.
STATUS_SOURCES = ("aws.sagemaker", EVENT_SOURCE)

#: Review every prediction whose confidence is below 0.7 (``ReviewPolicy.threshold(0.7).to_dict()``).
DEFAULT_REVIEW_POLICY: dict[str, Any] = {"version": 1, "rule": {"type": "threshold", "threshold": 0.7}}


def _policy_dict(policy: Any) -> dict[str, Any]:
    if policy is None:
        return dict(DEFAULT_REVIEW_POLICY)
    if isinstance(policy, Mapping):
        return dict(policy)
    return dict(policy.to_dict())


class ReviewPipeline(Construct):
    """Route predictions to human review and turn finished reviews into data.

    ``review_router`` (handler ``review_router.handler.handler``) reads prediction records from an SQS queue (with
    a DLQ) and, when ``function_url`` is on, from an IAM-authenticated function URL; it applies the
    ``review_policy`` and calls StartHumanLoop on this pipeline's flow definition only. An EventBridge rule sends
    the flow's ``SageMaker A2I HumanLoop Status Change`` events to ``review_completed`` (handler
    ``review_completed.handler.handler``), which stores each result in the DynamoDB results table (partition key
    ``pk``, point-in-time recovery) and writes a Ground Truth augmented-manifest line to the reviewed bucket.
    Events that cannot be delivered, and invocations that still fail after Lambda's retries, land in a DLQ.

    "Existing X or X props": ``existing_results_table``/``results_table_props``,
    ``existing_reviewed_bucket``/``reviewed_bucket_props``, ``existing_key``, ``existing_access_logs_bucket``.
    Give ``flow_definition`` (a :class:`FlowDefinition`) or ``flow_definition_arn`` with ``a2i_output_bucket`` (and
    ``a2i_output_key`` when that bucket uses a customer-managed key).

    ``service`` (a :class:`~truthloop.cdk.service.ServiceTarget`, e.g. ``TruthloopService.target``) runs the
    pipeline on the truthloop service instead of Amazon A2I: the router starts loops there (signed; permission
    ``execute-api:Invoke`` instead of ``sagemaker:StartHumanLoop``) and the status rule takes the service's events
    (source ``truthloop.service``) as well as A2I's. The flow must then be one created on the service
    (``flow_definition_arn``, or a :class:`FlowDefinition` given the same ``service``).

    Attributes: ``key``, ``router_function``, ``router_queue``, ``router_dead_letter_queue``, ``function_url``,
    ``completed_function``, ``completed_dead_letter_queue``, ``status_rule``, ``results_table``,
    ``reviewed_bucket``, ``budget_table`` (only when the policy has a budget), ``review_policy``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        flow_definition: FlowDefinition | None = None,
        flow_definition_arn: str | None = None,
        a2i_output_bucket: s3.IBucket | None = None,
        a2i_output_prefix: str = "a2i/",
        a2i_output_key: kms.IKey | None = None,
        review_policy: Any = None,
        reviewed_prefix: str = "reviewed/",
        label_attribute: str = "review",
        router_reserved_concurrency: int | None = 10,
        router_batch_size: int = 10,
        function_url: bool = True,
        existing_key: kms.IKey | None = None,
        existing_access_logs_bucket: s3.IBucket | None = None,
        existing_results_table: dynamodb.ITable | None = None,
        results_table_props: Mapping[str, Any] | None = None,
        existing_reviewed_bucket: s3.IBucket | None = None,
        reviewed_bucket_props: s3.BucketProps | Mapping[str, Any] | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        lambdas_root: Path | None = None,
        service: ServiceTarget | None = None,
    ) -> None:
        super().__init__(scope, id)
        self.review_policy = _policy_dict(review_policy)
        problems = Problems(f"ReviewPipeline {self.node.path}")
        problems.exclusive(flow_definition=flow_definition, flow_definition_arn=flow_definition_arn)
        problems.require(
            flow_definition is not None or flow_definition_arn is not None,
            "give flow_definition (a FlowDefinition construct) or flow_definition_arn",
        )
        if flow_definition_arn is not None:
            problems.require(a2i_output_bucket is not None, "flow_definition_arn needs a2i_output_bucket")
            if not is_token(flow_definition_arn):
                problems.require(
                    ":flow-definition/" in flow_definition_arn,
                    f"flow_definition_arn {flow_definition_arn!r} is not a flow definition ARN",
                )
        if service is not None and flow_definition is not None and flow_definition.service is None:
            problems.add(
                "service starts loops on the truthloop service: give the flow_definition_arn of a flow created there, "
                "or a FlowDefinition(service=...) (this FlowDefinition creates its flow on SageMaker)"
            )
        if service is None and flow_definition is not None and flow_definition.service is not None:
            problems.add("flow_definition was created on the truthloop service: give service= too")
        if flow_definition is not None and a2i_output_bucket is not None:
            problems.add("a2i_output_bucket comes from flow_definition; give it only with flow_definition_arn")
        problems.exclusive(existing_results_table=existing_results_table, results_table_props=results_table_props)
        problems.exclusive(
            existing_reviewed_bucket=existing_reviewed_bucket, reviewed_bucket_props=reviewed_bucket_props
        )
        problems.require(
            reviewed_prefix.endswith("/") and not reviewed_prefix.startswith("/"),
            f"reviewed_prefix {reviewed_prefix!r} must end with '/' and not start with it",
        )
        try:
            validate_label_attribute_name(label_attribute)
        except InvalidNameError as exc:
            problems.add(str(exc))
        if router_reserved_concurrency is not None:
            problems.require(
                router_reserved_concurrency >= 1, "router_reserved_concurrency must be at least 1 (or None for none)"
            )
        problems.require(1 <= router_batch_size <= 10, "router_batch_size must be 1–10")
        try:
            from truthloop.review import ReviewPolicy

            ReviewPolicy.from_dict(self.review_policy)
        except ImportError:
            pass
        except Exception as exc:
            problems.add(f"review_policy is invalid: {exc}")
        problems.raise_if_any()

        layers = [TruthloopLayer.of(self)]
        self.key: kms.IKey = existing_key or encryption_key(
            self, "Key", description="truthloop review pipeline: queues, table, reviewed bucket"
        )
        allow_service_to_use_key(self.key, "events.amazonaws.com", sid="AllowEventBridgeToEncryptForTargets")
        flow_match: list[Any]
        if flow_definition is not None:
            flow_arn = flow_definition.flow_definition_arn
            # A changed flow is replaced under a new name; loops started under the old one finish later, and their
            # status changes must still be stored: match every flow of the construct (its name prefix).
            flow_match = [{"prefix": flow_definition.flow_definition_arn_prefix}]
            output_bucket, output_prefix = flow_definition.output_bucket, flow_definition.output_prefix
            output_key = flow_definition.encryption_key
        else:
            assert flow_definition_arn is not None and a2i_output_bucket is not None
            flow_arn, output_bucket, output_prefix = flow_definition_arn, a2i_output_bucket, a2i_output_prefix
            flow_match = [flow_definition_arn]
            output_key = a2i_output_key

        # ------------------------------------------------------------------ storage
        if existing_results_table is not None:
            self.results_table: dynamodb.ITable = existing_results_table
        else:
            props: dict[str, Any] = {
                "billing_mode": dynamodb.BillingMode.PAY_PER_REQUEST,
                "removal_policy": removal_policy,
                "deletion_protection": removal_policy == cdk.RemovalPolicy.RETAIN,
            }
            props.update(results_table_props or {})
            props.update(  # what review_completed and powertools idempotency rely on, and encryption
                partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
                time_to_live_attribute="expiration",  # powertools idempotency records expire; results do not
                encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
                encryption_key=self.key,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
            )
            self.results_table = dynamodb.Table(self, "Results", **props)
        self.budget_table: dynamodb.Table | None = None
        if self.review_policy.get("budget"):
            self.budget_table = dynamodb.Table(
                self,
                "Budget",
                partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
                billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
                time_to_live_attribute="expiresAt",
                encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
                encryption_key=self.key,
                point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                    point_in_time_recovery_enabled=True
                ),
                removal_policy=cdk.RemovalPolicy.DESTROY,  # counters of the current window only
            )
        if existing_reviewed_bucket is not None:
            self.reviewed_bucket: s3.IBucket = existing_reviewed_bucket
        else:
            logs_bucket = existing_access_logs_bucket or access_logs_bucket(
                self, "AccessLogs", removal_policy=removal_policy
            )
            self.reviewed_bucket = secure_bucket(
                self,
                "Reviewed",
                key=self.key,
                access_logs=logs_bucket,
                removal_policy=removal_policy,
                overrides=reviewed_bucket_props,
            )

        # ------------------------------------------------------------------ router
        router_timeout = cdk.Duration.seconds(60)
        self.router_queue, self.router_dead_letter_queue = secure_queue(
            self,
            "Predictions",
            key=self.key,
            visibility_timeout=cdk.Duration.seconds(router_timeout.to_seconds() * 6),
            max_receive_count=5,
        )
        router_env = {
            "TRUTHLOOP_FLOW_DEFINITION_ARN": flow_arn,
            "TRUTHLOOP_REVIEW_POLICY": json.dumps(self.review_policy, separators=(",", ":"), sort_keys=True),
        }
        if service is not None:  # the router starts its loops on the truthloop service (router_from_env)
            router_env["TRUTHLOOP_SERVICE_ENDPOINT"] = service.endpoint
        if self.budget_table is not None:
            router_env["TRUTHLOOP_BUDGET_TABLE"] = self.budget_table.table_name
        self.router_function = python_function(
            self,
            "Router",
            package="review_router",
            handler="review_router.handler.handler",
            layers=layers,
            service="truthloop-review-router",
            description="Applies the review policy to model predictions and starts A2I human loops",
            environment=router_env,
            timeout=router_timeout,
            memory_size=512,
            # StartHumanLoop has a per-account rate quota: cap how many routers call it at once.
            reserved_concurrency=router_reserved_concurrency,
            log_retention=log_retention,
            lambdas_root=lambdas_root,
        )
        router = self.router_function
        router.add_event_source(
            sources.SqsEventSource(
                self.router_queue,
                batch_size=router_batch_size,
                report_batch_item_failures=True,
                max_concurrency=max(2, min(router_reserved_concurrency or 10, 1000)),
            )
        )
        if service is not None:
            service.grant_invoke(router)  # StartHumanLoop and DescribeHumanLoop, as API calls to the service
        else:
            allow(router, ["sagemaker:StartHumanLoop"], [flow_arn])
            allow(
                router,
                ["sagemaker:DescribeHumanLoop"],
                [arn(self, "sagemaker", "human-loop/*")],
                wildcard_reason="Loop names are hashes of their input, generated at run time; on a StartHumanLoop "
                "conflict the router describes the existing loop to tell a retry from a real conflict.",
            )
        grant_objects(
            router,
            output_bucket,
            read=[output_prefix],
            key=output_key,
            purpose="on a loop-name conflict the router compares the finished loop's output.json input with its own",
        )
        if self.budget_table is not None:
            allow(router, ["dynamodb:UpdateItem", "dynamodb:GetItem"], [self.budget_table.table_arn])
            grant_key(router, self.key, encrypt=True)
        self.function_url: lambda_.FunctionUrl | None = None
        if function_url:
            self.function_url = router.add_function_url(auth_type=lambda_.FunctionUrlAuthType.AWS_IAM)
            cdk.CfnOutput(
                self,
                "ReviewEndpointUrl",
                value=self.function_url.url,
                description="POST prediction records here, signed with SigV4 (service 'lambda'); see docs/deploy.md",
            )
        cdk.CfnOutput(self, "PredictionQueueUrl", value=self.router_queue.queue_url, description="or send them here")

        # ------------------------------------------------------------------ completion
        self.completed_dead_letter_queue, _ = secure_queue(
            self,
            "CompletionFailures",
            key=self.key,
            visibility_timeout=cdk.Duration.seconds(30),
            with_dead_letter_queue=False,
        )
        completed_env = {
            "TRUTHLOOP_RESULTS_TABLE": self.results_table.table_name,
            "TRUTHLOOP_REVIEWED_BUCKET": self.reviewed_bucket.bucket_name,
            "TRUTHLOOP_REVIEWED_PREFIX": reviewed_prefix,
            "TRUTHLOOP_LABEL_ATTRIBUTE": label_attribute,
        }
        self.completed_function = python_function(
            self,
            "Completed",
            package="review_completed",
            handler="review_completed.handler.handler",
            layers=layers,
            service="truthloop-review-completed",
            description="Stores finished A2I human loops and writes them to the reviewed dataset",
            environment=completed_env,
            timeout=cdk.Duration.seconds(60),
            memory_size=512,
            log_retention=log_retention,
            lambdas_root=lambdas_root,
        )
        completed = self.completed_function
        # Lambda's own retries of an event EventBridge delivered; what still fails goes to the DLQ. (Declared as
        # the CloudFormation resource: CDK's SqsDestination would grant kms:GenerateDataKey*/ReEncrypt* on the key.)
        invoke_config = lambda_.CfnEventInvokeConfig(
            self,
            "CompletedAsyncInvoke",
            function_name=completed.function_name,
            qualifier="$LATEST",
            maximum_retry_attempts=2,
            maximum_event_age_in_seconds=6 * 3600,
            destination_config=lambda_.CfnEventInvokeConfig.DestinationConfigProperty(
                on_failure=lambda_.CfnEventInvokeConfig.OnFailureProperty(
                    destination=self.completed_dead_letter_queue.queue_arn
                )
            ),
        )
        allow(completed, ["sqs:SendMessage"], [self.completed_dead_letter_queue.queue_arn])
        assert completed.role is not None
        depend_on_policy(invoke_config, completed.role)  # Lambda checks the destination permission
        acknowledge(
            self.completed_dead_letter_queue,
            "AwsSolutions-SQS3",
            "This queue is itself a dead-letter queue: of the EventBridge target and of review_completed's "
            "asynchronous invocations (an SQS redrive policy cannot express either).",
        )
        grant_objects(
            completed,
            output_bucket,
            read=[output_prefix],
            key=output_key,
            purpose="review_completed reads each finished loop's output.json",
        )
        grant_objects(
            completed,
            self.reviewed_bucket,
            write=[reviewed_prefix],
            key=self.key,
            purpose="review_completed writes the reviewed dataset (augmented manifest lines) under its prefix",
        )
        allow(
            completed,
            ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"],
            [self.results_table.table_arn],
        )
        grant_key(completed, self.key, encrypt=True)
        self.status_rule = events.Rule(
            self,
            "LoopStatus",
            description="A2I human loops of this pipeline's flow definitions (the current one and any it replaced) "
            "that completed, failed or stopped",
            event_pattern=events.EventPattern(
                source=list(STATUS_SOURCES if service is not None else STATUS_SOURCES[:1]),
                detail_type=list(A2I_DETAIL_TYPES),
                detail={"flowDefinitionArn": flow_match},
            ),
            targets=[
                targets.LambdaFunction(
                    completed,
                    dead_letter_queue=self.completed_dead_letter_queue,
                    retry_attempts=185,
                    max_event_age=cdk.Duration.hours(24),
                )
            ],
        )
        cdk.CfnOutput(self, "ResultsTableName", value=self.results_table.table_name, description="Review results")
        cdk.CfnOutput(
            self,
            "ReviewedDatasetUri",
            value=f"s3://{self.reviewed_bucket.bucket_name}/{reviewed_prefix}",
            description="Reviewed predictions as Ground Truth augmented-manifest lines",
        )
