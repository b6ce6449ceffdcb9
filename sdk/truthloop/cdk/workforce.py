"""``PrivateWorkforce``: the people who label (GT) and review (A2I).

Three ways to get a work team:

* **New Cognito workforce** (default): a Cognito user pool (MFA, strong passwords, threat protection), its
  hosted-UI domain, an app client with a secret, a ``workers`` group, the SageMaker private workforce
  (``CfnWorkforce``) and a work team (``CfnWorkteam``). After the workforce exists, the app client's callback
  and sign-out URLs are pointed at the worker portal (``https://<subdomain>/oauth2/idpresponse``).
* **Existing work team**: ``existing_workteam_arn``; nothing is created.
* **OIDC**: ``oidc_groups`` (1–10 IdP groups) on the account's OIDC workforce, which this construct can also
  create from ``oidc_workforce`` settings.

An account has at most one private workforce per region. When one already exists, pass
``create_workforce=False`` (the team then joins it; with Cognito it must use that workforce's user pool, given
as ``existing_user_pool`` + ``existing_user_pool_client``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import custom_resources as cr
from constructs import Construct

from truthloop.cdk._common import Problems, acknowledge, is_token, region_problem, struct_values

__all__ = ["OidcWorkforceSettings", "PrivateWorkforce", "worker_user_pool"]

_OAUTH_SCOPES = ("email", "openid", "profile")
_NAME_PATTERN = "letters, digits and inner hyphens, at most 63 characters"


@dataclass(frozen=True)
class OidcWorkforceSettings:
    """The identity provider of a new OIDC workforce (see SageMaker ``OidcConfig``).

    ``client_secret`` should be a ``SecretValue`` (e.g. ``SecretValue.secrets_manager("gt-oidc")``) so that the
    secret never appears in the template: CloudFormation resolves the dynamic reference at deploy time.
    """

    client_id: str
    client_secret: cdk.SecretValue
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    user_info_endpoint: str
    logout_endpoint: str
    jwks_uri: str
    scope: str | None = None


def _valid_name(value: str) -> bool:
    import re

    return bool(re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", value))


def worker_user_pool(
    scope: Construct,
    id: str,
    *,
    overrides: cognito.UserPoolProps | Mapping[str, Any] | None = None,
    mfa: cognito.Mfa = cognito.Mfa.REQUIRED,
    plus_feature_plan: bool = True,
    removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
) -> cognito.UserPool:
    """A Cognito user pool for workers: no self sign-up, MFA, a strong password policy, threat protection (Plus).

    ``overrides`` are extra ``cognito.UserPool`` settings; they cannot switch off the secure settings. Used by
    :class:`PrivateWorkforce` and by the truthloop service's worker pool.
    """
    props: dict[str, Any] = {
        "sign_in_aliases": cognito.SignInAliases(email=True, username=False),
        "auto_verify": cognito.AutoVerifiedAttrs(email=True),
        "account_recovery": cognito.AccountRecovery.EMAIL_ONLY,
        "user_invitation": cognito.UserInvitationConfig(
            email_subject="You are invited to label data with truthloop",
            email_body=(
                "Your user name is {username} and your temporary password is {####}. Your team lead will send "
                "you the worker portal address."
            ),
        ),
    }
    props.update(struct_values(overrides))
    props.update(  # secure settings a caller cannot switch off through overrides
        self_sign_up_enabled=False,
        mfa=mfa,
        mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
        password_policy=cognito.PasswordPolicy(
            min_length=12,
            require_digits=True,
            require_lowercase=True,
            require_uppercase=True,
            require_symbols=True,
            temp_password_validity=cdk.Duration.days(7),
        ),
        removal_policy=removal_policy,
        deletion_protection=removal_policy == cdk.RemovalPolicy.RETAIN,
    )
    if plus_feature_plan:
        props.update(
            feature_plan=cognito.FeaturePlan.PLUS,
            standard_threat_protection_mode=cognito.StandardThreatProtectionMode.FULL_FUNCTION,
        )
    else:
        props["feature_plan"] = cognito.FeaturePlan.ESSENTIALS
    pool = cognito.UserPool(scope, id, **props)
    if not plus_feature_plan:
        acknowledge(
            pool,
            "AwsSolutions-COG8",
            "The Plus feature plan (threat protection) was switched off explicitly with plus_feature_plan=False "
            "(context truthloop:cognitoPlusPlan=false); MFA and the password policy still apply.",
        )
    if mfa != cognito.Mfa.REQUIRED:
        acknowledge(
            pool,
            "AwsSolutions-COG2",
            "MFA was made optional explicitly (context truthloop:mfa); the work team lead accepted the risk.",
        )
    return pool


class PrivateWorkforce(Construct):
    """A private work team for Ground Truth and A2I, with its sign-in details as stack outputs.

    Attributes: ``workteam_arn`` (always), ``workteam_name``, ``workteam`` (``CfnWorkteam`` or None),
    ``workforce`` (``CfnWorkforce`` or None), ``user_pool``, ``user_pool_client``, ``user_pool_domain``,
    ``worker_group`` (``CfnUserPoolGroup``), ``portal_url`` (when this construct creates the workforce).
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        existing_workteam_arn: str | None = None,
        user_pool_props: cognito.UserPoolProps | Mapping[str, Any] | None = None,
        existing_user_pool: cognito.IUserPool | None = None,
        existing_user_pool_client: cognito.IUserPoolClient | None = None,
        oidc_groups: Sequence[str] | None = None,
        oidc_workforce: OidcWorkforceSettings | None = None,
        create_workforce: bool = True,
        workforce_name: str = "truthloop",
        workteam_name: str | None = None,
        workteam_description: str = "truthloop labelers and reviewers",
        worker_group_name: str = "truthloop-workers",
        domain_prefix: str | None = None,
        mfa: cognito.Mfa = cognito.Mfa.REQUIRED,
        plus_feature_plan: bool = True,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        create_outputs: bool = True,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    ) -> None:
        super().__init__(scope, id)
        self._log_retention = log_retention
        cognito_mode = not existing_workteam_arn and not oidc_groups
        self._validate(
            existing_workteam_arn=existing_workteam_arn,
            user_pool_props=user_pool_props,
            existing_user_pool=existing_user_pool,
            existing_user_pool_client=existing_user_pool_client,
            oidc_groups=oidc_groups,
            oidc_workforce=oidc_workforce,
            create_workforce=create_workforce,
            workforce_name=workforce_name,
            workteam_name=workteam_name,
            workteam_description=workteam_description,
            worker_group_name=worker_group_name,
            domain_prefix=domain_prefix,
        )
        self.workteam: sagemaker.CfnWorkteam | None = None
        self.workforce: sagemaker.CfnWorkforce | None = None
        self.user_pool: cognito.IUserPool | None = None
        self.user_pool_client: cognito.IUserPoolClient | None = None
        self.user_pool_domain: cognito.UserPoolDomain | None = None
        self.worker_group: cognito.CfnUserPoolGroup | None = None
        self.portal_url: str | None = None

        if existing_workteam_arn:
            self.workteam_arn = existing_workteam_arn
            self.workteam_name = (
                cdk.Fn.select(1, cdk.Fn.split("workteam/private-crowd/", existing_workteam_arn))
                if is_token(existing_workteam_arn)
                else existing_workteam_arn.rsplit("/", 1)[-1]
            )
            return

        team_name = workteam_name or f"{cdk.Names.unique_resource_name(self, max_length=50, separator='-')}-team"
        if cognito_mode:
            members, pool, client = self._cognito_members(
                user_pool_props=user_pool_props,
                existing_user_pool=existing_user_pool,
                existing_user_pool_client=existing_user_pool_client,
                worker_group_name=worker_group_name,
                domain_prefix=domain_prefix,
                mfa=mfa,
                plus_feature_plan=plus_feature_plan,
                removal_policy=removal_policy,
            )
            if create_workforce:
                self.workforce = sagemaker.CfnWorkforce(
                    self,
                    "Workforce",
                    workforce_name=workforce_name,
                    cognito_config=sagemaker.CfnWorkforce.CognitoConfigProperty(
                        client_id=client.user_pool_client_id, user_pool=pool.user_pool_id
                    ),
                )
        else:
            members = [
                sagemaker.CfnWorkteam.MemberDefinitionProperty(
                    oidc_member_definition=sagemaker.CfnWorkteam.OidcMemberDefinitionProperty(
                        oidc_groups=list(oidc_groups or [])
                    )
                )
            ]
            if create_workforce and oidc_workforce is not None:
                settings = oidc_workforce
                self.workforce = sagemaker.CfnWorkforce(
                    self,
                    "Workforce",
                    workforce_name=workforce_name,
                    oidc_config=sagemaker.CfnWorkforce.OidcConfigProperty(
                        client_id=settings.client_id,
                        client_secret=settings.client_secret.unsafe_unwrap(),  # a dynamic reference, not the value
                        issuer=settings.issuer,
                        authorization_endpoint=settings.authorization_endpoint,
                        token_endpoint=settings.token_endpoint,
                        user_info_endpoint=settings.user_info_endpoint,
                        logout_endpoint=settings.logout_endpoint,
                        jwks_uri=settings.jwks_uri,
                        scope=settings.scope,
                    ),
                )

        self.workteam = sagemaker.CfnWorkteam(
            self,
            "Workteam",
            workteam_name=team_name,
            description=workteam_description,
            member_definitions=members,
            workforce_name=workforce_name if self.workforce is not None else None,
        )
        if self.workforce is not None:
            self.workteam.node.add_dependency(self.workforce)
            self._workforce_waits_for_domain()
            self.portal_url = f"https://{self.workforce.attr_sub_domain}"
            if cognito_mode and existing_user_pool_client is None:
                self._point_client_at_portal()
        self.workteam_arn = self.workteam.attr_workteam_arn
        self.workteam_name = self.workteam.attr_workteam_name
        if create_outputs:
            self._outputs()

    # ----------------------------------------------------------------------------------------- validation

    def _validate(self, **props: Any) -> None:
        problems = Problems(f"PrivateWorkforce {self.node.path}")
        region = region_problem(self)
        if region:
            problems.add(region)
        existing_arn = props["existing_workteam_arn"]
        oidc_groups = props["oidc_groups"]
        problems.exclusive(
            existing_workteam_arn=existing_arn,
            oidc_groups=oidc_groups,
            user_pool_props=props["user_pool_props"],
            existing_user_pool=props["existing_user_pool"],
        )
        if existing_arn and not is_token(existing_arn) and ":workteam/" not in existing_arn:
            problems.add(f"existing_workteam_arn {existing_arn!r} is not a work team ARN (…:workteam/private-crowd/…)")
        if existing_arn and props["workteam_name"]:
            problems.add("workteam_name cannot be combined with existing_workteam_arn (the team already exists)")
        if existing_arn and props["oidc_workforce"]:
            problems.add("oidc_workforce cannot be combined with existing_workteam_arn")
        if props["oidc_workforce"] is not None and not oidc_groups:
            problems.add("oidc_workforce needs oidc_groups (the IdP groups that form the work team)")
        if oidc_groups is not None:
            groups = list(oidc_groups)
            problems.require(1 <= len(groups) <= 10, f"oidc_groups must list 1 to 10 groups, got {len(groups)}")
            if props["oidc_workforce"] is None and props["create_workforce"]:
                problems.add(
                    "oidc_groups without oidc_workforce joins an existing OIDC workforce: pass create_workforce=False, "
                    "or give oidc_workforce to create one"
                )
        cognito_mode = not existing_arn and not oidc_groups
        if cognito_mode and not props["create_workforce"] and props["existing_user_pool"] is None:
            problems.add(
                "create_workforce=False joins the account's existing Cognito workforce: give its user pool and app "
                "client as existing_user_pool and existing_user_pool_client (aws sagemaker describe-workforce "
                "--workforce-name default shows both); a new user pool cannot join it"
            )
        if (props["existing_user_pool"] is None) != (props["existing_user_pool_client"] is None):
            problems.add("existing_user_pool and existing_user_pool_client go together (give both or neither)")
        if props["existing_user_pool_client"] is not None and oidc_groups:
            problems.add("existing_user_pool_client is for Cognito work teams, not OIDC groups")
        for key in ("workforce_name", "workteam_name"):
            value = props[key]
            if value and not is_token(value) and not _valid_name(value):
                problems.add(f"{key} {value!r} is invalid: use {_NAME_PATTERN}")
        description = props["workteam_description"]
        problems.require(
            1 <= len(description) <= 200, f"workteam_description must be 1–200 characters, got {len(description)}"
        )
        group = props["worker_group_name"]
        problems.require(bool(group) and len(group) <= 128, "worker_group_name must be 1–128 characters")
        prefix = props["domain_prefix"]
        if prefix and not is_token(prefix):
            import re

            if not re.fullmatch(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?", prefix):
                problems.add(f"domain_prefix {prefix!r} must be lower-case letters, digits and hyphens (1–63)")
            if any(word in prefix for word in ("aws", "amazon", "cognito")):
                problems.add(f"domain_prefix {prefix!r} must not contain 'aws', 'amazon' or 'cognito'")
        problems.raise_if_any()

    # ----------------------------------------------------------------------------------------- Cognito

    def _cognito_members(
        self,
        *,
        user_pool_props: cognito.UserPoolProps | Mapping[str, Any] | None,
        existing_user_pool: cognito.IUserPool | None,
        existing_user_pool_client: cognito.IUserPoolClient | None,
        worker_group_name: str,
        domain_prefix: str | None,
        mfa: cognito.Mfa,
        plus_feature_plan: bool,
        removal_policy: cdk.RemovalPolicy,
    ) -> tuple[list[sagemaker.CfnWorkteam.MemberDefinitionProperty], cognito.IUserPool, cognito.IUserPoolClient]:
        """The team's Cognito member definition; also sets user_pool, user_pool_client (and domain)."""
        pool: cognito.IUserPool
        client: cognito.IUserPoolClient
        if existing_user_pool is not None and existing_user_pool_client is not None:
            pool, client = existing_user_pool, existing_user_pool_client
        else:
            new_pool = self._user_pool(user_pool_props, mfa, plus_feature_plan, removal_policy)
            pool = new_pool
            prefix = domain_prefix or cdk.Fn.join("-", ["truthloop-workers", cdk.Aws.ACCOUNT_ID])
            self.user_pool_domain = new_pool.add_domain(
                "Domain", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=prefix)
            )
            client = new_pool.add_client(
                "PortalClient",
                generate_secret=True,  # SageMaker's worker portal is a confidential OAuth client
                auth_flows=cognito.AuthFlow(user_srp=True),
                o_auth=cognito.OAuthSettings(
                    flows=cognito.OAuthFlows(authorization_code_grant=True, implicit_code_grant=True),
                    scopes=[cognito.OAuthScope.EMAIL, cognito.OAuthScope.OPENID, cognito.OAuthScope.PROFILE],
                    # Replaced by the worker portal's URLs once the workforce exists (see _point_client_at_portal).
                    callback_urls=["https://localhost/truthloop-pending-portal"],
                    logout_urls=["https://localhost/truthloop-pending-portal"],
                ),
                prevent_user_existence_errors=True,
                enable_token_revocation=True,
                supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
            )
        self.user_pool, self.user_pool_client = pool, client
        self.worker_group = cognito.CfnUserPoolGroup(
            self,
            "WorkerGroup",
            user_pool_id=pool.user_pool_id,
            group_name=worker_group_name,
            description="Workers of the truthloop private work team",
        )
        member = sagemaker.CfnWorkteam.MemberDefinitionProperty(
            cognito_member_definition=sagemaker.CfnWorkteam.CognitoMemberDefinitionProperty(
                cognito_client_id=client.user_pool_client_id,
                # The group's Ref (its name): the team waits for the group instead of naming it blindly.
                cognito_user_group=self.worker_group.ref,
                cognito_user_pool=pool.user_pool_id,
            )
        )
        return [member], pool, client

    def _workforce_waits_for_domain(self) -> None:
        """SageMaker validates the pool's hosted-UI domain when it creates a Cognito workforce: create it first."""
        if self.workforce is not None and self.user_pool_domain is not None:
            self.workforce.node.add_dependency(self.user_pool_domain)

    def _user_pool(
        self,
        overrides: cognito.UserPoolProps | Mapping[str, Any] | None,
        mfa: cognito.Mfa,
        plus_feature_plan: bool,
        removal_policy: cdk.RemovalPolicy,
    ) -> cognito.UserPool:
        return worker_user_pool(
            self,
            "UserPool",
            overrides=overrides,
            mfa=mfa,
            plus_feature_plan=plus_feature_plan,
            removal_policy=removal_policy,
        )

    def _point_client_at_portal(self) -> None:
        """Set the app client's callback/sign-out URLs to the worker portal, which only exists after the workforce.

        UpdateUserPoolClient replaces every setting it is not given, so the call repeats the OAuth settings above.
        The physical id carries a digest of those settings: a change re-runs the update.
        """
        assert self.workforce is not None and self.user_pool is not None and self.user_pool_client is not None
        portal = f"https://{self.workforce.attr_sub_domain}"
        settings = {
            "AllowedOAuthFlows": ["code", "implicit"],
            "AllowedOAuthFlowsUserPoolClient": True,
            "AllowedOAuthScopes": list(_OAUTH_SCOPES),
            "ExplicitAuthFlows": ["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
            "SupportedIdentityProviders": ["COGNITO"],
            "PreventUserExistenceErrors": "ENABLED",
            "EnableTokenRevocation": True,
        }
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:12]
        call = cr.AwsSdkCall(
            service="CognitoIdentityServiceProvider",
            action="updateUserPoolClient",
            parameters={
                "UserPoolId": self.user_pool.user_pool_id,
                "ClientId": self.user_pool_client.user_pool_client_id,
                "CallbackURLs": [f"{portal}/oauth2/idpresponse"],
                "LogoutURLs": [f"{portal}/logout"],
                **settings,
            },
            physical_resource_id=cr.PhysicalResourceId.of(f"portal-callback-{digest}"),
            # The response holds the client secret: return only the client id to CloudFormation.
            output_paths=["UserPoolClient.ClientId"],
            # The response holds the client secret too: the handler must not log the event or the response
            # (CDK's default, Logging.all(), writes both to CloudWatch Logs).
            logging=cr.Logging.with_data_hidden(),
        )
        cr.AwsCustomResource(
            self,
            "PortalCallbackUrls",
            on_create=call,
            on_update=call,
            policy=cr.AwsCustomResourcePolicy.from_statements(
                [
                    iam.PolicyStatement(
                        actions=["cognito-idp:UpdateUserPoolClient"], resources=[self.user_pool.user_pool_arn]
                    )
                ]
            ),
            install_latest_aws_sdk=False,
            log_group=self._custom_resource_logs(),
        )
        # The AwsCustomResource singleton function is created at stack level; acknowledge its findings there.
        singleton = cdk.Stack.of(self).node.try_find_child("AWS679f53fac002430cb0da5b7982bd2287")
        if singleton is not None:
            acknowledge(
                singleton,
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                "CDK's AwsCustomResource provider function (one SDK call: UpdateUserPoolClient on this user pool) "
                "writes its own logs with the basic execution policy; its permissions beyond that are exact.",
            )

    def _custom_resource_logs(self) -> logs.ILogGroup:
        """The log group of CDK's AwsCustomResource function (one per stack), with the construct's retention."""
        stack = cdk.Stack.of(self)
        existing = stack.node.try_find_child("TruthloopAwsCustomResourceLogs")
        if isinstance(existing, logs.LogGroup):
            return existing
        return logs.LogGroup(
            stack,
            "TruthloopAwsCustomResourceLogs",
            retention=self._log_retention,
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )

    # ----------------------------------------------------------------------------------------- outputs

    def _outputs(self) -> None:
        cdk.CfnOutput(self, "WorkteamArn", value=self.workteam_arn, description="Work team ARN (GT jobs, A2I flows)")
        if self.portal_url:
            cdk.CfnOutput(
                self, "WorkerPortalUrl", value=self.portal_url, description="Workers sign in here to see their tasks"
            )
        if self.user_pool is not None and self.worker_group is not None:
            cdk.CfnOutput(self, "UserPoolId", value=self.user_pool.user_pool_id, description="Cognito user pool")
            cdk.CfnOutput(
                self, "WorkerGroupName", value=self.worker_group.group_name or "", description="Cognito group"
            )
            add_worker = cdk.Fn.join(
                "",
                [
                    "aws cognito-idp admin-create-user --user-pool-id ",
                    self.user_pool.user_pool_id,
                    " --username EMAIL --user-attributes Name=email,Value=EMAIL Name=email_verified,Value=true"
                    " && aws cognito-idp admin-add-user-to-group --user-pool-id ",
                    self.user_pool.user_pool_id,
                    " --username EMAIL --group-name ",
                    self.worker_group.group_name or "",
                ],
            )
            cdk.CfnOutput(self, "AddWorkerCommand", value=add_worker, description="Invite a worker (replace EMAIL)")
