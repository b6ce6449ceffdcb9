"""The truthloop CDK app: ``cdk synth`` / ``cdk deploy`` run ``python infra/app.py`` (see cdk.json).

Stacks: ``TruthloopWorkforce`` (skipped when ``truthloop:workteamArn`` names an existing work team),
``TruthloopLabeling`` and ``TruthloopReview`` on Ground Truth and A2I; with ``-c truthloop:backend=service`` the
``TruthloopService`` stack (the same APIs in the account, for accounts that cannot onboard to GT/A2I) and the same
three stacks wired onto it: their work team, task UIs, flow definition and labeling jobs are created on the
service, signed, and no SageMaker resource or permission is deployed.
Settings are CDK context values (``-c truthloop:<key>=<value>``);
``infra/config.py`` lists them with their defaults and docs/deploy.md explains them. Every stack is checked with
cdk-nag's AwsSolutions rules during synth; a finding without a written acknowledgment fails the synth.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# `python infra/app.py` puts infra/ first on sys.path; import everything from the repository root instead, and
# truthloop (with its CDK constructs, truthloop.cdk) from this checkout's sdk/.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != REPO_ROOT / "infra"]
for path in (REPO_ROOT / "sdk", REPO_ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
# jsii warns loudly about the machine's Node.js version on every run; it is not something the app can change.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")

import aws_cdk as cdk  # noqa: E402
import cdk_nag  # noqa: E402

from infra.config import AppConfig, load_config  # noqa: E402
from infra.stacks import (  # noqa: E402
    LabelingStack,
    ReviewStack,
    ServiceStack,
    ServiceWorkforceStack,
    WorkforceStack,
)
from truthloop.cdk._common import ConstructPropsError, unsupported_region  # noqa: E402


def build_app(app: cdk.App | None = None) -> tuple[cdk.App, dict[str, cdk.Stack]]:
    """Create the stacks of the configured backend (with cdk-nag) in ``app``; return the app and the stacks by name."""
    app = app or cdk.App()
    config: AppConfig = load_config(app.node.try_get_context)
    env = cdk.Environment(
        account=config.value("account") or os.environ.get("CDK_DEFAULT_ACCOUNT"),
        region=config.value("region") or os.environ.get("CDK_DEFAULT_REGION"),
    )
    stacks: dict[str, cdk.Stack] = {}
    if config.service_backend:  # the service runs in any region; GT and A2I only in theirs
        service_stack = ServiceStack(app, "TruthloopService", config=config, env=env)
        service = service_stack.service
        team = ServiceWorkforceStack(app, "TruthloopWorkforce", config=config, service=service, env=env)
        stacks["TruthloopService"] = service_stack
        stacks["TruthloopWorkforce"] = team
        for name, kind in (("TruthloopLabeling", LabelingStack), ("TruthloopReview", ReviewStack)):
            stacks[name] = kind(
                app, name, config=config, workteam_arn=team.workteam_arn, service=service.target, env=env
            )
        return _finish(app, stacks)
    region_error = unsupported_region(env.region) if env.region and not cdk.Token.is_unresolved(env.region) else None
    if region_error:
        raise ConstructPropsError("CDK app", [region_error])
    workteam_arn = config.value("workteamArn")
    if not workteam_arn:
        workforce = WorkforceStack(app, "TruthloopWorkforce", config=config, env=env)
        stacks["TruthloopWorkforce"] = workforce
        workteam_arn = workforce.workteam_arn
    stacks["TruthloopLabeling"] = LabelingStack(
        app, "TruthloopLabeling", config=config, workteam_arn=workteam_arn, env=env
    )
    stacks["TruthloopReview"] = ReviewStack(app, "TruthloopReview", config=config, workteam_arn=workteam_arn, env=env)
    return _finish(app, stacks)


def _finish(app: cdk.App, stacks: dict[str, cdk.Stack]) -> tuple[cdk.App, dict[str, cdk.Stack]]:
    """Tag every stack and check them all with cdk-nag's AwsSolutions rules."""
    for stack in stacks.values():
        cdk.Tags.of(stack).add("project", "truthloop")
    cdk.Validations.of(app).add_plugins(cdk_nag.AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True))
    return app, stacks


def main() -> None:
    app, _ = build_app()
    app.synth()


if __name__ == "__main__":
    main()
