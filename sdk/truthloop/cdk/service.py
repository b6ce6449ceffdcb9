"""``TruthloopService``: the A2I runtime and SageMaker-subset APIs on DynamoDB, S3, SQS and Lambda.

::

    boto3 (SigV4, service execute-api) ─HTTP API (AWS_IAM on every route)─▶ service_api ─┐
                                                                                      ├─▶ DynamoDB table (PITR)
    SQS work queue (+DLQ) ─▶ service_engine (partial batch failures) ───────────────────┤   S3 service bucket
    EventBridge schedule (+DLQ) ─▶ service_sweep ─▶ work queue ─────────────────────────┘   events → default bus
    Cognito user pool (workers; work teams are groups)

    browser ─CloudFront (HTTPS only, logged)─┬─ /portal/static/* ─OAC─▶ portal assets bucket (CSP response headers)
                                             └─ /portal*  ─▶ HTTP API routes ANY /portal, /portal/{proxy+} (no IAM:
                                                the app verifies the Cognito token) ─▶ service_api

The hosted worker portal: workers sign in with the user pool's hosted UI (authorization code + PKCE); the app client's
callback is the distribution's ``/portal/oauth2/callback``. Every other route keeps IAM authorisation.

Nothing runs while nobody calls: the API and the engine are Lambda functions, the table is on-demand, and the
only clock is the sweep schedule (one short invocation per ``sweep_rate``). Every store uses one customer-managed
key and refuses plain HTTP; every function has its own role with exact actions on exact resources; alarms on
dead-letter queues, API 5xx, Lambda errors and throttling, and DynamoDB throttling go to an encrypted SNS topic,
and a dashboard shows the same numbers.

The table's keys, indexes and TTL attribute come from the storage module's ``TABLE_SCHEMA`` (the one the service's
code reads and writes), so the deployed table and the code cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3_deployment
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

from truthloop.cdk._common import (
    ConstructPropsError,
    Problems,
    access_logs_bucket,
    acknowledge,
    allow,
    allow_service_to_use_key,
    arn,
    encryption_key,
    flatten_reference,
    grant_key,
    grant_objects,
    python_function,
    secure_bucket,
    secure_queue,
    secure_topic,
)
from truthloop.cdk.layer import TruthloopLayer
from truthloop.cdk.workforce import worker_user_pool
from truthloop.service import settings
from truthloop.templates._page import asset_content_security_policy

__all__ = [
    "EVENT_SOURCE",
    "GT_FUNCTION_NAME_PATTERNS",
    "ServiceEnvironment",
    "ServiceTarget",
    "TruthloopService",
    "table_definition",
]

#: The service's layer: the default one plus the ``service`` extra (the ASGI app and its Lambda adapter).
SERVICE_LAYER_EXTRAS = ("lambda", "service")

#: The ``source`` of the events the service puts on the bus (A2I's and GT's own come from ``aws.sagemaker``).
EVENT_SOURCE = settings.DEFAULT_EVENT_SOURCE


class ServiceEnvironment:
    """The environment variables the service's Lambda handlers are configured by.

    Aliases of the ``ENV_*`` names of :mod:`truthloop.service.settings`, which the handlers read: one source.
    """

    TABLE = settings.ENV_TABLE
    BUCKET = settings.ENV_BUCKET
    QUEUE_URL = settings.ENV_QUEUE_URL
    EVENT_BUS = settings.ENV_EVENT_BUS
    EVENT_SOURCE = settings.ENV_EVENT_SOURCE
    ACCOUNT_ID = settings.ENV_ACCOUNT_ID
    BASE_URL = settings.ENV_BASE_URL
    USER_POOL_ID = settings.ENV_USER_POOL_ID
    USER_POOL_CLIENT_ID = settings.ENV_USER_POOL_CLIENT_ID
    AUTH_URL = settings.ENV_AUTH_URL
    PORTAL_URL = settings.ENV_PORTAL_URL


#: the portal's offline crowd elements (served by the distribution under /portal/static/)
PORTAL_ASSETS = Path(__file__).resolve().parents[3] / "templates" / "static"
#: the HTTP API routes of the hosted portal: no IAM authorisation (browsers), the app checks the Cognito token
PORTAL_ROUTES = ("/portal", "/portal/{proxy+}")


#: Ground Truth's execution policy (AmazonSageMakerGroundTruthExecution) lets a job invoke only functions whose
#: names contain these words (aws-contracts.md §1); the engine gets exactly the same reach, no more.
GT_FUNCTION_NAME_PATTERNS = ("*GtRecipe*", "*LabelingFunction*", "*SageMaker*", "*sagemaker*", "*Sagemaker*")

#: DynamoDB actions of a reader and of a writer. TransactWriteItems/TransactGetItems are authorised per item
#: through these actions (there is no IAM action of their own); Scan is never granted: the service only queries.
TABLE_READ = ("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:Query")
TABLE_WRITE = (
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DeleteItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
)

_KEY_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}
_PROJECTIONS = {
    "ALL": dynamodb.ProjectionType.ALL,
    "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
    "INCLUDE": dynamodb.ProjectionType.INCLUDE,
}


@dataclass(frozen=True)
class ServiceTarget:
    """Where callers reach a deployed service: its endpoint, and the API whose routes IAM lets them invoke.

    ``data_role_arns`` are the roles of the service's functions that read inputs and write outputs (the API and the
    engine): :meth:`grant_objects` gives them a stack's buckets, as a flow's or a job's role is given them on AWS.
    """

    endpoint: str
    invoke_arn: str
    data_role_arns: tuple[str, ...] = ()

    def grant_invoke(self, grantee: iam.IGrantable) -> None:
        """``execute-api:Invoke`` on every route of the service's API (the only permission a caller needs)."""
        allow(
            grantee,
            ["execute-api:Invoke"],
            [self.invoke_arn],
            wildcard_reason="Every route and method of the truthloop service's own HTTP API: the A2I runtime and "
            "the SageMaker subset share its one $default route, which IAM names as <api id>/<stage>/<method>/<path>.",
        )

    def data_roles(self, scope: IConstruct) -> list[iam.IRole]:
        """The data roles, imported once into ``scope``'s stack (policies added to them live in that stack)."""
        stack = cdk.Stack.of(scope)
        roles: list[iam.IRole] = []
        for position, role_arn in enumerate(self.data_role_arns):
            id = f"TruthloopServiceDataRole{position}"
            existing = stack.node.try_find_child(id)
            roles.append(
                cast(iam.IRole, existing)
                if existing is not None
                else iam.Role.from_role_arn(stack, id, role_arn, mutable=True)
            )
        return roles

    def grant_objects(
        self,
        scope: IConstruct,
        bucket: s3.IBucket,
        *,
        read: Sequence[str] = (),
        write: Sequence[str] = (),
        key: kms.IKey | None = None,
        purpose: str,
    ) -> None:
        """Let the service's functions read/write ``bucket`` under the given key prefixes (and use its key)."""
        for role in self.data_roles(scope):
            grant_objects(role, bucket, read=read, write=write, key=key, purpose=f"the truthloop service: {purpose}")


