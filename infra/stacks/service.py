"""TruthloopService: the A2I and Ground Truth APIs in this account (``cdk deploy -c truthloop:backend=service``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from infra.config import AppConfig
from infra.stacks._shared import lambdas_root, log_retention, removal_policy, stack_key
from truthloop.cdk.service import TruthloopService

__all__ = ["API_ENDPOINT_OUTPUT", "ServiceStack"]

#: The stack output that names the API endpoint; ``truthloop.service.client()`` reads it with DescribeStacks.
API_ENDPOINT_OUTPUT = "ApiEndpoint"


class ServiceStack(cdk.Stack):
    """The truthloop service (API, engine, schedule, table, bucket, worker pool, alarms, dashboard) and its outputs.

    ``table_schema`` defaults to the DynamoDB storage's ``TABLE_SCHEMA``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: AppConfig,
        table_schema: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, id, description="truthloop: the A2I and Ground Truth APIs as a service", **kwargs)
        pool_id, client_id = config.value("existingUserPoolId"), config.value("existingUserPoolClientId")
        existing_pool = existing_client = None
        if pool_id and client_id:
            existing_pool = cognito.UserPool.from_user_pool_id(self, "ExistingUserPool", pool_id)
            existing_client = cognito.UserPoolClient.from_user_pool_client_id(self, "ExistingClient", client_id)
        alarm_email = config.value("service:alarmEmail")
        self.service = TruthloopService(
            self,
            "Service",
            table_schema=table_schema,
            existing_key=stack_key(self, config, description="truthloop service: table, buckets, queues, topic"),
            existing_user_pool=existing_pool,
            existing_user_pool_client=existing_client,
            existing_auth_url=str(config.value("service:authUrl")) if config.value("service:authUrl") else None,
            domain_prefix=config.value("cognitoDomainPrefix"),
            mfa=cognito.Mfa.REQUIRED if config.value("mfa") == "required" else cognito.Mfa.OPTIONAL,
            plus_feature_plan=bool(config.value("cognitoPlusPlan")),
            data_buckets=config.value("service:dataBuckets"),
            data_keys=config.value("service:dataKeyArns"),
            sweep_rate=cdk.Duration.minutes(config.value("service:sweepRateMinutes")),
            api_throttle_rate=config.value("service:apiThrottleRate"),
            api_throttle_burst=config.value("service:apiThrottleBurst"),
            alarm_email=str(alarm_email) if alarm_email else None,
            log_retention=log_retention(config),
            removal_policy=removal_policy(config),
            lambdas_root=lambdas_root(config),
        )
        service = self.service
        outputs = {
            API_ENDPOINT_OUTPUT: (service.api_endpoint, "Point clients here: truthloop.service.client(...) finds it"),
            "TableName": (service.table.table_name, "The service's DynamoDB table"),
            "BucketName": (service.bucket.bucket_name, "The service's own bucket (large documents)"),
            "WorkQueueUrl": (service.queue.queue_url, "The engine's work queue"),
            "DeadLetterQueueUrl": (service.dead_letter_queue.queue_url, "Engine steps that failed every retry"),
            "UserPoolId": (service.user_pool.user_pool_id, "Cognito user pool of the workers"),
            "UserPoolClientId": (service.user_pool_client.user_pool_client_id, "The worker portal's app client"),
            "PortalUrl": (f"{service.portal_url}/", "The hosted worker portal (CloudFront): workers sign in here"),
            "WorkerGroupName": (service.worker_group.group_name or "", "Cognito group of the default work team"),
            "AlarmTopicArn": (service.alarm_topic.topic_arn, "Subscribe here to the service's alarms"),
        }
        for name, (value, description) in outputs.items():
            cdk.CfnOutput(self, name, value=value, description=description)
        cdk.CfnOutput(
            self,
            "AddWorkerCommand",
            description="Invite a worker (replace EMAIL)",
            value=cdk.Fn.join(
                "",
                [
                    "aws cognito-idp admin-create-user --user-pool-id ",
                    service.user_pool.user_pool_id,
                    " --username EMAIL --user-attributes Name=email,Value=EMAIL Name=email_verified,Value=true"
                    " && aws cognito-idp admin-add-user-to-group --user-pool-id ",
                    service.user_pool.user_pool_id,
                    " --username EMAIL --group-name ",
                    service.worker_group.group_name or "",
                ],
            ),
        )
