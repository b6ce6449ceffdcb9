"""TruthloopService (``-c truthloop:backend=service``): the service's stack, cdk-nag and cfn-lint clean, no GT/A2I."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest

from infra.app import build_app
from infra.config import load_config
from infra.stacks.service import ServiceStack
from tests.infra.support import (
    ENV,
    INFRA_FIXTURES,
    acknowledged,
    as_list,
    cfn_lint,
    new_app,
    one,
    resources,
    statements,
    template,
    unexplained_star_resources,
)
from truthloop.cdk._common import ConstructPropsError
from truthloop.cdk.review_pipeline import ReviewPipeline
from truthloop.cdk.service import EVENT_SOURCE, ServiceTarget, TruthloopService, table_definition
from truthloop.contracts.events import A2I_DETAIL_TYPES
from truthloop.local.storage.dynamodb_schema import TABLE_SCHEMA
from truthloop.templates._page import asset_content_security_policy

SERVICE_LAMBDAS = INFRA_FIXTURES / "lambdas"
SERVICE_CONTEXT = {"truthloop:backend": "service"}
#: Another layout in CreateTable's shape (the form of the storage's TABLE_SCHEMA): numeric sort key, KEYS_ONLY.
SCHEMA: dict[str, Any] = {
    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    "AttributeDefinitions": [
        {"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk")
    ]
    + [{"AttributeName": "due", "AttributeType": "N"}],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "gsi1",
            "KeySchema": [
                {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        },
        {
            "IndexName": "due",
            "KeySchema": [{"AttributeName": "gsi2pk", "KeyType": "HASH"}, {"AttributeName": "due", "KeyType": "RANGE"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        },
    ],
    "TimeToLiveAttribute": "expiresAt",
}
GT_A2I_CUSTOM_RESOURCES = ("Custom::TruthloopFlowDefinition", "Custom::TruthloopLabelingJob")


@pytest.fixture(scope="module")
def built(outdir: Path) -> dict[str, Any]:
    # GIVEN the app with the service backend (the table from the storage's TABLE_SCHEMA), and a service stack with
    # an existing user pool, data buckets, a slower sweep and another table layout
    _, stacks = build_app(new_app(outdir, **SERVICE_CONTEXT))
    other_app = new_app(
        outdir / "existing",
        **SERVICE_CONTEXT,
        **{
            "truthloop:lambdasDir": str(SERVICE_LAMBDAS),
            "truthloop:existingUserPoolId": "us-east-1_AbCdEf123",
            "truthloop:existingUserPoolClientId": "1example23456789",
            "truthloop:service:dataBuckets": "customer-inputs,customer-outputs",
            "truthloop:service:sweepRateMinutes": "5",
        },
    )
    other = ServiceStack(
        other_app, "TruthloopService", config=load_config(other_app.node.try_get_context), table_schema=SCHEMA, env=ENV
    )
    # WHEN they are synthesized (cdk-nag runs during synth and raises on any unacknowledged finding)
    return {
        "stacks": stacks,
        "tpl": template(stacks["TruthloopService"]),
        "other_tpl": template(other),
    }


def _functions(tpl: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """handler → (logical id, properties) of the service's functions."""
    return {
        f["Properties"]["Handler"]: (logical_id, f["Properties"])
        for logical_id, f in resources(tpl, "AWS::Lambda::Function").items()
        if f["Properties"]["Handler"].startswith("service_")
    }


def _role_of(tpl: dict[str, Any], handler: str) -> str:
    return str(_functions(tpl)[handler][1]["Role"]["Fn::GetAtt"][0])


def _granted(tpl: dict[str, Any], role: str) -> dict[str, list[Any]]:
    """action → resources allowed by the policies attached to ``role``."""
    granted: dict[str, list[Any]] = {}
    for _, statement, resource in statements(tpl):
        roles = resource.get("Properties", {}).get("Roles", [])
        if {"Ref": role} in roles and statement["Effect"] == "Allow":
            for action in as_list(statement["Action"]):
                granted.setdefault(action, []).extend(as_list(statement["Resource"]))
    return granted


