"""TruthloopWorkforce: the private work team (Cognito user pool, workforce, work team) and its sign-in outputs.

With ``truthloop:backend=service`` the team is one on the truthloop service (:class:`ServiceWorkforceStack`): a
Cognito group of the service's user pool, registered with the service's ``CreateWorkteam``.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from infra.config import AppConfig
from infra.stacks._shared import log_retention, removal_policy
from truthloop.cdk.service import TruthloopService
from truthloop.cdk.service_workteam import ServiceWorkteam
from truthloop.cdk.workforce import PrivateWorkforce


class WorkforceStack(cdk.Stack):
    """Creates the work team that labels (GT) and reviews (A2I); ``workteam_arn`` feeds the other stacks."""

    def __init__(self, scope: Construct, id: str, *, config: AppConfig, **kwargs: Any) -> None:
        super().__init__(scope, id, description="truthloop: private workforce for labeling and review", **kwargs)
        oidc_groups = config.value("oidcGroups")
        pool_id, client_id = config.value("existingUserPoolId"), config.value("existingUserPoolClientId")
        existing_pool = cognito.UserPool.from_user_pool_id(self, "ExistingUserPool", pool_id) if pool_id else None
        existing_client = (
            cognito.UserPoolClient.from_user_pool_client_id(self, "ExistingUserPoolClient", client_id)
            if client_id
            else None
        )
        self.workforce = PrivateWorkforce(
            self,
            "Workforce",
            oidc_groups=oidc_groups,
            existing_user_pool=existing_pool,
            existing_user_pool_client=existing_client,
            create_workforce=bool(config.value("createWorkforce")) and not oidc_groups,
            workforce_name=config.value("workforceName"),
            workteam_name=f"{config.value('workforceName')}-team",
            domain_prefix=config.value("cognitoDomainPrefix"),
            mfa=cognito.Mfa.REQUIRED if config.value("mfa") == "required" else cognito.Mfa.OPTIONAL,
            plus_feature_plan=bool(config.value("cognitoPlusPlan")),
            removal_policy=removal_policy(config),
            log_retention=log_retention(config),
        )
        self.workteam_arn = self.workforce.workteam_arn


class ServiceWorkforceStack(cdk.Stack):
    """The work team on the truthloop ``service``: its workers are the service's worker group (no SageMaker team)."""

    def __init__(
        self, scope: Construct, id: str, *, config: AppConfig, service: TruthloopService, **kwargs: Any
    ) -> None:
        super().__init__(scope, id, description="truthloop: the work team on the truthloop service", **kwargs)
        self.workteam = ServiceWorkteam(
            self,
            "Workteam",
            service=service.target,
            user_pool=service.user_pool,
            user_pool_client=service.user_pool_client,
            group_name=service.worker_group.group_name,
            description="Labels and reviews for the truthloop stacks",
            name_prefix="truthloop-team",
            log_retention=log_retention(config),
        )
        self.workteam_arn = self.workteam.workteam_arn
        outputs = {
            "WorkteamArn": (self.workteam_arn, "The work team on the truthloop service (flows and labeling jobs)"),
            "WorkerGroupName": (self.workteam.group_name, "Add workers to this group of the service's user pool"),
        }
        for name, (value, description) in outputs.items():
            cdk.CfnOutput(self, name, value=value, description=description)
