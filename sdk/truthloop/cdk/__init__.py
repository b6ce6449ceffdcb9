"""truthloop's AWS CDK constructs (``pip install 'truthloop[cdk]'``).

Each construct takes "an existing resource, or props for a new one", validates every prop up front (all problems in
one :class:`ConstructPropsError`), is secure by default (customer-managed KMS keys, SSL-only, least privilege, cdk-nag
clean) and exposes what it built as attributes:

* :class:`PrivateWorkforce`: a private work team (new Cognito workforce, an existing Cognito pool, OIDC groups, or an
  existing team by ARN);
* :class:`HumanTaskUi`: an A2I worker task template (from truthloop's catalogue or a file), linted at synth;
* :class:`FlowDefinition`: an A2I flow definition (a custom resource);
* :class:`LabelingJob`: one Ground Truth labeling job (a custom resource);
* :class:`LabelingPipeline`: uploads in, labeling jobs out, failed objects retried;
* :class:`ReviewPipeline`: predictions routed to A2I, reviews stored as training data;
* :class:`TruthloopService`: the A2I and Ground Truth APIs as a service in the account (``ServiceTarget`` is how
  callers reach it).

The Lambda handlers, the task templates and the Lambda layer build ship inside the package: nothing is read from a
source checkout. docs/deploy.md shows an app of one's own built from these constructs.
"""

from __future__ import annotations

from truthloop.cdk._common import ConstructPropsError
from truthloop.cdk.flow_definition import FlowDefinition
from truthloop.cdk.labeling_job import LabelingJob
from truthloop.cdk.labeling_pipeline import LabelingPipeline
from truthloop.cdk.layer import TruthloopLayer
from truthloop.cdk.review_pipeline import ReviewPipeline
from truthloop.cdk.service import ServiceTarget, TruthloopService
from truthloop.cdk.task_ui import HumanTaskUi
from truthloop.cdk.workforce import OidcWorkforceSettings, PrivateWorkforce

__all__ = [
    "ConstructPropsError",
    "FlowDefinition",
    "HumanTaskUi",
    "LabelingJob",
    "LabelingPipeline",
    "OidcWorkforceSettings",
    "PrivateWorkforce",
    "ReviewPipeline",
    "ServiceTarget",
    "TruthloopLayer",
    "TruthloopService",
]