@pytest.mark.parametrize("variant", ["tpl", "other_tpl"])
def test_cfn_lint_finds_nothing(built: dict[str, Any], variant: str) -> None:
    assert cfn_lint(built[variant]) == []


@pytest.mark.parametrize("variant", ["tpl", "other_tpl"])
def test_every_acknowledgment_is_reasoned_and_no_star_is_unexplained(built: dict[str, Any], variant: str) -> None:
    tpl = built[variant]
    for logical_id, resource in tpl["Resources"].items():
        for rule, reason in acknowledged(resource).items():
            assert len(reason) >= 30, f"{logical_id}: {rule} acknowledged without a real reason: {reason!r}"
    assert unexplained_star_resources(tpl) == []


@pytest.mark.parametrize(("variant", "schema"), [("tpl", TABLE_SCHEMA), ("other_tpl", SCHEMA)])
def test_the_table_is_built_from_the_storage_schema(
    built: dict[str, Any], variant: str, schema: dict[str, Any]
) -> None:
    # THEN keys, indexes and TTL are the schema's, on demand, with PITR and the stack's own key
    props = one(built[variant], "AWS::DynamoDB::Table")["Properties"]
    assert props["KeySchema"] == schema["KeySchema"]
    assert sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        schema["AttributeDefinitions"], key=lambda a: a["AttributeName"]
    )
    indexes = {i["IndexName"]: i for i in props["GlobalSecondaryIndexes"]}
    assert sorted(indexes) == sorted(i["IndexName"] for i in schema["GlobalSecondaryIndexes"])
    for index in schema["GlobalSecondaryIndexes"]:
        assert indexes[index["IndexName"]]["KeySchema"] == index["KeySchema"]
        assert indexes[index["IndexName"]]["Projection"] == index["Projection"]
    assert props["TimeToLiveSpecification"] == {"AttributeName": schema["TimeToLiveAttribute"], "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEType"] == "KMS"
    assert "Fn::GetAtt" in json.dumps(props["SSESpecification"]["KMSMasterKeyId"])


@pytest.mark.parametrize("variant", ["tpl", "other_tpl"])
def test_every_route_but_the_portals_requires_iam_authorisation(built: dict[str, Any], variant: str) -> None:
    routes = {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in resources(built[variant], "AWS::ApiGatewayV2::Route").values()
    }
    # THEN the APIs' $default route is IAM-only; the portal's two routes are open to browsers (the app checks tokens)
    assert sorted(routes) == ["$default", "ANY /portal", "ANY /portal/{proxy+}"]
    assert routes["$default"]["AuthorizationType"] == "AWS_IAM"
    for key in ("ANY /portal", "ANY /portal/{proxy+}"):
        assert routes[key]["AuthorizationType"] == "NONE", key
        assert routes[key]["Target"] == routes["$default"]["Target"], key  # the same API function


def test_the_api_stage_logs_access_and_throttles(built: dict[str, Any]) -> None:
    stage = one(built["tpl"], "AWS::ApiGatewayV2::Stage")["Properties"]
    assert stage["StageName"] == "$default" and stage["AutoDeploy"] is True
    assert "$context.identity.userArn" in stage["AccessLogSettings"]["Format"]
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] == 50
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] == 100
    integration = one(built["tpl"], "AWS::ApiGatewayV2::Integration")["Properties"]
    assert integration["PayloadFormatVersion"] == "2.0"


