"""The truthloop CDK stacks: TruthloopWorkforce, TruthloopLabeling, TruthloopReview and TruthloopService."""

from infra.stacks.labeling import LabelingStack
from infra.stacks.review import ReviewStack
from infra.stacks.service import ServiceStack
from infra.stacks.workforce import ServiceWorkforceStack, WorkforceStack

__all__ = ["LabelingStack", "ReviewStack", "ServiceStack", "ServiceWorkforceStack", "WorkforceStack"]
