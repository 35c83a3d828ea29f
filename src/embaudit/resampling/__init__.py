"""Resampling plans, alignment of member embeddings, and execution of members."""

from embaudit.resampling.alignment import OrthogonalProcrustes
from embaudit.resampling.crossfit import crossfit_splits, plan_crossfit
from embaudit.resampling.plans import MemberSpec, Split, discovery_holdout_split, plan_members

__all__ = ["MemberSpec", "OrthogonalProcrustes", "Split", "crossfit_splits",
           "discovery_holdout_split", "plan_crossfit", "plan_members"]
