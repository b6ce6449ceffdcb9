"""The truthloop CDK stacks: TruthloopWorkforce, TruthloopLabeling and TruthloopReview."""

from infra.stacks.labeling import LabelingStack
from infra.stacks.review import ReviewStack
from infra.stacks.workforce import WorkforceStack

__all__ = ["LabelingStack", "ReviewStack", "WorkforceStack"]
