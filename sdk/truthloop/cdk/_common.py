"""Secure defaults and small builders shared by truthloop's constructs.

Everything here is secure by default: customer-managed KMS keys with rotation, SSL-only bucket/queue/topic
policies, blocked public access, versioning, server access logs, dead-letter queues, X-Ray tracing, log
retention, and IAM statements with exact actions. A wildcard in an IAM statement is only accepted together
with a written reason, which becomes the cdk-nag acknowledgment of that exact finding.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import aws_cdk as cdk
import jsii
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from aws_cdk.interfaces.aws_events import IRuleRef
from constructs import Construct, IConstruct, IValidation

from truthloop.arns import supported_regions
from truthloop.exceptions import ConfigurationError

#: The Lambda handler packages shipped with truthloop (package data: in a checkout a link to ``lambdas/``).
LAMBDAS_ROOT = Path(__file__).resolve().parent / "_lambdas"

#: The Lambda runtime and architecture every truthloop function uses (the layer is built for them).
PYTHON_RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64

RUNTIME_REASON = (
    "truthloop's Lambda layer is built for CPython 3.12 on arm64 (truthloop.cdk.layer_build pins the wheels' ABI); "
    "python3.12 is a supported Lambda runtime. Moving to a newer runtime means rebuilding the layer for it."
)
SERVER_ACCESS_LOGS_FLAG = "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy"
XRAY_REASON = "X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions (Resource must be *)."


class ConstructPropsError(ConfigurationError):
    """Raised when a construct's props conflict or break AWS limits; ``problems`` lists every one of them."""

    def __init__(self, construct: str, problems: Sequence[str]) -> None:
        self.construct = construct
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{construct}: {len(self.problems)} problem(s) in props:\n{lines}")


class Problems:
    """Collects every problem with a construct's props, then raises them together."""

    def __init__(self, construct: str) -> None:
        self.construct = construct
        self.items: list[str] = []

    def add(self, message: str) -> None:
        self.items.append(message)

    def require(self, condition: bool, message: str) -> None:
        if not condition:
            self.items.append(message)

    def exclusive(self, **options: object) -> None:
        """At most one of ``options`` may be given (not None / not empty)."""
        given = [name for name, value in options.items() if value not in (None, (), [], {})]
        if len(given) > 1:
            self.items.append(f"give only one of {', '.join(given)}, not several")

    def raise_if_any(self) -> None:
        if self.items:
            raise ConstructPropsError(self.construct, self.items)


def is_token(value: object) -> bool:
    return isinstance(value, str) and cdk.Token.is_unresolved(value)


def region_problem(scope: IConstruct) -> str | None:
    """A problem message when ``scope``'s stack is bound to a region without Ground Truth and A2I, else None.

    Environment-agnostic stacks (a token region) are checked by nothing here: CloudFormation decides at deploy.
    """
    region = cdk.Stack.of(scope).region
    return None if is_token(region) else unsupported_region(region)


def unsupported_region(region: str) -> str | None:
    """A problem message when ``region`` has no Ground Truth / A2I (the built-in Lambdas' regions), else None."""
    if region in supported_regions():
        return None
    return (
        f"region {region!r} offers no SageMaker Ground Truth / Amazon A2I (the deployment would fail); "
        f"supported regions: {', '.join(supported_regions())}"
    )


def struct_values(props: object | Mapping[str, Any] | None) -> dict[str, Any]:
    """The keyword arguments a CDK props struct (e.g. ``s3.BucketProps(...)``) holds; a mapping is taken as-is.

    Constructs accept the typed struct for "props for a new resource", so a caller's IDE and mypy check the names;
    only the values that were set are returned (None means "not given").
    """
    if props is None:
        return {}
    if isinstance(props, Mapping):
        return dict(props)
    kind = type(props)
    values = {}
    for name in dir(kind):
        if name.startswith("_") or not isinstance(getattr(kind, name, None), property):
            continue
        value = getattr(props, name)
        if value is not None:
            values[name] = value
    return values


# --------------------------------------------------------------------------------------------- cdk-nag


