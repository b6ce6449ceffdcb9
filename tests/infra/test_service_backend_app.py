"""``-c truthloop:backend=service``: the review and labeling stacks on the truthloop service, not on GT/A2I.

The whole service-mode app is synthesized once (cdk-nag included: an unacknowledged finding fails the synth). Its
work team, task UIs and flow definition are custom resources whose handlers call the service's API, signed (only
``execute-api:Invoke``); the router and the launcher are pointed at the service; the service's own functions get the
stacks' buckets; and nothing of SageMaker is deployed or permitted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

from infra.app import build_app
from tests.infra.support import (
    ENV,
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
from truthloop.cdk._provider import SageMakerResourceProvider
from truthloop.cdk.flow_definition import FlowDefinition
from truthloop.cdk.labeling_pipeline import LabelingPipeline
from truthloop.cdk.service import EVENT_SOURCE, ServiceTarget
from truthloop.cdk.task_ui import HumanTaskUi

STACKS = ("TruthloopService", "TruthloopWorkforce", "TruthloopLabeling", "TruthloopReview")
#: Custom resources whose handlers call SageMaker (GT/A2I); the service mode has only Custom::TruthloopService*.
GT_A2I_CUSTOM_RESOURCES = ("Custom::TruthloopFlowDefinition", "Custom::TruthloopLabelingJob")
#: What a provider's handler may do besides calling the service: its logs and X-Ray.
LOGGING_ACTIONS = {"logs:CreateLogStream", "logs:PutLogEvents", "xray:PutTraceSegments", "xray:PutTelemetryRecords"}
API_ENDPOINT_EXPORT = "ServiceHttpApi"


@pytest.fixture(scope="module")
def templates(outdir: Path) -> dict[str, dict[str, Any]]:
    # GIVEN the app with the service backend
    _, stacks = build_app(new_app(outdir, **{"truthloop:backend": "service"}))
    # WHEN it is synthesized (cdk-nag runs during synth and raises on any unacknowledged finding)
    return {name: template(stack) for name, stack in stacks.items()}


def _functions(tpl: dict[str, Any], handler_prefix: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: f["Properties"]
        for logical_id, f in resources(tpl, "AWS::Lambda::Function").items()
        if str(f["Properties"].get("Handler", "")).startswith(handler_prefix)
    }


def _granted(tpl: dict[str, Any], role: Any) -> dict[str, list[Any]]:
    """action → resources allowed to ``role`` (a ``{"Ref": ...}`` or an imported role name) by the stack's policies."""
    granted: dict[str, list[Any]] = {}
    for _, statement, resource in statements(tpl):
        if role in resource.get("Properties", {}).get("Roles", []) and statement["Effect"] == "Allow":
            for action in as_list(statement["Action"]):
                granted.setdefault(action, []).extend(as_list(statement["Resource"]))
    return granted


def _service_data_policies(tpl: dict[str, Any]) -> dict[str, dict[str, list[Any]]]:
    """The policies a stack adds to the service's imported roles: the exported role → action → resources."""
    found: dict[str, dict[str, list[Any]]] = {}
    for logical_id, policy in resources(tpl, "AWS::IAM::Policy").items():
        if not logical_id.startswith("TruthloopServiceDataRole"):
            continue
        (role,) = policy["Properties"]["Roles"]
        exported = next(part for part in json.dumps(role).split('"') if part.startswith("TruthloopService:Exports"))
        granted = found.setdefault(exported, {})
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            for action in as_list(statement["Action"]):
                granted.setdefault(action, []).extend(as_list(statement["Resource"]))
    return found


def test_the_app_deploys_the_service_and_the_three_stacks_on_it(templates: dict[str, dict[str, Any]]) -> None:
    # THEN the service comes first and the others import from it
    assert tuple(templates) == STACKS
    for name in STACKS[1:]:
        assert "TruthloopService:Exports" in json.dumps(templates[name]), name


def test_the_whole_synth_has_no_sagemaker_resource_permission_or_gt_a2i_custom_resource(
    templates: dict[str, dict[str, Any]],
) -> None:
    kinds = {r["Type"] for tpl in templates.values() for r in tpl["Resources"].values()}
    actions = {a for tpl in templates.values() for _, s, _ in statements(tpl) for a in as_list(s["Action"])}
    # THEN no SageMaker resource type, no SageMaker action, no role passed to SageMaker
    assert sorted(k for k in kinds if k.startswith("AWS::SageMaker::")) == []
    assert sorted(a for a in actions if a.lower().startswith("sagemaker")) == []
    assert "iam:PassRole" not in actions
    # AND the roles that requests name for SageMaker's sake (a flow's, the jobs') hold no permission at all
    for tpl in templates.values():
        named = [
            logical_id
            for logical_id, role in resources(tpl, "AWS::IAM::Role").items()
            if "sagemaker.amazonaws.com" in json.dumps(role["Properties"]["AssumeRolePolicyDocument"])
        ]
        for logical_id in named:
            assert _granted(tpl, {"Ref": logical_id}) == {}, logical_id
            assert "Policies" not in tpl["Resources"][logical_id]["Properties"], logical_id
    # AND every custom resource is one created on the service, or CDK's copy of the portal's static assets
    assert not kinds & set(GT_A2I_CUSTOM_RESOURCES)
    assert sorted(k for k in kinds if k.startswith("Custom::")) == [
        "Custom::CDKBucketDeployment",
        "Custom::TruthloopServiceFlowDefinition",
        "Custom::TruthloopServiceHumanTaskUi",
        "Custom::TruthloopServiceWorkteam",
    ]


