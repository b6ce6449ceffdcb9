"""PrivateWorkforce: Cognito (default), existing work team, OIDC; conflicts reported together."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cognito as cognito

from tests.infra.support import ENV, WORKTEAM_ARN, cfn_lint, new_app, one, resources, template
from truthloop.cdk._common import ConstructPropsError
from truthloop.cdk.workforce import OidcWorkforceSettings, PrivateWorkforce

OIDC = OidcWorkforceSettings(
    client_id="labelers",
    client_secret=cdk.SecretValue.secrets_manager("truthloop/oidc-client-secret"),
    issuer="https://idp.example.com",
    authorization_endpoint="https://idp.example.com/authorize",
    token_endpoint="https://idp.example.com/token",
    user_info_endpoint="https://idp.example.com/userinfo",
    logout_endpoint="https://idp.example.com/logout",
    jwks_uri="https://idp.example.com/jwks",
)


@pytest.fixture(scope="module")
def built(outdir: Path) -> dict[str, tuple[PrivateWorkforce, dict[str, Any]]]:
    # GIVEN one stack per way of getting a work team (all checked by cdk-nag when the app synthesizes)
    app = new_app(outdir)
    made: dict[str, PrivateWorkforce] = {}
    for name, kwargs in {
        "Cognito": {},
        "Relaxed": {"mfa": cognito.Mfa.OPTIONAL, "plus_feature_plan": False, "domain_prefix": "acme-labelers"},
        "Oidc": {"oidc_groups": ["labelers", "reviewers"], "oidc_workforce": OIDC},
        "OidcJoin": {"oidc_groups": ["labelers"], "create_workforce": False},
    }.items():
        stack = cdk.Stack(app, name, env=ENV)
        made[name] = PrivateWorkforce(stack, "Workforce", **kwargs)
    existing = cdk.Stack(app, "ExistingPool", env=ENV)
    pool = cognito.UserPool.from_user_pool_id(existing, "Pool", "us-east-1_AbCdEf123")
    client = cognito.UserPoolClient.from_user_pool_client_id(existing, "Client", "1example23456789")
    made["ExistingPool"] = PrivateWorkforce(
        existing, "Workforce", existing_user_pool=pool, existing_user_pool_client=client, create_workforce=False
    )
    # WHEN the app synthesizes
    return {name: (workforce, template(cdk.Stack.of(workforce))) for name, workforce in made.items()}


def test_cognito_workforce_has_pool_domain_client_group_workforce_and_team(built: dict[str, Any]) -> None:
    workforce, tpl = built["Cognito"]
    # THEN each piece exists once
    for kind in (
        "AWS::Cognito::UserPool",
        "AWS::Cognito::UserPoolDomain",
        "AWS::Cognito::UserPoolClient",
        "AWS::Cognito::UserPoolGroup",
        "AWS::SageMaker::Workforce",
        "AWS::SageMaker::Workteam",
    ):
        assert len(resources(tpl, kind)) == 1, kind
    pool = one(tpl, "AWS::Cognito::UserPool")["Properties"]
    assert pool["MfaConfiguration"] == "ON"
    assert pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 12
    assert pool["UserPoolTier"] == "PLUS"
    client = one(tpl, "AWS::Cognito::UserPoolClient")["Properties"]
    assert client["GenerateSecret"] is True
    assert sorted(client["AllowedOAuthFlows"]) == ["code", "implicit"]
    team = one(tpl, "AWS::SageMaker::Workteam")["Properties"]
    assert team["WorkforceName"] == "truthloop"
    assert workforce.portal_url is not None and workforce.workteam is not None


def test_the_team_and_the_workforce_wait_for_the_group_and_the_domain(built: dict[str, Any]) -> None:
    _, tpl = built["Cognito"]
    # THEN the team refers to the group resource (not a literal name it could reach before the group exists)
    (group_id,) = resources(tpl, "AWS::Cognito::UserPoolGroup")
    assert one(tpl, "AWS::Cognito::UserPoolGroup")["Properties"]["GroupName"] == "truthloop-workers"
    member = one(tpl, "AWS::SageMaker::Workteam")["Properties"]["MemberDefinitions"][0]["CognitoMemberDefinition"]
    assert member["CognitoUserGroup"] == {"Ref": group_id}
    # AND the workforce is created after the pool's hosted-UI domain
    (domain_id,) = resources(tpl, "AWS::Cognito::UserPoolDomain")
    assert domain_id in one(tpl, "AWS::SageMaker::Workforce").get("DependsOn", [])


def test_the_client_secret_is_never_logged_and_the_logs_expire(built: dict[str, Any]) -> None:
    _, tpl = built["Cognito"]
    # THEN the SDK call that returns the client secret runs with its data hidden from the logs
    assert '\\"logApiResponseData\\":false' in json.dumps(one(tpl, "Custom::AWS")["Properties"]["Create"])
    # AND every function (CDK's custom-resource function too) logs to a log group that expires
    groups = resources(tpl, "AWS::Logs::LogGroup")
    for logical_id, function in resources(tpl, "AWS::Lambda::Function").items():
        target = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
        assert groups[target]["Properties"]["RetentionInDays"] == 30, logical_id


def test_cognito_client_is_pointed_at_the_worker_portal(built: dict[str, Any]) -> None:
    _, tpl = built["Cognito"]
    update = one(tpl, "Custom::AWS")["Properties"]["Create"]
    text = json.dumps(update)
    assert "updateUserPoolClient" in text
    assert "/oauth2/idpresponse" in text and "SubDomain" in text
    # the update's response carries the client secret: only the client id may go back to CloudFormation
    assert '\\"outputPaths\\":[\\"UserPoolClient.ClientId\\"]' in text


def test_relaxed_settings_are_acknowledged_with_reasons(built: dict[str, Any]) -> None:
    _, tpl = built["Relaxed"]
    pool = one(tpl, "AWS::Cognito::UserPool")
    assert pool["Properties"]["MfaConfiguration"] == "OPTIONAL"
    rules = {r["id"]: r["reason"] for r in pool["Metadata"]["cdk_nag"]["rules_to_suppress"]}
    assert set(rules) >= {"AwsSolutions-COG2", "AwsSolutions-COG8"}
    assert one(tpl, "AWS::Cognito::UserPoolDomain")["Properties"]["Domain"] == "acme-labelers"


def test_oidc_workforce_keeps_the_secret_out_of_the_template(built: dict[str, Any]) -> None:
    _, tpl = built["Oidc"]
    workforce = one(tpl, "AWS::SageMaker::Workforce")["Properties"]
    secret = json.dumps(workforce["OidcConfig"]["ClientSecret"])
    assert "resolve:secretsmanager:truthloop/oidc-client-secret" in secret
    team = one(tpl, "AWS::SageMaker::Workteam")["Properties"]
    assert team["MemberDefinitions"] == [{"OidcMemberDefinition": {"OidcGroups": ["labelers", "reviewers"]}}]
    assert resources(tpl, "AWS::Cognito::UserPool") == {}


def test_oidc_team_can_join_the_existing_workforce(built: dict[str, Any]) -> None:
    workforce, tpl = built["OidcJoin"]
    assert resources(tpl, "AWS::SageMaker::Workforce") == {}
    assert "WorkforceName" not in one(tpl, "AWS::SageMaker::Workteam")["Properties"]
    assert workforce.portal_url is None


def test_existing_pool_adds_only_group_and_team(built: dict[str, Any]) -> None:
    _, tpl = built["ExistingPool"]
    kinds = sorted({r["Type"] for r in tpl["Resources"].values()})
    assert kinds == ["AWS::Cognito::UserPoolGroup", "AWS::SageMaker::Workteam"]
    member = one(tpl, "AWS::SageMaker::Workteam")["Properties"]["MemberDefinitions"][0]["CognitoMemberDefinition"]
    assert member["CognitoUserGroup"] == {"Ref": next(iter(resources(tpl, "AWS::Cognito::UserPoolGroup")))}
    assert member["CognitoUserPool"] == "us-east-1_AbCdEf123"
    assert member["CognitoClientId"] == "1example23456789"


def test_existing_workteam_creates_nothing() -> None:
    # GIVEN an existing work team ARN
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    # WHEN
    workforce = PrivateWorkforce(stack, "Workforce", existing_workteam_arn=WORKTEAM_ARN)
    # THEN the attributes point at it and no resource is added
    assert workforce.workteam_arn == WORKTEAM_ARN
    assert workforce.workteam_name == "truthloop-team"
    assert workforce.workteam is None and workforce.user_pool is None
    assert stack.node.find_all() == [stack, workforce]


def test_joining_an_existing_cognito_workforce_needs_its_pool() -> None:
    # GIVEN a Cognito team that joins the account's workforce (create_workforce=False) without naming its pool
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    # WHEN / THEN the construct refuses (a new user pool cannot join an existing workforce) and says what to give
    with pytest.raises(ConstructPropsError, match="existing_user_pool and existing_user_pool_client"):
        PrivateWorkforce(stack, "Workforce", create_workforce=False)
    assert not [c for c in stack.node.find_all() if isinstance(c, cognito.CfnUserPool)]


@pytest.mark.parametrize(("region", "fails"), [("eu-north-1", True), ("sa-east-1", True), ("eu-west-2", False)])
def test_a_region_without_ground_truth_fails_the_synth(region: str, fails: bool) -> None:
    # GIVEN a stack bound to a region
    stack = cdk.Stack(cdk.App(), "S", env=cdk.Environment(account="111122223333", region=region))
    if not fails:
        PrivateWorkforce(stack, "Workforce", existing_workteam_arn=WORKTEAM_ARN)
        return
    # WHEN / THEN a region without Ground Truth and A2I is an error that lists the supported regions
    with pytest.raises(ConstructPropsError, match=rf"region '{region}' offers no SageMaker Ground Truth") as caught:
        PrivateWorkforce(stack, "Workforce", existing_workteam_arn=WORKTEAM_ARN)
    assert "us-east-1, us-east-2, us-west-2" in str(caught.value)


def test_conflicting_props_are_reported_in_one_error() -> None:
    stack = cdk.Stack(cdk.App(), "S", env=ENV)
    pool = cognito.UserPool.from_user_pool_id(stack, "Pool", "us-east-1_AbCdEf123")
    # WHEN several props conflict at once
    with pytest.raises(ConstructPropsError) as caught:
        PrivateWorkforce(
            stack,
            "Workforce",
            existing_workteam_arn="arn:aws:sagemaker:us-east-1:111122223333:labeling-job/not-a-team",
            workteam_name="bad name!",
            oidc_groups=[f"g{i}" for i in range(11)],
            existing_user_pool=pool,
            domain_prefix="my-aws-portal",
        )
    # THEN every problem is listed
    problems = caught.value.problems
    assert len(problems) >= 6
    text = "\n".join(problems)
    for fragment in (
        "give only one of existing_workteam_arn, oidc_groups, existing_user_pool",
        "is not a work team ARN",
        "workteam_name cannot be combined with existing_workteam_arn",
        "oidc_groups must list 1 to 10 groups, got 11",
        "existing_user_pool and existing_user_pool_client go together",
        "workteam_name 'bad name!' is invalid",
        "must not contain 'aws', 'amazon' or 'cognito'",
    ):
        assert fragment in text


@pytest.mark.parametrize("name", ["Cognito", "Relaxed", "Oidc", "OidcJoin", "ExistingPool"])
def test_cfn_lint_finds_nothing(built: dict[str, Any], name: str) -> None:
    assert cfn_lint(built[name][1]) == []