def acknowledge(scope: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``scope`` (and its children) with a written reason."""
    if not reason.strip():
        raise ValueError(f"acknowledging {rule} needs a reason")
    cdk.Validations.of(scope).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))


def flatten_reference(value: Any) -> str:
    """Flatten a resolved CloudFormation value the way cdk-nag names findings (``<Logical.Arn>/prefix/*``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, Mapping):
        if "Fn::Join" in value:
            delimiter, items = value["Fn::Join"]
            return str(delimiter).join(flatten_reference(item) for item in items)
        if "Fn::Sub" in value:
            return flatten_reference(value["Fn::Sub"])
        if "Fn::GetAtt" in value:
            resource, attribute = value["Fn::GetAtt"]
            return f"<{flatten_reference(resource)}.{flatten_reference(attribute)}>"
        if "Fn::ImportValue" in value:
            return flatten_reference(value["Fn::ImportValue"])
        if "Ref" in value:
            return f"<{flatten_reference(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"))


def allow(
    principal: iam.IGrantable,
    actions: Sequence[str],
    resources: Sequence[str],
    *,
    conditions: Mapping[str, Any] | None = None,
    wildcard_reason: str | None = None,
) -> iam.PolicyStatement:
    """Add an Allow statement to ``principal``'s policy.

    Any wildcard (in an action or a resource) must come with ``wildcard_reason``; each wildcard finding is then
    acknowledged individually for cdk-nag (``AwsSolutions-IAM5[Resource::...]``), next to the statement.
    """
    statement = iam.PolicyStatement(
        actions=list(actions), resources=list(resources), conditions=dict(conditions) if conditions else None
    )
    principal.grant_principal.add_to_principal_policy(statement)
    grant_principal = principal.grant_principal
    if getattr(grant_principal, "node", None) is None:  # e.g. a service principal: nothing to acknowledge on
        return statement
    owner = cast(IConstruct, grant_principal)  # a construct (a role, or a role imported into this stack)
    stack = cdk.Stack.of(owner)
    findings = [f"Action::{a}" for a in actions if "*" in a]
    for resource in resources:
        flat = flatten_reference(stack.resolve(resource))
        if "*" in flat:
            findings.append(f"Resource::{flat}")
    if findings and not wildcard_reason:
        raise ValueError(f"wildcard permission {findings} for {owner.node.path} needs a wildcard_reason")
    for finding in findings:
        acknowledge(owner, f"AwsSolutions-IAM5[{finding}]", wildcard_reason or "")
    if wildcard_reason and any(cdk.Stack.of(r) is not stack for r in _referenced_constructs(stack, resources)):
        # A resource of another stack reaches this template as Fn::ImportValue, which exists only after CDK has
        # resolved the cross-stack references (just before validation): name those findings then.
        owner.node.add_validation(_CrossStackAcknowledgment(owner, list(resources), wildcard_reason))
    return statement


def _referenced_constructs(stack: cdk.Stack, values: Sequence[str]) -> list[IConstruct]:
    """The constructs whose attributes ``values`` reference (cross-stack references included)."""
    found: list[IConstruct] = []
    for value in values:
        for token in cdk.Tokenization.reverse_string(value).tokens:
            if isinstance(token, cdk.Reference):
                found.append(token.target)
    return found


@jsii.implements(IValidation)
class _CrossStackAcknowledgment:
    """Acknowledges the wildcard findings of resources imported from another stack, once their form is known."""

    def __init__(self, owner: IConstruct, resources: list[str], reason: str) -> None:
        self.owner, self.resources, self.reason = owner, resources, reason

    def validate(self) -> list[str]:
        stack = cdk.Stack.of(self.owner)
        for resource in self.resources:
            flat = flatten_reference(stack.resolve(resource))
            if "*" in flat:
                acknowledge(self.owner, f"AwsSolutions-IAM5[Resource::{flat}]", self.reason)
        return []


def depend_on_policy(dependent: IConstruct, role: iam.IRole) -> None:
    """Make ``dependent`` wait for ``role``'s inline default policy (the role itself is already referenced)."""
    policy = role.node.try_find_child("DefaultPolicy")
    if policy is not None:
        dependent.node.add_dependency(policy)


def arn(scope: IConstruct, service: str, resource: str, *, sep: str = "/") -> str:
    """An ARN in the stack's partition, region and account (``resource`` may contain ``/`` and ``*``)."""
    return cdk.Stack.of(scope).format_arn(
        service=service,
        resource=resource.split(sep, 1)[0],
        resource_name=resource.split(sep, 1)[1] if sep in resource else None,
        arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME if sep == "/" else cdk.ArnFormat.COLON_RESOURCE_NAME,
    )


# --------------------------------------------------------------------------------------------- KMS


def encryption_key(
    scope: Construct, id: str, *, description: str, removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN
) -> kms.Key:
    """A customer-managed symmetric key with yearly rotation."""
    return kms.Key(
        scope,
        id,
        description=description,
        enable_key_rotation=True,
        removal_policy=removal_policy,
        pending_window=cdk.Duration.days(30),
    )


def allow_service_to_use_key(key: kms.IKey, service: str, *, sid: str) -> None:
    """Let an AWS service principal (e.g. events.amazonaws.com) encrypt for this account's resources.

    The statement is limited to calls made on behalf of this account (``aws:SourceAccount``).
    """
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal(service)],
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=["*"],  # in a key policy, "*" means this key
            conditions={"StringEquals": {"aws:SourceAccount": cdk.Aws.ACCOUNT_ID}},
        )
    )


@jsii.implements(events.IRuleTarget)
class QueueTarget:
    """An EventBridge rule target that sends to an SQS queue.

    Unlike ``aws_events_targets.SqsQueue`` it adds no KMS grant of its own (CDK's grants to
    ``events.amazonaws.com`` carry no account condition); the queue's key must already let EventBridge use it
    (:func:`allow_service_to_use_key`). The queue policy admits only this rule (``aws:SourceArn``).
    """

    def __init__(self, queue: sqs.IQueue) -> None:
        self.queue = queue

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        self.queue.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
                resources=[self.queue.queue_arn],
                conditions={"ArnEquals": {"aws:SourceArn": rule.rule_ref.rule_arn}},
            )
        )
        return events.RuleTargetConfig(arn=self.queue.queue_arn)


@jsii.implements(events.IRuleTarget)
class TopicTarget:
    """An EventBridge rule target that publishes to an SNS topic, without CDK's unconditioned KMS grant."""

    def __init__(self, topic: sns.ITopic) -> None:
        self.topic = topic

    def bind(self, rule: IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal("events.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={"ArnEquals": {"aws:SourceArn": rule.rule_ref.rule_arn}},
            )
        )
        return events.RuleTargetConfig(arn=self.topic.topic_arn)


def queue_target(queue: sqs.IQueue) -> events.IRuleTarget:
    """:class:`QueueTarget` typed as the interface it implements (jsii's ``implements`` is invisible to mypy)."""
    return cast(events.IRuleTarget, QueueTarget(queue))


def topic_target(topic: sns.ITopic) -> events.IRuleTarget:
    """:class:`TopicTarget` typed as the interface it implements."""
    return cast(events.IRuleTarget, TopicTarget(topic))


def grant_key(principal: iam.IGrantable, key: kms.IKey | None, *, encrypt: bool = False, decrypt: bool = True) -> None:
    """Exact KMS actions on one key (no ``kms:GenerateDataKey*``-style wildcards)."""
    if key is None:
        return
    actions = []
    if decrypt:
        actions.append("kms:Decrypt")
    if encrypt:
        actions += ["kms:Encrypt", "kms:GenerateDataKey"]
    allow(principal, sorted(set(actions)), [key.key_arn])


# --------------------------------------------------------------------------------------------- S3


def access_logs_bucket(
    scope: Construct, id: str, *, removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN
) -> s3.Bucket:
    """The target of S3 server access logs (SSE-S3, because log delivery cannot use a customer key).

    With the feature flag ``@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy`` (set in cdk.json) log delivery is
    granted by bucket policy and ACLs stay disabled; without it CDK needs the legacy log-delivery ACL.
    """
    policy_delivery = cdk.FeatureFlags.of(scope).is_enabled(SERVER_ACCESS_LOGS_FLAG)
    bucket = s3.Bucket(
        scope,
        id,
        encryption=s3.BucketEncryption.S3_MANAGED,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=(
            s3.ObjectOwnership.BUCKET_OWNER_ENFORCED if policy_delivery else s3.ObjectOwnership.OBJECT_WRITER
        ),
        versioned=True,
        removal_policy=removal_policy,
        lifecycle_rules=[
            s3.LifecycleRule(
                id="expire-access-logs",
                expiration=cdk.Duration.days(365),
                noncurrent_version_expiration=cdk.Duration.days(30),
            )
        ],
    )
    acknowledge(
        bucket,
        "AwsSolutions-S1",
        "This bucket is the server-access-log destination of the stack's data buckets; logging it into itself "
        "would loop.",
    )
    return bucket


def secure_bucket(
    scope: Construct,
    id: str,
    *,
    key: kms.IKey,
    access_logs: s3.IBucket,
    removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    event_bridge: bool = False,
    overrides: s3.BucketProps | Mapping[str, Any] | None = None,
) -> s3.Bucket:
    """A KMS-encrypted, versioned, SSL-only, private bucket that writes server access logs.

    ``overrides`` are extra ``s3.Bucket`` settings (an ``s3.BucketProps`` or its keyword arguments); they cannot
    switch off the secure settings.
    """
    props: dict[str, Any] = {
        "versioned": True,
        "removal_policy": removal_policy,
        "lifecycle_rules": [
            s3.LifecycleRule(
                id="expire-old-versions",
                noncurrent_version_expiration=cdk.Duration.days(90),
                abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
            )
        ],
    }
    props.update(struct_values(overrides))
    props.update(  # required: these win over user overrides
        encryption=s3.BucketEncryption.KMS,
        encryption_key=key,
        bucket_key_enabled=True,
        enforce_ssl=True,
        block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
        object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        server_access_logs_bucket=access_logs,
        server_access_logs_prefix=f"{cdk.Names.unique_id(scope)[-40:]}-{id}/",
    )
    bucket = s3.Bucket(scope, id, **props)
    if event_bridge:
        # The CloudFormation property, not `event_bridge_enabled=True`: CDK implements that flag with its bucket
        # notifications custom resource (an extra Lambda function) even though CloudFormation can do it.
        cfn = bucket.node.default_child
        assert isinstance(cfn, s3.CfnBucket)
        cfn.add_property_override("NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True)
    return bucket


def grant_objects(
    principal: iam.IGrantable,
    bucket: s3.IBucket,
    *,
    read: Iterable[str] = (),
    write: Iterable[str] = (),
    list_prefixes: Iterable[str] = (),
    key: kms.IKey | None = None,
    purpose: str,
) -> None:
    """Object-level S3 access limited to key prefixes (``"manifests/"`` → ``bucket/manifests/*``).

    ``purpose`` says why the principal needs the prefixes; it is the reason recorded for the prefix wildcards.
    """
    read, write, list_prefixes = list(read), list(write), list(list_prefixes)
    reason = f"Object access limited to the prefixes {sorted(set(read + write + list_prefixes))}: {purpose}"
    if read:
        allow(principal, ["s3:GetObject"], [bucket.arn_for_objects(f"{p}*") for p in read], wildcard_reason=reason)
    if write:
        allow(
            principal,
            ["s3:PutObject", "s3:AbortMultipartUpload"],
            [bucket.arn_for_objects(f"{p}*") for p in write],
            wildcard_reason=reason,
        )
    if list_prefixes:
        allow(
            principal,
            ["s3:ListBucket"],
            [bucket.bucket_arn],
            conditions={"StringLike": {"s3:prefix": [f"{p}*" for p in list_prefixes]}},
        )
    grant_key(principal, key, encrypt=bool(write), decrypt=True)


# --------------------------------------------------------------------------------------------- SQS / SNS


def secure_queue(
    scope: Construct,
    id: str,
    *,
    key: kms.IKey,
    visibility_timeout: cdk.Duration,
    dead_letter_queue: sqs.IQueue | None = None,
    with_dead_letter_queue: bool = True,
    max_receive_count: int = 5,
) -> tuple[sqs.Queue, sqs.IQueue | None]:
    """A KMS-encrypted, SSL-only queue; with its own dead-letter queue unless one is given (or disabled)."""
    dlq: sqs.IQueue | None = dead_letter_queue
    if dlq is None and with_dead_letter_queue:
        dlq = sqs.Queue(
            scope,
            f"{id}Dlq",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=cdk.Duration.days(14),
        )
    queue = sqs.Queue(
        scope,
        id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        data_key_reuse=cdk.Duration.hours(1),
        enforce_ssl=True,
        visibility_timeout=visibility_timeout,
        retention_period=cdk.Duration.days(14),
        dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=max_receive_count) if dlq else None,
    )
    return queue, dlq


def secure_topic(scope: Construct, id: str, *, key: kms.IKey, display_name: str | None = None) -> sns.Topic:
    """A KMS-encrypted topic that refuses non-TLS publishers."""
    return sns.Topic(scope, id, master_key=key, enforce_ssl=True, display_name=display_name)


# --------------------------------------------------------------------------------------------- Lambda


def _package_exclude(package: str) -> list[str]:
    return ["*", f"!{package}", f"!{package}/**", "**/__pycache__", "**/*.pyc"]


def lambda_code(package: str, *, lambdas_root: Path | None = None) -> tuple[lambda_.Code, Path]:
    """The code asset for ``lambdas/<package>/``; the asset root is ``lambdas/`` so the handler is ``<package>.x``.

    Raises :class:`ConstructPropsError` when the package directory is missing.
    """
    root = (lambdas_root or LAMBDAS_ROOT).resolve()
    directory = root / package
    if not directory.is_dir():
        raise ConstructPropsError("lambda code", [f"{directory} does not exist (no handler package {package!r})"])
    return lambda_.Code.from_asset(str(root), exclude=_package_exclude(package)), directory


def handler_module_exists(package: str, handler: str, *, lambdas_root: Path | None = None) -> str | None:
    """Return a problem message when ``handler`` (``module.function``) is not defined in ``lambdas/<package>``."""
    root = (lambdas_root or LAMBDAS_ROOT).resolve()
    module, _, function = handler.rpartition(".")
    path = root.joinpath(*module.split(".")).with_suffix(".py")
    if not path.is_file():
        return f"{path} does not exist (handler {handler!r})"
    if not re.search(
        rf"^(async\s+)?def\s+{re.escape(function)}\s*\(|^{re.escape(function)}\s*=", path.read_text(), re.M
    ):
        return f"{path} defines no function {function!r} (handler {handler!r})"
    return None


def python_function(
    scope: Construct,
    id: str,
    *,
    package: str,
    handler: str,
    layers: Sequence[lambda_.ILayerVersion],
    service: str,
    description: str,
    environment: Mapping[str, str] | None = None,
    timeout: cdk.Duration | None = None,
    memory_size: int = 512,
    function_name: str | None = None,
    reserved_concurrency: int | None = None,
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH,
    lambdas_root: Path | None = None,
    removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.DESTROY,
) -> lambda_.Function:
    """A Python 3.12 arm64 function with its own role (no managed policies), log group, X-Ray and powertools env."""
    code, _ = lambda_code(package, lambdas_root=lambdas_root)
    problem = handler_module_exists(package, handler, lambdas_root=lambdas_root)
    if problem:
        raise ConstructPropsError(f"{scope.node.path}/{id}", [problem])
    log_group = logs.LogGroup(scope, f"{id}Logs", retention=log_retention, removal_policy=removal_policy)
    role = iam.Role(
        scope,
        f"{id}Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"truthloop {service}: {description}"[:1000],
    )
    env = {
        "POWERTOOLS_SERVICE_NAME": service,
        "POWERTOOLS_METRICS_NAMESPACE": "truthloop",
        "POWERTOOLS_LOG_LEVEL": "INFO",
        **(environment or {}),
    }
    function = lambda_.Function(
        scope,
        id,
        code=code,
        handler=handler,
        runtime=PYTHON_RUNTIME,
        architecture=ARCHITECTURE,
        layers=list(layers),
        role=role,
        log_group=log_group,
        logging_format=lambda_.LoggingFormat.JSON,
        tracing=lambda_.Tracing.ACTIVE,
        environment=env,
        timeout=timeout or cdk.Duration.seconds(60),
        memory_size=memory_size,
        function_name=function_name,
        reserved_concurrent_executions=reserved_concurrency,
        description=description[:256],
    )
    log_group.grant_write(role)
    acknowledge(role, "AwsSolutions-IAM5[Resource::*]", XRAY_REASON)
    acknowledge(function, "AwsSolutions-L1", RUNTIME_REASON)
    return function


def sagemaker_function_name(scope: IConstruct, suffix: str) -> str:
    """A physical function name that contains ``SageMaker`` (≤ 64 characters, unique per construct path).

    The managed policy AmazonSageMakerGroundTruthExecution only lets a job role invoke functions whose names
    contain ``SageMaker``, ``GtRecipe`` or ``LabelingFunction`` (aws-contracts.md §1); naming the functions this
    way keeps them usable by a job role that relies on that policy.
    """
    tail = f"-SageMaker{suffix}"
    head = cdk.Names.unique_resource_name(scope, max_length=64 - len(tail), separator="-")
    return f"{head}{tail}"
