"""``ServiceWorkteam``: a private work team on the truthloop service, whose members are a Cognito group.

On AWS a work team is ``AWS::SageMaker::Workteam``; on the truthloop service it is the same ``CreateWorkteam``
request, made by a custom resource (``Custom::TruthloopServiceWorkteam``, handler
``lambdas/custom_resources/workteam.py``) that calls the service's API, signed. The members are a group of the
service's user pool (``CognitoMemberDefinition``): add a user to the group and they see the team's tasks.
"""

from __future__ import annotations

import re

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_logs as logs
from constructs import Construct

from truthloop.cdk._common import Problems, is_token
from truthloop.cdk._provider import SageMakerResourceProvider
from truthloop.cdk.service import ServiceTarget

__all__ = ["ServiceWorkteam"]

_PREFIX = re.compile(r"[a-z0-9](-*[a-z0-9]){0,29}")


class ServiceWorkteam(Construct):
    """A work team on the truthloop ``service`` whose members are ``group_name`` in ``user_pool``.

    ``group_name`` names an existing group of the pool (e.g. ``TruthloopService.worker_group``); without it a new
    group is created. ``user_pool_client`` is the app client the worker portal signs in with.

    Attributes: ``workteam_arn``, ``workteam_name``, ``group_name``, ``group`` (the new group, or None),
    ``resource``, ``request`` (the CreateWorkteam request).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        service: ServiceTarget,
        user_pool: cognito.IUserPool,
        user_pool_client: cognito.IUserPoolClient,
        group_name: str | None = None,
        description: str = "truthloop work team on the truthloop service",
        name_prefix: str = "truthloop-team",
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    ) -> None:
        super().__init__(scope, id)
        problems = Problems(f"ServiceWorkteam {self.node.path}")
        problems.require(
            bool(_PREFIX.fullmatch(name_prefix)),
            f"name_prefix {name_prefix!r} must be lower-case letters, digits and inner hyphens (at most 30)",
        )
        problems.require(1 <= len(description) <= 200, f"description must be 1–200 characters, got {len(description)}")
        if group_name is not None and not is_token(group_name):
            problems.require(
                bool(re.fullmatch(r"[\w\s+=,.@-]{1,128}", group_name)),
                f"group_name {group_name!r} is not a Cognito group name",
            )
        problems.raise_if_any()

        self.group: cognito.CfnUserPoolGroup | None = None
        if group_name is None:
            self.group = cognito.CfnUserPoolGroup(
                self,
                "Group",
                user_pool_id=user_pool.user_pool_id,
                description="Workers of a truthloop service work team",
            )
            group_name = self.group.ref
        self.group_name: str = group_name
        self.request = {
            "MemberDefinitions": [
                {
                    "CognitoMemberDefinition": {
                        "UserPool": user_pool.user_pool_id,
                        "UserGroup": group_name,
                        "ClientId": user_pool_client.user_pool_client_id,
                    }
                }
            ],
            "Description": description,
        }
        provider = SageMakerResourceProvider.of(
            self,
            module="workteam",
            description="truthloop work teams on the truthloop service",
            service=service,
            log_retention=log_retention,
        )
        self.resource = cdk.CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type="Custom::TruthloopServiceWorkteam",
            properties={"NamePrefix": name_prefix, "Request": cdk.Stack.of(self).to_json_string(self.request)},
        )
        self.workteam_arn = self.resource.get_att_string("WorkteamArn")
        self.workteam_name = self.resource.get_att_string("WorkteamName")