def _acknowledge_deployment(stack: cdk.Stack) -> None:
    """cdk-nag's findings on CDK's BucketDeployment handler (a singleton function CDK writes at the stack's root),
    each named as cdk-nag names it: the managed logging policy and the wildcards of CDK's own grants."""
    for child in stack.node.children:
        if "CDKBucketDeployment" not in child.node.id:
            continue
        acknowledge(
            child,
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "CDK's BucketDeployment handler logs with AWSLambdaBasicExecutionRole; it runs only at deploy time, to "
            "copy the portal's static assets.",
        )
        acknowledge(
            child,
            "AwsSolutions-L1",
            "CDK's BucketDeployment handler runtime is chosen by the CDK release (it bundles the AWS CLI for it).",
        )
        findings: set[str] = set()
        for policy in child.node.find_all():
            if not isinstance(policy, iam.CfnPolicy):
                continue
            document = stack.resolve(policy.policy_document)
            for statement in document.get("Statement", []):
                actions = statement.get("Action", [])
                findings.update(
                    f"Action::{a}" for a in ([actions] if isinstance(actions, str) else actions) if "*" in a
                )
                targets = statement.get("Resource", [])
                for target in [targets] if not isinstance(targets, list) else targets:
                    flat = flatten_reference(target)
                    if "*" in flat:
                        findings.add(f"Resource::{flat}")
        for finding in sorted(findings):
            acknowledge(
                child,
                f"AwsSolutions-IAM5[{finding}]",
                "CDK's BucketDeployment handler reads CDK's asset bucket and replaces every object under the portal "
                "bucket's portal/static/ prefix, then invalidates /portal/static/* on the distribution (CloudFront "
                "has no resource-level permission for that): CDK's own grants, used at deploy time only.",
            )


# --------------------------------------------------------------------------------------------- table schema