def test_three_functions_with_their_own_roles_and_the_service_environment(built: dict[str, Any]) -> None:
    functions = _functions(built["tpl"])
    (layer_id,) = (i for i in resources(built["tpl"], "AWS::Lambda::LayerVersion") if i.startswith("TruthloopLayer"))
    assert layer_id.startswith("TruthloopLayerService")  # the layer with the 'service' extra
    assert sorted(functions) == [
        "service_api.handler.handler",
        "service_engine.handler.handler",
        "service_sweep.handler.handler",
    ]
    roles = {_role_of(built["tpl"], handler) for handler in functions}
    assert len(roles) == 3
    for handler, (_, props) in functions.items():
        env = props["Environment"]["Variables"]
        assert env["TRUTHLOOP_SERVICE_EVENT_BUS"] == "default", handler
        assert env["TRUTHLOOP_SERVICE_EVENT_SOURCE"] == EVENT_SOURCE, handler
        assert env["TRUTHLOOP_SERVICE_ACCOUNT_ID"] == {"Ref": "AWS::AccountId"}, handler
        assert env["TRUTHLOOP_SERVICE_BASE_URL"]["Fn::GetAtt"][1] == "ApiEndpoint", handler
        for name in ("TRUTHLOOP_SERVICE_TABLE", "TRUTHLOOP_SERVICE_BUCKET", "TRUTHLOOP_SERVICE_QUEUE_URL"):
            assert isinstance(env[name], dict), (handler, name)  # a reference to the stack's own resource
        assert props["TracingConfig"] == {"Mode": "Active"} and props["Runtime"] == "python3.12"
        assert props["Layers"] == [{"Ref": layer_id}], handler


def test_no_function_may_scan_or_use_wildcard_actions(built: dict[str, Any]) -> None:
    for variant in ("tpl", "other_tpl"):
        for logical_id, statement, _ in statements(built[variant]):
            if logical_id.startswith("CustomCDKBucketDeployment"):  # CDK's own asset copier (acknowledged)
                continue
            actions = as_list(statement["Action"])
            assert "dynamodb:Scan" not in actions, logical_id
            assert not [a for a in actions if "*" in a], logical_id


def test_table_access_is_exactly_the_table_and_its_indexes(built: dict[str, Any]) -> None:
    tpl = built["tpl"]
    (table_id,) = resources(tpl, "AWS::DynamoDB::Table")
    for handler in _functions(tpl):
        granted = _granted(tpl, _role_of(tpl, handler))
        targets = json.dumps(granted["dynamodb:Query"])
        assert f'"{table_id}"' in targets, handler
        for index in TABLE_SCHEMA["GlobalSecondaryIndexes"]:
            assert f"/index/{index['IndexName']}" in targets, handler
        assert "/index/*" not in targets, handler
        for action in ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "BatchGetItem", "GetItem"):
            assert f"dynamodb:{action}" in granted, (handler, action)
        (events,) = [
            s
            for _, s, r in statements(tpl)
            if {"Ref": _role_of(tpl, handler)} in r["Properties"].get("Roles", [])
            and "events:PutEvents" in as_list(s["Action"])
        ]
        assert events["Condition"] == {"StringEquals": {"events:source": [EVENT_SOURCE]}}


def test_only_the_engine_invokes_functions_and_only_ground_truth_named_ones(built: dict[str, Any]) -> None:
    tpl = built["tpl"]
    invokers = {
        handler: _granted(tpl, _role_of(tpl, handler)).get("lambda:InvokeFunction", []) for handler in _functions(tpl)
    }
    assert invokers["service_api.handler.handler"] == invokers["service_sweep.handler.handler"] == []
    engine = json.dumps(invokers["service_engine.handler.handler"])
    for word in ("*GtRecipe*", "*LabelingFunction*", "*SageMaker*"):
        assert f"function:{word}" in engine


def test_data_buckets_from_context_are_granted_to_api_and_engine_only(built: dict[str, Any]) -> None:
    tpl = built["other_tpl"]
    api = json.dumps(_granted(tpl, _role_of(tpl, "service_api.handler.handler")))
    engine = _granted(tpl, _role_of(tpl, "service_engine.handler.handler"))
    sweep = json.dumps(_granted(tpl, _role_of(tpl, "service_sweep.handler.handler")))
    assert "customer-inputs" in api and "customer-outputs" in api and "customer-inputs" not in sweep
    assert "customer-outputs" in json.dumps(engine["s3:PutObject"])
    assert "customer-outputs" not in json.dumps(
        _granted(tpl, _role_of(tpl, "service_api.handler.handler")).get("s3:PutObject", [])
    )