@pytest.mark.parametrize("stack", STACKS)
def test_cfn_lint_finds_nothing(templates: dict[str, dict[str, Any]], stack: str) -> None:
    assert cfn_lint(templates[stack]) == []


@pytest.mark.parametrize("stack", STACKS)
def test_every_acknowledgment_is_reasoned_and_no_star_is_unexplained(
    templates: dict[str, dict[str, Any]], stack: str
) -> None:
    tpl = templates[stack]
    for logical_id, resource in tpl["Resources"].items():
        for rule, reason in acknowledged(resource).items():
            assert len(reason) >= 30, f"{logical_id}: {rule} acknowledged without a real reason: {reason!r}"
    assert unexplained_star_resources(tpl) == []


@pytest.mark.parametrize("stack", STACKS[1:])
def test_custom_resource_handlers_call_only_the_service_api(templates: dict[str, dict[str, Any]], stack: str) -> None:
    tpl = templates[stack]
    handlers = _functions(tpl, "custom_resources.")
    assert handlers, stack
    for logical_id, props in handlers.items():
        # THEN each handler is pointed at the service's endpoint ...
        endpoint = props["Environment"]["Variables"]["TRUTHLOOP_SERVICE_ENDPOINT"]
        assert API_ENDPOINT_EXPORT in json.dumps(endpoint) and "ApiEndpoint" in json.dumps(endpoint), logical_id
        # ... and may invoke its API, log and trace: nothing else
        granted = _granted(tpl, {"Ref": props["Role"]["Fn::GetAtt"][0]})
        assert set(granted) - LOGGING_ACTIONS == {"execute-api:Invoke"}, (logical_id, sorted(granted))
        (api,) = granted["execute-api:Invoke"]
        assert ":execute-api:" in json.dumps(api) and API_ENDPOINT_EXPORT in json.dumps(api), logical_id


def test_the_work_team_is_the_service_pools_worker_group(templates: dict[str, dict[str, Any]]) -> None:
    tpl = templates["TruthloopWorkforce"]
    team = one(tpl, "Custom::TruthloopServiceWorkteam")["Properties"]
    request = json.dumps(team["Request"])
    # THEN the team's members are the service's worker group, signing in with the portal's client
    assert '\\"UserGroup\\":\\"truthloop-workers\\"' in request
    assert "ExportsOutputRefServiceUserPool" in request and "PortalClient" in request
    assert "WorkteamArn" in tpl["Outputs"]
    assert {"AddWorkerCommand", "UserPoolId", "WorkerGroupName"} <= set(templates["TruthloopService"]["Outputs"])


def test_the_review_flow_runs_on_the_service_with_its_team_and_task_ui(templates: dict[str, dict[str, Any]]) -> None:
    tpl = templates["TruthloopReview"]
    (ui_id,) = resources(tpl, "Custom::TruthloopServiceHumanTaskUi")
    flow_id, flow = next(iter(resources(tpl, "Custom::TruthloopServiceFlowDefinition").items()))
    request = json.dumps(flow["Properties"]["Request"])
    # THEN the flow names the team on the service and the task UI created there
    assert "TruthloopWorkforce:ExportsOutputFnGetAttWorkteam" in request
    assert json.dumps({"Fn::GetAtt": [ui_id, "HumanTaskUiArn"]}) in request
    assert tpl["Outputs"]["FlowDefinitionArn"]["Value"] == {"Fn::GetAtt": [flow_id, "FlowDefinitionArn"]}
    # AND the router starts loops on the service (execute-api only), the status rule hears the service's events
    (router,) = _functions(tpl, "review_router.").values()
    assert API_ENDPOINT_EXPORT in json.dumps(router["Environment"]["Variables"]["TRUTHLOOP_SERVICE_ENDPOINT"])
    assert "execute-api:Invoke" in _granted(tpl, {"Ref": router["Role"]["Fn::GetAtt"][0]})
    rule = one(tpl, "AWS::Events::Rule")["Properties"]["EventPattern"]
    assert rule["source"] == ["aws.sagemaker", EVENT_SOURCE]
    # AND the service's API and engine roles may write the loops' output (and use the stack's key), nothing more
    policies = _service_data_policies(tpl)
    assert sorted(p.split(":Exports")[1] for p in policies) == [
        "OutputFnGetAttServiceApiRole344D0700Arn04504453",
        "OutputFnGetAttServiceEngineRole28CE49A5ArnAFCF29B5",
    ]
    for granted in policies.values():
        assert sorted(granted) == [
            "kms:Decrypt",
            "kms:Encrypt",
            "kms:GenerateDataKey",
            "s3:AbortMultipartUpload",
            "s3:GetObject",
            "s3:PutObject",
        ]
        assert json.dumps(granted["s3:PutObject"]).endswith('"/a2i/*"]]}]')


