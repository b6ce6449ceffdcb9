"""TruthloopWorkforce: the private work team (Cognito user pool, workforce, work team) and its sign-in outputs."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from constructs import Construct

from infra.config import AppConfig
from infra.constructs.workforce import PrivateWorkforce
from infra.stacks._shared import removal_policy


class WorkforceStack(cdk.Stack):
    """Creates the work team that labels (GT) and reviews (A2I); ``workteam_arn`` feeds the other stacks."""

    def __init__(self, scope: Construct, id: str, *, config: AppConfig, **kwargs: Any) -> None:
        super().__init__(scope, id, description="truthloop: private workforce for labeling and review", **kwargs)
        oidc_groups = config.value("oidcGroups")
        self.workforce = PrivateWorkforce(
            self,
            "Workforce",
            oidc_groups=oidc_groups,
            create_workforce=bool(config.value("createWorkforce")) and not oidc_groups,
            workforce_name=config.value("workforceName"),
            workteam_name=f"{config.value('workforceName')}-team",
            domain_prefix=config.value("cognitoDomainPrefix"),
            mfa=cognito.Mfa.REQUIRED if config.value("mfa") == "required" else cognito.Mfa.OPTIONAL,
            plus_feature_plan=bool(config.value("cognitoPlusPlan")),
            removal_policy=removal_policy(config),
        )
        self.workteam_arn = self.workforce.workteam_arn