def test_engine_consumes_the_work_queue_with_partial_batch_failures_and_a_dlq(built: dict[str, Any]) -> None:
    tpl = built["tpl"]
    mapping = one(tpl, "AWS::Lambda::EventSourceMapping")["Properties"]
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    engine_id, engine = _functions(tpl)["service_engine.handler.handler"]
    assert mapping["FunctionName"] == {"Ref": engine_id}
    work = resources(tpl, "AWS::SQS::Queue")[mapping["EventSourceArn"]["Fn::GetAtt"][0]]["Properties"]
    assert work["RedrivePolicy"]["maxReceiveCount"] == 5
    assert work["VisibilityTimeout"] == 6 * engine["Timeout"]


def test_sweeps_run_on_a_schedule_with_a_dead_letter_queue(built: dict[str, Any]) -> None:
    for variant, rate in (("tpl", "rate(1 minute)"), ("other_tpl", "rate(5 minutes)")):
        rule = one(built[variant], "AWS::Events::Rule")["Properties"]
        assert rule["ScheduleExpression"] == rate
        (target,) = rule["Targets"]
        sweep_id, _ = _functions(built[variant])["service_sweep.handler.handler"]
        assert target["Arn"] == {"Fn::GetAtt": [sweep_id, "Arn"]}
        assert "DeadLetterConfig" in target and target["RetryPolicy"]["MaximumRetryAttempts"] == 2


def test_alarms_watch_dead_letter_queues_5xx_and_throttling_and_notify_the_topic(built: dict[str, Any]) -> None:
    tpl = built["tpl"]
    alarms = resources(tpl, "AWS::CloudWatch::Alarm")
    (topic_id,) = resources(tpl, "AWS::SNS::Topic")
    metrics = sorted(a["Properties"]["MetricName"] for a in alarms.values())
    assert metrics.count("ApproximateNumberOfMessagesVisible") == 2
    assert metrics.count("Throttles") == 3 and metrics.count("Errors") == 3
    assert {"5xx", "ReadThrottleEvents", "WriteThrottleEvents"} <= set(metrics)
    for logical_id, alarm in alarms.items():
        assert alarm["Properties"]["AlarmActions"] == [{"Ref": topic_id}], logical_id
    dashboard = one(tpl, "AWS::CloudWatch::Dashboard")
    assert "ApproximateNumberOfMessagesVisible" in json.dumps(dashboard)


def test_a_new_worker_pool_signs_in_with_code_flow_and_no_client_secret(built: dict[str, Any]) -> None:
    tpl = built["tpl"]
    pool = one(tpl, "AWS::Cognito::UserPool")["Properties"]
    assert pool["MfaConfiguration"] == "ON"
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    client = one(tpl, "AWS::Cognito::UserPoolClient")["Properties"]
    assert client["GenerateSecret"] is False and client["AllowedOAuthFlows"] == ["code"]
    assert "/portal/oauth2/callback" in json.dumps(client["CallbackURLs"])
    assert one(tpl, "AWS::Cognito::UserPoolGroup")["Properties"]["GroupName"] == "truthloop-workers"


def _distribution(tpl: dict[str, Any]) -> dict[str, Any]:
    return dict(one(tpl, "AWS::CloudFront::Distribution")["Properties"]["DistributionConfig"])