class TableDefinition:
    """The table layout of a storage schema in CreateTable's shape, checked: keys, global indexes and TTL attribute.

    ``schema`` is :data:`truthloop.local.storage.dynamodb_schema.TABLE_SCHEMA` (``KeySchema``,
    ``AttributeDefinitions``, ``GlobalSecondaryIndexes`` with ``Projection``, and ``TimeToLiveAttribute``); every
    problem is reported at once, naming the index and attribute.
    """

    def __init__(self, schema: Mapping[str, Any]) -> None:
        problems = Problems("table schema")
        types = {
            str(item.get("AttributeName")): str(item.get("AttributeType"))
            for item in schema.get("AttributeDefinitions", [])
        }
        self.partition_key, self.sort_key = self._keys(problems, "table", schema.get("KeySchema"), types)
        self.indexes: list[tuple[str, Any, Any, dynamodb.ProjectionType, list[str] | None]] = []
        for position, index in enumerate(schema.get("GlobalSecondaryIndexes", [])):
            name = index.get("IndexName")
            where = f"GlobalSecondaryIndexes[{position}] ({name})"
            if not isinstance(name, str) or not name:
                problems.add(f"{where}: an index needs a name")
            partition, sort = self._keys(problems, where, index.get("KeySchema"), types)
            projection = index.get("Projection") or {}
            kind = str(projection.get("ProjectionType", "ALL"))
            if kind not in _PROJECTIONS:
                problems.add(f"{where}: projection {kind!r} is not ALL, KEYS_ONLY or INCLUDE")
                kind = "ALL"
            extra = projection.get("NonKeyAttributes")
            self.indexes.append((str(name), partition, sort, _PROJECTIONS[kind], list(extra) if extra else None))
        ttl = schema.get("TimeToLiveAttribute")
        self.ttl_attribute: str | None = str(ttl) if ttl else None
        if schema.get("LocalSecondaryIndexes"):
            problems.add("LocalSecondaryIndexes: not supported by the service stack (use global indexes)")
        problems.raise_if_any()

    @staticmethod
    def _keys(problems: Problems, where: str, spec: Any, types: Mapping[str, str]) -> tuple[Any, Any]:
        """(partition, sort) attributes of a ``KeySchema`` list; the sort key is None when there is none."""
        if not isinstance(spec, Sequence) or isinstance(spec, str) or not spec:
            problems.add(f"{where}: KeySchema must be a list of HASH/RANGE keys, got {spec!r}")
            return None, None
        by_type = {str(key.get("KeyType")): key.get("AttributeName") for key in spec}
        attributes: list[dynamodb.Attribute | None] = []
        for role, key_type in (("partition", "HASH"), ("sort", "RANGE")):
            name = by_type.get(key_type)
            if name is None:
                if key_type == "HASH":
                    problems.add(f"{where}: KeySchema has no HASH key")
                attributes.append(None)
            elif types.get(name) not in _KEY_TYPES:
                problems.add(f"{where} {role} key: attribute {name!r} has no type S, N or B in AttributeDefinitions")
                attributes.append(None)
            else:
                attributes.append(dynamodb.Attribute(name=name, type=_KEY_TYPES[types[name]]))
        return attributes[0], attributes[1]

    @property
    def index_names(self) -> list[str]:
        return [index[0] for index in self.indexes]


def table_definition(schema: Mapping[str, Any] | None = None) -> TableDefinition:
    """The checked layout of ``schema``, by default the service storage's own ``TABLE_SCHEMA``."""
    if schema is None:
        from truthloop.local.storage.dynamodb_schema import TABLE_SCHEMA

        schema = TABLE_SCHEMA
    return TableDefinition(schema)


# --------------------------------------------------------------------------------------------- construct


