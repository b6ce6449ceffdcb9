"""Helpers for the CDK tests: apps with cdk-nag, a stub layer, template queries and cfn-lint.

jsii is slow to start and every synth costs seconds, so each test module builds its app once (module-scoped
fixtures) and asserts on the resulting templates. Apps get the repository's cdk.json context, the stub layer
(``tests/infra/fixtures/layer``: no pip) and cdk-nag's AwsSolutions checks, so every synthesized stack is also a
cdk-nag test: an unacknowledged finding makes ``synth`` raise.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

import aws_cdk as cdk
import cdk_nag

ROOT = Path(__file__).resolve().parents[2]
INFRA_FIXTURES = Path(__file__).resolve().parent / "fixtures"
STUB_LAYER = INFRA_FIXTURES / "layer"
REVIEW_TEMPLATE = INFRA_FIXTURES / "templates" / "review.liquid.html"
WORKTEAM_ARN = "arn:aws:sagemaker:us-east-1:111122223333:workteam/private-crowd/truthloop-team"
ENV = cdk.Environment(account="111122223333", region="us-east-1")


def cdk_json_context() -> dict[str, Any]:
    return dict(json.loads((ROOT / "cdk.json").read_text())["context"])


def new_app(outdir: Path, **context: Any) -> cdk.App:
    """An app like the real one (cdk.json context, cdk-nag) that uses the stub layer unless told otherwise."""
    merged = {**cdk_json_context(), "truthloop:layerDir": str(STUB_LAYER), **context}
    app = cdk.App(outdir=str(outdir), context={k: v for k, v in merged.items() if v is not None})
    cdk.Validations.of(app).add_plugins(cdk_nag.AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True))
    return app


def template(stack: cdk.Stack) -> dict[str, Any]:
    """The synthesized template of ``stack`` (the app is synthesized once, with cdk-nag)."""
    assembly = cdk.Stage.of(stack).synth()  # type: ignore[union-attr]
    return dict(assembly.get_stack_artifact(stack.artifact_id).template)


def resources(tpl: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in tpl.get("Resources", {}).items() if v["Type"] == kind}


def one(tpl: dict[str, Any], kind: str) -> dict[str, Any]:
    found = resources(tpl, kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.values()))


def statements(tpl: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(logical id, statement, resource) of every IAM policy statement (inline role policies included)."""
    for logical_id, resource in tpl.get("Resources", {}).items():
        props = resource.get("Properties", {})
        documents = []
        if resource["Type"] in {"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"}:
            documents.append(props.get("PolicyDocument", {}))
        if resource["Type"] == "AWS::IAM::Role":
            documents += [p.get("PolicyDocument", {}) for p in props.get("Policies", [])]
        for document in documents:
            for statement in document.get("Statement", []):
                yield logical_id, statement, resource


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions_on(tpl: dict[str, Any], logical_prefix: str) -> dict[str, list[Any]]:
    """action → resources granted by the policies whose logical id starts with ``logical_prefix``."""
    granted: dict[str, list[Any]] = {}
    for logical_id, statement, _ in statements(tpl):
        if logical_id.startswith(logical_prefix) and statement.get("Effect") == "Allow":
            for action in as_list(statement["Action"]):
                granted.setdefault(action, []).extend(as_list(statement["Resource"]))
    return granted


def acknowledged(resource: dict[str, Any]) -> dict[str, str]:
    """cdk-nag acknowledgments written into a resource's metadata: rule id → reason."""
    rules = resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", [])
    return {rule["id"]: rule.get("reason", "") for rule in rules}


def unexplained_star_resources(tpl: dict[str, Any]) -> list[str]:
    """IAM statements allowing ``Resource: "*"`` whose policy carries no IAM5[Resource::*] reason."""
    problems = []
    for logical_id, statement, resource in statements(tpl):
        if statement.get("Effect") != "Allow" or "*" not in as_list(statement.get("Resource")):
            continue
        reasons = acknowledged(resource)
        reason = reasons.get("AwsSolutions-IAM5[Resource::*]") or reasons.get("AwsSolutions-IAM5")
        if not reason or len(reason) < 20:
            problems.append(f"{logical_id}: {statement['Action']} on * without a written reason")
    return problems


def cfn_lint(tpl: dict[str, Any]) -> list[str]:
    """cfn-lint errors and warnings, except CDK's redundant Lambda-role DependsOn (W3005)."""
    from cfnlint.api import ManualArgs, lint

    matches = lint(json.dumps(tpl), config=ManualArgs(regions=["us-east-1"]))
    findings = []
    for match in matches:
        # CDK makes every function DependsOn its role and the role's policy; the role part is redundant with the
        # function's `Role: GetAtt` (harmless, and not ours to change).
        redundant_role = "/Properties/Role'" in match.message or "/Properties/RoleArn'" in match.message
        if match.rule.id == "W3005" and redundant_role:
            continue
        findings.append(f"{match.rule.id}: {match.message} at {'/'.join(map(str, match.path))}")
    return findings