def test_the_portal_is_served_by_cloudfront_https_only_with_logs(built: dict[str, Any]) -> None:
    tpl = built["tpl"]
    config = _distribution(tpl)
    behaviors = {b["PathPattern"]: b for b in config["CacheBehaviors"]}
    # THEN every behaviour is HTTPS only, and the distribution logs to a bucket of its own
    assert sorted(behaviors) == ["/portal*", "/portal/static/*"]
    for behavior in [config["DefaultCacheBehavior"], *behaviors.values()]:
        assert behavior["ViewerProtocolPolicy"] == "https-only"
    assert config["Logging"]["Bucket"]["Fn::GetAtt"][1] == "RegionalDomainName"
    origins = {o["Id"]: o for o in config["Origins"]}
    # AND the assets come from S3 through origin access control, the pages from the HTTP API over TLS
    static_origin = origins[behaviors["/portal/static/*"]["TargetOriginId"]]
    assert "OriginAccessControlId" in static_origin and static_origin["S3OriginConfig"]["OriginAccessIdentity"] == ""
    pages = behaviors["/portal*"]
    api_origin = origins[pages["TargetOriginId"]]
    assert api_origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert "ApiEndpoint" in json.dumps(api_origin["DomainName"])
    assert "POST" in pages["AllowedMethods"]
    assert pages["CachePolicyId"] == "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"  # Managed-CachingDisabled
    assert pages["OriginRequestPolicyId"] == "b689b0a8-53d0-40ab-baf2-68738e2966ac"  # AllViewerExceptHostHeader
    oac = one(tpl, "AWS::CloudFront::OriginAccessControl")["Properties"]["OriginAccessControlConfig"]
    assert oac["SigningBehavior"] == "always" and oac["OriginAccessControlOriginType"] == "s3"


def test_the_portal_assets_have_the_local_portals_content_security_policy(built: dict[str, Any]) -> None:
    tpl = built["tpl"]
    policies = {
        p["Properties"]["ResponseHeadersPolicyConfig"]["Comment"]: p["Properties"]["ResponseHeadersPolicyConfig"]
        for p in resources(tpl, "AWS::CloudFront::ResponseHeadersPolicy").values()
    }
    (assets,) = (c for name, c in policies.items() if "assets" in name)
    headers = assets["SecurityHeadersConfig"]
    # THEN the CSP is the one the local portal sends with the same files
    assert headers["ContentSecurityPolicy"] == {
        "ContentSecurityPolicy": asset_content_security_policy(),
        "Override": True,
    }
    assert headers["FrameOptions"]["FrameOption"] == "DENY"
    assert headers["StrictTransportSecurity"]["AccessControlMaxAgeSec"] == 365 * 86400
    config = _distribution(tpl)
    static = next(b for b in config["CacheBehaviors"] if b["PathPattern"] == "/portal/static/*")
    assert static["ResponseHeadersPolicyId"]["Ref"].startswith("ServicePortalAssetHeaders")
    # AND the files are the portal's offline crowd elements, under the prefix the distribution serves
    deployment = one(tpl, "Custom::CDKBucketDeployment")["Properties"]
    assert deployment["DestinationBucketKeyPrefix"] == "portal/static/"


def test_the_portal_assets_bucket_is_private_and_read_only_by_the_distribution(built: dict[str, Any]) -> None:
    tpl = built["tpl"]
    buckets = resources(tpl, "AWS::S3::Bucket")
    (assets_id,) = (i for i in buckets if i.startswith("ServicePortalAssets"))
    props = buckets[assets_id]["Properties"]
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert "LoggingConfiguration" in props
    policy = next(
        p["Properties"]["PolicyDocument"]
        for p in resources(tpl, "AWS::S3::BucketPolicy").values()
        if p["Properties"]["Bucket"] == {"Ref": assets_id}
    )
    reads = [s for s in policy["Statement"] if s.get("Principal") == {"Service": "cloudfront.amazonaws.com"}]
    assert len(reads) == 1 and reads[0]["Action"] == "s3:GetObject"
    assert "AWS:SourceArn" in reads[0]["Condition"]["StringEquals"]
    assert any(s["Effect"] == "Deny" and "aws:SecureTransport" in json.dumps(s) for s in policy["Statement"])