class TruthloopService(Construct):
    """The truthloop service: the A2I runtime and SageMaker-subset APIs in the account, with nothing always on.

    "Existing X or X props": ``existing_key``; ``existing_user_pool`` + ``existing_user_pool_client`` or
    ``user_pool_props``. ``table_schema`` defaults to the DynamoDB storage's ``TABLE_SCHEMA`` (tests give others).
    ``data_buckets`` (and ``data_keys``) name the buckets the service may read inputs from and write outputs to
    (flow definitions' and labeling jobs' S3 paths), besides its own bucket.

    Attributes: ``key``, ``table``, ``bucket``, ``access_logs``, ``queue``, ``dead_letter_queue``,
    ``sweep_dead_letter_queue``, ``api``, ``api_endpoint``, ``api_function``, ``engine_function``,
    ``sweep_function``, ``sweep_rule``, ``target`` (:class:`ServiceTarget`, for callers), ``user_pool``,
    ``user_pool_client``, ``user_pool_domain``, ``worker_group``, ``alarm_topic``, ``alarms``, ``dashboard``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        table_schema: Mapping[str, Any] | None = None,
        existing_key: kms.IKey | None = None,
        existing_user_pool: cognito.IUserPool | None = None,
        existing_user_pool_client: cognito.IUserPoolClient | None = None,
        existing_auth_url: str | None = None,
        user_pool_props: Mapping[str, Any] | None = None,
        domain_prefix: str | None = None,
        worker_group_name: str = "truthloop-workers",
        mfa: cognito.Mfa = cognito.Mfa.REQUIRED,
        plus_feature_plan: bool = True,
        data_buckets: Sequence[str] = (),
        data_keys: Sequence[str] = (),
        sweep_rate: cdk.Duration | None = None,
        api_throttle_rate: int = 50,
        api_throttle_burst: int = 100,
        engine_timeout: cdk.Duration | None = None,
        engine_batch_size: int = 10,
        max_receive_count: int = 5,
        event_bus_name: str = "default",
        alarm_email: str | None = None,
        log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        lambdas_root: Path | None = None,
    ) -> None:
        super().__init__(scope, id)
        sweep_rate = sweep_rate or cdk.Duration.minutes(1)
        engine_timeout = engine_timeout or cdk.Duration.minutes(2)
        problems = Problems(f"TruthloopService {self.node.path}")
        problems.exclusive(existing_user_pool=existing_user_pool, user_pool_props=user_pool_props)
        if (existing_user_pool is None) != (existing_user_pool_client is None):
            problems.add("existing_user_pool and existing_user_pool_client go together (give both or neither)")
        if existing_user_pool is not None and domain_prefix:
            problems.add("domain_prefix is for a new user pool; an existing pool keeps its own domain")
        if existing_auth_url is not None and existing_user_pool is None:
            problems.add("existing_auth_url is the hosted UI of existing_user_pool; a new pool gets its own domain")
        if existing_auth_url and not existing_auth_url.startswith("https://"):
            problems.add(f"existing_auth_url must be the pool's https:// hosted UI address, got {existing_auth_url!r}")
        problems.require(1 <= engine_batch_size <= 10, f"engine_batch_size must be 1–10, got {engine_batch_size}")
        problems.require(1 <= max_receive_count <= 1000, f"max_receive_count must be 1–1000, got {max_receive_count}")
        problems.require(api_throttle_rate >= 1, f"api_throttle_rate must be at least 1, got {api_throttle_rate}")
        problems.require(api_throttle_burst >= 1, f"api_throttle_burst must be at least 1, got {api_throttle_burst}")
        problems.require(
            60 <= sweep_rate.to_seconds() <= 86_400 and sweep_rate.to_seconds() % 60 == 0,
            f"sweep_rate must be whole minutes between 1 minute and 1 day, got {sweep_rate.to_seconds()} s",
        )
        problems.require(engine_timeout.to_seconds() <= 900, "engine_timeout must be at most 900 s (Lambda's limit)")
        for name in data_buckets:
            problems.require(
                bool(name) and "/" not in name and ":" not in name, f"data_buckets: {name!r} is not a bucket name"
            )
        for key_arn in data_keys:
            problems.require(
                key_arn.startswith("arn:") and ":key/" in key_arn, f"data_keys: {key_arn!r} is not a key ARN"
            )
        try:
            layout = table_definition(table_schema)
        except ConstructPropsError as exc:  # every problem of the schema, named
            problems.items.extend(f"table_schema: {problem}" for problem in exc.problems)
        problems.raise_if_any()

        layers = [TruthloopLayer.of(self, extras=SERVICE_LAYER_EXTRAS)]
        self.key: kms.IKey = existing_key or encryption_key(
            self, "Key", description="truthloop service: table, buckets, queues, topic", removal_policy=removal_policy
        )
        for principal, sid in (
            ("events.amazonaws.com", "AllowEventBridgeToEncryptForTheSweepDlq"),
            ("cloudwatch.amazonaws.com", "AllowCloudWatchAlarmsToPublish"),
        ):
            allow_service_to_use_key(self.key, principal, sid=sid)

        # ------------------------------------------------------------------ storage
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=layout.partition_key,
            sort_key=layout.sort_key,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            time_to_live_attribute=layout.ttl_attribute,
            encryption=dynamodb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            removal_policy=removal_policy,
            deletion_protection=removal_policy == cdk.RemovalPolicy.RETAIN,
        )
        for name, partition, sort, projection, extra in layout.indexes:
            self.table.add_global_secondary_index(
                index_name=name,
                partition_key=partition,
                sort_key=sort,
                projection_type=projection,
                non_key_attributes=extra,
            )
        self.access_logs = access_logs_bucket(self, "AccessLogs", removal_policy=removal_policy)
        self.bucket = secure_bucket(
            self,
            "Documents",
            key=self.key,
            access_logs=self.access_logs,
            removal_policy=removal_policy,
        )

        # ------------------------------------------------------------------ work queue
        self.queue, dlq = secure_queue(
            self,
            "Work",
            key=self.key,
            visibility_timeout=cdk.Duration.seconds(engine_timeout.to_seconds() * 6),
            max_receive_count=max_receive_count,
        )
        assert dlq is not None
        self.dead_letter_queue: sqs.IQueue = dlq

        # ------------------------------------------------------------------ cognito (workers)
        self.user_pool_domain: cognito.UserPoolDomain | None = None
        self._user_pool(
            existing_user_pool=existing_user_pool,
            existing_user_pool_client=existing_user_pool_client,
            user_pool_props=user_pool_props,
            domain_prefix=domain_prefix,
            mfa=mfa,
            plus_feature_plan=plus_feature_plan,
            removal_policy=removal_policy,
        )
        self.worker_group = cognito.CfnUserPoolGroup(
            self,
            "WorkerGroup",
            user_pool_id=self.user_pool.user_pool_id,
            group_name=worker_group_name,
            description="Workers of the truthloop service's default work team (each work team is a group)",
        )

        # ------------------------------------------------------------------ functions
        environment = {
            ServiceEnvironment.TABLE: self.table.table_name,
            ServiceEnvironment.BUCKET: self.bucket.bucket_name,
            ServiceEnvironment.QUEUE_URL: self.queue.queue_url,
            ServiceEnvironment.EVENT_BUS: event_bus_name,
            ServiceEnvironment.EVENT_SOURCE: EVENT_SOURCE,
            ServiceEnvironment.ACCOUNT_ID: cdk.Aws.ACCOUNT_ID,
            ServiceEnvironment.USER_POOL_ID: self.user_pool.user_pool_id,
            ServiceEnvironment.USER_POOL_CLIENT_ID: self.user_pool_client.user_pool_client_id,
        }
        auth_url = existing_auth_url or (self.user_pool_domain.base_url() if self.user_pool_domain else None)
        if auth_url:
            environment[ServiceEnvironment.AUTH_URL] = auth_url
        common: dict[str, Any] = {
            "layers": layers,
            "environment": environment,
            "log_retention": log_retention,
            "lambdas_root": lambdas_root,
        }
        self.api_function = python_function(
            self,
            "Api",
            package="service_api",
            handler="service_api.handler.handler",
            service="truthloop-service-api",
            description="truthloop service: the A2I runtime and SageMaker-subset APIs (HTTP API, IAM-signed)",
            timeout=cdk.Duration.seconds(29),  # API Gateway's integration timeout
            memory_size=1024,
            **common,
        )
        self.engine_function = python_function(
            self,
            "Engine",
            package="service_engine",
            handler="service_engine.handler.handler",
            service="truthloop-service-engine",
            description="truthloop service: runs the engine's follow-up steps from the work queue",
            timeout=engine_timeout,
            memory_size=1024,
            **common,
        )
        self.sweep_function = python_function(
            self,
            "Sweep",
            package="service_sweep",
            handler="service_sweep.handler.handler",
            service="truthloop-service-sweep",
            description="truthloop service: time-based sweeps (expired tasks and loops) on a schedule",
            timeout=cdk.Duration.minutes(1),
            memory_size=512,
            **common,
        )
        self.engine_function.add_event_source(
            sources.SqsEventSource(self.queue, batch_size=engine_batch_size, report_batch_item_failures=True)
        )
        self._grant(data_buckets=data_buckets, data_keys=data_keys, event_bus_name=event_bus_name, layout=layout)

        # ------------------------------------------------------------------ schedule
        self.sweep_dead_letter_queue, _ = secure_queue(
            self,
            "SweepFailures",
            key=self.key,
            visibility_timeout=cdk.Duration.seconds(30),
            with_dead_letter_queue=False,
        )
        acknowledge(
            self.sweep_dead_letter_queue,
            "AwsSolutions-SQS3",
            "This queue is itself the dead-letter queue of the sweep schedule's EventBridge target (a redrive "
            "policy cannot express that).",
        )
        self.sweep_rule = events.Rule(
            self,
            "SweepSchedule",
            description="Runs the truthloop service's time-based sweeps",
            schedule=events.Schedule.rate(sweep_rate),
            targets=[
                targets.LambdaFunction(
                    self.sweep_function,
                    dead_letter_queue=self.sweep_dead_letter_queue,
                    retry_attempts=2,
                    max_event_age=sweep_rate,  # a later sweep does the same work: no point in a stale one
                )
            ],
        )

        # ------------------------------------------------------------------ HTTP API
        self._http_api(api_throttle_rate, api_throttle_burst, log_retention)
        self.target = ServiceTarget(
            endpoint=self.api_endpoint,
            invoke_arn=arn(self, "execute-api", f"{self.api.api_id}/*"),
            data_role_arns=tuple(
                function.role.role_arn
                for function in (self.api_function, self.engine_function)
                if function.role is not None
            ),
        )
        for function in (self.api_function, self.engine_function, self.sweep_function):
            # The portal's address (Workteam.SubDomain); set after the API exists, which depends on no function.
            function.add_environment(ServiceEnvironment.BASE_URL, self.api_endpoint)
        self._portal(removal_policy)
        self._point_client_at_portal()

        # ------------------------------------------------------------------ operations
        self.alarm_topic: sns.Topic = secure_topic(
            self, "Alarms", key=self.key, display_name="truthloop service alarms"
        )
        if alarm_email:
            sns.Subscription(
                self,
                "AlarmEmail",
                topic=self.alarm_topic,
                protocol=sns.SubscriptionProtocol.EMAIL,
                endpoint=alarm_email,
            )
        self.alarms: dict[str, cloudwatch.Alarm] = {}
        self._alarms()
        self.dashboard = self._dashboard()

    # ----------------------------------------------------------------------------------------- cognito

    def _user_pool(
        self,
        *,
        existing_user_pool: cognito.IUserPool | None,
        existing_user_pool_client: cognito.IUserPoolClient | None,
        user_pool_props: Mapping[str, Any] | None,
        domain_prefix: str | None,
        mfa: cognito.Mfa,
        plus_feature_plan: bool,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        self._new_client: cognito.UserPoolClient | None = None
        if existing_user_pool is not None and existing_user_pool_client is not None:
            self.user_pool: cognito.IUserPool = existing_user_pool
            self.user_pool_client: cognito.IUserPoolClient = existing_user_pool_client
            return
        pool = worker_user_pool(
            self,
            "UserPool",
            overrides=user_pool_props,
            mfa=mfa,
            plus_feature_plan=plus_feature_plan,
            removal_policy=removal_policy,
        )
        prefix = domain_prefix or cdk.Fn.join("-", ["truthloop-service", cdk.Aws.ACCOUNT_ID])
        self.user_pool_domain = pool.add_domain(
            "Domain", cognito_domain=cognito.CognitoDomainOptions(domain_prefix=prefix)
        )
        # The worker portal signs in with the authorization-code flow and PKCE: a public client, no secret.
        self._new_client = pool.add_client(
            "PortalClient",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.EMAIL, cognito.OAuthScope.OPENID, cognito.OAuthScope.PROFILE],
                # Replaced by the API's portal URLs once the API exists (see _point_client_at_portal).
                callback_urls=["https://localhost/truthloop-pending-portal"],
                logout_urls=["https://localhost/truthloop-pending-portal"],
            ),
            prevent_user_existence_errors=True,
            enable_token_revocation=True,
            supported_identity_providers=[cognito.UserPoolClientIdentityProvider.COGNITO],
        )
        self.user_pool, self.user_pool_client = pool, self._new_client

    def _point_client_at_portal(self) -> None:
        """Point the new app client's callback and sign-out URLs at the portal under the API endpoint.

        The client is created before the API (the functions' environment names it), so the URLs are set on the
        CloudFormation resource afterwards: the client then depends on the API, which depends on nothing of it.
        """
        if self._new_client is None:
            return
        cfn = self._new_client.node.default_child
        assert isinstance(cfn, cognito.CfnUserPoolClient)
        cfn.add_property_override("CallbackURLs", [f"{self.portal_url}/oauth2/callback"])
        cfn.add_property_override("LogoutURLs", [f"{self.portal_url}/"])

    # ----------------------------------------------------------------------------------------- hosted portal

    def _portal(self, removal_policy: cdk.RemovalPolicy) -> None:
        """The hosted worker portal: assets in S3 behind CloudFront (OAC), pages from the API's portal routes."""
        integration = self._integration  # the same Lambda integration as the $default route
        self.portal_routes: list[apigw.HttpRoute] = []
        for path in PORTAL_ROUTES:
            self.portal_routes += self.api.add_routes(
                path=path,
                methods=[apigw.HttpMethod.ANY],
                integration=integration,
                authorizer=apigw.HttpNoneAuthorizer(),
            )
        for route in self.portal_routes:
            acknowledge(
                route,
                "AwsSolutions-APIG4",
                "The worker portal's routes are opened by browsers: the sign-in page and the OAuth callback need no "
                "token, and every other portal request is authorised by the application, which verifies the Cognito "
                "token (RS256 against the pool's JWKS, issuer, audience, expiry) and the worker's groups.",
            )
        self.portal_assets = s3.Bucket(
            self,
            "PortalAssets",
            encryption=s3.BucketEncryption.S3_MANAGED,  # public code (the crowd elements); OAC reads SSE-S3 as is
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=self.access_logs,
            server_access_logs_prefix="portal-assets/",
            removal_policy=removal_policy,
            auto_delete_objects=False,
        )
        # CloudFront's standard logs are written with ACLs: a bucket of their own that allows them
        self.portal_logs = s3.Bucket(
            self,
            "PortalLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.OBJECT_WRITER,
            versioned=True,
            removal_policy=removal_policy,
            lifecycle_rules=[s3.LifecycleRule(id="expire-portal-logs", expiration=cdk.Duration.days(365))],
        )
        acknowledge(
            self.portal_logs,
            "AwsSolutions-S1",
            "This bucket only receives the portal distribution's CloudFront access logs; logging it would log logs.",
        )
        headers = cloudfront.ResponseHeadersPolicy(
            self,
            "PortalAssetHeaders",
            comment="truthloop portal assets: the local portal's Content-Security-Policy and security headers",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=asset_content_security_policy(), override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.NO_REFERRER, override=True
                ),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=cdk.Duration.days(365), include_subdomains=True, override=True
                ),
            ),
        )
        page_headers = cloudfront.ResponseHeadersPolicy(
            self,
            "PortalPageHeaders",
            comment="truthloop portal pages: HSTS (each page carries its own per-request CSP with a script nonce)",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=cdk.Duration.days(365), include_subdomains=True, override=True
                ),
            ),
        )
        assets = cloudfront.BehaviorOptions(
            origin=origins.S3BucketOrigin.with_origin_access_control(self.portal_assets),
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
            cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
            response_headers_policy=headers,
        )
        api_host = cdk.Fn.select(2, cdk.Fn.split("/", self.api_endpoint))
        self.distribution = cloudfront.Distribution(
            self,
            "Portal",
            comment="truthloop hosted worker portal",
            default_behavior=assets,
            additional_behaviors={
                "/portal/static/*": assets,
                "/portal*": cloudfront.BehaviorOptions(
                    origin=origins.HttpOrigin(api_host, protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY),
                    viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                    allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                    cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                    origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                    response_headers_policy=page_headers,
                ),
            },
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            enable_logging=True,
            log_bucket=self.portal_logs,
            log_file_prefix="portal/",
        )
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR4",
            "The distribution has no custom domain, so it serves the default *.cloudfront.net certificate, which "
            "CloudFront pins to TLSv1 as the minimum; viewers are HTTPS only and origins are reached over TLS 1.2.",
        )
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR1",
            "Workers of a private workforce may sign in from anywhere; access is controlled by Cognito sign-in and "
            "work team groups, not by country.",
        )
        acknowledge(
            self.distribution,
            "AwsSolutions-CFR2",
            "No WAF web ACL by default (it costs per month while nobody works); the portal's pages need a verified "
            "Cognito token and the API stage throttles. Attach a web ACL to the distribution where one is required.",
        )
        self.portal_url: str = f"https://{self.distribution.distribution_domain_name}/portal"
        deployment = s3_deployment.BucketDeployment(
            self,
            "PortalAssetFiles",
            sources=[s3_deployment.Source.asset(str(PORTAL_ASSETS))],
            destination_bucket=self.portal_assets,
            destination_key_prefix="portal/static/",
            distribution=self.distribution,
            distribution_paths=["/portal/static/*"],
            memory_limit=256,
        )
        _acknowledge_deployment(cdk.Stack.of(deployment))
        self.api_function.add_environment(ServiceEnvironment.PORTAL_URL, self.portal_url)

    # ----------------------------------------------------------------------------------------- permissions

    def _grant(
        self, *, data_buckets: Sequence[str], data_keys: Sequence[str], event_bus_name: str, layout: TableDefinition
    ) -> None:
        table_arns = [self.table.table_arn] + [f"{self.table.table_arn}/index/{name}" for name in layout.index_names]
        bus_arn = arn(self, "events", f"event-bus/{event_bus_name}")
        everyone = (self.api_function, self.engine_function, self.sweep_function)
        for function in everyone:
            allow(function, [*TABLE_READ, *TABLE_WRITE], table_arns)
            allow(function, ["sqs:SendMessage"], [self.queue.queue_arn])
            allow(
                function,
                ["events:PutEvents"],
                [bus_arn],
                conditions={"StringEquals": {"events:source": [EVENT_SOURCE]}},
            )
            grant_key(function, self.key, encrypt=True)
            # As CDK's own table grants do for a table with a customer-managed key.
            allow(function, ["kms:DescribeKey"], [self.key.key_arn])
        documents = [self.bucket.arn_for_objects("*")]
        for function in everyone:
            allow(
                function,
                ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                documents,
                wildcard_reason="The service's own bucket: documents too large for a table item (inputs, task UI "
                "templates, answers) are stored under keys derived from their item's key at run time.",
            )
        for name in data_buckets:
            bucket = s3.Bucket.from_bucket_name(self, f"Data{name}", name)
            reason = (
                f"Data bucket {name} (context truthloop:service:dataBuckets): flow definitions and labeling jobs "
                "name their input and output S3 paths at run time, anywhere in the buckets the operator listed."
            )
            allow(self.api_function, ["s3:GetObject"], [bucket.arn_for_objects("*")], wildcard_reason=reason)
            allow(
                self.engine_function,
                ["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                [bucket.arn_for_objects("*")],
                wildcard_reason=reason,
            )
        for key_arn in data_keys:
            for function in (self.api_function, self.engine_function):
                allow(function, ["kms:Decrypt", "kms:GenerateDataKey"], [key_arn])
        allow(
            self.engine_function,
            ["lambda:InvokeFunction"],
            [arn(self, "lambda", f"function:{pattern}", sep=":") for pattern in GT_FUNCTION_NAME_PATTERNS],
            wildcard_reason="Pre-annotation, consolidation and user functions are named by labeling jobs at run "
            "time; the engine may invoke exactly the functions Ground Truth's own execution policy "
            "(AmazonSageMakerGroundTruthExecution) allows: names containing SageMaker, GtRecipe or LabelingFunction.",
        )

    # ----------------------------------------------------------------------------------------- HTTP API

    def _http_api(self, rate: int, burst: int, log_retention: logs.RetentionDays) -> None:
        integration = integrations.HttpLambdaIntegration(
            "Integration", self.api_function, payload_format_version=apigw.PayloadFormatVersion.VERSION_2_0
        )
        self._integration = integration
        self.api = apigw.HttpApi(
            self,
            "HttpApi",
            description="truthloop service: A2I runtime (REST-JSON) and SageMaker subset (JSON 1.1); SigV4 only",
            create_default_stage=False,
            default_integration=integration,
            default_authorizer=authorizers.HttpIamAuthorizer(),
        )
        access_logs = logs.LogGroup(self, "ApiAccessLogs", retention=log_retention)
        fields = {
            "requestId": "$context.requestId",
            "ip": "$context.identity.sourceIp",
            "caller": "$context.identity.userArn",
            "requestTime": "$context.requestTime",
            "method": "$context.httpMethod",
            "path": "$context.path",
            "integrationRequestId": "$context.integration.requestId",
            "status": "$context.status",
            "responseLength": "$context.responseLength",
            "error": "$context.error.message",
            "authError": "$context.authorizer.error",
            "integrationError": "$context.integrationErrorMessage",
        }
        self.stage = apigw.CfnStage(
            self,
            "Stage",
            api_id=self.api.api_id,
            stage_name="$default",
            auto_deploy=True,
            access_log_settings=apigw.CfnStage.AccessLogSettingsProperty(
                destination_arn=access_logs.log_group_arn,
                format=cdk.Stack.of(self).to_json_string(fields),
            ),
            default_route_settings=apigw.CfnStage.RouteSettingsProperty(
                throttling_rate_limit=rate, throttling_burst_limit=burst, detailed_metrics_enabled=True
            ),
        )
        self.api_endpoint: str = self.api.api_endpoint

    # ----------------------------------------------------------------------------------------- operations

    def _alarm(self, id: str, metric: cloudwatch.IMetric, description: str, threshold: float = 1) -> None:
        alarm = cloudwatch.Alarm(
            self,
            f"{id}Alarm",
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.alarm_topic))
        self.alarms[id] = alarm

    def _alarms(self) -> None:
        five = cdk.Duration.minutes(5)
        for id, queue, what in (
            ("WorkDlq", self.dead_letter_queue, "engine steps that failed after every retry"),
            ("SweepDlq", self.sweep_dead_letter_queue, "sweep invocations EventBridge could not deliver"),
        ):
            self._alarm(
                id,
                queue.metric_approximate_number_of_messages_visible(period=five, statistic="Maximum"),
                f"The dead-letter queue holds {what}: read each message's reason, fix, and redrive.",
            )
        self._alarm(
            "Api5xx",
            self.api.metric_server_error(period=five, statistic="Sum"),
            "The service API answered with 5xx: see the API function's logs (bad input is a 4xx, never a 5xx).",
        )
        for id, function in (
            ("Api", self.api_function),
            ("Engine", self.engine_function),
            ("Sweep", self.sweep_function),
        ):
            self._alarm(
                f"{id}Errors",
                function.metric_errors(period=five, statistic="Sum"),
                f"The {id.lower()} function failed (an unhandled error or a timeout).",
            )
            self._alarm(
                f"{id}Throttles",
                function.metric_throttles(period=five, statistic="Sum"),
                f"Lambda throttled the {id.lower()} function: raise the account's concurrency or lower the load.",
            )
        for metric_name in ("ReadThrottleEvents", "WriteThrottleEvents"):
            self._alarm(
                f"Table{metric_name}",
                cloudwatch.Metric(
                    namespace="AWS/DynamoDB",
                    metric_name=metric_name,
                    dimensions_map={"TableName": self.table.table_name},
                    period=five,
                    statistic="Sum",
                ),
                f"DynamoDB throttled the service table ({metric_name}); the service retries with backoff.",
            )

    def _dashboard(self) -> cloudwatch.Dashboard:
        five = cdk.Duration.minutes(5)
        functions = (self.api_function, self.engine_function, self.sweep_function)
        dashboard = cloudwatch.Dashboard(self, "Dashboard", default_interval=cdk.Duration.hours(24))
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="API requests and errors",
                left=[
                    self.api.metric_count(period=five, statistic="Sum"),
                    self.api.metric_client_error(period=five, statistic="Sum"),
                    self.api.metric_server_error(period=five, statistic="Sum"),
                ],
            ),
            cloudwatch.GraphWidget(
                title="API latency (p50, p99)",
                left=[
                    self.api.metric_latency(period=five, statistic="p50"),
                    self.api.metric_latency(period=five, statistic="p99"),
                ],
            ),
            cloudwatch.GraphWidget(
                title="Work queue and dead-letter queues",
                left=[
                    self.queue.metric_approximate_number_of_messages_visible(period=five, statistic="Maximum"),
                    self.queue.metric_approximate_age_of_oldest_message(period=five, statistic="Maximum"),
                    self.dead_letter_queue.metric_approximate_number_of_messages_visible(
                        period=five, statistic="Maximum"
                    ),
                    self.sweep_dead_letter_queue.metric_approximate_number_of_messages_visible(
                        period=five, statistic="Maximum"
                    ),
                ],
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Function invocations and errors",
                left=[f.metric_invocations(period=five, statistic="Sum") for f in functions],
                right=[f.metric_errors(period=five, statistic="Sum") for f in functions],
            ),
            cloudwatch.GraphWidget(
                title="Function duration (p99) and throttles",
                left=[f.metric_duration(period=five, statistic="p99") for f in functions],
                right=[f.metric_throttles(period=five, statistic="Sum") for f in functions],
            ),
            cloudwatch.GraphWidget(
                title="Table capacity and throttling",
                left=[
                    self.table.metric_consumed_read_capacity_units(period=five, statistic="Sum"),
                    self.table.metric_consumed_write_capacity_units(period=five, statistic="Sum"),
                ],
                right=[
                    cloudwatch.Metric(
                        namespace="AWS/DynamoDB",
                        metric_name=name,
                        dimensions_map={"TableName": self.table.table_name},
                        period=five,
                        statistic="Sum",
                    )
                    for name in ("ReadThrottleEvents", "WriteThrottleEvents")
                ],
            ),
        )
        return dashboard