def test_the_labeling_launcher_creates_jobs_on_the_service(templates: dict[str, dict[str, Any]]) -> None:
    tpl = templates["TruthloopLabeling"]
    (ui_id,) = resources(tpl, "Custom::TruthloopServiceHumanTaskUi")
    (launcher,) = _functions(tpl, "labeling_launcher.").values()
    variables = launcher["Environment"]["Variables"]
    config = json.dumps(variables["TRUTHLOOP_JOB_CONFIG"])
    # THEN the launcher calls the service and its jobs show the task UI created there (no template asset)
    assert API_ENDPOINT_EXPORT in json.dumps(variables["TRUTHLOOP_SERVICE_ENDPOINT"])
    assert json.dumps({"Fn::GetAtt": [ui_id, "HumanTaskUiArn"]}) in config and "uiTemplateS3Uri" not in config
    assert "TruthloopService:Exports" in json.dumps(_granted(tpl, {"Ref": launcher["Role"]["Fn::GetAtt"][0]}))
    assert "TaskUiArn" in tpl["Outputs"]
    # AND the job-state rule takes the service's events too
    rule = next(
        r["Properties"]["EventPattern"]
        for r in resources(tpl, "AWS::Events::Rule").values()
        if "SageMaker Ground Truth Labeling Job State Change" in json.dumps(r["Properties"].get("EventPattern"))
    )
    assert rule["source"] == ["aws.sagemaker", EVENT_SOURCE]
    # AND the service reads the inputs and writes the outputs, by prefix
    for granted in _service_data_policies(tpl).values():
        read = json.dumps(granted["s3:GetObject"])
        assert all(f"/{prefix}/*" in read for prefix in ("manifests", "objects", "jobs", "output")), read
        assert '"/output/*"' in json.dumps(granted["s3:PutObject"]) and "manifests" not in json.dumps(
            granted["s3:PutObject"]
        )


TARGET = ServiceTarget(
    endpoint="https://abc123.execute-api.us-east-1.amazonaws.com",
    invoke_arn="arn:aws:execute-api:us-east-1:111122223333:abc123/*",
)


def test_constructs_refuse_what_the_service_does_not_have(tmp_path: Path) -> None:
    # GIVEN constructs on the service asked for A2I's built-in sources, streaming jobs and an AWS-owned UI
    stack = cdk.Stack(new_app(tmp_path), "OnService", env=ENV)
    sm_ui = HumanTaskUi(stack, "SageMakerUi", template="a2i/endpoint-prediction-review")
    cases = {
        "A2I's built-in integration": lambda: FlowDefinition(
            stack,
            "Flow",
            workteam_arn="arn:aws:sagemaker:us-east-1:111122223333:workteam/private-crowd/team",
            output_bucket=s3.Bucket.from_bucket_name(stack, "Out", "out"),
            human_task_ui=sm_ui,
            source="rekognition:detect_moderation_labels",
            review_policy={"version": 1, "rule": {"type": "threshold", "threshold": 0.7}},
            service=TARGET,
        ),
        "streaming labeling jobs": lambda: LabelingPipeline(
            stack,
            "Labeling",
            workteam_arn="arn:aws:sagemaker:us-east-1:111122223333:workteam/private-crowd/team",
            labels=["a", "b"],
            streaming=True,
            service=TARGET,
        ),
        "give template, not an ARN": lambda: HumanTaskUi(
            stack,
            "AwsOwned",
            existing_human_task_ui_arn="arn:aws:sagemaker:us-east-1:394669845002:human-task-ui/NER",
            service=TARGET,
        ),
    }
    for fragment, build in cases.items():
        # WHEN each is built THEN it fails naming the reason (the flow also names its SageMaker task UI)
        with pytest.raises(ConstructPropsError, match=fragment) as caught:
            build()
        if fragment.startswith("A2I"):
            assert "on the truthloop service give HumanTaskUi(service=...)" in str(caught.value)


def test_a_provider_on_the_service_refuses_sagemaker_permissions(tmp_path: Path) -> None:
    stack = cdk.Stack(new_app(tmp_path), "OnService", env=ENV)
    provider = SageMakerResourceProvider.of(stack, module="workteam", description="teams", service=TARGET)
    with pytest.raises(ValueError, match="needs no SageMaker permission"):
        provider.allow(["sagemaker:CreateWorkteam"], ["*"], wildcard_reason="a test of the refusal")