def test_the_portal_client_calls_back_to_the_distribution_and_the_api_knows_the_sign_in(
    built: dict[str, Any],
) -> None:
    tpl = built["tpl"]
    client = one(tpl, "AWS::Cognito::UserPoolClient")["Properties"]
    (distribution_id,) = resources(tpl, "AWS::CloudFront::Distribution")
    callback = json.dumps(client["CallbackURLs"])
    assert distribution_id in callback and "DomainName" in callback and "/portal/oauth2/callback" in callback
    assert client["AllowedOAuthFlows"] == ["code"] and client["GenerateSecret"] is False
    env = _functions(tpl)["service_api.handler.handler"][1]["Environment"]["Variables"]
    assert distribution_id in json.dumps(env["TRUTHLOOP_SERVICE_PORTAL_URL"])
    assert "amazoncognito.com" in json.dumps(env["TRUTHLOOP_SERVICE_AUTH_URL"])
    for name in ("TRUTHLOOP_SERVICE_USER_POOL_ID", "TRUTHLOOP_SERVICE_USER_POOL_CLIENT_ID"):
        assert isinstance(env[name], dict), name
    # AND with an existing pool whose hosted UI is not given, the portal knows the pool but not where to sign in
    other = _functions(built["other_tpl"])["service_api.handler.handler"][1]["Environment"]["Variables"]
    assert other["TRUTHLOOP_SERVICE_USER_POOL_ID"] == "us-east-1_AbCdEf123"
    assert "TRUTHLOOP_SERVICE_AUTH_URL" not in other


def test_an_existing_user_pool_is_used_as_is(built: dict[str, Any]) -> None:
    tpl = built["other_tpl"]
    assert resources(tpl, "AWS::Cognito::UserPool") == {}
    assert resources(tpl, "AWS::Cognito::UserPoolClient") == {}
    group = one(tpl, "AWS::Cognito::UserPoolGroup")["Properties"]
    assert group["UserPoolId"] == "us-east-1_AbCdEf123"
    outputs = tpl["Outputs"]
    assert outputs["UserPoolClientId"]["Value"] == "1example23456789"


def test_outputs_name_the_endpoint_for_clients(built: dict[str, Any]) -> None:
    outputs = built["tpl"]["Outputs"]
    assert outputs["ApiEndpoint"]["Value"]["Fn::GetAtt"][1] == "ApiEndpoint"
    assert {"TableName", "BucketName", "WorkQueueUrl", "UserPoolId", "AddWorkerCommand"} <= set(outputs)


def test_the_service_mode_app_has_no_ground_truth_or_a2i_resource(built: dict[str, Any]) -> None:
    # THEN no stack of the app has a SageMaker resource, a GT/A2I custom resource or a SageMaker permission
    assert list(built["stacks"]) == ["TruthloopService", "TruthloopWorkforce", "TruthloopLabeling", "TruthloopReview"]
    for name, stack in built["stacks"].items():
        tpl = template(stack)
        kinds = {r["Type"] for r in tpl["Resources"].values()}
        assert not [k for k in kinds if k.startswith("AWS::SageMaker::")], name
        assert not kinds & set(GT_A2I_CUSTOM_RESOURCES), name
        actions = [a for _, s, _ in statements(tpl) for a in as_list(s["Action"])]
        assert not [a for a in actions if a.startswith("sagemaker:")], name


def test_inconsistent_context_lists_every_problem_at_once(tmp_path: Path) -> None:
    # GIVEN the service backend with A2I-only settings and a half-given user pool
    app = cdk.App(
        outdir=str(tmp_path),
        context={
            "truthloop:backend": "service",
            "truthloop:workteamArn": "arn:aws:sagemaker:us-east-1:111122223333:workteam/private-crowd/team",
            "truthloop:labeling:humanTaskUiArn": "arn:aws:sagemaker:us-east-1:394669845002:human-task-ui/NER",
            "truthloop:review:source": "textract:analyze_document",
            "truthloop:existingUserPoolId": "us-east-1_AbCdEf123",
            "truthloop:service:sweepRateMinutes": "0",
            "truthloop:labeling:streaming": "true",
        },
    )
    # WHEN the app is built
    with pytest.raises(ConstructPropsError) as caught:
        build_app(app)
    # THEN one error lists all seven (the pool is also no Cognito team's beside a work team ARN)
    message = str(caught.value)
    assert "7 problem(s)" in message
    for fragment in (
        "truthloop:workteamArn",
        "truthloop:labeling:humanTaskUiArn",
        "textract:analyze_document",
        "give truthloop:existingUserPoolId and truthloop:existingUserPoolClientId together",
        "truthloop:existingUserPoolId is for a Cognito work team: not with workteamArn or oidcGroups",
        "sweepRateMinutes",
        "truthloop:labeling:streaming needs Ground Truth's streaming jobs",
    ):
        assert fragment in message


@pytest.mark.parametrize(
    ("context", "fragment"),
    [
        ({"truthloop:service:dataBuckets": "inputs"}, "truthloop:service:dataBuckets is a service setting"),
        ({"truthloop:backend": "sagemaker-ish"}, "truthloop:backend must be 'sagemaker' or 'service'"),
        (
            {"truthloop:backend": "service", "truthloop:service:authUrl": "https://w.auth.us-east-1.amazoncognito.com"},
            "truthloop:service:authUrl is the hosted UI of truthloop:existingUserPoolId",
        ),
    ],
)
def test_service_settings_need_the_service_backend(tmp_path: Path, context: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConstructPropsError, match="1 problem") as caught:
        build_app(cdk.App(outdir=str(tmp_path), context=context))
    assert fragment in str(caught.value)


def test_construct_props_problems_are_listed_together(tmp_path: Path) -> None:
    # GIVEN a service construct with four conflicting or out-of-range props
    stack = cdk.Stack(new_app(tmp_path), "Bad", env=ENV)
    pool = cdk.aws_cognito.UserPool.from_user_pool_id(stack, "Pool", "us-east-1_AbCdEf123")
    # WHEN it is built
    with pytest.raises(ConstructPropsError) as caught:
        TruthloopService(
            stack,
            "Service",
            table_schema=SCHEMA,
            existing_user_pool=pool,
            engine_batch_size=11,
            sweep_rate=cdk.Duration.seconds(30),
            data_buckets=["s3://not-a-name"],
            lambdas_root=SERVICE_LAMBDAS,
        )
    # THEN every problem is named
    message = str(caught.value)
    assert "4 problem(s)" in message
    for fragment in ("existing_user_pool_client go together", "engine_batch_size", "sweep_rate", "s3://not-a-name"):
        assert fragment in message


def test_a_bad_table_schema_names_each_problem() -> None:
    # GIVEN a schema whose sort key has no type, whose index has no name nor HASH key, and with a local index
    schema = {
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "GlobalSecondaryIndexes": [{"KeySchema": [{"AttributeName": "pk", "KeyType": "RANGE"}]}],
        "LocalSecondaryIndexes": [{"IndexName": "lsi"}],
    }
    # WHEN it is read
    with pytest.raises(ConstructPropsError) as caught:
        table_definition(schema)
    # THEN every problem is named with its place
    assert caught.value.problems == (
        "table sort key: attribute 'sk' has no type S, N or B in AttributeDefinitions",
        "GlobalSecondaryIndexes[0] (None): an index needs a name",
        "GlobalSecondaryIndexes[0] (None): KeySchema has no HASH key",
        "LocalSecondaryIndexes: not supported by the service stack (use global indexes)",
    )


def test_the_default_schema_is_the_storage_modules() -> None:
    # WHEN the layout is read without a schema THEN it is the one DynamoDBStorage reads and writes
    layout = table_definition()
    assert layout.index_names == [i["IndexName"] for i in TABLE_SCHEMA["GlobalSecondaryIndexes"]]
    assert layout.ttl_attribute == TABLE_SCHEMA["TimeToLiveAttribute"]


SERVICE_FLOW = "arn:aws:sagemaker:us-east-1:111122223333:flow-definition/reviews-on-the-service"


@pytest.fixture(scope="module")
def review_on_service(outdir: Path) -> dict[str, Any]:
    # GIVEN the service stack and, in a second stack, a review pipeline for a flow created on the service whose
    # output is in the service's bucket (cross-stack wildcard grants: acknowledged in their Fn::ImportValue form)
    app = new_app(outdir / "review-on-service")
    service = TruthloopService(cdk.Stack(app, "Service", env=ENV), "Service", lambdas_root=SERVICE_LAMBDAS)
    review = cdk.Stack(app, "ReviewOnService", env=ENV)
    ReviewPipeline(
        review,
        "Review",
        flow_definition_arn=SERVICE_FLOW,
        a2i_output_bucket=service.bucket,
        a2i_output_key=service.key,
        service=service.target,
    )
    # WHEN both are synthesized (cdk-nag included)
    return {"tpl": template(review)}


def test_a_review_pipeline_on_the_service_starts_loops_there_and_hears_both_sources(
    review_on_service: dict[str, Any],
) -> None:
    tpl = review_on_service["tpl"]
    router = next(
        f["Properties"]
        for f in resources(tpl, "AWS::Lambda::Function").values()
        if f["Properties"]["Handler"] == "review_router.handler.handler"
    )
    # THEN the router is pointed at the service's endpoint and may invoke its API, and nothing of SageMaker's
    assert "ApiEndpoint" in json.dumps(router["Environment"]["Variables"]["TRUTHLOOP_SERVICE_ENDPOINT"])
    role = router["Role"]["Fn::GetAtt"][0]
    granted = _granted(tpl, role)
    assert not [a for a in granted if a.startswith("sagemaker:")]
    (invoke,) = granted["execute-api:Invoke"]
    assert ":execute-api:" in json.dumps(invoke) and "Fn::ImportValue" in json.dumps(invoke)
    # AND the status rule takes A2I's and the service's events
    rule = one(tpl, "AWS::Events::Rule")["Properties"]["EventPattern"]
    assert rule["source"] == ["aws.sagemaker", EVENT_SOURCE]
    assert rule["detail-type"] == list(A2I_DETAIL_TYPES)
    assert rule["detail"] == {"flowDefinitionArn": [SERVICE_FLOW]}
    assert cfn_lint(tpl) == []


def test_a_review_pipeline_on_the_service_needs_a_flow_created_there(tmp_path: Path) -> None:
    # GIVEN a FlowDefinition construct (a flow on SageMaker) and the service as target
    from aws_cdk import aws_s3 as s3

    from truthloop.cdk.flow_definition import FlowDefinition

    stack = cdk.Stack(new_app(tmp_path), "Mixed", env=ENV)
    flow = FlowDefinition(
        stack,
        "Flow",
        workteam_arn="arn:aws:sagemaker:us-east-1:111122223333:workteam/private-crowd/team",
        output_bucket=s3.Bucket.from_bucket_name(stack, "Out", "a2i-output"),
        human_task_ui_arn="arn:aws:sagemaker:us-east-1:111122223333:human-task-ui/review",
    )
    target = ServiceTarget(endpoint="https://abc.execute-api.us-east-1.amazonaws.com", invoke_arn="arn:x")
    # WHEN the pipeline is built THEN the mix is refused with the reason
    with pytest.raises(ConstructPropsError, match="give the flow_definition_arn of a flow created there, or a Flow"):
        ReviewPipeline(stack, "Review", flow_definition=flow, service=target)


def test_the_service_deploys_where_ground_truth_and_a2i_do_not(tmp_path: Path) -> None:
    # GIVEN a region without Ground Truth or A2I
    context = {**SERVICE_CONTEXT, "truthloop:account": "111122223333", "truthloop:region": "eu-north-1"}
    # WHEN the service-mode app is built THEN all its stacks are in that region (the GT/A2I check is skipped)
    _, stacks = build_app(new_app(tmp_path, **context))
    assert {(name, stack.region) for name, stack in stacks.items()} == {
        (name, "eu-north-1")
        for name in ("TruthloopService", "TruthloopWorkforce", "TruthloopLabeling", "TruthloopReview")
    }
    # AND the SageMaker backend there is refused
    with pytest.raises(ConstructPropsError, match="eu-north-1"):
        build_app(new_app(tmp_path / "sm", **{"truthloop:account": "111122223333", "truthloop:region": "eu-north-1"}))
